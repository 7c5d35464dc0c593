/** JSON Schema (draft 2020-12) of the wire format and the configuration, for producers and tools. */
import { z } from 'zod';
import { Config } from './config.js';
import { ImageFrame, OperatorNote, SensorRecord } from './records.js';

/** File name → file text, as `npm run schemas` writes them to schemas/json. */
export function jsonSchemas(): Record<string, string> {
  const all = {
    'sensor-record': SensorRecord,
    'image-frame': ImageFrame,
    'operator-note': OperatorNote,
    config: Config,
  };
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(all)) {
    const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    out[`${name}.schema.json`] = `${JSON.stringify(js, null, 2)}\n`;
  }
  return out;
}
