/**
 * Decode: a batch's records → the window operator, the rows to store, and the rejects.
 *
 * A record at or below the partition's processed mark is a replay: it refills its window if that window is
 * still open and does nothing else (its dead letter, late-log row, image or note are already stored).
 */
import type { Logger } from 'pino';
import { resolveNoteAssets } from '../align/index.js';
import { decodeRecord, screenRecord, type DeadLetter, type IncomingMessage } from '../ingest/index.js';
import { decodeThermal, sniffEncoding } from '../ingest/frames.js';
import type { Config, ThermalPixels } from '../schemas/index.js';
import type { BatchWrite } from '../store/index.js';
import type { FramePool } from './frame-pool.js';
import type { PartitionState } from './state.js';
import type { BatchInput, FetchedFrame } from './types.js';

/** How long a batch's decoding runs before it lets the event loop serve other work. */
const YIELD_AFTER_MS = 4;

export interface Decoder {
  cfg: Config;
  /** The plants accepted (the configuration's `plants`), or null: any. */
  plants: Set<string> | null;
  /** The plant that owns an asset id: claimed in the store on first sight; an owner never changes. */
  ownerOf(plant: string, asset: string, batch: BatchInput): Promise<string>;
  /** The plant's asset ids (the names a note without an asset may use), from the store. */
  assetsOf(plant: string, batch: BatchInput): Promise<string[]>;
  /** Kafka mode: a note whose asset was resolved from its text goes back to the notes topic, keyed by it. */
  republishes: boolean;
  /** Decodes image records on their own threads (null: on this one). */
  frames: FramePool | null;
  /** Fetches a thermal frame sent as a URI (null: no hosts allowed). */
  requestFrame: ((batch: BatchInput, frame: FetchedFrame['frame']) => void) | null;
}

export interface Decoded {
  dead: DeadLetter[];
  /** Notes to publish again under the asset their text named. */
  rekeyed: Array<{ key: string; value: string }>;
  late: number;
  /** The batch's last offset (the processed mark when it has none). */
  last: number;
}

/** URI frames fetched meanwhile: their temperatures join the frames held, and the windows waiting on them fire. */
export function applyFetched(
  state: PartitionState,
  fetched: FetchedFrame[],
  out: BatchWrite,
  cfg: Config,
  logger: Logger,
): void {
  for (const { frame, outcome } of fetched) {
    let result: { pixels: ThermalPixels; encoding: 'png' | 'jpeg' } | { missing: string };
    if (!outcome.ok) result = { missing: `frame not fetched: ${outcome.reason}` };
    else {
      const encoding = frame.encoding ?? sniffEncoding(outcome.bytes, outcome.contentType);
      const pixels = encoding
        ? decodeThermal(outcome.bytes, { ...frame, kind: 'thermal', encoding }, cfg.limits.maxImagePixels)
        : {
            code: 'invalid_image',
            reason: `neither PNG nor JPEG (${outcome.contentType ?? 'no content type'})`,
          };
      result =
        'code' in pixels
          ? { missing: `fetched frame unreadable: ${pixels.reason}` }
          : { pixels, encoding: encoding! };
    }
    if (!state.op.attachFetched(frame.asset, frame.camera, frame.uri, result)) continue;
    if ('pixels' in result && outcome.ok) {
      (out.fetchedFrames ??= []).push({
        asset: frame.asset,
        camera: frame.camera,
        uri: frame.uri,
        encoding: result.encoding,
        base64: outcome.bytes.toString('base64'),
        width: result.pixels.width,
        height: result.pixels.height,
      });
    } else if ('missing' in result) {
      logger.warn(
        { asset: frame.asset, camera: frame.camera, uri: frame.uri, reason: result.missing },
        'URI frame without temperatures',
      );
    }
  }
}

function deadLetter(batch: BatchInput, m: IncomingMessage, code: string, reason: string): DeadLetter {
  return {
    key: m.key,
    value: m.value,
    code,
    reason,
    headers: m.headers,
    source: { topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp: m.timestamp },
  };
}

type Pending = Promise<ReturnType<typeof decodeRecord>> | null;
const ahead = new WeakMap<BatchInput, Pending[]>();
const BASE64_KEY = Buffer.from('"base64"');

/**
 * Starts decoding an image batch's encoded frames (records with a `base64` field) on the frame threads;
 * null: not an image batch, or no threads; a null entry: a record decoded here (an inline matrix, a URI
 * frame: nothing to gain from a thread). Called as the batch arrives, before it waits for its partition's
 * earlier batches, so the frames decode while those are handled.
 */
export function decodeFramesAhead(decoder: Decoder, batch: BatchInput): Pending[] | null {
  if (batch.modality !== 'images' || !decoder.frames) return null;
  let started = ahead.get(batch);
  if (!started) {
    started = batch.messages.map((m) => {
      if (
        !m.value ||
        !Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength).includes(BASE64_KEY)
      )
        return null;
      const p = decoder.frames!.decode(m.value);
      p.catch(() => {}); // awaited by decodeBatch; a batch that stops early must not leave it unhandled
      return p;
    });
    ahead.set(batch, started);
  }
  return started;
}

