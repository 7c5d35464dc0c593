export { scoreBaseline, featuresOf, fitRobust, scoreFeatures, median } from './baseline.js';
export type { AssetModelState, RobustParams, Features, BaselineOptions, ScoreResult } from './baseline.js';
