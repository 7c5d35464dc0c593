/**
 * The API under abuse (issue 23), over a real socket: NUL characters get a 400 naming the field (not a
 * 500 carrying PostgreSQL's message), a 500 says nothing of the database and gives a request id the log
 * has, the dashboard and docs carry security headers, and a body trickled in is cut off at the request
 * timeout.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { buildApi } from '../../api/index.js';
import { Config } from '../../schemas/index.js';
import { createApiKey, openStore } from '../../store/index.js';

test(
  'NUL characters: 400 naming the field; a 500 carries no database message; security headers; a trickled body is cut off',
  { timeout: 30_000 },
  async () => {
    const cfg = Config.parse({ database: { dataDir: ':memory:' } });
    const store = await openStore(cfg.database);
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'error' },
      {
        write: (s: string) => {
          logged.push(JSON.parse(s));
        },
      },
    );
    const app = await buildApi({
      db: store.db,
      readiness: {},
      threshold: 6,
      logger,
      requestTimeoutMs: 1_000,
      idleTimeoutMs: 500,
      alerts: { cfg, wake: () => {}, rulesChanged: () => {} },
    });
    const key = (await createApiKey(store.db, { name: 'admin', scopes: ['admin'] })).key;
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const auth = { authorization: `Bearer ${key}` };
    let closed = false;
    try {
      const q = await fetch(`${url}/v1/alerts?asset=pump%0001`, { headers: auth });
      assert.equal(q.status, 400);
      assert.deepEqual(await q.json(), {
        error: 'invalid_request',
        field: 'asset',
        message: 'asset: NUL characters are not accepted',
      });
      const b = await fetch(`${url}/v1/webhooks`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'https://hooks.example/x', description: 'a\u0000b' }),
      });
      assert.equal(b.status, 400);
      assert.equal(((await b.json()) as { field: string }).field, 'description');

      // Security headers on the dashboard and the docs.
      for (const path of ['/', '/docs', '/dashboard']) {
        const r = await fetch(`${url}${path}`);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
        assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, path);
        assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
        await r.arrayBuffer();
      }

      // A body promised but trickled: the server gives up on it at the request timeout.
      const host = new URL(url);
      const answer = await new Promise<string>((resolve) => {
        const sock = connect(Number(host.port), host.hostname);
        let got = '';
        sock.on('data', (d) => {
          got += d.toString();
        });
        sock.on('close', () => resolve(got || '(closed)'));
        sock.write(
          `POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"u`,
        );
        const drip = setInterval(() => {
          if (!sock.destroyed) sock.write(' ');
        }, 300);
        sock.on('close', () => clearInterval(drip));
        setTimeout(() => {
          clearInterval(drip);
          sock.destroy();
        }, 10_000).unref();
      });
      assert.match(answer, /^HTTP\/1\.1 408/, answer.slice(0, 200));

      // A connection that sends nothing is cut off at the request timeout; one left idle after a
      // kept-alive request is closed at the idle timeout. (Each is given 10 s before the test gives up.)
      const closesWithin = (first: string | null) =>
        new Promise<{ ms: number; got: string }>((resolve) => {
          const t0 = Date.now();
          const sock = connect(Number(host.port), host.hostname);
          let got = '';
          sock.on('data', (d) => {
            got += d.toString();
          });
          sock.on('close', () => resolve({ ms: Date.now() - t0, got }));
          if (first) sock.write(first);
          setTimeout(() => sock.destroy(), 10_000).unref();
        });
      const silent = await closesWithin(null);
      assert.ok(silent.ms < 5_000, `a silent connection stayed ${silent.ms} ms`);
      const idle = await closesWithin('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      assert.match(idle.got, /^HTTP\/1\.1 200/);
      assert.ok(idle.ms < 3_000, `an idle kept-alive connection stayed ${idle.ms} ms`);

      // The database gone: a 500 with a request id, the reason only in the log.
      await store.close();
      closed = true;
      const r = await fetch(`${url}/v1/alerts`, { headers: auth });
      assert.equal(r.status, 500);
      const body = (await r.json()) as { error: string; message: string; requestId: string };
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'requestId']);
      assert.equal(body.message, 'internal error; the service logged it');
      const line = logged.find((l) => l.requestId === body.requestId);
      assert.ok(
        line && typeof line.err === 'string' && line.msg === 'request failed',
        JSON.stringify(logged),
      );
    } finally {
      await app.close();
      if (!closed) await store.close();
    }
  },
);

test(
  'a flood of made-up keys: limited per address before any lookup, and the keys in use stay cached',
  { timeout: 30_000 },
  async () => {
    const cfg = Config.parse({ database: { dataDir: ':memory:' } });
    const store = await openStore(cfg.database);
    let lookups = 0;
    // The real database, its queries counted.
    const db = new Proxy(store.db, {
      get: (t, p) =>
        p === 'query'
          ? (...a: Parameters<typeof t.query>) => {
              lookups++;
              return t.query(...a);
            }
          : Reflect.get(t, p),
    });
    const app = await buildApi({
      db,
      readiness: {},
      threshold: 6,
      authFailures: { perMinute: 60, burst: 20 },
      alerts: { cfg, wake: () => {}, rulesChanged: () => {} },
    });
    const key = (await createApiKey(store.db, { name: 'reader', scopes: ['read'] })).key;
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      assert.equal(
        (await fetch(`${url}/v1/plants`, { headers: { authorization: `Bearer ${key}` } })).status,
        200,
      );
      const before = lookups;
      const codes: number[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await fetch(`${url}/v1/plants`, {
          headers: { authorization: `Bearer trb_made_up_${i}_${'x'.repeat(40)}` },
        });
        codes.push(r.status);
        await r.arrayBuffer();
      }
      assert.deepEqual(
        [codes.filter((c) => c === 401).length, codes.filter((c) => c === 429).length],
        [20, 180],
      );
      assert.ok(lookups - before <= 20, `${lookups - before} key lookups for 200 made-up keys`);
      const again = lookups;
      const ok = await fetch(`${url}/v1/plants`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(ok.status, 200, 'the key in use still works from the flooded address');
      assert.ok(lookups - again <= 2, "and is not looked up again (cached): only the route's own query");
    } finally {
      await app.close();
      await store.close();
    }
  },
);

test(
  'heavy reads are bounded: a month at 1 s is coarsened (and says so), long lists are cut with where the next page starts',
  { timeout: 60_000 },
  async () => {
    const cfg = Config.parse({ database: { dataDir: ':memory:' } });
    const store = await openStore(cfg.database);
    const app = await buildApi({
      db: store.db,
      readiness: {},
      threshold: 6,
      alerts: { cfg, wake: () => {}, rulesChanged: () => {} },
    });
    const key = (await createApiKey(store.db, { name: 'reader', scopes: ['read'] })).key;
    try {
      const T0 = Date.UTC(2026, 9, 1);
      await store.db.query(`INSERT INTO asset_owners (asset, plant) VALUES ('pump-01', 'p1')`);
      // 6 000 scored windows of 10 s.
      await store.db.query(
        `INSERT INTO scores (plant, asset, window_start, window_end, model_version, status, score, contributions, quality, note_count)
      SELECT 'p1', 'pump-01', to_timestamp($1::float8 / 1000) + g * interval '10 seconds', to_timestamp($1::float8 / 1000) + (g + 1) * interval '10 seconds',
             'm1', 'scored', 1.0, '{}'::jsonb, '{}'::jsonb, 0 FROM generate_series(0, 5999) g`,
        [T0],
      );
      const get = async (q: string) =>
        (
          await app.inject({
            url: `/v1/assets/pump-01/timeline?${q}`,
            headers: { authorization: `Bearer ${key}` },
          })
        ).json() as Record<string, unknown> & { scores: unknown[]; truncated: { scores?: string } };
      const month = await get(
        `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 30 * 86_400_000).toISOString()}&resolution=1s`,
      );
      assert.equal(month.requestedResolutionMs, 1000);
      assert.equal(month.resolutionMs, 1_296_000, 'a month in at most 2 000 buckets');
      assert.match(
        String(month.coarsened),
        /at most 2000 buckets per channel: 1000 ms coarsened to 1296000 ms/,
      );
      assert.equal(month.scores.length, 5_000);
      assert.equal(month.truncated.scores, new Date(T0 + 5_000 * 10_000).toISOString());
      const next = await get(
        `from=${month.truncated.scores}&to=${new Date(T0 + 30 * 86_400_000).toISOString()}`,
      );
      assert.equal(next.scores.length, 1_000, 'the next page holds the rest');
      assert.deepEqual(next.truncated, {});
    } finally {
      await app.close();
      await store.close();
    }
  },
);

test(
  'the API has its own connections with a statement timeout on the PostgreSQL server',
  { timeout: 60_000 },
  async () => {
    const { createTestDatabase } = await import('../helpers/pg.js');
    const made = await createTestDatabase('apipool');
    const store = await openStore(
      Config.parse({ database: { url: made.url, poolSize: 2, apiPoolSize: 1, apiStatementTimeoutMs: 300 } })
        .database,
    );
    try {
      await assert.rejects(
        store.apiDb.query('SELECT pg_sleep(2)'),
        (e: { code?: string }) => e.code === '57014',
        "the API's statement is cancelled",
      );
      // A long API read holds only the API's connection: the pipeline's pool answers meanwhile.
      const slow = store.apiDb.query('SELECT pg_sleep(0.25)');
      assert.deepEqual((await store.db.query<{ x: number }>('SELECT 1 AS x')).rows, [{ x: 1 }]);
      await slow;
    } finally {
      await store.close();
      await made.drop();
    }
  },
);

test(
  '16 heavy reads at once against a month of readings: heap stays bounded and other routes answer',
  { timeout: 240_000 },
  async () => {
    const { createTestDatabase } = await import('../helpers/pg.js');
    const made = await createTestDatabase('heavy');
    const cfg = Config.parse({ database: { url: made.url } });
    const store = await openStore(cfg.database);
    const app = await buildApi({
      db: store.apiDb,
      readiness: {},
      threshold: 6,
      alerts: { cfg, wake: () => {}, rulesChanged: () => {} },
    });
    const key = (await createApiKey(store.db, { name: 'reader', scopes: ['read'] })).key;
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const T0 = Date.UTC(2026, 9, 1),
        DAYS = 30;
      await store.db.query(`INSERT INTO asset_owners (asset, plant) VALUES ('pump-01', 'p1')`);
      // A month of one channel at 1 Hz, in 10-s windows (259 200 rows, 2.6 M values), and a score per window.
      await store.db.query(
        `INSERT INTO readings (plant, asset, device, channel, window_start, n, t_offset_ms, v)
      SELECT 'p1', 'pump-01', 'd1', 'vib_rms', to_timestamp($1::float8 / 1000) + g * interval '10 seconds', 10,
             ARRAY[0,1000,2000,3000,4000,5000,6000,7000,8000,9000], array_fill(sin(g)::float8, ARRAY[10])
      FROM generate_series(0, $2::int - 1) g`,
        [T0, DAYS * 8640],
      );
      await store.db.query(
        `INSERT INTO scores (plant, asset, window_start, window_end, model_version, status, score, contributions, quality, note_count)
      SELECT 'p1', 'pump-01', to_timestamp($1::float8 / 1000) + g * interval '10 seconds', to_timestamp($1::float8 / 1000) + (g + 1) * interval '10 seconds',
             'm1', 'scored', 1.0, '{}'::jsonb, '{}'::jsonb, 0 FROM generate_series(0, $2::int - 1) g`,
        [T0, DAYS * 8640],
      );
      global.gc?.();
      const base = process.memoryUsage().heapUsed;
      let peak = base;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      }, 20);
      const q = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + DAYS * 86_400_000).toISOString()}&resolution=1s`;
      const heavy = Array.from({ length: 16 }, () =>
        fetch(`${url}/v1/assets/pump-01/timeline?${q}`, { headers: { authorization: `Bearer ${key}` } }).then(
          async (r) => ({
            status: r.status,
            retryAfter: r.headers.get('retry-after'),
            bytes: (await r.arrayBuffer()).byteLength,
          }),
        ),
      );
      // Meanwhile the health route and a light read answer.
      const health = await fetch(`${url}/healthz`);
      const light = await fetch(`${url}/v1/plants`, { headers: { authorization: `Bearer ${key}` } });
      const results = await Promise.all(heavy);
      clearInterval(sampler);
      assert.equal(health.status, 200);
      assert.equal(light.status, 200);
      // Each read is answered, coarsened, or refused as busy with a time to retry: never an internal error.
      for (const r of results) {
        assert.ok(r.status === 200 || (r.status === 503 && r.retryAfter === '5'), JSON.stringify(r));
        if (r.status === 200) assert.ok(r.bytes < 2_000_000, `a coarsened month is ${r.bytes} bytes`);
      }
      assert.ok(
        results.filter((r) => r.status === 200).length >= cfg.database.apiPoolSize,
        JSON.stringify(results.map((r) => r.status)),
      );
      assert.ok(peak - base < 256 * 1024 * 1024, `heap grew ${Math.round((peak - base) / 1048576)} MiB`);
    } finally {
      await app.close();
      await store.close();
      await made.drop();
    }
  },
);
