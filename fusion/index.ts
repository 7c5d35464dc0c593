export { scoreBaseline, featuresOf, fitRobust, scoreFeatures, median } from './baseline.js';
export type { AssetModelState, RobustParams, Features, BaselineOptions, ScoreResult } from './baseline.js';
export {
  encode,
  newFeatureState,
  noteTokens,
  noteTerms,
  sensorRaw,
  imageRaw,
  SENSOR_STATS,
  IMAGE_FEATURES,
} from './features.js';
export type { AssetFeatureState, FeatureSpec, ModelInput } from './features.js';
export { FusionModel, FUSION_FORMAT, psi } from './model.js';
export type { FusionModelJSON, WindowScore, TrainRow, TrainOptions, Calibration } from './model.js';
export { initBackend } from './backend.js';
export { scoreFusionBatch, rulesForModel, driftOf, DriftMonitor } from './scorer.js';
export * from './context.js';
export * from './lifecycle.js';
