/** The webhook sender against a real local HTTP server: retries, Retry-After, 410, signatures, the delivery log. */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { startDeliveryWorker } from '../../alerts/index.js';
import { Config, type AlertEvent } from '../../schemas/index.js';
import { emptyBatch, openStore, writeBatch } from '../../store/index.js';
import { waitFor } from '../helpers/service.js';

const SECRET = `whsec_${Buffer.from('webhook-test-secret-0123456789').toString('base64')}`;
const received: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
const script: Record<string, number[]> = { '/flaky': [503, 500, 200], '/gone': [410], '/ok': [200] };
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    received.push({ path: req.url!, headers: req.headers, body });
    const status = script[req.url!]?.shift() ?? 200;
    if (status === 503) res.setHeader('retry-after', '0');
    res.writeHead(status).end();
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
after(() => new Promise((r) => server.close(r)));

const alert = { id: 'a1', plant: 'p1', asset: 'pump-01', rule: 'r', state: 'open' as const, openedWindow: 0, lastWindow: 0, resolvedWindow: null, peakScore: 9, modelVersion: 'm', contributions: { vib_rms: 1 } };
const event: AlertEvent = { type: 'alert.opened', timestamp: new Date(0).toISOString(), data: alert };

test('deliveries retry with back-off (honouring Retry-After), stop on 410, and are signed', async () => {
  const cfg = Config.parse({
    database: { dataDir: ':memory:' },
    webhooks: [{ url: `${base}/flaky`, secret: SECRET }, { url: `${base}/gone` }, { url: `${base}/ok` }],
    delivery: { pollMs: 20, initialBackoffMs: 50, maxAttempts: 5 },
  });
  const store = await openStore(cfg.database);
  const b = emptyBatch();
  b.outbox = cfg.webhooks.map((w) => ({ eventId: 'evt_1', endpointUrl: w.url, event }));
  await store.db.transaction((tx) => writeBatch(tx, b));
  const worker = startDeliveryWorker(store.db, cfg, pino({ level: 'silent' }));
  try {
    const settled = async () => (await store.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_outbox WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL`)).rows[0].n === 3;
    await waitFor('every delivery settled', settled, 20_000, 20);
  } finally {
    await worker.stop();
  }
  const log = (await store.db.query<{ endpoint_url: string; attempts: number; last_status: number; delivered: boolean; failed: boolean }>(
    `SELECT endpoint_url, attempts, last_status, delivered_at IS NOT NULL AS delivered, failed_at IS NOT NULL AS failed FROM webhook_outbox ORDER BY endpoint_url`)).rows;
  assert.deepEqual(log.map((r) => [new URL(r.endpoint_url).pathname, r.attempts, r.last_status, r.delivered, r.failed]), [
    ['/flaky', 3, 200, true, false],
    ['/gone', 1, 410, false, true],
    ['/ok', 1, 200, true, false],
  ]);
  const flaky = received.filter((r) => r.path === '/flaky');
  assert.equal(new Set(flaky.map((r) => r.headers['webhook-id'])).size, 1, 'webhook-id is stable across retries');
  for (const r of flaky) {
    const headers = { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) };
    assert.deepEqual(new Webhook(SECRET).verify(r.body, headers), JSON.parse(JSON.stringify(event)));
  }
  assert.equal(received.find((r) => r.path === '/ok')!.headers['webhook-signature'], undefined, 'no secret, no signature');
  await store.close();
});

test('an endpoint that never answers gives up after maxAttempts, each attempt logged', async () => {
  const cfg = Config.parse({
    database: { dataDir: ':memory:' },
    webhooks: [{ url: 'http://127.0.0.1:9/unreachable' }],
    delivery: { pollMs: 20, initialBackoffMs: 10, maxAttempts: 3, timeoutMs: 500 },
  });
  const store = await openStore(cfg.database);
  const b = emptyBatch();
  b.outbox = [{ eventId: 'evt_2', endpointUrl: cfg.webhooks[0].url, event }];
  await store.db.transaction((tx) => writeBatch(tx, b));
  const worker = startDeliveryWorker(store.db, cfg, pino({ level: 'silent' }));
  try {
    await waitFor('gave up', async () => (await store.db.query<{ failed: boolean }>(`SELECT failed_at IS NOT NULL AS failed FROM webhook_outbox`)).rows[0].failed, 20_000, 20);
  } finally {
    await worker.stop();
  }
  const [row] = (await store.db.query<{ attempts: number; last_error: string }>(`SELECT attempts, last_error FROM webhook_outbox`)).rows;
  assert.equal(row.attempts, 3);
  assert.match(row.last_error, /fetch failed|ECONNREFUSED/);
  await store.close();
});
