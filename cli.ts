#!/usr/bin/env node
/**
 * tributary start [--config FILE]      run the service (embedded simulator + PGlite without configuration)
 * tributary schemas [--out DIR]        write the JSON Schemas of the wire format for producers
 * tributary sim ...                    simulate a scenario to Kafka or to JSONL files
 * tributary replay ...                 replay a CSV dataset (or SKAB) into the sensor topic
 * tributary eval --suite ...           measure detection quality (SKAB protocol, simulator ablation)
 * tributary train ...                  train, calibrate and register a fusion model
 * tributary keys create|list|revoke     manage API keys in the configured store
 * tributary clocks --records FILE      what the align stage makes of each device's clock in a capture
 * tributary topics create ...           the input and dead-letter topics, co-partitioned, with a retention
 */
import { TributaryError } from './schemas/errors.js';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config.js';
import {
  ablationTable, baselineDetectors, DEFAULT_SPEC, encodeRun, evaluateSkab, scoreSkabContext, writeSkabPredictions, fusionAblation, metricsOf, progress, runEndToEnd, runSuite, scoreRuns, scoreSkabFusion, skabTable, table,
  trainFromHistory, trainFusion, type DetectorMetrics,
  runUnseen, runUnseenEndToEnd, unseenMetrics, unseenTables, type UnseenMetrics, type UnseenRun,
} from './eval/index.js';
import { PLANT_B_PRESETS, PLANT_B_SPLITS, plantBRun, splitOfSeed, type PlantBSplit, type PresetName } from './sim/plant-b.js';
import { fileLines, runClocks } from './align/index.js';
import { FusionModel, initBackend } from './fusion/index.js';
import { createRecordProducer, createTopics } from './ingest/index.js';
import { jsonSchemas, type Config, type Modality } from './schemas/index.js';
import { startService } from './service.js';
import { activateModel, createApiKey, historyWindows, listApiKeys, openStore, registerModel, revokeApiKey, SCOPES, type Db, type Scope } from './store/index.js';
import {
  jsonlSink, kafkaSink, labelsOf, loadScenario, loadSkab, loadSuite, planOf, pump, readCsv, ScenarioError, shiftPlan, stream, toSamples,
  type Delivery, type ReplaySeries, type Sink,
} from './sim/index.js';

