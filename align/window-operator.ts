/**
 * Window operator: event-time windows per asset for the assets of one partition.
 *
 * Pieces, named as stream engines name them:
 * - timestamp assigner: event time = the device's timestamp corrected by that device's clock estimate
 *   (align/clock.ts) against the record's reference time, while the estimate is plausible;
 * - watermark generator: per asset and stream (sensors, images), max event time − outOfOrdernessMs;
 * - watermark combiner: the sensors' watermark, held back by the camera's while the camera is active; a
 *   camera idle in record time (see `combinedWatermark`) is ignored, so a dead camera cannot stall the
 *   sensors, while the camera never advances windows past the sensors' own watermark; when every stream
 *   of an asset is quiet its windows up to its latest sample fire. The camera is expected from an asset's
 *   first record (an asset without one waits idleTimeoutMs once); nothing advances before the sensor
 *   stream has been seen (a camera read first must not close windows). Notes never hold it back;
 * - window assigner: tumbling [k·windowMs, (k+1)·windowMs), or sliding (hop) windows of windowMs every
 *   slideMs, a sample then belonging to windowMs / slideMs windows;
 * - trigger: a window fires (revision 0) when the combined watermark passes its end; it is kept until the
 *   watermark passes end + the longest allowed lateness (per modality: allowedLatenessMs for samples,
 *   imageLatenessMs, noteLatenessMs), and a record within its modality's lateness amends it: it fires
 *   again as revision n + 1 at the next `fire()`;
 * - late data: a sample for a window past its allowed lateness is returned as `late` (the caller logs it
 *   durably) and counted on the asset's next tuple. A frame or a note that arrives while a window it
 *   belongs to is within its lateness amends it too; after that they are stored, not re-windowed.
 *
 * States of one window:
 *   open ──(watermark ≥ end)──▶ fired ──(record within its lateness)──▶ amended ──(fire)──▶ fired (revision+1)
 *   fired ──(watermark ≥ end + the longest lateness)──▶ evicted (only `firedWm` remains)
 * A final watermark (`flush`) fires and evicts every window at the end of a finite input.
 *
 * Recovery contract (see pipeline.ts): `snapshot()` holds no samples (watermarks, recent frames, pending
 * notes, revisions of retained windows, device clocks); the samples of retained windows are rebuilt by
 * replaying their records from Kafka, so `heldSensorOffset()` tells the caller how far back its commit
 * must stay. A replayed record (offset ≤ the snapshot's processed mark) only re-enters its window;
 * everything else it did is already in the snapshot or the store, except, when the caller stored the
 * clocks earlier than the rest (`observe`), its observation by its device's clock, which is made again.
 */
import { AdaptiveClock, type AdaptiveClockJSON } from './clock.js';
import { gridStepMs, resample } from './resample.js';
import type {
  Config,
  ImageFrame,
  InputRecord,
  ThermalPixels,
  OperatorNote,
  SensorRecord,
  TupleImage,
  TupleNote,
  WindowTuple,
} from '../schemas/index.js';
import { pixelsSummary, thermalSummary } from './thermal.js';

export type AlignConfig = Config['align'];

/**
 * A stream's watermark input: its latest event time, when it was last heard from (record time, or
 * processing time when records carry none: idleness) and when its last record was read (processing
 * time: the data-quality checks' "silent for").
 */
interface StreamWm {
  maxTs: number;
  lastSeenAt: number;
  arrivedAt: number;
}
interface OpenWindow {
  start: number;
  channels: Map<string, { device: string; t: number[]; v: number[]; maxT: number }>;
  /** −1 until the window first fires; then the revision last emitted. */
  revision: number;
  /** Amended since it last fired. */
  dirty: boolean;
  /** The frame the last emission carried (a newer one for the window amends it). */
  emittedImageTs: number | null;
  minOffset: number;
  samples: number;
  duplicates: number;
}
/**
 * A device's clock as the window operator uses it. `trusted`: its corrections are applied (the device is
 * live); otherwise its stamps are taken as given (a replay of history, or a clock far off and not yet seen
 * to run in real time). `live`: it has been seen to run at the pace of record time (then it stays
 * corrected through steps and bursts). `anchorD`/`anchorR`: where the current pace check began.
 */
interface ClockEntry {
  clock: AdaptiveClock;
  appliedMs: number;
  trusted: boolean;
  live: boolean;
  anchorD: number;
  anchorR: number;
  offPace: number;
}

/** The last SEQ_RING sequence numbers of a device, direct-mapped (1 KiB). */
const SEQ_RING = 128;
class SeqRing {
  private readonly seqs = new Float64Array(SEQ_RING).fill(NaN);
  /** True when `seq` was added lately; adds it otherwise. */
  seenOrAdd(seq: number): boolean {
    const slot = seq % SEQ_RING;
    if (this.seqs[slot] === seq) return true;
    this.seqs[slot] = seq;
    return false;
  }
}

interface AssetState {
  plant: string;
  streams: { sensors?: StreamWm; images?: StreamWm };
  /** Highest combined watermark that fired windows; a window with end + lateness ≤ it is closed. */
  firedWm: number;
  windows: Map<number, OpenWindow>;
  images: TupleImage[];
  notes: TupleNote[];
  late: number;
  /** Clock of each device and camera of the asset, and the correction last applied to it. */
  clocks: Map<string, ClockEntry>;
  /** Sequence numbers each device sent lately (a record seen again is a duplicate, whatever its time). */
  seqs: Map<string, SeqRing>;
  /**
   * Records were added since the last `fire()`, or (`firedThrough` below `firedWm`) the watermark moved
   * since windows were last fired: otherwise firing again would do nothing, and is skipped.
   */
  touched: boolean;
  firedThrough: number;
  /** Each camera's cadence and how many of the asset's windows it gave a frame to. */
  cameras: Map<string, CameraState>;
  /** URI frames being fetched (camera + URI → frame time): the asset's windows after them wait. */
  fetching: Map<string, number>;
}

/** A camera of an asset: its latest frame, recent gaps between frames, windows fired and with its frame. */
interface CameraState {
  lastTs: number;
  gaps: number[];
  windows: number;
  withFrame: number;
}
/** Gaps kept per camera: the median of these is its period (an outage is one gap, not the period). */
const CAMERA_GAPS = 9;

