import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../config.js';

test('no configuration at all is the embedded demo', () => {
  const c = loadConfig({ env: {} });
  assert.deepEqual(c.kafka.brokers, []);
  assert.equal(c.database.url, undefined);
  assert.equal(c.align.windowMs, 10_000);
  assert.ok(Object.isFrozen(c.align), 'the result is frozen');
});

test('environment variables overlay the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ kafka: { groupId: 'g1' }, api: { port: 9000 } }));
  const c = loadConfig({
    file,
    env: {
      KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9094',
      TRIBUTARY_PORT: '9100',
      TRIBUTARY_WEBHOOK_URLS: 'http://127.0.0.1:1/h',
    },
  });
  assert.deepEqual(c.kafka.brokers, ['127.0.0.1:9092', '127.0.0.1:9094']);
  assert.equal(c.kafka.groupId, 'g1');
  assert.equal(c.api.port, 9100);
  assert.deepEqual(c.webhooks, [{ url: 'http://127.0.0.1:1/h' }]);
});

test('every problem is listed at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(
    file,
    JSON.stringify({
      align: { windowMs: 5 },
      alerts: { threshold: -1 },
      webhooks: [{ url: 'ftp://x' }],
      bogus: true,
    }),
  );
  try {
    loadConfig({ file, env: { TRIBUTARY_PORT: 'eighty', DATABASE_URL: 'mysql://x' } });
    assert.fail('expected a ConfigError');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const text = e.problems.join('\n');
    for (const want of [
      'TRIBUTARY_PORT',
      'align.windowMs',
      'alerts.threshold',
      'webhooks.0.url',
      'database.url',
      'bogus',
    ]) {
      assert.match(text, new RegExp(want.replace('.', '\\.')), `names ${want}`);
    }
    assert.ok(e.problems.length >= 6);
  }
});

test('a file that is not JSON is reported with its name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{ nope');
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (e: unknown) => e instanceof ConfigError && /bad\.json/.test(e.problems[0]),
  );
});

test('star patterns match as the old regular expressions did, in time linear in the value', async () => {
  const { matchesPattern } = await import('../../schemas/index.js');
  const old = (p: string, v: string) =>
    new RegExp(
      `^${p
        .split('*')
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(v);
  let seed = 3;
  const pick = (s: string) => s[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % s.length];
  for (let i = 0; i < 5_000; i++) {
    const p = Array.from({ length: 1 + (i % 7) }, () => pick('ab*-.')).join('');
    const v = Array.from({ length: i % 9 }, () => pick('ab-.')).join('');
    assert.equal(matchesPattern(p, v), old(p, v), `${JSON.stringify(p)} on ${JSON.stringify(v)}`);
  }
  // The inputs that froze the old matcher: answered at once (the old one backtracks for minutes).
  assert.equal(matchesPattern(`${'*'.repeat(33)}X`, 'a'.repeat(10_000)), false);
  assert.equal(matchesPattern('*'.repeat(100_000), 'pump-07'), true);
  assert.equal(matchesPattern(`${'*a'.repeat(5_000)}X`, 'a'.repeat(20_000)), false);
});
