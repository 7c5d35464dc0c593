export { generate, assetName, faultLevel } from './plant.js';
export type { PlantOptions, SimRecords } from './plant.js';