/**
 * How old a camera's frame may be and still inform a window: 1.5 × the camera's period (configured in
 * `align.cameraPeriodMs`, else learnt: the median of its recent gaps), at least `imageMaxAgeMs`, at most
 * `imageMaxPeriodAgeMs`.
 */
export function frameMaxAgeMs(
  cfg: Pick<AlignConfig, 'imageMaxAgeMs' | 'imageMaxPeriodAgeMs'>,
  periodMs: number | null,
): number {
  return periodMs === null
    ? cfg.imageMaxAgeMs
    : Math.min(cfg.imageMaxPeriodAgeMs, Math.max(cfg.imageMaxAgeMs, 1.5 * periodMs));
}

/** The median of a camera's gaps between frames (null: fewer than two frames seen). */
export function cameraPeriodMs(gaps: number[]): number | null {
  if (!gaps.length) return null;
  const g = [...gaps].sort((x, y) => x - y);
  return g[Math.floor(g.length / 2)];
}

export interface AlignSnapshot {
  assets: Record<
    string,
    {
      plant: string;
      sensorsMaxTs: number | null;
      imagesMaxTs: number | null;
      /**
       * When the sensor and camera streams were last heard from, in record time (absent: not known, or the
       * operator ran on processing time); a restore resumes idleness from them.
       */
      seenAt?: [number | null, number | null];
      /** null: nothing fired yet (JSON has no -Infinity). */
      firedWm: number | null;
      /** Absent: none (the incremental checkpoint stores frames apart). */
      images?: TupleImage[];
      notes: TupleNote[];
      late: number;
      /** Revision last emitted of each window still within its lateness (window start → revision). */
      revisions?: Record<string, number>;
      clocks?: Record<
        string,
        {
          clock: AdaptiveClockJSON;
          appliedMs: number;
          trusted: boolean;
          live?: boolean;
          anchor?: [number, number];
          offPace?: number;
        }
      >;
      /** Each camera's latest frame time, recent gaps, and windows fired / with its frame. */
      cameras?: Record<string, CameraState>;
    }
  >;
}

/**
 * What became of a record: `late` counts its samples that went to the late log: past their window's
 * lateness (a block may be partly late), or all of them when the record is quarantined (`reason`).
 */
export interface AddResult {
  result: 'accepted' | 'late' | 'duplicate' | 'replayed' | 'quarantined';
  late: number;
  reason?: string;
}

/** What became of one sample (every channel of it): see `WindowOperator.trace`. */
export type SampleOutcome = 'windowed' | 'late' | 'duplicate' | 'replayed' | 'quarantined';
/**
 * Called once per sensor sample (index `i` of its record; 0 for a single sample) with its corrected time
 * and what became of it. For diagnostics (`tributary clocks`); the pipeline sets none.
 */
export type SampleTrace = (
  device: string,
  seq: number | undefined,
  i: number,
  ts: number,
  outcome: SampleOutcome,
  reason?: string,
) => void;
const ok: AddResult = { result: 'accepted', late: 0 };

/** Stamps running within LIVE_PACE of the record time's pace are live; beyond MAX_PACE, off pace (see checkPace). */
const LIVE_PACE = 2,
  MAX_PACE = 3;

/** Frames kept per asset beyond what any open window could use: a cap on memory, not a rule. */
const MAX_IMAGES_KEPT = 1000;

const OUTCOMES: SampleOutcome[] = ['windowed', 'late', 'duplicate', 'replayed'];
const firstKey = (o: Record<string, unknown>): string => {
  for (const k in o) return k;
  return '';
};
/** The same time and value already in a channel's series. */
function isRepeat(s: { t: number[]; v: number[] }, ts: number, v: number): boolean {
  for (let i = s.t.length - 1; i >= 0; i--) if (s.t[i] === ts && s.v[i] === v) return true;
  return false;
}

export function windowStartOf(ts: number, windowMs: number): number {
  return Math.floor(ts / windowMs) * windowMs;
}

/** How a record is added (see `WindowOperator.add`). */
export interface AddOptions {
  replay?: boolean;
  recordTime?: number;
  observe?: boolean;
}

export class WindowOperator {
  private readonly assets = new Map<string, AssetState>();
  /** Revisions of fired windows from a restored snapshot, applied when their samples are replayed. */
  private readonly restoredRevisions = new Map<string, number>();

  /** The hop between window starts (the window's length when tumbling). */
  private readonly slideMs: number;
  /** The grid's cell width (bounded cells per window). */
  private readonly gridMs: number;
  /**
   * `heldSensorOffset()` as last computed (undefined: to be computed again). A window's new sample can
   * only lower it; an evicted window may raise it.
   */
  private held: number | null | undefined = undefined;

  /** Assets changed since `takeChanged()`, by part. */
  private changed = new Set<string>();
  private imagesChanged = new Set<string>();
  private clocksChanged = new Set<string>();

  /** Called for every sensor sample with what became of it (diagnostics; see SampleTrace). */
  trace: SampleTrace | null = null;

  /**
   * The latest record time read from each input topic, the processing time the latest record was read
   * at and the operator started at (see `passed()`); the record time of the record being added.
   */
  private readonly topicTime = { sensors: -Infinity, images: -Infinity };
  private recordWall = 0;
  private startWall: number;
  private currentRef: number | undefined = undefined;

  constructor(
    private readonly cfg: AlignConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.slideMs = cfg.slideMs ?? cfg.windowMs;
    this.startWall = now();
    this.gridMs = gridStepMs(cfg);
    if (cfg.windowMs % this.slideMs !== 0)
      throw new Error(
        `align.windowMs (${cfg.windowMs}) must be a multiple of align.slideMs (${this.slideMs})`,
      );
  }

