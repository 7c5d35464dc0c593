/** `tributary schemas`: the JSON Schemas of the wire format, for producers. */
import { jsonSchemas } from '../schemas/index.js';
import { type Values } from './args.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export async function schemas(values: Values): Promise<number> {
  const out = values.out ?? 'schemas/json';
  mkdirSync(out, { recursive: true });
  const all = jsonSchemas();
  for (const [file, text] of Object.entries(all)) writeFileSync(join(out, file), text);
  process.stdout.write(`wrote ${Object.keys(all).length} schemas to ${out}\n`);
  return 0;
}
