export { buildApi } from './server.js';
export type { ApiDeps } from './server.js';
