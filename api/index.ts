export { buildApi } from './server.js';
export type { ApiDeps } from './server.js';
export { createMetrics } from './metrics.js';
export type { Metrics, ClockReading } from './metrics.js';
