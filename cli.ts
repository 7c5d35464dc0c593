#!/usr/bin/env node
/**
 * tributary start [--config FILE]      run the service (embedded simulator + PGlite without configuration)
 * tributary schemas [--out DIR]        write the JSON Schemas of the wire format for producers
 * tributary sim --brokers H:P [...]    publish simulated plant records to Kafka
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config.js';
import { createRecordProducer } from './ingest/index.js';
import { jsonSchemas, type Config } from './schemas/index.js';
import { startService } from './service.js';
import { generate } from './sim/index.js';

const USAGE = `usage: tributary <start|schemas|sim> [options]
  start   [--config FILE]                run the service
  schemas [--out DIR]                    write JSON Schema files (default schemas/json)
  sim     --brokers H:P [--from ISO] [--minutes N] [--assets N] [--seed N] [--prefix tributary]
                                         publish simulated records to Kafka`;

async function main(argv: string[]): Promise<number> {
  const [cmd = 'start', ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' }, out: { type: 'string' }, brokers: { type: 'string' }, from: { type: 'string' },
      minutes: { type: 'string' }, assets: { type: 'string' }, seed: { type: 'string' }, prefix: { type: 'string' },
    },
    strict: true,
  });

  if (cmd === 'start') {
    let cfg: Config;
    try {
      cfg = loadConfig({ file: values.config });
    } catch (e) {
      if (e instanceof ConfigError) { process.stderr.write(`${e.message}\n`); return 2; }
      throw e;
    }
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
    if (!values.brokers) { process.stderr.write(`--brokers is required\n${USAGE}\n`); return 2; }
    const logger = pino({ level: 'warn' });
    const prefix = values.prefix ?? 'tributary';
    const from = values.from ? Date.parse(values.from) : Date.now() - 3_600_000;
    const minutes = Number(values.minutes ?? 60);
    const assets = Number(values.assets ?? 3);
    if (!Number.isFinite(from) || !Number.isFinite(minutes) || !Number.isInteger(assets)) { process.stderr.write(`${USAGE}\n`); return 2; }
    const to = from + minutes * 60_000;
    const recs = generate({
      seed: Number(values.seed ?? 7), assets, sampleMs: 1000,
      fault: assets > 1 ? { asset: 1, onsetMs: from + (to - from) / 3, fullMs: to } : null,
    }, from, to);
    const p = await createRecordProducer(values.brokers.split(','), logger);
    for (const [m, list] of Object.entries(recs) as Array<[string, Array<{ asset?: string }>]>) {
      for (let i = 0; i < list.length; i += 500) {
        await p.send(`${prefix}.${m}`, list.slice(i, i + 500).map((r) => ({ key: r.asset ?? null, value: JSON.stringify(r) })));
      }
      process.stdout.write(`${m}: ${list.length} records\n`);
    }
    await p.close();
    return 0;
  }

  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`tributary: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
