/**
 * Shared contracts of Tributary. This module imports nothing of ours.
 *
 * Glossary
 * - plant: a site; every record names one.
 * - asset: one machine (a pump, a motor); the Kafka key of every record, so one asset's records of all
 *   three topics share a partition number.
 * - device: a sensor box that samples one or more channels of an asset with its own (wrong) clock.
 * - channel: one measured quantity (`vib_rms`, `temp_c`, …).
 * - modality: sensors, images or notes.
 * - window: an event-time interval [start, end) of one asset (tumbling by default).
 * - watermark: the event time up to which an asset's input is taken to be complete.
 * - tuple: a closed window with every modality aligned to it.
 * - score: the model's anomaly score of a tuple, with per-channel contributions.
 * - alert: an asset's run of anomalous windows, opened and resolved by a rule.
 */
export * from './records.js';
export * from './tuple.js';
export * from './config.js';
export * from './json-schema.js';
export * from './scenario.js';
export * from './api.js';
export * from './patterns.js';
export * from './threshold.js';
export * from './errors.js';