  /** Restores watermarks, images and notes; open windows refill from replayed records. */
  static restore(cfg: AlignConfig, snap: AlignSnapshot | null, now: () => number = Date.now): WindowOperator {
    const op = new WindowOperator(cfg, now);
    // The record-time clocks resume where the checkpoint left them.
    for (const a of Object.values(snap?.assets ?? {})) {
      const [s, i] = a.seenAt ?? [null, null];
      if (s !== null && a.sensorsMaxTs !== null && s > op.topicTime.sensors) op.topicTime.sensors = s;
      if (i !== null && a.imagesMaxTs !== null && i > op.topicTime.images) op.topicTime.images = i;
    }
    const t = now();
    op.recordWall = t;
    for (const [asset, a] of Object.entries(snap?.assets ?? {})) {
      op.assets.set(asset, {
        plant: a.plant,
        streams: {
          ...(a.sensorsMaxTs !== null
            ? { sensors: { maxTs: a.sensorsMaxTs, lastSeenAt: a.seenAt?.[0] ?? t, arrivedAt: t } }
            : {}),
          images: { maxTs: a.imagesMaxTs ?? -Infinity, lastSeenAt: a.seenAt?.[1] ?? t, arrivedAt: t },
        },
        firedWm: a.firedWm ?? -Infinity,
        windows: new Map(),
        images: a.images ?? [],
        notes: a.notes,
        late: a.late,
        clocks: new Map(
          Object.entries(a.clocks ?? {}).map(([dev, c]) => [
            dev,
            {
              clock: AdaptiveClock.fromJSON(c.clock),
              appliedMs: c.appliedMs,
              trusted: c.trusted,
              live: c.live ?? c.trusted,
              anchorD: c.anchor?.[0] ?? NaN,
              anchorR: c.anchor?.[1] ?? NaN,
              offPace: c.offPace ?? 0,
            },
          ]),
        ),
        seqs: new Map(),
        touched: true,
        firedThrough: -Infinity,
        cameras: new Map(
          Object.entries(a.cameras ?? {}).map(([cam, c]) => [cam, { ...c, gaps: [...c.gaps] }]),
        ),
        fetching: new Map(),
      });
      for (const [start, rev] of Object.entries(a.revisions ?? {}))
        op.restoredRevisions.set(`${asset}@${start}`, rev);
    }
    return op;
  }

  snapshot(): AlignSnapshot {
    const assets: AlignSnapshot['assets'] = {};
    for (const asset of this.assets.keys()) assets[asset] = this.snapshotAsset(asset)!;
    return { assets };
  }

  /**
   * One asset's part of `snapshot()` (null: the asset is unknown here); without its frames or its clocks
   * when asked (an incremental checkpoint stores them apart, when they change).
   */
  snapshotAsset(
    asset: string,
    parts: { images?: boolean; clocks?: boolean } = {},
  ): AlignSnapshot['assets'][string] | null {
    const a = this.assets.get(asset);
    if (!a) return null;
    return {
      plant: a.plant,
      sensorsMaxTs: a.streams.sensors ? a.streams.sensors.maxTs : null,
      imagesMaxTs: Number.isFinite(a.streams.images?.maxTs) ? a.streams.images!.maxTs : null,
      ...(this.recordTimed()
        ? {
            seenAt: [a.streams.sensors?.lastSeenAt ?? null, a.streams.images?.lastSeenAt ?? null] as [
              number | null,
              number | null,
            ],
          }
        : {}),
      firedWm: Number.isFinite(a.firedWm) ? a.firedWm : null,
      ...(parts.images === false ? {} : { images: a.images }),
      notes: a.notes,
      late: a.late,
      revisions: Object.fromEntries(
        [...a.windows.values()].filter((w) => w.revision >= 0).map((w) => [String(w.start), w.revision]),
      ),
      ...(a.cameras.size ? { cameras: Object.fromEntries(a.cameras) } : {}),
      ...(parts.clocks === false ? {} : { clocks: this.clocksOf(a) }),
    };
  }

  /** The frames an asset holds (for its checkpoint). */
  imagesOf(asset: string): TupleImage[] {
    return this.assets.get(asset)?.images ?? [];
  }

  /** An asset's device clocks, as its checkpoint holds them. */
  clocksOf(a: AssetState | string): NonNullable<AlignSnapshot['assets'][string]['clocks']> {
    const st = typeof a === 'string' ? this.assets.get(a) : a;
    return Object.fromEntries(
      [...(st?.clocks ?? [])].map(([dev, c]) => [
        dev,
        {
          clock: c.clock.toJSON(),
          appliedMs: c.appliedMs,
          trusted: c.trusted,
          live: c.live,
          ...(Number.isFinite(c.anchorD) ? { anchor: [c.anchorD, c.anchorR] as [number, number] } : {}),
          ...(c.offPace ? { offPace: c.offPace } : {}),
        },
      ]),
    );
  }

  /** The ids of the assets held. */
  assetIds(): string[] {
    return [...this.assets.keys()];
  }

  /**
   * The assets whose snapshot may have changed since the last call, by part: `core` (records added,
   * watermark moved, windows fired or evicted, notes), `images` (frames added or dropped) and, when
   * asked, `clocks` (a device clock observed a record; otherwise that set keeps growing). An incremental
   * checkpoint writes only these.
   */
  takeChanged(clocks: boolean): { core: Set<string>; images: Set<string>; clocks: Set<string> | null } {
    const out = {
      core: this.changed,
      images: this.imagesChanged,
      clocks: clocks ? this.clocksChanged : null,
    };
    this.changed = new Set();
    this.imagesChanged = new Set();
    if (clocks) this.clocksChanged = new Set();
    return out;
  }

