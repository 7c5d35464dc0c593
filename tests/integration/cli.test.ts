import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'cli.ts'), ...args], {
  encoding: 'utf8', env: { ...process.env, TRIBUTARY_CONFIG: '', ...env }, timeout: 60_000,
});

test('invalid configuration stops start-up with every problem listed and exit status 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ kafka: { brokers: ['nohost'] }, align: { windowMs: 1 }, webhooks: [{ url: 'nope' }] }));
  const r = cli(['start', '--config', file], { TRIBUTARY_PORT: 'x' });
  assert.equal(r.status, 2, r.stderr);
  for (const want of ['TRIBUTARY_PORT', 'kafka.brokers.0', 'align.windowMs', 'webhooks.0.url']) assert.match(r.stderr, new RegExp(want.replaceAll('.', '\\.')));
  assert.equal(r.stdout, '', 'nothing started');
});

test('`tributary schemas` writes the JSON Schemas', () => {
  const out = mkdtempSync(join(tmpdir(), 'schemas-'));
  const r = cli(['schemas', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote 4 schemas/);
});

test('an unknown command prints the usage and exits 2', () => {
  const r = cli(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: tributary/);
});
