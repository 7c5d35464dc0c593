/** Feeding the pipeline in-process (unit of one stage): records as consumed messages, and the window settings those tests share. */
import type { IncomingMessage } from '../../ingest/index.js';

export const W = 10_000;
/** 10-s windows, 2 s out of order, 3 s of lateness. */
export const testAlign = { windowMs: W, outOfOrdernessMs: 2000, allowedLatenessMs: 3000 };

/** Records as the consumer hands them over: offsets from `from`, keyed by asset, JSON bodies. */
export const asMessages = (xs: Array<{ asset?: string }>, from = 0): IncomingMessage[] =>
  xs.map((x, i) => ({
    offset: from + i,
    key: Buffer.from(x.asset ?? ''),
    value: Buffer.from(JSON.stringify(x)),
    timestamp: 0,
    headers: {},
  }));