  /**
   * Adds one record. `offset` is its position in its topic-partition (for held-back commits);
   * `replay` marks a record already processed before the snapshot was taken; `recordTime` is its Kafka
   * record time (the clocks' reference); `observe` (default: not a replay) lets its device clock learn from it.
   * `asset` is the record's asset (its Kafka key); notes without one are not windowed.
   */
  add(rec: InputRecord, offset: number, options: AddOptions = {}): AddResult {
    const replay = options.replay ?? false;
    const observe = options.observe ?? !replay;
    let refTs = options.recordTime;
    const assetId = rec.value.asset;
    if (!assetId) return ok;
    // A record time ≤ 0 is unknown (a producer that set none).
    if (refTs !== undefined && refTs <= 0) refTs = undefined;
    this.currentRef = refTs;
    if (refTs !== undefined) {
      this.recordWall = this.now();
      if (rec.modality !== 'notes' && refTs > this.topicTime[rec.modality])
        this.topicTime[rec.modality] = refTs;
    }
    const a = this.asset(assetId, rec.value.plant);
    a.touched = true;
    this.changed.add(assetId);
    if (rec.modality === 'sensors') {
      const r = rec.value;
      // The same record again (a producer's retry, a broker's duplicate): by device and sequence number, so
      // a copy whose correction changed meanwhile is still recognised, and distinct samples never are.
      if (r.seq !== undefined && this.seqRing(a, r.device).seenOrAdd(r.seq)) {
        this.traceRecord(r, 'duplicate');
        return { result: 'duplicate', late: 0 };
      }
      // A block is sent after its last sample: that stamp is the one to hold against the record time.
      const last =
        'values' in r
          ? r.ts
          : r.t0 + Math.max(0, ...Object.values(r.channels).map((v) => v.length - 1)) * r.periodMs;
      const shift = this.correction(assetId, a, r.device, last, r.seq, refTs, observe);
      const why = this.quarantine(a, r.device, last, last + shift, refTs);
      if (why) {
        const n =
          'values' in r
            ? Object.keys(r.values).length
            : Object.values(r.channels).reduce((m, v) => m + v.length, 0);
        if (replay) return { result: 'replayed', late: 0 };
        this.traceRecord(r, 'quarantined', shift, why);
        return { result: 'quarantined', late: n, reason: why };
      }
      return this.addSensors(
        assetId,
        a,
        shift === 0 ? r : 'values' in r ? { ...r, ts: r.ts + shift } : { ...r, t0: r.t0 + shift },
        offset,
        replay,
        r.seq,
      );
    }
    if (replay) {
      if (rec.modality === 'images')
        this.correction(assetId, a, rec.value.camera, rec.value.ts, rec.value.seq, refTs, observe);
      return { result: 'replayed', late: 0 };
    }
    if (rec.modality === 'images') {
      const shift = this.correction(assetId, a, rec.value.camera, rec.value.ts, rec.value.seq, refTs, true);
      const why = this.quarantine(a, rec.value.camera, rec.value.ts, rec.value.ts + shift, refTs);
      if (why) return { result: 'quarantined', late: 1, reason: why };
      this.addImage(a, shift === 0 ? rec.value : { ...rec.value, ts: rec.value.ts + shift });
    } else this.addNote(a, rec.value);
    return ok;
  }

  /**
   * Why a record's (corrected) time cannot be trusted to window it, or null. Record times ≤ 0 are unknown.
   * See align.clock.maxFutureMs, maxDelayMs and maxUntrustedSkewMs.
   */
  private quarantine(
    a: AssetState,
    device: string,
    d: number,
    ts: number,
    refTs: number | undefined,
  ): string | null {
    const c = this.cfg.clock;
    if (c.reference !== 'record' || refTs === undefined) return null;
    const e = a.clocks.get(device);
    // A corrected time is never after its record time (align/clock.ts); one far before it does not fit
    // the device's clock: a backward step not yet confirmed.
    if (e?.trusted)
      return refTs - ts > c.maxDelayMs
        ? `stamp does not fit the device clock (${Math.round((refTs - ts) / 1000)} s behind): a clock step not yet confirmed`
        : null;
    // Stamps taken as given (history): one far ahead of its record time must not move event time forward.
    if (ts - refTs > c.maxFutureMs)
      return `stamped ${Math.round((ts - refTs) / 1000)} s ahead of its record time, and the device's clock is not seen to run in real time`;
    if (e && !e.live && refTs - d > c.historyMaxAgeMs)
      return `device clock ${Math.round((refTs - d) / 86_400_000)} days behind (never set?) and not yet seen to run in real time`;
    return null;
  }

  /**
   * Timestamp assigner: how far to move a device's stamp `d` (seen at reference time `refTs`). A replayed
   * record the restored clock already saw is corrected but not observed again (`observe` false); one
   * after the clock's checkpoint is observed again, in order, so the clock comes out as it was.
   */
  private correction(
    asset: string,
    a: AssetState,
    device: string,
    d: number,
    seq: number | undefined,
    refTs: number | undefined,
    observe: boolean,
  ): number {
    const c = this.cfg.clock;
    if (c.reference === 'none' || refTs === undefined) return 0;
    let entry = a.clocks.get(device);
    if (!entry) {
      // First sight: a stamp near its record time is presumed live; one far off, history (or a clock never set).
      entry = {
        clock: new AdaptiveClock(),
        appliedMs: 0,
        trusted: Math.abs(d - refTs) <= c.maxUntrustedSkewMs,
        live: false,
        anchorD: d,
        anchorR: refTs,
        offPace: 0,
      };
      a.clocks.set(device, entry);
    }
    const corr = observe ? entry.clock.process(d, refTs, seq) : entry.clock.correct(d, refTs, seq);
    if (observe) {
      this.clocksChanged.add(asset);
      this.checkPace(entry, d, refTs);
    }
    entry.appliedMs = entry.trusted ? corr.ts - d : 0;
    return entry.appliedMs;
  }

  /**
   * The pace check, over stretches of minEvidenceMs: stamps that advance with the record time (within a
   * factor LIVE_PACE) make the device live, corrected from then on, through steps and bursts; stamps that
   * advance at another pace (a replay faster or slower than real time) on a device never seen live are
   * history: taken as given, after two such stretches in a row (one glitched stamp ends one stretch
   * only). A clock step (stamps going back) restarts the stretch.
   */
  private checkPace(e: ClockEntry, d: number, r: number): void {
    if (!Number.isFinite(e.anchorD)) {
      e.anchorD = d;
      e.anchorR = r;
      return;
    }
    const dd = d - e.anchorD,
      dr = r - e.anchorR,
      min = this.cfg.clock.minEvidenceMs;
    if (Math.max(Math.abs(dd), dr) < min) return;
    const pace = dr / dd;
    // Live needs the stretch to span minEvidenceMs of both clocks (a replay paused and resumed can show
    // a real-time pace over less); off pace is judged as soon as either clock has gone that far.
    if (dd > 0 && dr >= min && dd >= min && pace >= 1 / LIVE_PACE && pace <= LIVE_PACE) {
      e.live = e.trusted = true;
      e.offPace = 0;
    } else if (dd > 0 && (pace < 1 / MAX_PACE || pace > MAX_PACE)) {
      if (!e.live && ++e.offPace >= 2) e.trusted = false;
    } else if (dd > 0)
      return; // not yet decided: the stretch goes on
    else e.offPace = 0;
    e.anchorD = d;
    e.anchorR = r;
  }

