/** store/schema.sql is the schema the migrations build (issue 24): a newcomer reads one file, and it stays true. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { dumpMigratedSchema, normaliseDump, SCHEMA_FILE } from '../../infra/db/schema.js';

test('store/schema.sql equals pg_dump of a fresh database the migrations built', async () => {
  const stored = readFileSync(SCHEMA_FILE, 'utf8');
  const body = stored.slice(stored.indexOf('\n\n') + 2);
  const dumped = await dumpMigratedSchema();
  assert.ok(
    /CREATE TABLE public\.readings/.test(dumped) && /CREATE TABLE public\.maintenance_windows/.test(dumped),
  );
  assert.equal(body, dumped, 'store/schema.sql is stale: run `npm run schema:dump` and commit it');
});

test('the dump is normalised: no version lines or session settings that change between machines', () => {
  const raw =
    '-- Dumped from database version 15.20\nSET statement_timeout = 0;\n\n\n\nCREATE TABLE t (a int);\n';
  assert.equal(normaliseDump(raw), 'CREATE TABLE t (a int);\n');
});
