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
import { parseArgs } from 'node:util';
import { OPTIONS, USAGE, UsageError, type Values } from './cli/args.js';
import { clocks } from './cli/clocks.js';
import { evaluate } from './cli/eval.js';
import { keys } from './cli/keys.js';
import { replay } from './cli/replay.js';
import { schemas } from './cli/schemas.js';
import { sim } from './cli/sim.js';
import { start } from './cli/start.js';
import { topics } from './cli/topics.js';
import { train } from './cli/train.js';
import { ScenarioError } from './sim/index.js';

/** One file per command under cli/ (keys and topics take a subcommand). */
const COMMANDS: Record<string, (values: Values) => Promise<number>> = {
  start,
  schemas,
  sim,
  clocks,
  replay,
  train,
  eval: evaluate,
};

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
    if (cmd === 'keys') return await keys(sub, values);
    if (cmd === 'topics') return await topics(sub, values);
    const command = COMMANDS[cmd];
    if (!command) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    return await command(values);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ScenarioError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`tributary: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