  /** Fires every window whose end + lateness the asset's watermark has passed, oldest first. */
  fire(): WindowTuple[] {
    const out: WindowTuple[] = [];
    const wall = this.now();
    for (const [asset, a] of this.assets) {
      const wm = this.combinedWatermark(a, wall);
      const n = out.length;
      if (wm > a.firedWm) {
        a.firedWm = wm;
        this.changed.add(asset);
      }
      // Nothing added and the watermark where it was: nothing to fire or evict (thousands of assets are
      // looked at for every batch).
      if (!a.touched && a.firedThrough === a.firedWm) continue;
      a.touched = false;
      a.firedThrough = a.firedWm;
      this.fireUpTo(asset, a, a.firedWm, out);
      if (out.length > n) this.changed.add(asset);
    }
    return out;
  }

  /** Final watermark: fires every open window (end of a finite input). */
  flush(): WindowTuple[] {
    const out: WindowTuple[] = [];
    for (const [asset, a] of this.assets) {
      const last = Math.max(...[...a.windows.keys()].map((s) => s + this.cfg.windowMs), a.firedWm);
      // Past every window's lateness: everything fires and is evicted.
      a.firedWm = last + this.retentionMs();
      this.changed.add(asset);
      this.fireUpTo(asset, a, a.firedWm, out);
    }
    return out;
  }

  /** The smallest offset of a sensor record still held in an open window, or null. */
  heldSensorOffset(): number | null {
    if (this.held === undefined) {
      let min: number | null = null;
      for (const a of this.assets.values()) {
        for (const w of a.windows.values()) if (min === null || w.minOffset < min) min = w.minOffset;
      }
      this.held = min;
    }
    return this.held;
  }

  /** A window now holds a sensor record at `offset`. */
  private holds(offset: number): void {
    if (this.held !== undefined && (this.held === null || offset < this.held)) this.held = offset;
  }

