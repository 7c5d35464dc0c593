/**
 * Frames sent as a URI (issue 20), against a real local HTTP server: slow, failing and oversized
 * answers, hosts not allowed; then through the pipeline on the embedded store: the partition's records
 * never wait for a fetch (only the windows after a frame being fetched wait for it), the fetched frame's
 * temperatures reach those windows, its bytes join
 * its stored row, and a frame that cannot be fetched leaves the image modality missing with the reason.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { PNG } from 'pngjs';
import { pino } from 'pino';
import { fetchFrame } from '../../ingest/fetch.js';
import { createPipeline } from '../../pipeline/index.js';
import { Config, type Modality } from '../../schemas/index.js';
import { openStore } from '../../store/index.js';
import { asMessages, testAlign, W } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/service.js';

function png16(tempC: number): Buffer {
  const p = new PNG({ width: 40, height: 30, bitDepth: 16, colorType: 0, inputColorType: 0 });
  p.data = Buffer.from(new Uint16Array(40 * 30).fill(Math.round((tempC + 40) / 0.01)).buffer);
  return PNG.sync.write(p, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
}
const FRAME = png16(55.5);
let server: Server,
  base = '';
const hits = new Map<string, number>();
before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    if (path.startsWith('/ok/')) {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(FRAME);
      return;
    }
    if (path === '/flaky.png') {
      if (n <= 2) {
        res.writeHead(503);
        res.end();
      } else {
        res.writeHead(200);
        res.end(FRAME);
      }
      return;
    }
    if (path === '/slow.png') {
      setTimeout(() => {
        res.writeHead(200);
        res.end(FRAME);
      }, 2_000).unref();
      return;
    }
    if (path.startsWith('/missing')) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (path === '/big.png') {
      res.writeHead(200, { 'content-length': String(10_000_000) });
      res.end();
      return;
    }
    if (path === '/stream.png') {
      // No length given: the body runs on past the limit.
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const more = () => {
        if (sent++ < 200 && !res.destroyed) res.write(chunk, more);
        else res.end();
      };
      more();
      return;
    }
    res.writeHead(500);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const fetchCfg = (o: object = {}) =>
  Config.parse({
    frames: {
      fetch: {
        allowHosts: ['127.0.0.1'],
        timeoutMs: 500,
        maxBytes: 1_000_000,
        retries: 3,
        backoffMs: 20,
        ...o,
      },
    },
  }).frames.fetch;

test('fetching frames: retries what is worth it, gives up on slow, missing and oversized answers with the reason, fetches only allowed hosts', async () => {
  const ok = await fetchFrame(`${base}/ok/a.png`, fetchCfg());
  assert.ok(ok.ok && ok.bytes.equals(FRAME) && ok.contentType === 'image/png');
  const flaky = await fetchFrame(`${base}/flaky.png`, fetchCfg());
  assert.ok(flaky.ok && flaky.attempts === 3, JSON.stringify(flaky));
  const slow = await fetchFrame(`${base}/slow.png`, fetchCfg({ retries: 1 }));
  assert.ok(
    !slow.ok && /no answer within 500 ms \(after 2 attempts\)/.test(slow.reason),
    JSON.stringify(slow),
  );
  const missing = await fetchFrame(`${base}/missing.png`, fetchCfg());
  assert.ok(!missing.ok && missing.reason === 'HTTP 404' && missing.attempts === 1, 'a 404 is not retried');
  const big = await fetchFrame(`${base}/big.png`, fetchCfg());
  assert.ok(!big.ok && /10000000 bytes, limit 1000000/.test(big.reason));
  const stream = await fetchFrame(`${base}/stream.png`, fetchCfg());
  assert.ok(!stream.ok && /more than 1000000 bytes/.test(stream.reason), JSON.stringify(stream));
  const other = await fetchFrame(`${base.replace('127.0.0.1', 'localhost')}/ok/b.png`, fetchCfg());
  assert.ok(
    !other.ok &&
      /host localhost is not in frames.fetch.allowHosts/.test(other.reason) &&
      other.attempts === 0,
  );
  const file = await fetchFrame('file:///etc/passwd', fetchCfg());
  assert.ok(!file.ok && /file: URLs are not fetched/.test(file.reason));
});

test(
  'URI frames in the pipeline: windows wait for the fetch and read its temperatures, bytes stored, an unfetchable frame leaves the reason',
  { timeout: 60_000 },
  async () => {
    const T0 = Date.UTC(2026, 10, 27, 9);
    const topics: Record<Modality, string> = { sensors: 's', images: 'i', notes: 'n' };
    const cfg = Config.parse({
      database: { dataDir: ':memory:' },
      align: { ...testAlign, idleTimeoutMs: 1_000 },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      frames: { fetch: { allowHosts: ['127.0.0.1'], timeoutMs: 500, retries: 1, backoffMs: 20 } },
    });
    const store = await openStore(cfg.database);
    try {
      const clock = { t: T0 };
      const p = createPipeline({
        cfg,
        db: store.db,
        logger: pino({ level: 'silent' }),
        deadLetter: null,
        topics,
        now: () => clock.t,
      });
      const frame = (asset: string, k: number, path: string) => ({
        v: 1,
        plant: 'p1',
        asset,
        camera: `cam-${asset}`,
        ts: T0 + k * W + 1_000,
        kind: 'thermal',
        uri: `${base}${path}`,
        scale: { offset: -40, gain: 0.01 },
      });
      const frames = [
        ...Array.from({ length: 8 }, (_, k) => frame('a', k, `/ok/a${k}.png`)),
        ...Array.from({ length: 8 }, (_, k) => frame('b', k, `/missing-${k}.png`)),
      ];
      const sensors = ['a', 'b'].flatMap((asset) =>
        Array.from({ length: 80 }, (_, k) => ({
          v: 1,
          plant: 'p1',
          asset,
          device: `d-${asset}`,
          seq: k,
          ts: T0 + k * 1000,
          values: { x: k % 3 },
        })),
      );
      await p.handle({
        partitionKey: 'p0',
        partition: 0,
        modality: 'images',
        topic: 'i',
        messages: asMessages(frames),
      });
      await p.handle({
        partitionKey: 'p0',
        partition: 0,
        modality: 'sensors',
        topic: 's',
        messages: asMessages(sensors),
      });
      clock.t += 2_000;
      await p.tick();
      // The fetches land as batches of their own; the windows after each frame waited for it.
      await waitFor(
        'every frame of a fetched',
        async () =>
          Number(
            (
              await store.db.query<{ n: string }>(
                `SELECT count(*) AS n FROM images WHERE asset = 'a' AND base64 IS NOT NULL`,
              )
            ).rows[0].n,
          ) === 8,
        20_000,
        50,
      );
      await waitFor(
        'every fetch of b given up',
        async () =>
          (p.checkpoint('p0')!.align.assets.b.images ?? []).every(
            (im) => im.missing === 'frame not fetched: HTTP 404',
          ),
        20_000,
        50,
      );
      await waitFor(
        "both assets' windows scored",
        async () =>
          Number(
            (
              await store.db.query<{ n: string }>(
                `SELECT count(DISTINCT asset) AS n FROM scores WHERE status = 'scored'`,
              )
            ).rows[0].n,
          ) === 2,
        20_000,
        50,
      );
      const latest = (
        await store.db.query<{ asset: string; n: string; with_image: string }>(`
      SELECT asset, count(*) AS n, count(*) FILTER (WHERE contributions ? 'image') AS with_image FROM (
        SELECT DISTINCT ON (asset, window_start) asset, contributions FROM scores WHERE status = 'scored' ORDER BY asset, window_start, revision DESC) x GROUP BY asset ORDER BY asset`)
      ).rows;
      const a = latest.find((r) => r.asset === 'a')!,
        b = latest.find((r) => r.asset === 'b')!;
      assert.ok(
        Number(a.n) > 0 && a.with_image === a.n,
        `a: the scored windows read the fetched frames (${JSON.stringify(latest)})`,
      );
      assert.equal(Number(b.with_image), 0, 'b: no temperatures from a frame that could not be fetched');
      const revised = Number(
        (
          await store.db.query<{ n: string }>(
            `SELECT count(*) AS n FROM scores WHERE asset = 'a' AND revision > 0`,
          )
        ).rows[0].n,
      );
      assert.equal(revised, 0, "the windows waited for their frames' fetches: none fired without them");
      const row = (
        await store.db.query<{ encoding: string; width: number; height: number }>(
          `SELECT encoding, width, height FROM images WHERE asset = 'a' LIMIT 1`,
        )
      ).rows[0];
      assert.deepEqual(row, { encoding: 'png', width: 40, height: 30 });
      const held = p.checkpoint('p0')!.align.assets.b.images ?? [];
      assert.ok(
        held.length > 0 && held.every((im) => im.missing === 'frame not fetched: HTTP 404'),
        JSON.stringify(held.slice(0, 2)),
      );
    } finally {
      await store.close();
    }
  },
);
