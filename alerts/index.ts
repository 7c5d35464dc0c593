export { evaluate, initialRuleState, alertId, RULE } from './rules.js';
export type { RuleState, AlertDecision } from './rules.js';
export { startDeliveryWorker, sign, backoffMs } from './webhooks.js';
export type { DeliveryWorker } from './webhooks.js';
