/** The error catalogue and typed events (issue 24), and the checkpoint's one upgrade function. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifecycleError } from '../../alerts/index.js';
import { ConfigError } from '../../config.js';
import { TypedEvents } from '../../pipeline/events.js';
import { CHECKPOINT_FORMAT, partitionRow, upgrade, type AssetParts } from '../../pipeline/checkpoint.js';
import { classify, ERROR_CATALOGUE, isRetriable, TributaryError } from '../../schemas/errors.js';
import { FencedError, InvalidCursorError, ModelStateError } from '../../store/index.js';

test('every error of ours carries a catalogued code, its status and retriability; a cause is kept', () => {
  const cause = new Error('socket hang up');
  const e = new TributaryError('unavailable', 'lost', { cause });
  assert.equal(e.cause, cause);
  assert.deepEqual([e.code, e.status, e.retriable, e.name], ['unavailable', 503, true, 'TributaryError']);
  for (const [err, code, status] of [
    [new ModelStateError('m not found', 404), 'not_found', 404],
    [new ModelStateError('m is active', 409), 'conflict', 409],
    [new LifecycleError('alert a is resolved'), 'conflict', 409],
    [new LifecycleError('until must be in the future', 'until'), 'invalid_body', 400],
    [new InvalidCursorError(), 'invalid_query', 400],
    [new FencedError('p0', 1, 2), 'fenced', 409],
    [new ConfigError(['a: bad', 'b: bad']), 'invalid_config', 500],
  ] as const) {
    assert.ok(err instanceof TributaryError, err.constructor.name);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status, err.message);
    assert.equal(err.name, err.constructor.name);
    // The catalogue documents what the error answers with (an override would make it lie).
    assert.equal(ERROR_CATALOGUE[err.code].status, err.status, `${err.code}: catalogue status`);
    assert.equal(ERROR_CATALOGUE[err.code].retriable, err.retriable, `${err.code}: catalogue retriable`);
  }
  assert.equal(new LifecycleError('until must be in the future', 'until').field, 'until');
  assert.equal(new InvalidCursorError().field, 'cursor');
});

test('classify: what the pipeline waits out and what the API answers 503 to', () => {
  // PostgreSQL: connection exceptions, resources, operator intervention, serialisation failures.
  for (const code of ['08006', '53300', '57P01', '40001'])
    assert.equal(isRetriable({ code, message: 'x' }), true, code);
  assert.deepEqual(classify({ code: '57014', message: 'canceling statement due to statement timeout' }), {
    code: 'busy',
    status: 503,
    retriable: true,
  });
  assert.equal(classify(new Error('timeout exceeded when trying to connect')).code, 'busy');
  assert.equal(classify(new Error('Connection terminated unexpectedly')).code, 'unavailable');
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'])
    assert.equal(isRetriable(Object.assign(new Error(code), { code })), true, code);
  // kafkajs marks its own.
  assert.equal(isRetriable({ name: 'KafkaJSConnectionError', retriable: true, message: 'x' }), true);
  // Bad data and bugs fail at once: a constraint violation, a type error, a fenced write.
  assert.equal(isRetriable({ code: '23505', message: 'duplicate key' }), false);
  assert.equal(isRetriable(new TypeError('x is undefined')), false);
  assert.equal(isRetriable(new FencedError('p0', 1, 2)), false);
  assert.deepEqual(classify(new TypeError('x')), { code: 'internal', status: 500, retriable: false });
  assert.equal(isRetriable(null), false);
});

test('checkpoint: format 0 (the whole state in the partition row) and format 1 rule state come up in the current shape', () => {
  const assetCore = { watermark: 5, revisions: {}, notes: [] } as unknown as NonNullable<AssetParts['core']>;
  const format0 = {
    processed: { sensors: 41 },
    align: {
      assets: {
        'line/a1': { ...assetCore, images: [], clocks: {} },
        a2: { ...assetCore, images: [], clocks: {} },
      },
    },
    models: {
      'line/a1': { reference: [], params: null },
      'baseline-robustz-2/a2': { reference: [], params: null },
    },
    rules: { 'line/a1': { above: 2 }, a2: { anomaly: { run: 1 } } },
  } as never;
  const r0 = upgrade(format0, new Map());
  assert.equal(r0.rewrite, true);
  assert.deepEqual([...r0.keys.get('line/a1')!], ['line/a1']);
  assert.deepEqual([...r0.keys.get('a2')!], ['baseline-robustz-2/a2']);
  assert.deepEqual(r0.cp!.clocksAt, { sensors: 41 }, 'clocks at the processed marks when not stored');
  // Rule state from before rule sets starts afresh; a rule set is kept.
  assert.deepEqual(Object.keys(r0.cp!.rules), ['a2']);

  // Format 1: per-asset rows, rules inside `scoring`.
  const rows = new Map<string, AssetParts>([
    [
      'a3',
      {
        core: assetCore,
        scoring: { models: { a3: { reference: [], params: null } }, rules: { anomaly: { run: 3 } } as never },
      },
    ],
  ]);
  const r1 = upgrade({ processed: { sensors: 7 }, clocksAt: { sensors: 5 } }, rows);
  assert.equal(r1.rewrite, false);
  assert.deepEqual(r1.cp!.rules, { a3: { anomaly: { run: 3 } } });
  assert.deepEqual(r1.cp!.align.assets.a3.images, []);
  assert.deepEqual(r1.cp!.clocksAt, { sensors: 5 });

  assert.equal(upgrade(null, new Map()).cp, null);
  assert.deepEqual(partitionRow({ sensors: 1 }, { sensors: 0 }), {
    format: CHECKPOINT_FORMAT,
    processed: { sensors: 1 },
    clocksAt: { sensors: 0 },
  });
});

test('typed events: every listener is called; one that throws is logged and reaches neither the others nor the emitter', () => {
  const logged: unknown[] = [];
  const events = new TypedEvents<{ durable: { records: number } }>({
    error: (o: unknown) => logged.push(o),
  } as never);
  const seen: number[] = [];
  events.on('durable', () => {
    throw new Error('metrics broke');
  });
  const off = events.on('durable', (s) => seen.push(s.records));
  assert.equal(events.has('durable'), true);
  assert.doesNotThrow(() => events.emit('durable', { records: 3 }));
  assert.deepEqual(seen, [3]);
  assert.equal(logged.length, 1);
  off();
  events.emit('durable', { records: 4 });
  assert.deepEqual(seen, [3]);
});