const USAGE = `usage: tributary <command> [options]
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

const OPTIONS = {
  config: { type: 'string' }, out: { type: 'string' }, brokers: { type: 'string' }, prefix: { type: 'string' },
  scenario: { type: 'string' }, seed: { type: 'string' }, start: { type: 'string' }, hours: { type: 'string' }, speed: { type: 'string' },
  csv: { type: 'string' }, skab: { type: 'string' }, asset: { type: 'string' }, plant: { type: 'string' }, 'time-column': { type: 'string' },
  'shift-to': { type: 'string' }, labels: { type: 'string' },
  suite: { type: 'string' }, threshold: { type: 'string' }, json: { type: 'string' }, 'skab-dir': { type: 'string' }, 'window-ms': { type: 'string' }, predictions: { type: 'string' },
  preset: { type: 'string' }, split: { type: 'string' }, seeds: { type: 'string' }, healthy: { type: 'boolean' }, 'shipped-model': { type: 'string' },
  e2e: { type: 'boolean' }, 'database-url': { type: 'string' }, 'no-history-model': { type: 'boolean' },
  modalities: { type: 'string' }, epochs: { type: 'string' }, version: { type: 'string' }, register: { type: 'boolean' }, activate: { type: 'boolean' },
  ablation: { type: 'boolean' }, cache: { type: 'string' }, detector: { type: 'string' }, 'from-store': { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' },
  records: { type: 'string' }, partitions: { type: 'string' }, 'retention-ms': { type: 'string' }, name: { type: 'string' }, scopes: { type: 'string' }, plants: { type: 'string' }, id: { type: 'string' },
} as const;

class UsageError extends TributaryError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}
type Flags = 'e2e' | 'register' | 'activate' | 'ablation' | 'from-store' | 'no-history-model';
type Values = Partial<Record<Exclude<keyof typeof OPTIONS, Flags>, string>> & Partial<Record<Flags, boolean>>;

const num = (v: string | undefined, name: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return x;
};
const time = (v: string, name: string): number => {
  const t = v === 'now' ? Date.now() : Date.parse(v);
  if (!Number.isFinite(t)) throw new UsageError(`--${name} must be an ISO time or "now", got ${JSON.stringify(v)}`);
  return t;
};
const topicsOf = (prefix: string) => ({ sensors: `${prefix}.sensors`, images: `${prefix}.images`, notes: `${prefix}.notes` });

async function main(argv: string[]): Promise<number> {
  const [cmd = 'start', ...rest0] = argv;
  const sub = cmd === 'keys' || cmd === 'topics' ? rest0[0] : undefined;
  const rest = cmd === 'keys' || cmd === 'topics' ? rest0.slice(1) : rest0;
  let values: Values;
  try {
    values = parseArgs({ args: rest, options: OPTIONS, strict: true }).values as typeof values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    return cmd === 'keys' ? await keys(sub, values) : cmd === 'topics' ? await topicsCmd(sub, values) : await run(cmd, values);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ScenarioError) { process.stderr.write(`${e.message}\n`); return 2; }
    throw e;
  }
}

/** The configuration, or null after printing every problem (exit code 2). */
function configOr2(values: Values): Config | null {
  try {
    return loadConfig({ file: values.config });
  } catch (e) {
    if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return null; }
    throw e;
  }
}

async function topicsCmd(sub: string | undefined, values: Values): Promise<number> {
  if (sub !== 'create') throw new UsageError(`topics: give create\n${USAGE}`);
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const kafka = {
    ...cfg.kafka,
    ...(values.brokers ? { brokers: values.brokers.split(',') } : {}),
    ...(values.prefix ? { topics: { ...topicsOf(values.prefix), deadLetter: `${values.prefix}.dead-letter` } } : {}),
  };
  const partitions = num(values.partitions, 'partitions', cfg.kafka.partitions);
  const r = values['retention-ms'];
  const retentionMs = r === undefined ? undefined : r === 'forever' ? -1 : num(r, 'retention-ms', -1);
  const made = await createTopics(kafka, { partitions, retentionMs }, pino({ level: 'warn' }));
  for (const t of made) process.stdout.write(`${t.topic}: ${t.partitions} partitions${t.created ? ', created' : ', existed'}${retentionMs === undefined ? '' : `, retention.ms ${retentionMs}`}\n`);
  return 0;
}

async function keys(sub: string | undefined, values: Values): Promise<number> {
  const cfg = configOr2(values);
  if (!cfg) return 2;
  if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') throw new UsageError(`keys: give create, list or revoke\n${USAGE}`);
  const store = await openStore(cfg.database);
  try {
    if (sub === 'create') {
      if (!values.name) throw new UsageError('keys create: --name is required');
      const scopes = (values.scopes ?? 'read').split(',').map((x) => x.trim()).filter(Boolean);
      const bad = scopes.filter((x) => !(SCOPES as readonly string[]).includes(x));
      if (bad.length || !scopes.length) throw new UsageError(`keys create: --scopes must be read, write and/or admin, got ${JSON.stringify(values.scopes)}`);
      const plants = values.plants ? values.plants.split(',').map((x) => x.trim()).filter(Boolean) : [];
      const k = await createApiKey(store.db, { name: values.name, scopes: scopes as Scope[], plants });
      process.stdout.write(`${k.key}\n`);
      process.stderr.write(`key ${k.id} "${k.name}": scopes ${k.scopes.join(', ')}; plants ${k.plants.length ? k.plants.join(', ') : 'all'}. Shown once: store it now.\n`);
      return 0;
    }
    if (sub === 'list') {
      const list = await listApiKeys(store.db);
      process.stdout.write(`${table(['id', 'name', 'scopes', 'plants', 'created', 'last used', 'revoked'], list.map((k) => [
        k.id, k.name, k.scopes.join(','), k.plants.length ? k.plants.join(',') : 'all', k.createdAt, k.lastUsedAt ?? '–', k.revokedAt ?? '–',
      ]))}\n`);
      return 0;
    }
    if (!values.id) throw new UsageError('keys revoke: --id is required');
    if (!(await revokeApiKey(store.db, values.id))) { process.stderr.write(`no active key ${values.id}\n`); return 1; }
    process.stdout.write(`revoked ${values.id}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

