/**
 * Simulator scenario files (sim/scenarios/*.json): plants, assets, faults and disturbances. Times are hours
 * from the scenario's start so that one file describes a situation independent of the calendar.
 */
import { z } from 'zod';

export const FaultType = z.enum([
  // equipment faults
  'bearing_wear',
  'electrical_connection',
  'seal_leak',
  'cavitation',
  'misalignment',
  // sensor faults: data-quality issues, not equipment faults
  'sensor_stuck',
  'sensor_flatline',
  'sensor_spikes',
]);
export type FaultType = z.infer<typeof FaultType>;
export const SENSOR_FAULTS: readonly FaultType[] = ['sensor_stuck', 'sensor_flatline', 'sensor_spikes'];

const hours = z.number().min(0);
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);

export const ScenarioFault = z
  .strictObject({
    asset: id,
    type: FaultType,
    /** Sensor faults: the channel that misbehaves. */
    channel: z.string().optional(),
    onsetH: hours,
    /** Full failure (equipment) or the end of the sensor fault. */
    failureH: hours,
    /** Scales the fault's effect (1 = the library's default). */
    severity: z.number().positive().max(5).default(1),
  })
  .refine((f) => f.failureH > f.onsetH, { message: 'failureH must be after onsetH', path: ['failureH'] })
  .refine((f) => !['sensor_stuck', 'sensor_flatline', 'sensor_spikes'].includes(f.type) || f.channel, {
    message: 'a sensor fault names its channel',
    path: ['channel'],
  });
export type ScenarioFault = z.output<typeof ScenarioFault>;

export const Scenario = z.strictObject({
  name: id,
  description: z.string().default(''),
  seed: z.number().int().min(0).default(1),
  /** ISO start time of the simulated period. */
  start: z.iso.datetime({ offset: true }),
  durationH: z
    .number()
    .positive()
    .max(24 * 60),
  sampleMs: z.number().int().min(10).default(1000),
  imageMs: z.number().int().min(1000).default(10_000),
  thermal: z
    .strictObject({
      width: z.number().int().min(4).max(256).default(32),
      height: z.number().int().min(4).max(256).default(24),
    })
    .prefault({}),
  plants: z
    .array(
      z.strictObject({
        id,
        assets: z
          .array(
            z.strictObject({
              id,
              kind: z.enum(['pump', 'motor']).default('pump'),
              /** Names operators use for the asset in notes ("P3", "the cooling pump"). */
              aliases: z.array(z.string().min(1)).default([]),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
  faults: z.array(ScenarioFault).default([]),
  cameraOutages: z.array(z.strictObject({ asset: id, fromH: hours, toH: hours })).default([]),
  cycles: z
    .strictObject({
      /** Relative amplitude of the day/night load cycle. */
      loadDaily: z.number().min(0).max(0.5).default(0.1),
      /** Amplitude (°C) of the ambient day/night cycle. */
      ambientDailyC: z.number().min(0).max(20).default(4),
      /** Operating set-point changes (start-ups, shift changes): one every this many hours on average; 0 = none. */
      setpointEveryH: z.number().min(0).default(6),
    })
    .prefault({}),
  notes: z
    .strictObject({
      /** Operator rounds per asset per day (each may leave a note). */
      roundsPerDay: z.number().min(0).max(1440).default(6),
      /** A routine note on this share of rounds with nothing to report. */
      routineRate: z.number().min(0).max(1).default(0.4),
      /** Notes about unrelated things, per asset per day. */
      irrelevantPerDay: z.number().min(0).default(0.5),
      /** Misleading symptom notes on healthy assets, per asset per day. */
      misleadingPerDay: z.number().min(0).default(0.1),
      /** Share of words with a typo. */
      typoRate: z.number().min(0).max(0.5).default(0.03),
      /** Share of notes that name the asset only in their text. */
      textOnlyRate: z.number().min(0).max(1).default(0.2),
      /** Symptom notes are written this many minutes after the round that noticed the symptom. */
      delayMin: z.tuple([z.number().min(0), z.number().min(0)]).default([10, 120]),
    })
    .prefault({}),
  clocks: z
    .strictObject({
      /** Each device's offset is drawn uniformly from ± this many ms. */
      offsetMs: z.number().min(0).default(0),
      /** Each device's drift is drawn uniformly from ± this many ppm. */
      driftPpm: z.number().min(0).default(0),
      steps: z.array(z.strictObject({ device: z.string(), atH: hours, byMs: z.number() })).default([]),
    })
    .prefault({}),
  network: z
    .strictObject({
      delayMs: z.number().min(0).default(50),
      /** Mean of an exponential extra delay; reordering follows from it. */
      jitterMs: z.number().min(0).default(20),
      duplicateRate: z.number().min(0).max(0.5).default(0),
      lossRate: z.number().min(0).max(0.5).default(0),
    })
    .prefault({}),
  /** Random short camera dropouts, per camera per day (each 5–30 minutes). */
  cameraDropoutsPerDay: z.number().min(0).default(0.5),
  /** Share of frames partly occluded (a person or a vehicle in front of the asset). */
  occlusionRate: z.number().min(0).max(1).default(0.02),
});
export type Scenario = z.output<typeof Scenario>;
export type ScenarioInput = z.input<typeof Scenario>;

/** A suite: scenario files crossed with seeds, split into train, validation and test by seed. */
export const Suite = z.strictObject({
  scenarios: z.array(z.string()).min(1),
  splits: z.strictObject({
    train: z.array(z.number().int()),
    validation: z.array(z.number().int()),
    test: z.array(z.number().int()),
  }),
});
export type Suite = z.output<typeof Suite>;

/** Ground truth written beside the simulator's output. */
export const SimLabel = z.object({
  scenario: z.string(),
  seed: z.number().int(),
  plant: z.string(),
  asset: z.string(),
  fault: FaultType,
  kind: z.enum(['equipment', 'data_quality']),
  channel: z.string().nullable(),
  onsetMs: z.number(),
  failureMs: z.number(),
});
export type SimLabel = z.infer<typeof SimLabel>;
