/** The command line's options, usage text and the helpers every command uses. */
import { ConfigError, loadConfig } from '../config.js';
import { TributaryError } from '../schemas/errors.js';
import { type Config } from '../schemas/index.js';

export const USAGE = `usage: tributary <command> [options]
  start   [--config FILE]                 run the service
  schemas [--out DIR]                     write JSON Schema files (default schemas/json)
  sim     [--scenario NAME|FILE] [--seed N] [--start ISO|now] [--hours N] [--speed N]
          (--brokers H:P [--prefix tributary] | --out DIR)
                                          simulate a scenario (sim/scenarios) to Kafka or to
                                          DIR/records.jsonl with DIR/labels.json; speed 0 = as fast as
                                          possible (default), 1 = real time, N = N× faster
  replay  (--csv FILE [--asset A] [--plant P] [--time-column C] | --skab DIR) --brokers H:P
          [--prefix tributary] [--speed N] [--shift-to ISO|now] [--labels FILE]
                                          replay a dataset into the sensor topic, labels kept aside
  eval    --suite skab|sim-train|sim-validation|sim-test [--threshold N] [--json FILE]
          [--skab-dir DIR] [--window-ms N] [--detector context|baseline|fusion] [--predictions DIR]
          [--point-wise]
                                          evaluate the baseline scorer (in-process); on SKAB,
                                          --detector fusion trains the fusion model per file and
                                          --predictions writes SKAB's own layout (DIR/valve1/0.csv)
  eval    --suite plant-b [--preset short|week] [--split train|validation|test] [--seeds 1,2]
          [--healthy] [--shipped-model FILE] [--window-ms N] [--json FILE] [--e2e --brokers H:P]
          [--no-history-model] (skips training the fusion model on the run's history: faster)
                                          the unseen-plant protocol on plant family B: every detector,
                                          per fault type, benign events, false alerts, coverage
  eval    --e2e --brokers H:P [--database-url URL] (--suite sim-… | --scenario NAME [--seed N])
                                          the same through Kafka and the database, beside the
                                          in-process run on the same plan
  train   --from-store [--from ISO] [--to ISO] [--plant P] [--config FILE] [--register [--activate]]
          [--epochs N] [--version V] [--out FILE]
                                          train on the plant's stored history (labels from operators'
                                          feedback on alerts), calibrate on its last 20 %
  train   --csv FILE [--asset A] [--plant P] [--time-column C] [--window-ms N] [--config FILE]
          [--epochs N] [--version V] [--out FILE] [--register [--activate]]
                                          train on one CSV dataset (its sensor channels, unlabelled;
                                          windows of align.windowMs), calibrate on its last 20 %
  train   [--modalities sensors,images,notes] [--epochs N] [--version V] [--out FILE]
          [--register [--activate] [--config FILE]] [--ablation] [--cache DIR] [--json FILE]
                                          train the fusion model on the simulator suite (sim-train),
                                          calibrate it and pick its threshold on sim-validation, report
                                          it on sim-test (--ablation: every modality subset, late
                                          fusion, each modality removed at test); --register stores it
                                          in the registry in shadow (--activate: active)
  topics  create [--config FILE] [--brokers H:P] [--prefix tributary] [--partitions N]
          [--retention-ms N|forever]      create the three input topics and the dead-letter topic with
                                          equal partition counts (default kafka.partitions); forever
                                          (retention.ms -1): a replay of history with its own record times
  clocks  --records FILE [--out FILE] [--config FILE] [--json FILE]
                                          run the align stage over a capture of the topics (JSON
                                          lines: topic, key, deliverAt = record time, value) and print
                                          each device's clock, steps, and what was quarantined or late
                                          and why; --out writes every sample's corrected time and window
                                          (../shared/skew's checker format)
  keys    create --name NAME [--scopes read|write|admin,…] [--plants P1,P2] [--config FILE]
                                          make an API key (printed once; scopes default read;
                                          no --plants: every plant)
  keys    list [--config FILE]            the keys (never their secrets)
  keys    revoke --id ID [--config FILE]  stop a key working (within 10 s on running services)`;

export const OPTIONS = {
  config: { type: 'string' },
  out: { type: 'string' },
  brokers: { type: 'string' },
  prefix: { type: 'string' },
  scenario: { type: 'string' },
  seed: { type: 'string' },
  start: { type: 'string' },
  hours: { type: 'string' },
  speed: { type: 'string' },
  csv: { type: 'string' },
  skab: { type: 'string' },
  asset: { type: 'string' },
  plant: { type: 'string' },
  'time-column': { type: 'string' },
  'shift-to': { type: 'string' },
  labels: { type: 'string' },
  suite: { type: 'string' },
  threshold: { type: 'string' },
  json: { type: 'string' },
  'skab-dir': { type: 'string' },
  'window-ms': { type: 'string' },
  predictions: { type: 'string' },
  preset: { type: 'string' },
  split: { type: 'string' },
  seeds: { type: 'string' },
  healthy: { type: 'boolean' },
  'shipped-model': { type: 'string' },
  e2e: { type: 'boolean' },
  'database-url': { type: 'string' },
  'no-history-model': { type: 'boolean' },
  'point-wise': { type: 'boolean' },
  modalities: { type: 'string' },
  epochs: { type: 'string' },
  version: { type: 'string' },
  register: { type: 'boolean' },
  activate: { type: 'boolean' },
  ablation: { type: 'boolean' },
  cache: { type: 'string' },
  detector: { type: 'string' },
  'from-store': { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  records: { type: 'string' },
  partitions: { type: 'string' },
  'retention-ms': { type: 'string' },
  name: { type: 'string' },
  scopes: { type: 'string' },
  plants: { type: 'string' },
  id: { type: 'string' },
} as const;

export class UsageError extends TributaryError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}
type Flags = 'e2e' | 'register' | 'activate' | 'ablation' | 'from-store' | 'no-history-model';
export type Values = Partial<Record<Exclude<keyof typeof OPTIONS, Flags>, string>> &
  Partial<Record<Flags, boolean>>;

export const num = (v: string | undefined, name: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return x;
};
export const time = (v: string, name: string): number => {
  const t = v === 'now' ? Date.now() : Date.parse(v);
  if (!Number.isFinite(t))
    throw new UsageError(`--${name} must be an ISO time or "now", got ${JSON.stringify(v)}`);
  return t;
};
export const topicsOf = (prefix: string) => ({
  sensors: `${prefix}.sensors`,
  images: `${prefix}.images`,
  notes: `${prefix}.notes`,
});

/** The configuration, or null after printing every problem (exit code 2). */
export function configOr2(values: Values): Config | null {
  try {
    return loadConfig({ file: values.config });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return null;
    }
    throw e;
  }
}
