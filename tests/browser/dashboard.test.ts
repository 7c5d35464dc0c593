/**
 * The dashboard in a real browser (Debian's chromium through playwright-core): a fresh service on the
 * embedded default makes its bootstrap admin key and logs the dashboard link; the page opened from that
 * link shows the simulator's assets, a score update arrives over the live stream, an engineer
 * acknowledges the open alert with a comment, and the API shows it acknowledged. The screenshot is saved
 * to tests/artifacts/dashboard.png (or $TRIBUTARY_ARTIFACTS).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Alert } from '../../schemas/index.js';
import { startServiceProcess, waitFor } from '../helpers/service.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS =
  process.env.TRIBUTARY_ARTIFACTS ?? join(new URL('../..', import.meta.url).pathname, 'tests', 'artifacts');

test(
  'dashboard: assets, a live score update, acknowledge an alert, screenshot',
  { timeout: 240_000 },
  async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tributary-browser-')), 'data');
    // No configured key: the service makes the bootstrap key, as on a fresh `npm start`.
    const svc = await startServiceProcess({
      database: { dataDir },
      api: { port: 0, auth: { key: undefined } },
      sim: { assets: 4, backfillMs: 600_000, speed: 600 },
      align: { windowMs: 5_000 },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    try {
      const boot = await waitFor(
        'the bootstrap key in the log',
        async () => svc.logs.find((l) => typeof l.dashboard === 'string'),
        30_000,
      );
      const link = String(boot.dashboard);
      const key = String(boot.key);
      assert.ok(link.startsWith(`${svc.url}/#key=trb_`), link);
      const api = async <T>(path: string, init: RequestInit = {}) =>
        (
          await fetch(`${svc.url}${path}`, {
            ...init,
            headers: {
              authorization: `Bearer ${key}`,
              ...(init.body ? { 'content-type': 'application/json' } : {}),
            },
          })
        ).json() as Promise<T>;

      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(link);
      assert.equal(new URL(page.url()).hash, '', 'the key leaves the address bar');

      // The assets appear, coloured; an update arrives over the stream and moves a tile's window.
      await page.waitForSelector('.tile[data-asset="pump-02"]', { timeout: 60_000 });
      const before = await page.getAttribute('.tile[data-asset="pump-01"]', 'data-window');
      await page.waitForFunction(
        (b) => {
          const el = document.querySelector('.tile[data-asset="pump-01"]') as HTMLElement | null;
          return (
            el !== null &&
            el.dataset.window !== b &&
            Number(document.getElementById('live-count')!.textContent) > 0
          );
        },
        before,
        { timeout: 60_000 },
      );
      assert.equal(await page.textContent('#status'), 'live');
      assert.ok((await page.locator('#chart svg polyline').count()) > 1, 'the asset chart is drawn');

      // The faulty pump's alert: acknowledge it from the page, with a comment.
      const row = page.locator('tr[data-alert-id][data-state="open"]').first();
      await row.waitFor({ timeout: 90_000 });
      const alertId = await row.getAttribute('data-alert-id');
      page.once('dialog', (d) => {
        void d.accept('bearing noise confirmed on the round');
      });
      await row.locator('button.ack').click();
      await page.waitForSelector(`tr[data-alert-id="${alertId}"][data-state="acknowledged"]`, {
        timeout: 15_000,
      });

      const got = await api<{
        alert: Alert;
        events: Array<{ type: string; by: string; comment: string | null }>;
      }>(`/v1/alerts/${alertId}`);
      assert.equal(got.alert.state, 'acknowledged');
      assert.equal(got.alert.acknowledgedBy, 'bootstrap admin');
      assert.ok(
        got.events.some(
          (e) => e.type === 'alert.acknowledged' && e.comment === 'bearing noise confirmed on the round',
        ),
      );

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot));
      assert.deepEqual(errors, [], 'no errors in the page');
    } finally {
      await browser.close();
      await svc.kill();
    }
  },
);
