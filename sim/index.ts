export * from './plant.js';
export * from './scenarios.js';
export { Rng, key, strHash, uniformAt } from './random.js';
export * from './replay.js';
export * from './publish.js';
