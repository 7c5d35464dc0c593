/**
 * Durable writes: a write that fails for a reason worth waiting out is retried with back-off while the
 * consumer keeps its group membership (heartbeats) and fetches nothing more for the partition (pause);
 * anything else fails the batch at once. The time spent waiting is kept off the window operators' clock.
 */
import type { Logger } from 'pino';
import { isRetriable } from '../schemas/errors.js';
import type { BatchInput } from './types.js';

export type Durably = <T>(
  what: string,
  fn: () => Promise<T>,
  batch: Pick<BatchInput, 'heartbeat' | 'pause' | 'resume' | 'partitionKey'>,
) => Promise<T>;

export interface Retrier {
  durably: Durably;
  /**
   * Processing time for the window operators (idle streams), not counting the time spent waiting out a
   * failed write: after a database outage every stream would otherwise look idle and windows would close
   * without the camera. Partitions wait concurrently: the stalled time is the union of their waits.
   */
  now: () => number;
}

export function createRetrier(wallNow: () => number, logger: Logger, isStopping?: () => boolean): Retrier {
  let stalledMs = 0;
  let waiting = 0;
  let waitingSince = 0;
  const now = () => wallNow() - stalledMs - (waiting > 0 ? wallNow() - waitingSince : 0);

  async function durably<T>(
    what: string,
    fn: () => Promise<T>,
    batch: Pick<BatchInput, 'heartbeat' | 'pause' | 'resume' | 'partitionKey'>,
  ): Promise<T> {
    let paused = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        if (paused) {
          batch.resume?.();
          logger.info(
            { partition: batch.partitionKey, attempts: attempt },
            `${what} through: partition resumed`,
          );
        }
        return result;
      } catch (e) {
        if (!isRetriable(e) || isStopping?.() || attempt >= 1000) {
          if (paused) batch.resume?.();
          throw e;
        }
        // Back-pressure: nothing more is fetched for this partition while its batch waits.
        if (!paused && batch.pause) {
          batch.pause();
          paused = true;
          logger.warn({ partition: batch.partitionKey }, `${what} failing: partition paused`);
        }
        const wait = Math.min(10_000, 200 * 2 ** Math.min(attempt, 6));
        logger.warn({ err: (e as Error).message, attempt, wait }, `${what} failed; retrying`);
        // Wait in slices, heartbeating, so a long outage does not cost the partitions (session time-out).
        if (waiting++ === 0) waitingSince = wallNow();
        try {
          for (let left = wait; left > 0; left -= 1000) {
            await new Promise((r) => setTimeout(r, Math.min(1000, left)));
            await batch
              .heartbeat?.()
              .catch((err: Error) => logger.warn({ err: err.message }, 'heartbeat while waiting failed'));
          }
        } finally {
          if (--waiting === 0) stalledMs += wallNow() - waitingSince;
        }
      }
    }
  }
  return { durably, now };
}