/** Decodes, screens and windows the batch's records; what is new goes to `out`. */
export async function decodeBatch(
  decoder: Decoder,
  state: PartitionState,
  batch: BatchInput,
  out: BatchWrite,
): Promise<Decoded> {
  const { cfg } = decoder;
  const mark = state.processed[batch.modality] ?? -1;
  const dead: DeadLetter[] = [];
  const rekeyed: Array<{ key: string; value: string }> = [];
  let late = 0;
  let sliceStart = performance.now();
  // Image records are decoded on the frame threads, the batch's all at once (from when it arrived, see
  // decodeFramesAhead), while this loop reaches them.
  const onThreads = decodeFramesAhead(decoder, batch);
  ahead.delete(batch);
  for (let i = 0; i < batch.messages.length; i++) {
    const m = batch.messages[i];
    // A large batch is decoded in slices of a few milliseconds: between them the event loop answers the
    // database for the other partitions' transactions (each statement of theirs would otherwise wait out
    // this whole batch).
    if ((i & 63) === 63 && performance.now() - sliceStart > YIELD_AFTER_MS) {
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
    }
    const replay = m.offset <= mark;
    const pending = onThreads?.[i];
    const decoded = pending ? await pending : decodeRecord(batch.modality, m.value, cfg.limits);
    const reject = decoded.ok
      ? screenRecord(decoded.record, m.key?.toString('utf8') ?? null, decoder.plants)
      : decoded;
    if (reject) {
      if (!replay) dead.push(deadLetter(batch, m, reject.code, reject.reason));
      continue;
    }
    if (!decoded.ok) continue;
    let recs = [decoded.record];
    const first = decoded.record;
    if (first.modality === 'notes' && !first.value.asset) {
      // Every asset the text names gets the note (its aliases, or its id as operators write it).
      const named = resolveNoteAssets(
        first.value.plant,
        first.value.text,
        cfg.align.aliases,
        await decoder.assetsOf(first.value.plant, batch),
      );
      if (named.length) {
        const notes = named.map((asset) => ({
          modality: 'notes' as const,
          value: { ...first.value, asset },
        }));
        if (decoder.republishes) {
          if (!replay)
            for (const n of notes) rekeyed.push({ key: n.value.asset, value: JSON.stringify(n.value) });
          continue;
        }
        recs = notes;
      }
    }
    for (const rec of recs) {
      // An asset id belongs to the first plant that sent it (every table keys assets by id alone).
      const asset = rec.value.asset;
      if (asset) {
        const owner = await decoder.ownerOf(rec.value.plant, asset, batch);
        if (owner !== rec.value.plant) {
          if (!replay) {
            const plant = rec.value.plant;
            dead.push(
              deadLetter(
                batch,
                m,
                'asset_of_other_plant',
                `asset ${JSON.stringify(asset)} belongs to plant ${JSON.stringify(owner)}, not ${JSON.stringify(plant)}: asset ids are unique across plants ` +
                  `(give this plant's asset an id of its own, e.g. ${JSON.stringify(`${plant}.${asset}`)})`,
              ),
            );
          }
          continue;
        }
      }
      // A replayed record the stored clocks have not seen is observed again (see align.clock.checkpointEveryMs).
      const observe = !replay || m.offset > (state.clocksAt[batch.modality] ?? -1);
      const added = state.op.add(rec, m.offset, { replay, recordTime: m.timestamp, observe });
      // A thermal frame sent as a URI is fetched off this path (again after a restore, if it had not been).
      if (
        rec.modality === 'images' &&
        'uri' in rec.value &&
        rec.value.kind === 'thermal' &&
        decoder.requestFrame
      ) {
        const frame = rec.value;
        if (
          !replay ||
          state.op.unfetched(frame.asset).some((x) => x.uri === frame.uri && x.camera === frame.camera)
        ) {
          state.op.fetching(frame.asset, frame.camera, frame.uri);
          decoder.requestFrame(batch, frame);
        }
      }
      if (replay) continue;
      if (rec.modality === 'images') out.images.push(rec.value);
      else if (rec.modality === 'notes') out.notes.push(rec.value);
      if (added.late > 0) {
        late++;
        out.late.push({
          key: `${batch.topic}:${batch.partition}:${m.offset}`,
          modality: batch.modality,
          plant: rec.value.plant,
          asset: rec.value.asset ?? null,
          reason:
            added.result === 'quarantined'
              ? `quarantined: ${added.reason}`
              : added.result === 'late'
                ? 'window already closed'
                : `${added.late} of its samples fell in windows already closed`,
          value: rec.value,
        });
      }
    }
  }
  const last = batch.messages.length ? batch.messages[batch.messages.length - 1].offset : mark;
  return { dead, rekeyed, late, last };
}
