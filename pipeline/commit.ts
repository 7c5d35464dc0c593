/**
 * Commit: the batch's effects and checkpoint in one transaction (after the re-keyed notes and the dead
 * letters are out), then the offsets that are safe to commit.
 */
import { deadLetterKey, type CommitRequest, type DeadLetter } from '../ingest/index.js';
import { MODALITIES, type Modality } from '../schemas/index.js';
import { writeBatch, type BatchWrite, type Db } from '../store/index.js';
import type { Decoded } from './decode.js';
import type { Durably } from './retry.js';
import type { PartitionState } from './state.js';
import type { BatchInput, PipelineDeps } from './types.js';

/** Publishes the re-keyed notes, sends the dead letters, and writes the batch: each retried while worth it. */
export async function persist(
  deps: Pick<PipelineDeps, 'republish' | 'deadLetter'>,
  db: Db,
  durably: Durably,
  batch: BatchInput,
  decoded: Pick<Decoded, 'dead' | 'rekeyed'>,
  out: BatchWrite,
): Promise<void> {
  if (decoded.rekeyed.length)
    await durably('note re-keying', () => deps.republish!('notes', decoded.rekeyed), batch);
  if (decoded.dead.length) {
    const row = (x: DeadLetter) => ({
      key: deadLetterKey(x),
      source: x.source.topic,
      code: x.code,
      reason: x.reason,
      value: x.value,
    });
    if (deps.deadLetter) {
      // A copy cut to fit the dead-letter topic: the whole original is kept here.
      const cut = await durably('dead-letter send', () => deps.deadLetter!(decoded.dead), batch);
      if (cut?.length) out.deadLetters = cut.map(row);
    } else out.deadLetters = decoded.dead.map(row);
  }
  await durably('store write', () => db.transaction((tx) => writeBatch(tx, out)), batch);
}

/** Offsets safe to commit: the sensors topic is held back to the oldest sample still in an open window. */
export function commitsFor(
  state: PartitionState,
  partition: number,
  topics: Record<Modality, string>,
): CommitRequest[] {
  const out: CommitRequest[] = [];
  for (const m of MODALITIES) {
    const processed = state.processed[m];
    if (processed === undefined) continue;
    // While the sensor replay after a restore is under way, windows whose samples are not replayed yet
    // are not in the operator, so it cannot say what to hold: the commit stays where it was (moving it
    // would lose those windows if this instance died before the replay finished).
    if (m === 'sensors' && state.replayingUntil !== null) continue;
    const held = m === 'sensors' ? state.op.heldSensorOffset() : null;
    // Device clocks are rebuilt from their checkpoint by observing the records after it again.
    const clocks = m === 'notes' ? Infinity : (state.clocksAt[m] ?? -1) + 1;
    const offset = Math.min(held ?? Infinity, processed + 1, clocks);
    if (state.committed[m] === offset) continue;
    state.committed[m] = offset;
    out.push({ topic: topics[m], partition, offset });
  }
  return out;
}
