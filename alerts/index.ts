export * from './rules.js';
export * from './lifecycle.js';
export * from './quality.js';
export {
  startDeliveryWorker,
  sign,
  retryDelayMs,
  isPrivateAddress,
  refusedWebhookUrl,
  type DeliveryWorker,
  type Clock,
} from './webhooks.js';
export { startAlertJobs, type AlertJobs } from './jobs.js';
