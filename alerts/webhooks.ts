/**
 * Webhook delivery from the transactional outbox (store/alerts.ts): an alert's change and its outbox rows
 * commit together; this worker sends them.
 *
 * Delivery states of one (event, endpoint) row: due → leased (claimed, being sent) → delivered | due again
 * (after the next wait of the retry schedule, ±20 % jitter, or Retry-After on 429/503) | failed (schedule
 * exhausted, or 410 Gone, which also disables the endpoint). A crash while leased returns the row to due
 * when the lease ends: delivery is at least once, and `webhook-id` (stable across retries) lets receivers
 * drop repeats. An endpoint failing continuously for `disableAfterMs` is disabled. Every attempt is logged.
 *
 * Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature = space-separated
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per live secret (two during a rotation).
 * Requests go out through node:http(s) with a DNS lookup that refuses loopback, private, link-local and
 * other non-public addresses unless `allowPrivateNetworks` (checked on the address actually connected
 * to, so DNS rebinding cannot slip past it).
 */
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../schemas/index.js';
import { claimDeliveries, settleDelivery, type Db, type DueDelivery } from '../store/index.js';

export interface Clock {
  now(): number;
}
const systemClock: Clock = { now: () => Date.now() };

export function sign(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
}

/** The wait after attempt n (n ≥ 1) failed: the schedule's n-th entry ±20 %; null when the schedule is spent. */
export function retryDelayMs(attempts: number, d: Config['delivery'], random = Math.random): number | null {
  if (attempts > d.schedule.length) return null;
  return Math.round(d.schedule[attempts - 1] * (0.8 + 0.4 * random()));
}

function retryAfterMs(h: string | undefined, now: number): number | null {
  if (!h) return null;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - now) : null;
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
// IPv6: unspecified and loopback, unique-local, link-local, multicast, and the ranges that reach IPv4
// (or anything) by translation: NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16), Teredo
// (2001::/32); documentation and discard-only prefixes.
for (const [net, bits] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['100::', 64],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

/** Loopback, private, link-local, CGNAT, multicast, unspecified and reserved addresses (IPv4-mapped too). */
export function isPrivateAddress(addr: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  const fam = isIP(addr);
  return fam === 4 ? PRIVATE.check(addr, 'ipv4') : fam === 6 ? PRIVATE.check(addr, 'ipv6') : true;
}

/**
 * Why a webhook URL may not be registered (null: it may): a non-public address, given or resolved now
 * (every address the name has). A name that does not resolve yet is allowed; delivery checks again on the
 * address it connects to.
 */
export async function refusedWebhookUrl(url: string, allowPrivate: boolean): Promise<string | null> {
  if (allowPrivate) return null;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host))
    return isPrivateAddress(host)
      ? `${host} is a non-public address (delivery.allowPrivateNetworks is off)`
      : null;
  const addrs = await new Promise<LookupAddress[]>((resolve) =>
    dnsLookup(host, { all: true }, (err, a) => resolve(err ? [] : a)),
  );
  const bad = addrs.find((a) => isPrivateAddress(a.address));
  return bad
    ? `${host} resolves to the non-public address ${bad.address} (delivery.allowPrivateNetworks is off)`
    : null;
}

type LookupCb = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
function guardedLookup(hostname: string, options: object, cb: LookupCb): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
    if (err) return cb(err, '');
    const list = addrs as LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const e = Object.assign(
        new Error(
          `refused: ${hostname} resolves to the non-public address ${bad.address} (delivery.allowPrivateNetworks is off)`,
        ),
        { code: 'EPRIVATE' },
      );
      return cb(e, '');
    }
    if ((options as { all?: boolean }).all) return cb(null, list);
    cb(null, list[0].address, list[0].family);
  });
}

interface HttpResult {
  status: number;
  retryAfter: string | undefined;
}