async function run(cmd: string, values: Values): Promise<number> {
  if (cmd === 'start') {
    const cfg = configOr2(values);
    if (!cfg) return 2;
    const logger = pino({ level: cfg.log.level, base: { service: 'tributary' } });
    const svc = await startService(cfg, logger);
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await svc.stop();
    return 0;
  }

  if (cmd === 'schemas') {
    const out = values.out ?? 'schemas/json';
    mkdirSync(out, { recursive: true });
    const all = jsonSchemas();
    for (const [file, text] of Object.entries(all)) writeFileSync(join(out, file), text);
    process.stdout.write(`wrote ${Object.keys(all).length} schemas to ${out}\n`);
    return 0;
  }

  if (cmd === 'sim') {
    if (!values.brokers === !values.out) throw new UsageError(`give exactly one of --brokers and --out\n${USAGE}`);
    const scenario = loadScenario(values.scenario ?? 'bearing-wear');
    const speed = num(values.speed, 'speed', 0);
    let plan = planOf(scenario, num(values.seed, 'seed', scenario.seed));
    // To Kafka the default start is "now" (ending now when as fast as possible), so record times are current.
    const startAt = values.start ? time(values.start, 'start') : values.brokers ? Date.now() - (speed > 0 ? 0 : plan.endMs - plan.startMs) : null;
    if (startAt !== null) plan = shiftPlan(plan, startAt);
    const endMs = values.hours ? Math.min(plan.endMs, plan.startMs + num(values.hours, 'hours', 0) * 3_600_000) : plan.endMs;
    let sink: Sink;
    if (values.out) sink = jsonlSink(values.out, { 'labels.json': labelsOf(plan), 'scenario.json': { ...scenario, seed: plan.seed, start: new Date(plan.startMs).toISOString() } });
    else sink = kafkaSink(await createRecordProducer(values.brokers!.split(','), pino({ level: 'warn' })), topicsOf(values.prefix ?? 'tributary'));
    const bar = progress(`sim ${scenario.name}`);
    const sent = await pump(stream(plan, 3_600_000, plan.startMs, endMs), sink, {
      speed, startMs: plan.startMs, onProgress: (t) => bar.update(Math.min(1, (t - plan.startMs) / (endMs - plan.startMs))),
    });
    bar.done();
    await sink.close();
    const labels = labelsOf(plan);
    process.stdout.write(`${scenario.name} seed ${plan.seed}: ${sent} records from ${new Date(plan.startMs).toISOString()} to ${new Date(endMs).toISOString()}; ${labels.length} labelled fault(s)\n`);
    for (const l of labels) process.stdout.write(`  ${l.asset} ${l.fault}${l.channel ? ` (${l.channel})` : ''}: onset ${new Date(l.onsetMs).toISOString()}, ${l.kind === 'equipment' ? 'failure' : 'end'} ${new Date(l.failureMs).toISOString()}\n`);
    return 0;
  }

  if (cmd === 'clocks') {
    if (!values.records) throw new UsageError(`clocks: --records is required\n${USAGE}`);
    const cfg = configOr2(values);
    if (!cfg) return 2;
    const out = values.out ? createWriteStream(values.out) : null;
    const report = await runClocks(fileLines(values.records), cfg, out ? { onSample: (l) => out.write(`${l}\n`) } : {});
    if (out) await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const f = (x: number | null, d = 0) => (x === null ? '–' : x.toFixed(d));
    process.stdout.write(`${report.records} records, ${report.windows} windows fired; rejected: ${JSON.stringify(report.rejected)}\n`);
    process.stdout.write(`${table(['asset', 'device', 'offset ms', 'drift ppm', '± ms', 'corrected', 'steps (record time: size ms)', 'samples', 'windowed', 'late', 'quarantined', 'duplicates'],
      report.devices.map((d) => [
        d.asset, d.device, f(d.offsetMs), f(d.driftPpm, 1), f(d.uncertaintyMs, 1), d.corrected ? 'yes' : 'as stamped',
        d.steps.map((x) => `${new Date(x.atMs).toISOString().slice(11, 23)}: ${x.sizeMs > 0 ? '+' : ''}${Math.round(x.sizeMs)}`).join(', ') || '–',
        d.samples, d.windowed, d.late, d.quarantined, d.duplicates,
      ]))}\n`);
    for (const d of report.devices) {
      for (const [why, n] of Object.entries(d.reasons)) process.stdout.write(`  ${d.device}: ${n} × ${why}\n`);
    }
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
    return 0;
  }

  if (cmd === 'replay') {
    if (!values.brokers) throw new UsageError(`--brokers is required\n${USAGE}`);
    if (!values.csv === !values.skab) throw new UsageError(`give exactly one of --csv and --skab\n${USAGE}`);
    const series: ReplaySeries[] = values.skab ? loadSkab(values.skab)
      : [readCsv(values.csv!, { asset: values.asset, plant: values.plant, timeColumn: values['time-column'] })];
    // --shift-to moves history so that it ends then (as fast as possible: a backlog up to now), or, at a
    // replay speed, so that it starts then (played out from now on).
    const shiftTo = values['shift-to'] ? time(values['shift-to'], 'shift-to') : null;
    const speed = num(values.speed, 'speed', 0);
    const shiftOf = (s: ReplaySeries) => (shiftTo === null ? 0 : shiftTo - (speed > 0 ? Math.min(...s.ts) : Math.max(...s.ts)));
    const deliveries: Delivery[] = series.flatMap((s) => toSamples(s, shiftOf(s)))
      .map((r) => ({ topic: 'sensors' as const, arrivalMs: r.ts, record: r }))
      .sort((a, b) => a.arrivalMs - b.arrivalMs);
    if (values.labels) {
      writeFileSync(values.labels, `${JSON.stringify(series.map((s) => ({
        name: s.name, plant: s.plant, asset: s.asset, ts: s.ts.map((t) => t + shiftOf(s)), labels: s.labels,
      })))}\n`);
    }
    // The record time is left to the producer (now): a replay of history is not a clock to correct.
    const sink = kafkaSink(await createRecordProducer(values.brokers.split(','), pino({ level: 'warn' })), topicsOf(values.prefix ?? 'tributary'), { keepTimestamps: false });
    const chunks: Delivery[][] = [];
    for (let i = 0; i < deliveries.length; i += 5000) chunks.push(deliveries.slice(i, i + 5000));
    const bar = progress('replay');
    const sent = await pump(chunks, sink, { speed, startMs: deliveries[0]?.arrivalMs ?? 0, onProgress: (_, n) => bar.update(n / deliveries.length) });
    bar.done();
    await sink.close();
    process.stdout.write(`replayed ${sent} samples of ${series.length} series (${series.map((s) => s.asset).slice(0, 5).join(', ')}${series.length > 5 ? ', …' : ''})\n`);
    return 0;
  }

  if (cmd === 'train') return train(values);

  if (cmd === 'eval' && values.suite === 'plant-b') return evalPlantB(values);
  if (cmd === 'eval') {
    const suite = values.suite;
    const threshold = num(values.threshold, 'threshold', 6);
    let report: unknown;
    if (values.e2e) {
      if (!values.brokers) throw new UsageError(`--e2e needs --brokers\n${USAGE}`);
      if (!suite === !values.scenario || suite === 'skab') throw new UsageError(`--e2e needs one of --suite sim-… and --scenario\n${USAGE}`);
      const runs = suite ? loadSuite(suite) : [{ scenario: loadScenario(values.scenario!), seed: num(values.seed, 'seed', 101), split: 'test' as const }];
      const logger = pino({ level: 'warn' });
      const rows: Array<Array<string | number>> = [];
      const results = [];
      for (const r of runs) {
        const res = await runEndToEnd(r, { brokers: values.brokers.split(','), databaseUrl: values['database-url'], threshold, onProgress: (w) => process.stderr.write(`${r.scenario.name}#${r.seed}: ${w}\n`) }, logger);
        results.push({ run: `${r.scenario.name}#${r.seed}`, ...res });
        const row = (how: string, m: DetectorMetrics) => [`${r.scenario.name}#${r.seed}`, how, m.windows, m.aucRoc.toFixed(3), m.aucPr.toFixed(3), (100 * m.far).toFixed(2), (100 * m.mar).toFixed(2), `${m.faultsDetected}/${m.faults}`];
        rows.push(row('in-process', res.inProcess), row('Kafka + database', res.endToEnd));
        process.stdout.write(`${r.scenario.name}#${r.seed}: ${res.published} records published; ${res.identical}/${res.compared} windows scored identically\n`);
      }
      process.stdout.write(`${table(['run', 'path', 'windows', 'AUC-ROC', 'AUC-PR', 'FAR %', 'MAR %', 'detected'], rows)}\n`);
      if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
      return 0;
    }
    if (!suite) throw new UsageError(`--suite is required\n${USAGE}`);
    if (suite === 'skab') {
      const dir = values['skab-dir'] ?? process.env.SKAB_DIR ?? '../shared/data/skab';
      const bar = progress('skab');
      const windowMs = num(values['window-ms'], 'window-ms', 10_000);
      const detector = values.detector ?? 'context';
      if (!['fusion', 'baseline', 'context'].includes(detector)) throw new UsageError(`--detector: context, baseline or fusion\n${USAGE}`);
      const fusion = detector === 'fusion';
      if (fusion) await initBackend();
      // The fusion model's operating point is a calibrated probability (default 0.99); the baseline's and the context scorer's the alert threshold.
      const thr = fusion ? num(values.threshold, 'threshold', 0.99) : threshold;
      const scoreRows = fusion ? (s: ReplaySeries) => scoreSkabFusion(s, windowMs) : detector === 'context' ? (s: ReplaySeries) => scoreSkabContext(s, windowMs, thr) : undefined;
      const r = evaluateSkab(dir, { threshold: thr, windowMs }, (i, n, name) => bar.update(i / n, name), scoreRows);
      bar.update(1, 'done');
      bar.done();
      const name = fusion ? `Tributary fusion, sensors (p ≥ ${thr})` : detector === 'context' ? `Tributary context k-NN (score ≥ ${thr})` : `Tributary baseline (robust z ≥ ${thr})`;
      const what = fusion ? 'fusion model (sensor modality, trained per file)' : detector === 'context' ? 'context-knn-1 (the default scorer)' : 'baseline-robustz-1';
      process.stdout.write(`SKAB outlier detection, ${what} at threshold ${thr}: ${r.files.length} files, ${r.testRows} test rows (${r.anomalous} anomalous), ${r.changepoints} changepoints\n`);
      process.stdout.write(`${skabTable(r, name)}\n`);
      report = { suite, detector: fusion ? 'fusion-sensors' : detector === 'context' ? 'context-knn-1' : 'baseline-robustz-1', windowMs, ...r };
      if (values.predictions) {
        const written = writeSkabPredictions(values.predictions, r);
        process.stdout.write(`predictions in SKAB's layout: ${written.length} files under ${values.predictions}\n`);
      }
    } else {
      const bar = progress(suite);
      const rep = runSuite(suite, baselineDetectors(threshold), (d, what) => bar.update(d, what));
      bar.done();
      const windows = rep.runs.reduce((a, r) => a + r.windows, 0);
      process.stdout.write(`${suite}: ${rep.runs.length} runs, ${windows} windows; the baseline-robustz-1 ablation and the default context scorer at threshold ${threshold}, alert rule 3 windows\n`);
      process.stdout.write(`${ablationTable(rep.metrics)}\n`);
      report = rep;
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }

  process.stderr.write(`${USAGE}\n`);
  return 2;
}

/**
 * `eval --suite plant-b`: the unseen-plant protocol (eval/unseen.ts) on family B. Test seeds only with
 * `--split test`, never with `--seeds`: they are for the final measurement, not for choosing.
 */
async function evalPlantB(values: Values): Promise<number> {
  const preset = (values.preset ?? 'short') as PresetName;
  if (!(preset in PLANT_B_PRESETS)) throw new UsageError(`--preset: short or week, not ${JSON.stringify(values.preset)}\n${USAGE}`);
  const split = (values.split ?? 'validation') as PlantBSplit;
  if (!(split in PLANT_B_SPLITS)) throw new UsageError(`--split: train, validation or test\n${USAGE}`);
  const seeds = values.seeds ? values.seeds.split(',').map((x) => num(x, 'seeds', 0)) : [...PLANT_B_SPLITS[split]];
  const bad = values.seeds ? seeds.filter((x) => splitOfSeed(x) === 'test' && split !== 'test') : [];
  if (bad.length) throw new UsageError(`--seeds: ${bad.join(', ')} are plant B test seeds; they are measured only with --split test`);
  const windowMs = num(values['window-ms'], 'window-ms', 60_000);
  const backend = await initBackend();
  const shippedModel = values['shipped-model'] ? FusionModel.fromJSON(JSON.parse(readFileSync(values['shipped-model'], 'utf8'))) : null;
  process.stderr.write(`TensorFlow.js backend: ${backend}; plant B ${preset}${values.healthy ? ' (no faults)' : ''}, ${split} seeds ${seeds.join(', ')}\n`);
  const bar = progress('plant-b');
  const runs: UnseenRun[] = [];
  const logger = pino({ level: 'warn' });
  const e2e: Array<{ run: string; metrics: UnseenMetrics; published: number; compared: number; identical: number; sameSide: number }> = [];
  for (const [k, seed] of seeds.entries()) {
    const run = plantBRun({ preset, seed, faults: !values.healthy, ...(values.e2e ? { endBefore: Date.now() } : {}) });
    const opts = { windowMs, shippedModel, allowTestSeeds: split === 'test', trainOnHistory: !values['no-history-model'] };
    const measured = runUnseen(run, { ...opts, onProgress: (d, w) => bar.update((k + d / 2) / seeds.length, w) });
    // The healthy twin: the same plant and period without the faults, for the per-fault figures.
    if (run.faults.length) measured.twin = runUnseen(plantBRun({ preset, seed, faults: false, ...(values.e2e ? { endBefore: Date.now() } : {}) }), { ...opts, onProgress: (d, w) => bar.update((k + 0.5 + d / 2) / seeds.length, `${w} (healthy twin)`) });
    runs.push(measured);
    if (values.e2e) {
      if (!values.brokers) throw new UsageError(`--e2e needs --brokers\n${USAGE}`);
      const res = await runUnseenEndToEnd(runs[runs.length - 1], { brokers: values.brokers.split(','), databaseUrl: values['database-url'], onProgress: (w) => bar.update((k + 1) / seeds.length, w) }, logger);
      e2e.push({ run: run.name, ...res });
    }
  }
  bar.done();
  const metrics = runs[0].detectors.map((_, i) => unseenMetrics(runs, i));
  const windows = runs.reduce((a, r) => a + r.windows.length, 0);
  process.stdout.write(`plant B ${preset}${values.healthy ? ' (no faults)' : ''}, ${split} seeds ${seeds.join(', ')}: ${runs.length} runs, ${windows} windows of ${windowMs / 1000} s; default alert rule (open after ${runs[0].rule.openAfter}, resolve after ${runs[0].rule.resolveAfter})\n`);
  process.stdout.write(`${unseenTables(metrics)}\n`);
  const twins = runs.flatMap((r) => (r.twin ? [r.twin] : []));
  const twinMetrics = twins.length ? twins[0].detectors.map((_, i) => unseenMetrics(twins, i)) : [];
  if (twins.length) process.stdout.write(`\nThe healthy twins alone (the same ${twins.length} runs without faults):\n${unseenTables(twinMetrics)}\n`);
  for (const x of e2e) {
    process.stdout.write(`${x.run} through Kafka and the database: ${x.published} records published; ${x.identical}/${x.compared} windows scored as in-process (${x.sameSide} on the same side of the threshold); the service's own alerts: ${x.metrics.faultsAlerted}/${x.metrics.faults.length} faults alerted, ${x.metrics.falseAlerts.length} false (${x.metrics.falseAlertsPerAssetWeek.toFixed(1)} per asset-week), AUC-ROC ${x.metrics.aucRoc.toFixed(3)}\n`);
  }
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({
      suite: 'plant-b', preset, split, seeds, healthy: !!values.healthy, windowMs, rule: runs[0].rule, detectors: metrics, healthyTwins: twinMetrics, endToEnd: e2e,
      runs: runs.map((r) => ({
        run: r.run.name, seed: r.run.seed, startMs: r.run.startMs, endMs: r.run.endMs, deliveries: r.deliveries, rejected: r.rejected, faults: r.run.faults, benign: r.run.benign,
        detectors: r.detectors, windows: r.windows, ...(r.twin ? { twin: { run: r.twin.run.name, windows: r.twin.windows } } : {}),
      })),
    })}\n`);
  }
  return 0;
}

/** The version a trained model is given: --version, else fusion-YYYYMMDDHHMM. */
const versionOf = (values: Values) => values.version ?? `fusion-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;

/** Earliest and latest of many times (no spread: training sets hold hundreds of thousands). */
function span(ts: number[]): [number | null, number | null] {
  let lo = Infinity, hi = -Infinity;
  for (const t of ts) { if (t < lo) lo = t; if (t > hi) hi = t; }
  return ts.length ? [lo, hi] : [null, null];
}

/** Stores a trained model in the registry (in shadow; --activate makes it active). */
async function registerTrained(db: Db, values: Values, model: FusionModel, json: object, trained: { from: number | null; to: number | null }): Promise<void> {
  const version = (json as { version: string }).version;
  await registerModel(db, {
    version, kind: 'fusion', params: json as Record<string, unknown>, metrics: { validation: model.card.validation, ...(model.card.test ? { test: model.card.test } : {}) },
    card: modelCard(model.card), trainedFrom: trained.from, trainedTo: trained.to,
  }, 'tributary train');
  if (values.activate) await activateModel(db, version, 'tributary train');
  process.stdout.write(`registered ${version}${values.activate ? ' and activated it' : ' in shadow'}\n`);
}

async function trainFromStore(values: Values): Promise<number> {
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const when = (v: string | undefined, name: string, dflt: number) => {
    if (v === undefined) return dflt;
    const t = Date.parse(v);
    if (!Number.isFinite(t)) throw new UsageError(`--${name}: an ISO date-time, not ${JSON.stringify(v)}`);
    return t;
  };
  const from = when(values.from, 'from', 0), to = when(values.to, 'to', Date.now());
  const version = versionOf(values);
  const backend = await initBackend();
  const store = await openStore(cfg.database);
  try {
    const history = await historyWindows(store.db, cfg.align, { from, to, plant: values.plant });
    const assets = new Set(history.map((h) => h.tuple.asset));
    const perAsset = history.length / Math.max(1, assets.size);
    const spec = {
      ...DEFAULT_SPEC,
      channels: [...new Set(history.flatMap((h) => Object.keys(h.tuple.channels)))].sort(),
      referenceWindows: Math.max(20, Math.min(240, Math.floor(perAsset / 5))),
    };
    process.stderr.write(`TensorFlow.js backend: ${backend}; ${history.length} stored windows of ${assets.size} assets, channels ${spec.channels.join(', ')}\n`);
    const bar = progress('train');
    const model = trainFromHistory(history, { version, spec, epochs: num(values.epochs, 'epochs', 6), assetNames: (plant) => Object.keys(cfg.align.aliases[plant] ?? {}), onProgress: (d, w) => bar.update(d, w) });
    bar.done();
    const json = model.toJSON();
    process.stdout.write(`trained ${version} (${model.mode}) on ${String(model.card.trainingRows)} windows (${String(model.card.positives)} in confirmed alerts); threshold ${String(model.card.threshold)}\n`);
    if (values.out) writeFileSync(values.out, JSON.stringify(json));
    if (values.register) {
      const [first, last] = span(history.map((h) => h.tuple.windowStart));
      await registerTrained(store.db, values, model, json, { from: first, to: last === null ? null : last + cfg.align.windowMs });
    }
    model.dispose();
    return 0;
  } finally { await store.close(); }
}

async function train(values: Values): Promise<number> {
  if (values['from-store']) return trainFromStore(values);
  const MODS = ['sensors', 'images', 'notes'] as const;
  const modalities = values.modalities ? values.modalities.split(',').map((m) => m.trim()) : [...MODS];
  const bad = modalities.filter((m) => !(MODS as readonly string[]).includes(m));
  if (bad.length || !modalities.length) throw new UsageError(`--modalities: ${bad.join(', ') || 'none'} (sensors, images, notes)\n${USAGE}`);
  const epochs = num(values.epochs, 'epochs', 6);
  const version = versionOf(values);
  const cfg = values.register ? configOr2(values) : null;
  if (values.register && !cfg) return 2;
  const backend = await initBackend();
  process.stderr.write(`TensorFlow.js backend: ${backend}\n`);
  const enc = (split: string) => {
    const runs = loadSuite(split);
    const bar = progress(`encode ${split}`);
    const out = runs.map((r, k) => encodeRun(r, DEFAULT_SPEC, values.cache, (d) => bar.update((k + d) / runs.length, `${r.scenario.name} seed ${r.seed}`)));
    bar.update(1, 'done'); bar.done();
    return out;
  };
  const trainRuns = enc('sim-train'), val = enc('sim-validation'), test = enc('sim-test');
  const bar = progress('train');
  const t0 = Date.now();
  let model: FusionModel;
  let metrics: DetectorMetrics[];
  if (values.ablation) {
    const r = fusionAblation(trainRuns, val, test, { epochs, onProgress: (d, w) => bar.update(d, w) });
    model = r.models.fused;
    metrics = r.metrics;
  } else {
    model = trainFusion(trainRuns, val, { version, epochs, modalities: modalities as Modality[], onProgress: (d, w) => bar.update(d, w) });
    scoreRuns(test, { name: version, model }, 0);
    metrics = metricsOf(test, [{ name: version, threshold: Number(model.card.threshold) }]);
  }
  bar.done();
  const fused = metrics[0];
  model.card = { ...model.card, name: version, test: { aucPr: fused.aucPr, aucRoc: fused.aucRoc, f1: fused.f1, far: fused.far, mar: fused.mar, falseAlertsPerAssetWeek: fused.falseAlertsPerAssetWeek, explained: fused.explanationChecked ? fused.explanationHits / fused.explanationChecked : null } };
  const json = { ...model.toJSON(), version };
  process.stdout.write(`trained ${version} (${model.modalities.join(', ')}; ${model.mode}) in ${Math.round((Date.now() - t0) / 1000)} s on ${backend}; threshold ${String(model.card.threshold)}\n`);
  process.stdout.write(`sim-test: ${test.length} runs\n${ablationTable(metrics)}\n`);
  if (values.out) { writeFileSync(values.out, JSON.stringify(json)); process.stdout.write(`model written to ${values.out}\n`); }
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ version, card: model.card, metrics }, null, 2)}\n`);
  if (cfg) {
    const store = await openStore(cfg.database);
    try {
      const [from, to] = span(trainRuns.flatMap((r) => r.result.windows.map((w) => w.windowStart)));
      await registerTrained(store.db, values, model, json, { from, to });
    } finally { await store.close(); }
  }
  model.dispose();
  return 0;
}

/** The model card as Markdown (stored with the model, shown by GET /v1/models/{version}). */
function modelCard(c: Record<string, unknown>): string {
  const v = (c.validation ?? {}) as Record<string, number>, t = (c.test ?? {}) as Record<string, number>;
  const pct = (x: number | undefined) => (x === undefined || x === null ? '–' : `${(100 * x).toFixed(1)} %`);
  return [
    `# ${String(c.name)}`, '',
    `Fusion model (${String(c.mode)}) over ${(c.modalities as string[]).join(', ')}. Operating threshold: anomaly probability ≥ ${String(c.threshold)}.`, '',
    `- Intended use: ${String(c.intendedUse)}`,
    `- Trained on ${(c.trainedOn as string[]).join(', ').slice(0, 200)} (${String(c.trainingRows)} windows, ${String(c.positives)} in faults or confirmed alerts).`,
    v.aucPr !== undefined
      ? `- Validation: AUC-PR ${v.aucPr}, FAR ${pct(v.far)}, MAR ${pct(v.mar)}, false alerts per asset-week ${v.falseAlertsPerAssetWeek}.`
      : `- Validation: ${v.windows ?? '–'} held-out windows (${v.heldOutNormal ?? '–'} normal) calibrate the probability and set the threshold.`,
    ...(t.aucPr !== undefined ? [`- Test: AUC-PR ${t.aucPr.toFixed(3)}, FAR ${pct(t.far)}, MAR ${pct(t.mar)}, false alerts per asset-week ${t.falseAlertsPerAssetWeek?.toFixed?.(2) ?? '–'}.`] : []),
    `- Limitations: ${String(c.limitations)}`,
  ].join('\n');
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`tributary: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
