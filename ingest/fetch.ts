/**
 * Frames sent as a URI, fetched off the batch path: http(s) only, hosts on an allow-list, a time and a
 * size limit per attempt, retries with exponential back-off for failures worth retrying (a timeout, a
 * refused or reset connection, 429, 5xx), a bounded number in flight. The result — the bytes, or why not —
 * goes to a callback; the partition's other records never wait for it.
 */
import { TributaryError } from '../schemas/errors.js';
import type { Config } from '../schemas/index.js';

export type FetchConfig = Config['frames']['fetch'];
export type FetchOutcome =
  | { ok: true; bytes: Buffer; contentType: string | null; attempts: number }
  | { ok: false; reason: string; attempts: number };

class FetchFailure extends TributaryError {
  constructor(message: string, retriable: boolean) {
    super(retriable ? 'fetch_failed' : 'fetch_refused', message);
  }
}

/** Whether a URL may be fetched: http(s), and a host on the allow-list (`*.example.com` covers subdomains). */
export function allowedUrl(url: string, allowHosts: string[]): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: ${url}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return `${u.protocol} URLs are not fetched (http and https only)`;
  const host = u.hostname.toLowerCase();
  const ok = allowHosts.some((h) =>
    h.startsWith('*.') ? host.endsWith(h.slice(1)) : host === h.toLowerCase(),
  );
  return ok ? null : `host ${host} is not in frames.fetch.allowHosts`;
}

/** One attempt: the body, at most maxBytes, within timeoutMs. */
async function attempt(url: string, c: FetchConfig): Promise<{ bytes: Buffer; contentType: string | null }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), c.timeoutMs);
  try {
    const res = await fetch(url, { signal: ctl.signal, redirect: 'error' }).catch((e: Error) => {
      throw new FetchFailure(
        ctl.signal.aborted
          ? `no answer within ${c.timeoutMs} ms`
          : `request failed: ${(e.cause as Error)?.message ?? e.message}`,
        true,
      );
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchFailure(`HTTP ${res.status}`, res.status === 429 || res.status >= 500);
    }
    const declared = Number(res.headers.get('content-length'));
    if (declared > c.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchFailure(`${declared} bytes, limit ${c.maxBytes}`, false);
    }
    const parts: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        n += chunk.length;
        if (n > c.maxBytes) {
          ctl.abort();
          throw new FetchFailure(`more than ${c.maxBytes} bytes`, false);
        }
        parts.push(Buffer.from(chunk));
      }
    } catch (e) {
      if (e instanceof FetchFailure) throw e;
      throw new FetchFailure(
        ctl.signal.aborted
          ? `body not read within ${c.timeoutMs} ms`
          : `body failed: ${(e as Error).message}`,
        true,
      );
    }
    return { bytes: Buffer.concat(parts), contentType: res.headers.get('content-type') };
  } finally {
    clearTimeout(timer);
  }
}

/** Fetches with retries (1, 2, 4… × backoffMs) while the failure is worth retrying. */
export async function fetchFrame(url: string, c: FetchConfig): Promise<FetchOutcome> {
  const refused = allowedUrl(url, c.allowHosts);
  if (refused) return { ok: false, reason: refused, attempts: 0 };
  for (let i = 1; ; i++) {
    try {
      return { ok: true, ...(await attempt(url, c)), attempts: i };
    } catch (e) {
      const f = e instanceof FetchFailure ? e : new FetchFailure((e as Error).message, false);
      if (!f.retriable || i > c.retries)
        return { ok: false, reason: `${f.message}${i > 1 ? ` (after ${i} attempts)` : ''}`, attempts: i };
      await new Promise((r) => setTimeout(r, c.backoffMs * 2 ** (i - 1)));
    }
  }
}

/** Runs fetches with at most `concurrency` in flight; one request per key at a time. */
export class FrameFetcher {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  private readonly inFlight = new Set<string>();
  constructor(private readonly c: FetchConfig) {}

  /** Fetches `url` (once at a time per key) and hands the outcome to `done`. */
  request(key: string, url: string, done: (o: FetchOutcome) => void): void {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    const run = () => {
      this.running++;
      void fetchFrame(url, this.c)
        .then(done, (e: Error) => done({ ok: false, reason: e.message, attempts: 1 }))
        .finally(() => {
          this.running--;
          this.inFlight.delete(key);
          this.queue.shift()?.();
        });
    };
    if (this.running < this.c.concurrency) run();
    else this.queue.push(run);
  }
}