function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  allowPrivate: boolean,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // A literal IP skips DNS: check it here.
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivate && isIP(host) && isPrivateAddress(host)) {
      reject(
        Object.assign(
          new Error(`refused: ${host} is a non-public address (delivery.allowPrivateNetworks is off)`),
          { code: 'EPRIVATE' },
        ),
      );
      return;
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: allowPrivate ? undefined : (guardedLookup as never),
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'] as string | undefined,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface DeliveryWorker {
  wake(): void;
  /** Sends everything due now (tests with an injected clock); resolves with the number of attempts. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

/** What one attempt came to: delivered, retrying later, failed for good, or the endpoint disabled. */
export type DeliveryOutcome = 'delivered' | 'retry' | 'failed' | 'disabled';

export function startDeliveryWorker(
  db: Db,
  cfg: Config,
  logger: Logger,
  o: {
    clock?: Clock;
    autostart?: boolean;
    random?: () => number;
    report?: (outcome: DeliveryOutcome) => void;
  } = {},
): DeliveryWorker {
  const clock = o.clock ?? systemClock;
  const d = cfg.delivery;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wakeUp: (() => void) | null = null;
  const leaseMs = d.timeoutMs * 3;

  /** Sends one message; false when the endpoint must get nothing more now (it was disabled). */
  async function send(x: DueDelivery): Promise<boolean> {
    const body = JSON.stringify(x.event);
    // The signed timestamp is when the request really leaves (receivers check it against their clock);
    // the injected clock only drives the schedule.
    const ts = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'tributary-webhooks/0.1',
      'webhook-id': x.eventId,
      'webhook-timestamp': String(ts),
    };
    if (x.secrets.length)
      headers['webhook-signature'] = x.secrets.map((s) => sign(s, x.eventId, ts, body)).join(' ');
    const attempts = x.attempts + 1;
    const started = performance.now();
    const settle = async (outcome: Omit<Parameters<typeof settleDelivery>[2], 'durationMs'>) => {
      await settleDelivery(
        db,
        x,
        { ...outcome, durationMs: performance.now() - started },
        clock.now(),
        d.disableAfterMs,
      );
      o.report?.(
        outcome.ok
          ? 'delivered'
          : outcome.disable
            ? 'disabled'
            : outcome.retryInMs === null
              ? 'failed'
              : 'retry',
      );
    };
    try {
      const res = await post(x.url, headers, body, d.timeoutMs, d.allowPrivateNetworks);
      if (res.status >= 200 && res.status < 300) {
        await settle({ ok: true, status: res.status, error: null, retryInMs: null });
        logger.info(
          { eventId: x.eventId, endpoint: x.endpointId, status: res.status, attempts },
          'webhook delivered',
        );
        return true;
      }
      if (res.status === 410) {
        await settle({
          ok: false,
          status: 410,
          error: 'HTTP 410 Gone',
          retryInMs: null,
          disable: 'the endpoint answered 410 Gone',
        });
        logger.warn({ eventId: x.eventId, endpoint: x.endpointId }, 'webhook endpoint gone: disabled');
        return false;
      }
      const hinted =
        res.status === 429 || res.status === 503 ? retryAfterMs(res.retryAfter, clock.now()) : null;
      const next = retryDelayMs(attempts, d, o.random);
      const retryInMs = next === null ? null : hinted !== null ? Math.min(hinted, d.maxRetryAfterMs) : next;
      await settle({ ok: false, status: res.status, error: `HTTP ${res.status}`, retryInMs });
      logger.warn(
        { eventId: x.eventId, endpoint: x.endpointId, status: res.status, attempts, retryInMs },
        'webhook delivery refused',
      );
      return true;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // A refused (private) address is a configuration error: retrying would not help.
      const retryInMs = err.code === 'EPRIVATE' ? null : retryDelayMs(attempts, d, o.random);
      await settle({ ok: false, status: null, error: err.message, retryInMs });
      logger.warn(
        { eventId: x.eventId, endpoint: x.endpointId, err: err.message, attempts, retryInMs },
        'webhook delivery failed',
      );
      return true;
    }
  }

  async function tick(): Promise<number> {
    let n = 0;
    for (;;) {
      const due = await claimDeliveries(db, 20, leaseMs, clock.now());
      // One endpoint's messages go out in order; different endpoints in parallel.
      const byEndpoint = new Map<string, DueDelivery[]>();
      for (const x of due) {
        if (!byEndpoint.has(x.endpointId)) byEndpoint.set(x.endpointId, []);
        byEndpoint.get(x.endpointId)!.push(x);
      }
      await Promise.all(
        [...byEndpoint.values()].map(async (xs) => {
          for (const x of xs) if (!(await send(x))) break;
        }),
      );
      n += due.length;
      if (due.length < 20 || stopped) return n;
    }
  }

  const loop =
    o.autostart === false
      ? Promise.resolve()
      : (async () => {
          while (!stopped) {
            try {
              await tick();
            } catch (e) {
              logger.warn({ err: (e as Error).message }, 'webhook outbox poll failed; retrying');
            }
            if (stopped) break;
            await new Promise<void>((resolve) => {
              wakeUp = resolve;
              timer = setTimeout(resolve, d.pollMs);
            });
          }
        })();

  return {
    wake() {
      wakeUp?.();
    },
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      wakeUp?.();
      await loop;
    },
  };
}