  /** Every device clock of the partition's assets, for metrics. */
  clockStates(): Array<{
    plant: string;
    asset: string;
    device: string;
    offsetMs: number | null;
    driftPpm: number | null;
    uncertaintyMs: number | null;
    stampJitterMs: number | null;
    steps: number;
    corrected: boolean;
  }> {
    const out = [];
    const fin = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);
    for (const [asset, a] of this.assets) {
      for (const [device, e] of a.clocks) {
        const st = e.clock.state();
        out.push({
          plant: a.plant,
          asset,
          device,
          offsetMs: e.appliedMs,
          driftPpm: fin(st.driftPpm),
          uncertaintyMs: fin(st.uncertaintyMs),
          stampJitterMs: fin(st.stampJitterMs ?? null),
          steps: st.steps,
          corrected: e.trusted,
        });
      }
    }
    return out;
  }

  /** The steps each device's clock took lately (record time, size in ms: + forward). */
  clockSteps(): Map<string, Array<{ atMs: number; sizeMs: number }>> {
    const out = new Map<string, Array<{ atMs: number; sizeMs: number }>>();
    for (const a of this.assets.values())
      for (const [device, e] of a.clocks)
        out.set(
          device,
          e.clock.steps().map((x) => ({ ...x })),
        );
    return out;
  }

  /** When each asset's sensor and camera streams were last heard from (processing time; null: never). */
  streamStates(): Array<{
    plant: string;
    asset: string;
    sensorsLastSeen: number | null;
    imagesLastSeen: number | null;
  }> {
    const seen = (s: StreamWm | undefined) => (s && Number.isFinite(s.maxTs) ? s.arrivedAt : null);
    return [...this.assets].map(([asset, a]) => ({
      plant: a.plant,
      asset,
      sensorsLastSeen: seen(a.streams.sensors),
      imagesLastSeen: seen(a.streams.images),
    }));
  }

  openWindows(): number {
    let n = 0;
    for (const a of this.assets.values()) n += a.windows.size;
    return n;
  }

  private asset(id: string, plant: string): AssetState {
    let a = this.assets.get(id);
    if (!a) {
      // The camera is expected from the start (an unseen input holds the watermark, as in Flink) until it
      // has been idle for idleTimeoutMs: otherwise whether a window waits for its frame would depend on
      // which topic happened to be read first.
      // In record time, from the record that made the asset (whatever the other topics' progress).
      const images = { maxTs: -Infinity, lastSeenAt: this.currentRef ?? this.time(), arrivedAt: this.now() };
      a = {
        plant,
        streams: { images },
        firedWm: -Infinity,
        windows: new Map(),
        images: [],
        notes: [],
        late: 0,
        clocks: new Map(),
        seqs: new Map(),
        touched: true,
        firedThrough: -Infinity,
        cameras: new Map(),
        fetching: new Map(),
      };
      this.assets.set(id, a);
    }
    return a;
  }

  private recordTimed(): boolean {
    return Number.isFinite(this.topicTime.sensors) || Number.isFinite(this.topicTime.images);
  }

  /** The operator's clock where records carry no record time (processing time), else the latest record time. */
  private time(): number {
    return this.recordTimed() ? Math.max(this.topicTime.sensors, this.topicTime.images) : this.now();
  }

  /**
   * Whether a topic has been read idleTimeoutMs past record time `t`: its latest record time is that far
   * ahead; or it has had no record at all for idleTimeoutMs of processing time (no camera in the
   * partition); or no record of any topic has come for idleTimeoutMs of processing time (the end of a
   * finite input). Processing time throughout when records carry no record time.
   */
  private passed(topic: 'sensors' | 'images', t: number, wall: number): boolean {
    const idle = this.cfg.idleTimeoutMs;
    if (!this.recordTimed()) return wall - t > idle;
    if (wall - this.recordWall > idle) return true;
    return Number.isFinite(this.topicTime[topic])
      ? this.topicTime[topic] - t > idle
      : wall - this.startWall > idle;
  }

  /**
   * Idleness in record time, so that neither the speed of reading nor the order in which the topics'
   * batches come changes which windows fire: a stream of the asset is idle once the asset's other stream
   * has been heard from idleTimeoutMs later and the stream's own topic has been read that far on without
   * a record from it (a dead camera, a camera that sends a frame every 15 min; a topic read ahead of the
   * other is not the other's silence); every stream is quiet once both topics have been read
   * idleTimeoutMs past the asset's latest record (a device silent for minutes, the end of the input).
   */
  private combinedWatermark(a: AssetState, wall: number): number {
    // Sensors define the windows: until the asset's sensor stream has been seen, nothing may close.
    if (!a.streams.sensors) return -Infinity;
    const { sensors, images } = a.streams,
      idle = this.cfg.idleTimeoutMs;
    const assetNow = Math.max(sensors.lastSeenAt, images?.lastSeenAt ?? -Infinity);
    // (In processing time, `passed` alone says it.)
    const idleStream = (s: StreamWm, topic: 'sensors' | 'images') =>
      (!this.recordTimed() || assetNow - s.lastSeenAt > idle) && this.passed(topic, s.lastSeenAt, wall);
    let wm = Infinity;
    if (!(this.passed('sensors', assetNow, wall) && this.passed('images', assetNow, wall))) {
      // The sensors' own watermark always counts: a camera heard from later never closes a window their
      // samples may still fill (a backlog published asset by asset reads one asset's frames minutes
      // ahead of its samples; a sensor gateway that comes back sends what it buffered). Silent sensors
      // are a data-quality alert (`dq:sensors-silent`), not windows without samples.
      wm = sensors.maxTs - this.cfg.outOfOrdernessMs;
      if (images && !idleStream(images, 'images'))
        wm = Math.min(wm, images.maxTs - this.cfg.outOfOrdernessMs);
    }
    // Every stream quiet: the asset's windows up to its latest sample fire (a device silent for minutes,
    // the end of the input); a later sample for them amends them or goes to the late log.
    const out = wm === Infinity ? windowStartOf(sensors.maxTs, this.slideMs) + this.cfg.windowMs : wm;
    // Windows after a frame being fetched wait for it.
    let held = out;
    for (const ts of a.fetching.values()) if (ts < held) held = ts;
    return held;
  }

  /** Per-modality allowed lateness; a window is kept for the longest. */
  private latenessMs(m: 'sensors' | 'images' | 'notes'): number {
    const c = this.cfg;
    return m === 'images'
      ? (c.imageLatenessMs ?? c.allowedLatenessMs)
      : m === 'notes'
        ? (c.noteLatenessMs ?? c.allowedLatenessMs)
        : c.allowedLatenessMs;
  }

  private retentionMs(): number {
    return Math.max(this.latenessMs('sensors'), this.latenessMs('images'), this.latenessMs('notes'));
  }

  /** Past the allowed lateness of this modality for the window starting at `windowStart`. */
  private isClosed(
    a: AssetState,
    windowStart: number,
    m: 'sensors' | 'images' | 'notes' = 'sensors',
  ): boolean {
    return windowStart + this.cfg.windowMs + this.latenessMs(m) <= a.firedWm;
  }

  private observe(a: AssetState, stream: 'sensors' | 'images', ts: number): void {
    const s = a.streams[stream];
    const now = this.currentRef ?? this.time(),
      wall = this.now();
    if (!s) a.streams[stream] = { maxTs: ts, lastSeenAt: now, arrivedAt: wall };
    else {
      if (ts > s.maxTs) s.maxTs = ts;
      if (now > s.lastSeenAt) s.lastSeenAt = now;
      s.arrivedAt = wall;
    }
  }

  private addSensors(
    asset: string,
    a: AssetState,
    r: SensorRecord,
    offset: number,
    replay: boolean,
    seq: number | undefined,
  ): AddResult {
    const counts = { accepted: 0, late: 0, dup: 0, replayed: 0 };
    // With a sequence number the record was already checked for a repeat; without one, a sample is a
    // repeat only when the same channel has the same value at the same time (a new value at a repeated
    // time, such as a daylight-saving hour, is windowed).
    const bySeq = seq !== undefined;
    let maxTs = -Infinity;
    if ('values' in r) {
      let outcome = -1;
      for (const ch in r.values)
        outcome = Math.max(
          outcome,
          this.addPoint(asset, a, r.device, ch, r.ts, r.values[ch], offset, replay, bySeq, counts),
        );
      maxTs = r.ts;
      this.trace?.(r.device, seq, 0, r.ts, OUTCOMES[outcome] ?? 'windowed');
    } else {
      const traced = this.trace ? firstKey(r.channels) : null;
      for (const ch in r.channels) {
        const vs = r.channels[ch];
        for (let i = 0; i < vs.length; i++) {
          const ts = Math.round(r.t0 + i * r.periodMs);
          const outcome = this.addPoint(asset, a, r.device, ch, ts, vs[i], offset, replay, bySeq, counts);
          if (ch === traced) this.trace!(r.device, seq, i, ts, OUTCOMES[outcome]);
        }
        maxTs = Math.max(maxTs, Math.round(r.t0 + (vs.length - 1) * r.periodMs));
      }
    }
    if (!replay) this.observe(a, 'sensors', maxTs);
    a.late += counts.late;
    const { accepted, late, dup, replayed } = counts;
    const result =
      accepted > 0
        ? 'accepted'
        : late > 0
          ? 'late'
          : replayed > 0
            ? 'replayed'
            : dup > 0
              ? 'duplicate'
              : 'accepted';
    return { result, late };
  }

  /** Every sample of a record that was not windowed, to the trace. */
  private traceRecord(r: SensorRecord, outcome: SampleOutcome, shift = 0, reason?: string): void {
    if (!this.trace) return;
    if ('values' in r) this.trace(r.device, r.seq, 0, r.ts + shift, outcome, reason);
    else {
      const n = r.channels[firstKey(r.channels)].length;
      for (let i = 0; i < n; i++)
        this.trace(r.device, r.seq, i, Math.round(r.t0 + shift + i * r.periodMs), outcome, reason);
    }
  }

  private seqRing(a: AssetState, device: string): SeqRing {
    let ring = a.seqs.get(device);
    if (!ring) a.seqs.set(device, (ring = new SeqRing()));
    return ring;
  }

  /** Adds one channel's sample to its windows; returns 0 windowed, 1 late, 2 duplicate, 3 replayed-late. */
  private addPoint(
    asset: string,
    a: AssetState,
    device: string,
    ch: string,
    ts: number,
    v: number,
    offset: number,
    replay: boolean,
    bySeq: boolean,
    counts: { accepted: number; late: number; dup: number; replayed: number },
  ): number {
    // Window assigner: every window [start, start + windowMs) with start a multiple of slideMs that holds ts.
    let open = 0,
      closed = 0,
      dup = 0;
    for (let start = windowStartOf(ts, this.slideMs); start > ts - this.cfg.windowMs; start -= this.slideMs) {
      if (this.isClosed(a, start)) {
        closed++;
        continue;
      }
      open++;
      let w = a.windows.get(start);
      if (!w) {
        const restored = this.restoredRevisions.get(`${asset}@${start}`);
        if (restored !== undefined) this.restoredRevisions.delete(`${asset}@${start}`);
        w = {
          start,
          channels: new Map(),
          minOffset: offset,
          samples: 0,
          duplicates: 0,
          revision: restored ?? -1,
          dirty: false,
          emittedImageTs: null,
        };
        a.windows.set(start, w);
        this.holds(offset);
      }
      let series = w.channels.get(ch);
      if (!series) {
        series = { device, t: [], v: [], maxT: -Infinity };
        w.channels.set(ch, series);
      }
      // Samples mostly come in time order: only one at or before the latest can be a repeat.
      if (!bySeq && ts <= series.maxT && isRepeat(series, ts, v)) {
        w.duplicates++;
        dup++;
        continue;
      }
      if (ts > series.maxT) series.maxT = ts;
      if (offset < w.minOffset) {
        w.minOffset = offset;
        this.holds(offset);
      }
      series.t.push(ts);
      series.v.push(v);
      w.samples++;
      // A new sample for a window that already fired amends it (a replayed one only refills it).
      if (w.revision >= 0 && !replay) w.dirty = true;
    }
    if (open === 0 && closed > 0) {
      if (replay) {
        counts.replayed++;
        return 3;
      }
      counts.late++;
      return 1;
    }
    if (open > 0 && dup === open) {
      counts.dup++;
      return 2;
    }
    if (open > 0) counts.accepted++;
    return 0;
  }

  private addImage(a: AssetState, f: ImageFrame & { pixels?: ThermalPixels }): void {
    this.observe(a, 'images', f.ts);
    this.imagesChanged.add(f.asset);
    // An inline matrix, or an encoded thermal frame's decoded pixels (°C): the same patch encoder at any size.
    const thermal =
      'data' in f
        ? thermalSummary(f.data, f.width, f.height, f.unit)
        : f.pixels
          ? pixelsSummary(f.pixels)
          : { meanC: null, maxC: null };
    a.images.push({
      camera: f.camera,
      ts: f.ts,
      ageMs: 0,
      kind: f.kind,
      ...thermal,
      ...('uri' in f && f.kind === 'thermal'
        ? { uri: f.uri, missing: 'frame sent as a URI, not fetched (yet)' }
        : {}),
    });
    // The camera's cadence: the gaps between its frames in time order (a frame out of order adds none).
    const cam = a.cameras.get(f.camera);
    if (!cam) a.cameras.set(f.camera, { lastTs: f.ts, gaps: [], windows: 0, withFrame: 0 });
    else if (f.ts > cam.lastTs) {
      cam.gaps.push(f.ts - cam.lastTs);
      if (cam.gaps.length > CAMERA_GAPS) cam.gaps.shift();
      cam.lastTs = f.ts;
    }
    this.changed.add(f.asset);
    const maxAge = this.maxAge(a, f.camera);
    // Frames mostly arrive in time order: sort only when one does not.
    if (a.images.length > 1 && a.images[a.images.length - 2].ts > f.ts) a.images.sort((x, y) => x.ts - y.ts);
    if (a.images.length > MAX_IMAGES_KEPT) a.images.splice(0, a.images.length - MAX_IMAGES_KEPT);
    // A frame for a window that fired without it (still within its lateness) amends the window.
    for (const w of a.windows.values()) {
      const end = w.start + this.cfg.windowMs;
      if (
        w.revision >= 0 &&
        !this.isClosed(a, w.start, 'images') &&
        f.ts < end &&
        end - f.ts <= maxAge &&
        (w.emittedImageTs === null || f.ts > w.emittedImageTs)
      )
        w.dirty = true;
    }
  }

  private addNote(a: AssetState, n: OperatorNote): void {
    const note = { author: n.author, ts: n.ts, slackMs: this.cfg.noteSlackMs, text: n.text };
    // The same note twice (a re-keyed note published again after a crash) is one note.
    if (a.notes.some((x) => x.ts === note.ts && x.author === note.author && x.text === note.text)) return;
    a.notes.push(note);
    // A note about a window that already fired (still within its lateness) amends the window.
    for (const w of a.windows.values()) {
      if (
        w.revision >= 0 &&
        !this.isClosed(a, w.start, 'notes') &&
        note.ts - note.slackMs < w.start + this.cfg.windowMs &&
        note.ts + note.slackMs > w.start
      )
        w.dirty = true;
    }
  }

  private fireUpTo(asset: string, a: AssetState, wm: number, out: WindowTuple[]): void {
    const W = this.cfg.windowMs,
      L = this.retentionMs();
    for (const start of [...a.windows.keys()].sort((x, y) => x - y)) {
      if (start + W > wm) break;
      const w = a.windows.get(start)!;
      if (w.revision < 0 || w.dirty) {
        w.revision++;
        w.dirty = false;
        out.push(this.toTuple(asset, a, w));
      }
      if (start + W + L <= wm) {
        a.windows.delete(start);
        if (this.held != null && w.minOffset <= this.held) this.held = undefined;
      }
    }
    // Every window ending at or before the horizon is past its lateness: notes no later window can
    // overlap, and frames too old for any later window, are done.
    const horizon = wm - L;
    a.notes = a.notes.filter((n) => n.ts + n.slackMs >= horizon - W);
    const kept = a.images.filter((im) => im.ts > horizon - this.maxAge(a, im.camera));
    if (kept.length !== a.images.length) {
      a.images = kept;
      this.imagesChanged.add(asset);
    }
  }

  /**
   * A URI frame's outcome: its temperatures, or why it has none; the windows waiting on it may fire (one
   * that fired with the frame before, after a restore, fires again as a new revision while within its
   * lateness). False: the frame is no longer held.
   */
  attachFetched(
    asset: string,
    camera: string,
    uri: string,
    o: { pixels: ThermalPixels } | { missing: string },
  ): boolean {
    const a = this.assets.get(asset);
    if (!a) return false;
    if (a.fetching.delete(`${camera}\u0000${uri}`)) a.touched = true;
    // Every frame held with this URI (a camera that sends the same URI again: the latest picture).
    const ims = a.images.filter((x) => x.camera === camera && x.uri === uri);
    if (!ims.length) return false;
    this.imagesChanged.add(asset);
    const summary = 'pixels' in o ? pixelsSummary(o.pixels) : null;
    for (const im of ims) {
      if (!summary) {
        im.missing = (o as { missing: string }).missing;
        continue;
      }
      Object.assign(im, summary);
      delete im.missing;
      for (const w of a.windows.values())
        if (w.revision >= 0 && w.emittedImageTs === im.ts && !this.isClosed(a, w.start, 'images'))
          w.dirty = true;
    }
    return true;
  }

  /**
   * A URI frame is being fetched: the asset's windows ending after it wait for the outcome (as for a
   * camera's frame still on its way), so whether a window has the frame does not depend on fetch speed.
   */
  fetching(asset: string, camera: string, uri: string): void {
    const a = this.assets.get(asset);
    const im = a?.images.find((x) => x.camera === camera && x.uri === uri);
    if (a && im) a.fetching.set(`${camera}\u0000${uri}`, im.ts);
  }

  /** The URI frames of the asset still without temperatures (to fetch again after a restore). */
  unfetched(asset: string): TupleImage[] {
    return this.assets.get(asset)?.images.filter((x) => x.uri && x.missing) ?? [];
  }

  /** How old a frame of this camera may be for a window (see `frameMaxAgeMs`). */
  private maxAge(a: AssetState, camera: string): number {
    return frameMaxAgeMs(
      this.cfg,
      this.cfg.cameraPeriodMs[camera] ?? cameraPeriodMs(a.cameras.get(camera)?.gaps ?? []),
    );
  }

  /** Each camera: its period (configured or learnt), and the share of its asset's windows it gave a frame to. */
  cameraStates(): Array<{
    plant: string;
    asset: string;
    camera: string;
    periodMs: number | null;
    windows: number;
    withFrame: number;
  }> {
    const out = [];
    for (const [asset, a] of this.assets) {
      for (const [camera, c] of a.cameras)
        out.push({
          plant: a.plant,
          asset,
          camera,
          periodMs: this.cfg.cameraPeriodMs[camera] ?? cameraPeriodMs(c.gaps),
          windows: c.windows,
          withFrame: c.withFrame,
        });
    }
    return out;
  }

  private clockQuality(
    a: AssetState,
    w: OpenWindow,
  ): { offset: number; clocks: NonNullable<WindowTuple['quality']['clocks']> } {
    const clocks: NonNullable<WindowTuple['quality']['clocks']> = {};
    let offset = 0;
    for (const s of w.channels.values()) {
      const e = a.clocks.get(s.device);
      if (!e || clocks[s.device]) continue;
      const st = e.clock.state();
      const fin = (x: number | null) => (x !== null && Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
      clocks[s.device] = {
        offsetMs: fin(e.appliedMs),
        driftPpm: fin(st.driftPpm),
        uncertaintyMs: fin(st.uncertaintyMs),
        corrected: e.trusted,
      };
      if (Math.abs(e.appliedMs) > Math.abs(offset)) offset = e.appliedMs;
    }
    return { offset, clocks };
  }

  private toTuple(asset: string, a: AssetState, w: OpenWindow): WindowTuple {
    const end = w.start + this.cfg.windowMs;
    const channels: WindowTuple['channels'] = {};
    const grid: WindowTuple['grid']['channels'] = {};
    for (const ch of [...w.channels.keys()].sort()) {
      const s = w.channels.get(ch)!;
      let sorted = true;
      for (let i = 1; i < s.t.length && sorted; i++) sorted = s.t[i - 1] <= s.t[i];
      if (sorted) channels[ch] = { device: s.device, t: s.t.slice(), v: s.v.slice() };
      else {
        const idx = s.t.map((_, i) => i).sort((x, y) => s.t[x] - s.t[y]);
        channels[ch] = { device: s.device, t: idx.map((i) => s.t[i]), v: idx.map((i) => s.v[i]) };
      }
      grid[ch] = resample(
        channels[ch].t,
        channels[ch].v,
        w.start,
        this.cfg.windowMs,
        this.gridMs,
        this.cfg.interpolation[ch] ?? 'linear',
      );
    }
    // The latest frame before the window's end that its camera's cadence still counts as current.
    let image: TupleImage | null = null;
    for (const im of a.images) {
      if (im.ts < end && end - im.ts <= this.maxAge(a, im.camera) && (!image || im.ts >= image.ts))
        image = { ...im, ageMs: end - im.ts };
    }
    if (w.revision === 0) {
      for (const [camera, c] of a.cameras) {
        c.windows++;
        if (image?.camera === camera) c.withFrame++;
      }
    }
    const notes = a.notes.filter((n) => n.ts - n.slackMs < end && n.ts + n.slackMs > w.start);
    w.emittedImageTs = image?.ts ?? null;
    const late = a.late;
    a.late = 0;
    const clock = this.clockQuality(a, w);
    return {
      plant: a.plant,
      asset,
      windowStart: w.start,
      windowEnd: end,
      slideMs: this.slideMs,
      revision: w.revision,
      channels,
      grid: { stepMs: this.gridMs, channels: grid },
      image,
      notes,
      quality: {
        samples: w.samples,
        duplicates: w.duplicates,
        late,
        images: image ? 1 : 0,
        notes: notes.length,
        coverage: {
          sensors: Object.keys(grid).length
            ? Math.round(
                (1000 *
                  Object.values(grid).reduce(
                    (m, g) => m + g.mask.filter(Boolean).length / g.mask.length,
                    0,
                  )) /
                  Object.keys(grid).length,
              ) / 1000
            : 0,
          images: image ? 1 : 0,
          notes: notes.length ? 1 : 0,
        },
        clockOffsetMs: clock.offset,
        clocks: clock.clocks,
      },
    };
  }
}
