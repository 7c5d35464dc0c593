import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { jsonSchemas } from '../../schemas/index.js';

const dir = new URL('../../schemas/json/', import.meta.url);

test('the committed JSON Schemas match the zod schemas (run `npm run schemas` after changing them)', () => {
  for (const [file, text] of Object.entries(jsonSchemas())) {
    assert.equal(readFileSync(new URL(file, dir), 'utf8'), text, file);
  }
});

test('the sensor JSON Schema describes the sample and the block forms', () => {
  const s = JSON.parse(jsonSchemas()['sensor-record.schema.json']) as {
    anyOf: Array<{ required: string[] }>;
  };
  assert.deepEqual(
    s.anyOf.map((b) =>
      b.required.includes('values') ? 'sample' : b.required.includes('channels') ? 'block' : '?',
    ),
    ['sample', 'block'],
  );
});
