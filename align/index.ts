export { WindowOperator, windowStartOf } from './window-operator.js';
export type { AlignSnapshot, AlignConfig, AddResult } from './window-operator.js';
