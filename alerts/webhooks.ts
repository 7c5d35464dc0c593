/**
 * Webhook delivery from the transactional outbox. An alert's change and its outbox rows commit together
 * (store/batch.ts); this worker sends them.
 *
 * Delivery states of one (event, endpoint) row: due → leased (claimed, being sent) → delivered | due again
 * (retry after exponential back-off with jitter, or Retry-After on 429/503) | failed (attempts exhausted,
 * or 410 Gone). A crash while leased returns the row to due when the lease ends: delivery is at least
 * once, and `webhook-id` (stable across retries) lets receivers drop repeats.
 * Headers and signature follow Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>" when the endpoint has a secret.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../schemas/index.js';
import { claimDeliveries, settleDelivery, type Queryable, type DueDelivery } from '../store/index.js';

export function sign(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
}

/** Back-off before attempt n+1 (n ≥ 1 attempts made): exponential, capped, with ±20 % jitter. */
export function backoffMs(attempts: number, d: Config['delivery'], random = Math.random): number {
  const base = Math.min(d.maxBackoffMs, d.initialBackoffMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

function retryAfterMs(h: string | null): number | null {
  if (!h) return null;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : null;
}

export interface DeliveryWorker { wake(): void; stop(): Promise<void> }

export function startDeliveryWorker(db: Queryable, cfg: Config, logger: Logger): DeliveryWorker {
  const secrets = new Map(cfg.webhooks.map((w) => [w.url, w.secret]));
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wakeUp: (() => void) | null = null;
  const leaseMs = cfg.delivery.timeoutMs * 3;

  async function send(d: DueDelivery): Promise<void> {
    const body = JSON.stringify(d.event);
    const ts = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'tributary-webhooks/0.1',
      'webhook-id': d.eventId,
      'webhook-timestamp': String(ts),
    };
    const secret = secrets.get(d.endpointUrl);
    if (secret) headers['webhook-signature'] = sign(secret, d.eventId, ts, body);
    const attempts = d.attempts + 1;
    const retryIn = (ms: number | null) => (attempts >= cfg.delivery.maxAttempts ? null : ms ?? backoffMs(attempts, cfg.delivery));
    try {
      const res = await fetch(d.endpointUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(cfg.delivery.timeoutMs) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) {
        await settleDelivery(db, d, { ok: true, status: res.status, error: null, retryInMs: null });
        logger.info({ eventId: d.eventId, url: d.endpointUrl, status: res.status }, 'webhook delivered');
        return;
      }
      const gone = res.status === 410;
      const hinted = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get('retry-after')) : null;
      await settleDelivery(db, d, { ok: false, status: res.status, error: `HTTP ${res.status}`, retryInMs: gone ? null : retryIn(hinted) });
      logger.warn({ eventId: d.eventId, url: d.endpointUrl, status: res.status, attempts }, 'webhook delivery refused');
    } catch (e) {
      await settleDelivery(db, d, { ok: false, status: null, error: (e as Error).message, retryInMs: retryIn(null) });
      logger.warn({ eventId: d.eventId, url: d.endpointUrl, err: (e as Error).message, attempts }, 'webhook delivery failed');
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const due = await claimDeliveries(db, 20, leaseMs);
        for (const d of due) await send(d);
        if (due.length === 20) continue;
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'webhook outbox poll failed; retrying');
      }
      await new Promise<void>((resolve) => { wakeUp = resolve; timer = setTimeout(resolve, cfg.delivery.pollMs); });
    }
  })();

  return {
    wake() { wakeUp?.(); },
    async stop() { stopped = true; if (timer) clearTimeout(timer); wakeUp?.(); await loop; },
  };
}
