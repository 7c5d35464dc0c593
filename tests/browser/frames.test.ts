/**
 * The dashboard shows encoded frames of every kind (issue 20), in a real browser (Debian's chromium through
 * playwright-core) against the service on the real broker and PostgreSQL: a 16-bit radiometric PNG, a
 * false-colour PNG and a thermal JPEG are shown decoded through the colour map (frame.png at the page's
 * scale), a visible-light JPEG as it was sent. Screenshots go to tests/artifacts/frame-<asset>.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import jpeg from 'jpeg-js';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { createRecordProducer, createTopics } from '../../ingest/index.js';
import { Config } from '../../schemas/index.js';
import { ironPng, png16 } from '../helpers/frames.js';
import { uniqueName, useKafka, type TestKafka } from '../helpers/kafka.js';
import { createTestDatabase } from '../helpers/pg.js';
import { startServiceProcess, TEST_API_KEY, waitFor, withKey } from '../helpers/service.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS =
  process.env.TRIBUTARY_ARTIFACTS ?? join(new URL('../..', import.meta.url).pathname, 'tests', 'artifacts');
const logger = pino({ level: 'silent' });
const W = 10_000;

let kafka: TestKafka;
before(async () => {
  kafka = await useKafka();
});
after(async () => {
  await kafka?.stop();
});

test(
  'dashboard: the latest frame of each camera kind is shown, thermal ones decoded, the visible one as sent',
  { timeout: 240_000 },
  async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
    const prefix = uniqueName('bframes');
    const topics = {
      sensors: `${prefix}.sensors`,
      images: `${prefix}.images`,
      notes: `${prefix}.notes`,
      deadLetter: `${prefix}.dlq`,
    };
    const kafkaCfg = { brokers: kafka.brokers, topics, groupId: uniqueName('g'), partitions: 1 };
    await createTopics(Config.parse({ kafka: kafkaCfg }).kafka, { partitions: 1 }, logger);
    // The last ten minutes, so that the page's last-hour timeline holds them.
    const T0 = Math.floor((Date.now() - 600_000) / W) * W;
    const grey = Buffer.alloc(160 * 120 * 4);
    for (let i = 0; i < 160 * 120; i++) {
      const g = (i % 160) + 40;
      grey[i * 4] = grey[i * 4 + 1] = grey[i * 4 + 2] = g;
      grey[i * 4 + 3] = 255;
    }
    const photo = Buffer.alloc(64 * 48 * 4, 128);
    const kinds = {
      'pump-01': {
        coding: { kind: 'thermal', encoding: 'png', scale: { offset: -40, gain: 0.01 } },
        bytes: png16(160, 120, (x, y) => (Math.hypot(x - 40, y - 60) < 15 ? 80 : 30)),
        shown: [960, 720, 'image/png'],
      },
      'pump-02': {
        coding: { kind: 'thermal', encoding: 'png', palette: 'iron', range: { min: 10, max: 100 } },
        bytes: ironPng(80, 60, (x) => Math.round((255 * x) / 79) / 255),
        shown: [480, 360, 'image/png'],
      },
      'pump-03': {
        coding: { kind: 'thermal', encoding: 'jpeg', range: { min: 0, max: 255 } },
        bytes: jpeg.encode({ data: grey, width: 160, height: 120 }, 90).data,
        shown: [960, 720, 'image/png'],
      },
      'pump-04': {
        coding: { kind: 'visible', encoding: 'jpeg' },
        bytes: jpeg.encode({ data: photo, width: 64, height: 48 }, 80).data,
        shown: [64, 48, 'image/jpeg'],
      },
    } as const;
    const producer = await createRecordProducer(kafka.brokers, logger);
    for (const [asset, k] of Object.entries(kinds)) {
      const sensors = Array.from({ length: 120 }, (_, s) => ({
        v: 1,
        plant: 'p1',
        asset,
        device: `${asset}-d`,
        seq: s,
        ts: T0 + s * 1000,
        values: { temp: 40 + (s % 5) },
      }));
      const frames = Array.from({ length: 12 }, (_, f) => ({
        v: 1,
        plant: 'p1',
        asset,
        camera: `cam-${asset}`,
        ts: T0 + f * W + 5_000,
        ...k.coding,
        base64: Buffer.from(k.bytes).toString('base64'),
      }));
      await producer.send(
        topics.images,
        frames.map((f) => ({ key: asset, value: JSON.stringify(f) })),
      );
      await producer.send(
        topics.sensors,
        sensors.map((r) => ({ key: asset, value: JSON.stringify(r) })),
      );
    }
    await producer.close();

    const db = await createTestDatabase('bframes');
    const svc = await startServiceProcess({
      kafka: kafkaCfg,
      database: { url: db.url, poolSize: 2 },
      align: { windowMs: W, idleTimeoutMs: 3_000 },
      scorer: { kind: 'baseline', referenceWindows: 3 },
      api: { port: 0 },
      sim: { enabled: false },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    try {
      await waitFor(
        'every asset listed',
        async () => {
          const r = await fetch(`${svc.url}/v1/assets`, withKey());
          const body = (await r.json()) as { assets: Array<{ asset: string }> };
          return body.assets.length >= 4;
        },
        120_000,
        500,
      );
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const shown = new Map<string, string>();
      page.on('response', (r) => {
        if (r.url().includes('/frame.png'))
          shown.set(
            decodeURIComponent(r.url().split('/v1/assets/')[1].split('/')[0]),
            r.headers()['content-type'],
          );
      });
      await page.goto(`${svc.url}/#key=${TEST_API_KEY}`);
      mkdirSync(ARTIFACTS, { recursive: true });
      for (const [asset, k] of Object.entries(kinds)) {
        await page.click(`.tile[data-asset="${asset}"]`);
        // The image of this asset's frame has loaded: its natural size is the frame (× 6 when decoded).
        await page.waitForFunction(
          ([w, h]) => {
            const img = document.querySelector('#frame img') as HTMLImageElement | null;
            return img !== null && img.complete && img.naturalWidth === w && img.naturalHeight === h;
          },
          [k.shown[0], k.shown[1]] as const,
          { timeout: 30_000 },
        );
        assert.equal(shown.get(asset), k.shown[2], `${asset}: served as ${k.shown[2]}`);
        assert.match((await page.textContent('#frame .cap')) ?? '', /latest frame/);
        await page.screenshot({ path: join(ARTIFACTS, `frame-${asset}.png`) });
      }
      assert.deepEqual(errors, [], 'no errors in the page');
    } finally {
      await browser.close();
      await svc.kill('SIGTERM');
      await db.drop();
    }
  },
);
