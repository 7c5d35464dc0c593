export { WindowOperator, cameraPeriodMs, frameMaxAgeMs } from './window-operator.js';
export { pixelsSummary, thermalPatches, thermalSummary } from './thermal.js';
export type {
  AlignSnapshot,
  AlignConfig,
  AddOptions,
  AddResult,
  SampleOutcome,
  SampleTrace,
} from './window-operator.js';
export { DeviceClock, AdaptiveClock, StampDejitter, DEFAULT_CLOCK } from './clock.js';
export type { ClockOptions, ClockState, Correction, AdaptiveClockJSON } from './clock.js';
export { gridStepMs, resample } from './resample.js';
export type { GridSeries, Interpolation } from './resample.js';
export { resolveNoteAsset, resolveNoteAssets } from './notes.js';
export type { AliasTable } from './notes.js';
export { runClocks, fileLines } from './diagnose.js';
export type { ClocksReport, DeviceReport } from './diagnose.js';
