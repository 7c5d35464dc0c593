/**
 * Device clock correction: maps a device's timestamps to reference time (the Kafka record time: the
 * broker's append time, or the producer's create time) with an uncertainty, under offset, drift, network
 * delay, clock steps and reordering.
 *
 * Model. A device stamps a sample taken at true time t with d = t + θ + ρ·(t − t₀) (+ a step S after a
 * reset); the reference sees it at r = t + δ with a delay δ ≥ δ_min. So y = r − d = δ + (t − d) lies on or
 * above the line  y = a + b·d + δ_min: the lower envelope of the (d, y) cloud is the clock, and the
 * smallest delays touch it (the NTP minimum-delay idea). Corrected time: t̂ = d + a + b·d.
 *
 * Estimate. Observations are reduced to the minimum y per bin of device time (`binMs`) over a sliding
 * horizon; the line is the lower convex hull edge under the bins' mean d: the line below every bin minimum
 * that minimises the summed gap (linear programming as in Moon, Skelly & Towsley 1999). One bin: offset
 * only, with the drift carried over.
 *
 * Steps. States of one device clock:
 *
 *   tracking ──(every point for confirmMs of device time, or 3 points, ≥ stepMs below the line)──▶ new
 *              segment (the clock jumped forward: no delay is negative, so only a clock does this)
 *   tracking ──(every point for confirmBackMs of device time and of record time ≥ stepMs above it)──▶ new
 *              segment (backward jump)
 *   Until confirmed the points are "suspect" and kept out of the fit, so one glitched stamp, one slow
 *   packet or a burst of them cannot move the clock. A delivery stall looks like a backward jump in
 *   device time (every stalled sample arrives late) but not in record time: the stalled samples arrive
 *   together, and the next ones are back on the line, so a stall is never a step.
 *
 * A corrected time is never later than the record time it was seen at (a sample cannot arrive before it
 * was taken): a stamp ahead of its clock (a forward step still suspect) is placed at its record time.
 *
 * A new segment keeps the drift (an oscillator's property) and forgets the offset. The previous segment is
 * kept, so a record stamped before the step and delivered after it is still corrected by the clock that
 * stamped it: `correct(d, r)` picks the segment under which the record arrived after it was taken, with
 * the smallest implied delay.
 */

export interface ClockOptions {
  binMs: number;
  horizonMs: number;
  stepMs: number;
  confirmMs: number;
  /**
   * The same for a backward jump, in device time and in record time: a stall's late records arrive
   * together, and stragglers are followed by records on the line, so only a clock that jumped back keeps
   * its records above the line for this long.
   */
  confirmBackMs: number;
  /** The longest delivery stall believed: a jump back beyond it is confirmed like a forward one. */
  stallMaxMs: number;
  /** Known minimum delay of the path to the reference clock, subtracted from corrected times. */
  minDelayMs: number;
  /** Drift is estimated once the bins span this much device time (before: offset only, drift carried). */
  minDriftSpanMs: number;
  /** Oscillators drift tens of ppm; a fitted slope beyond this is clamped (delay noise, not drift). */
  maxDriftPpm: number;
  /**
   * The span of device time a device's first drift (none) is taken to rest on: a fitted drift is weighted
   * by its span squared against it (half weight at this span), and after a step against the drift carried
   * over, by the span that one rested on.
   */
  driftShrinkMs: number;
}

export const DEFAULT_CLOCK: ClockOptions = {
  binMs: 2_000,
  horizonMs: 300_000,
  stepMs: 1_000,
  confirmMs: 1_000,
  confirmBackMs: 5_000,
  stallMaxMs: 3_600_000,
  minDelayMs: 0,
  minDriftSpanMs: 20_000,
  maxDriftPpm: 1_000,
  driftShrinkMs: 20_000,
};

/** How far the first records of a device may have been delayed (see DeviceClock.observe). */
const YOUNG_SLACK_MS = 60_000;

interface Line {
  a: number;
  b: number;
}
interface Point {
  d: number;
  y: number;
}

/**
 * A segment's bin minima, sorted by bin: three parallel typed arrays (bin index, d, y) used from `start`
 * to `end`. Points mostly arrive in bin order and leave from the front, so adding is an append and
 * forgetting a move of `start`; a straggler's bin is inserted in place. About 24 bytes a bin, where a
 * Map of point objects took about 80 (10 000 devices hold 150 bins for each of two estimates).
 */
export class Bins {
  private k = new Float64Array(8);
  private d = new Float64Array(8);
  private y = new Float64Array(8);
  private start = 0;
  private end = 0;

  get size(): number {
    return this.end - this.start;
  }

  /** Index of bin `key`, or −(insertion point) − 1. */
  private find(key: number): number {
    let lo = this.start,
      hi = this.end - 1;
    if (hi >= lo && this.k[hi] === key) return hi;
    if (hi < lo || this.k[hi] < key) return -this.end - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1,
        v = this.k[mid];
      if (v === key) return mid;
      if (v < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  /** The y of bin `key` (NaN: no such bin). */
  yOf(key: number): number {
    const i = this.find(key);
    return i >= 0 ? this.y[i] : NaN;
  }

  /** Sets bin `key` to (d, y). */
  set(key: number, d: number, y: number): void {
    let i = this.find(key);
    if (i >= 0) {
      this.d[i] = d;
      this.y[i] = y;
      return;
    }
    i = -i - 1;
    if (this.end === this.k.length) {
      // Full at the back: move the used part to the front, or to arrays twice the size.
      const n = this.size;
      for (const f of ['k', 'd', 'y'] as const) {
        if (n + 1 <= this[f].length / 2) this[f].copyWithin(0, this.start, this.end);
        else {
          const grown = new Float64Array(this[f].length * 2);
          grown.set(this[f].subarray(this.start, this.end));
          this[f] = grown;
        }
      }
      i -= this.start;
      this.start = 0;
      this.end = n;
    }
    if (i < this.end) {
      this.k.copyWithin(i + 1, i, this.end);
      this.d.copyWithin(i + 1, i, this.end);
      this.y.copyWithin(i + 1, i, this.end);
    }
    this.k[i] = key;
    this.d[i] = d;
    this.y[i] = y;
    this.end++;
  }

  /** The d and y of the i-th bin in order (0 ≤ i < size). */
  dAt(i: number): number {
    return this.d[this.start + i];
  }
  yAt(i: number): number {
    return this.y[this.start + i];
  }

  /** Forgets every bin below `key`; returns how many. */
  dropBelow(key: number): number {
    const from = this.start;
    while (this.start < this.end && this.k[this.start] < key) this.start++;
    const n = this.start - from;
    if (this.start === this.end) this.start = this.end = 0;
    return n;
  }
}

/** Hull vertex indices, shared by every fit (one thread; a fit does not re-enter). */
let hullScratch = new Int32Array(256);

class Segment {
  /** Bin index → the observation with the smallest y in it. */
  readonly bins = new Bins();
  line: Line | null = null;
  uncertaintyMs = Infinity;
  private dirty = false;
  private lastFitD = -Infinity;

  /** `priorUncertaintyMs`: what a one-bin estimate is worth (after a step: the previous segment's). */
  constructor(
    readonly startD: number,
    private readonly opts: ClockOptions,
    readonly driftB: number,
    private readonly priorUncertaintyMs = Infinity,
    /** The span of device time the carried drift was measured over. */
    readonly priorSpanMs = opts.driftShrinkMs,
  ) {}

  add(d: number, y: number): void {
    const k = Math.floor(d / this.opts.binMs);
    const cur = this.bins.yOf(k);
    if (Number.isNaN(cur)) {
      this.bins.set(k, d, y);
      this.dirty = true;
    } else if (y < cur) {
      this.bins.set(k, d, y);
      // A lower minimum in a known bin refits at most every eighth of a bin (a replay of history lowers
      // it on every record); a new bin always refits.
      if (d - this.lastFitD >= this.opts.binMs / 8 || d < this.lastFitD) this.dirty = true;
    }
    // Forget bins older than the horizon (device time).
    if (this.bins.dropBelow(Math.floor((d - this.opts.horizonMs) / this.opts.binMs)) > 0) this.dirty = true;
  }

  /** Fits the line to the bin minima (sorted by d: one point per bin, bins in order), in place. */
  fit(): Line | null {
    if (!this.dirty) return this.line;
    this.dirty = false;
    const bins = this.bins,
      n = bins.size;
    this.lastFitD = n ? bins.dAt(n - 1) : -Infinity;
    if (n === 0) return (this.line = null);
    if (n === 1) {
      this.line = { a: bins.yAt(0) - this.driftB * bins.dAt(0), b: this.driftB };
      this.uncertaintyMs = this.priorUncertaintyMs;
      return this.line;
    }
    let b = this.driftB;
    if (bins.dAt(n - 1) - bins.dAt(0) >= this.opts.minDriftSpanMs) {
      // The lower convex hull (monotone chain), then its edge under the bins' mean d.
      if (hullScratch.length < n) hullScratch = new Int32Array(n * 2);
      const h = hullScratch;
      let m = 0,
        sumD = 0;
      for (let j = 0; j < n; j++) {
        const pd = bins.dAt(j),
          py = bins.yAt(j);
        sumD += pd;
        while (m >= 2) {
          const od = bins.dAt(h[m - 2]),
            oy = bins.yAt(h[m - 2]),
            ad = bins.dAt(h[m - 1]),
            ay = bins.yAt(h[m - 1]);
          if ((ad - od) * (py - oy) - (ay - oy) * (pd - od) <= 0) m--;
          else break;
        }
        h[m++] = j;
      }
      // The chord of the hull across the middle half of the span around the bins' mean d: on a clean
      // envelope the hull is straight there and the chord is the edge under the mean; where the stamps
      // fed in wander (fitted stamps of heavily jittered devices), adjacent vertices can be seconds apart
      // and their edge as steep as the clamp, while the chord averages over half the horizon.
      const meanD = sumD / n,
        quarter = (bins.dAt(n - 1) - bins.dAt(0)) / 4;
      let i = 0;
      while (i < m - 2 && bins.dAt(h[i + 1]) <= meanD - quarter) i++;
      let jq = i + 1;
      while (jq < m - 1 && bins.dAt(h[jq]) < meanD + quarter) jq++;
      const p = h[i],
        q = h[jq];
      const maxB = this.opts.maxDriftPpm * 1e-6;
      // The edge's slope is as noisy as the bin minima over the span: weighted by the span squared
      // against the drift carried over from before a step (by the span it rests on; at first, no drift
      // resting on driftShrinkMs), so a short span cannot make a large drift.
      const span = bins.dAt(n - 1) - bins.dAt(0),
        own = span * span,
        prior = this.priorSpanMs ** 2;
      const edge = (bins.yAt(q) - bins.yAt(p)) / (bins.dAt(q) - bins.dAt(p));
      b = Math.max(-maxB, Math.min(maxB, (own * edge + prior * this.driftB) / (own + prior)));
    }
    // The highest line of that slope below every bin minimum (the hull edge itself when not clamped).
    let a = Infinity;
    for (let j = 0; j < n; j++) a = Math.min(a, bins.yAt(j) - b * bins.dAt(j));
    this.line = { a, b };
    // Uncertainty: the mean gap of the bin minima above the line (how tight the envelope is).
    let gap = 0;
    for (let j = 0; j < n; j++) gap += bins.yAt(j) - (a + b * bins.dAt(j));
    this.uncertaintyMs = Math.max(1, gap / n);
    return this.line;
  }

  prior(): number | null {
    return Number.isFinite(this.priorUncertaintyMs) ? this.priorUncertaintyMs : null;
  }

  spanMs(): number {
    const n = this.bins.size;
    return n ? this.bins.dAt(n - 1) - this.bins.dAt(0) : 0;
  }

  predict(d: number): number | null {
    const l = this.fit();
    return l ? l.a + l.b * d : null;
  }
}

export interface Correction {
  ts: number;
  uncertaintyMs: number;
}
export interface StepEvent {
  atMs: number;
  sizeMs: number;
}
const MAX_STEP_LOG = 16;
/**
 * A segment's bin minima: `d` delta-coded (the first from startD, each next from the one before), `y` as
 * is; checkpoints hold one per device clock, so this keeps them about three times smaller than [d, y] pairs.
 * `bins` ([d, y] pairs) is the older form, still read.
 */
export interface SegmentJSON {
  startD: number;
  driftB: number;
  prior?: number | null;
  priorSpan?: number;
  d?: number[];
  y?: number[];
  bins?: number[][];
}
export interface DeviceClockJSON {
  current: SegmentJSON | null;
  previous: SegmentJSON | null;
  suspects: number[][];
  steps: number;
}
export interface AdaptiveClockJSON {
  raw: DeviceClockJSON;
  smooth: DeviceClockJSON;
  dejitter: number[];
  /** Absent in checkpoints before steps were found on the sequence line. */
  seq?: {
    shift: number;
    /** Checkpoints before the tolerance rested on the median (medAbsMs, scaled) kept this. */
    meanAbsMs?: number;
    medAbsMs?: number;
    scaled?: number;
    steps: number;
    sequenced: boolean;
    /** Absent in checkpoints before these were kept. */
    lastV?: number;
    frame?: { s: number; d: number; p: number; w: number; n: number };
    lastStar?: number;
    lastSeq?: number;
    maxSeq?: number;
    shortMean?: number;
    recentE?: number[];
    suspects?: number[][];
  };
}
/** `spanMs`: how much device time the current estimate rests on (since the last step, up to the horizon). */
export interface ClockState {
  offsetMs: number | null;
  driftPpm: number | null;
  uncertaintyMs: number;
  steps: number;
  spanMs: number;
  /** Median |stamp − the device's stamp-per-sequence line| (ms): how noisy its stamps are; absent without sequence numbers. */
  stampJitterMs?: number;
}

export class DeviceClock {
  private current: Segment | null = null;
  private previous: Segment | null = null;
  private suspects: Point[] = [];
  private steps = 0;
  /** The latest steps (record time, size in ms: + the clock jumped forward), for diagnostics. */
  readonly stepLog: StepEvent[] = [];

  constructor(private readonly opts: ClockOptions = DEFAULT_CLOCK) {}

  /** Notes a step found elsewhere (the sequence-number check of AdaptiveClock). */
  logStep(atMs: number, sizeMs: number): void {
    this.stepLog.push({ atMs, sizeMs });
    if (this.stepLog.length > MAX_STEP_LOG) this.stepLog.shift();
  }

  /** One observation: the device's stamp `d` of a record the reference clock saw at `r`. Returns true on a step. */
  observe(d: number, r: number): boolean {
    const y = r - d;
    if (!this.current) {
      this.current = new Segment(d, this.opts, 0);
      this.current.add(d, y);
      return false;
    }
    const e = y - this.current.predict(d)!;
    if (this.previous && Math.abs(e) >= this.opts.stepMs) {
      // A straggler stamped before the last step, delivered after it, fits the clock that stamped it.
      const ep = y - (this.previous.predict(d) ?? Infinity);
      if (ep > -this.opts.stepMs && ep < this.opts.stepMs) {
        this.previous.add(d, y);
        return false;
      }
    }
    // A young estimate (its bins span less than minDriftSpanMs) is still finding its envelope: a point
    // below it by less than a delivery could have been slow (YOUNG_SLACK_MS) lowers it; a point above
    // it is a slow delivery.
    const young = this.current.spanMs() < this.opts.minDriftSpanMs && e > -YOUNG_SLACK_MS;
    if (Math.abs(e) >= this.opts.stepMs && !young) {
      // Off the line by a step in one direction: suspect until it lasts, so one glitched stamp (or one very
      // slow packet, or a stall's burst) cannot move the clock.
      const sign = Math.sign(e);
      if (
        this.suspects.length &&
        Math.sign(this.suspects[0].y - this.current.predict(this.suspects[0].d)!) !== sign
      )
        this.suspects = [];
      this.suspects.push({ d, y });
      let lo = Infinity,
        hi = -Infinity,
        rlo = Infinity,
        rhi = -Infinity;
      for (const x of this.suspects) {
        if (x.d < lo) lo = x.d;
        if (x.d > hi) hi = x.d;
        if (x.d + x.y < rlo) rlo = x.d + x.y;
        if (x.d + x.y > rhi) rhi = x.d + x.y;
      }
      // Below the line no delay does that, only a clock that jumped forward (or a glitched stamp); a jump
      // back further than any stall (stallMaxMs: a device restarting at 1970) is the clock too. Above it
      // otherwise: a clock that jumped back, or a delivery stall; only the clock lasts in record time.
      const clockOnly = sign < 0 || e > this.opts.stallMaxMs;
      const confirmed = clockOnly
        ? hi - lo >= this.opts.confirmMs || this.suspects.length >= 3
        : hi - lo >= this.opts.confirmBackMs &&
          rhi - rlo >= this.opts.confirmBackMs &&
          this.suspects.length >= 3;
      if (confirmed) {
        this.startSegment(lo, this.suspects, r);
        return true;
      }
      return false;
    }
    // An on-line point newer than the suspects proves them glitches or delay outliers; an older one is a straggler.
    if (this.suspects.length && d > this.suspects[this.suspects.length - 1].d) this.suspects = [];
    this.current.add(d, y);
    return false;
  }

  /**
   * Corrected (reference) time of a device stamp. With `r`, the time the record was seen, a stamp from
   * before the last step is told apart from one after it.
   */
  correct(d: number, r?: number): Correction {
    const cur = this.current;
    if (!cur) return { ts: d, uncertaintyMs: Infinity };
    let seg = cur;
    if (r !== undefined && this.previous) {
      const delayUnder = (s: Segment) => {
        const y = s.predict(d);
        return y === null ? Infinity : r - (d + y);
      };
      const dc = delayUnder(cur),
        dp = delayUnder(this.previous);
      const tol = -this.opts.stepMs / 2;
      // The clock under which the record arrived after it was taken, with the smaller implied delay.
      if (dp >= tol && (dc < tol || dp < dc)) seg = this.previous;
    }
    const y = seg.predict(d)!;
    let ts = d + y - this.opts.minDelayMs;
    // Never after the record was seen: a stamp ahead of its clock is a forward step not yet confirmed.
    if (r !== undefined && ts > r - this.opts.minDelayMs) ts = r - this.opts.minDelayMs;
    return { ts: Math.round(ts), uncertaintyMs: seg.uncertaintyMs };
  }

  /** The current estimate's uncertainty (after fitting it), its span of device time, the steps so far. */
  uncertaintyMs(): number {
    this.current?.fit();
    return this.current?.uncertaintyMs ?? Infinity;
  }
  spanMs(): number {
    return this.current?.spanMs() ?? 0;
  }
  hasEstimate(): boolean {
    return this.current !== null;
  }
  /** The current segment's line (reference − device) at device time `d`, or null. */
  lineAt(d: number): number | null {
    return this.current?.predict(d) ?? null;
  }

  /**
   * Re-expresses everything in device time d' = A + B·d (B > 0): each point (d, y = r − d) becomes
   * (d', r − d'), a line y = a + b·d becomes one of slope (1 + b)/B − 1, so the hull and every correction
   * stay exactly what they were (all but the carried drift, see below). For AdaptiveClock's sequence frame, whose scale is refined as it learns.
   */
  remap(A: number, B: number): void {
    const f = (d: number) => A + B * d;
    const seg = (x: Segment | null): Segment | null => {
      if (!x) return null;
      // The carried drift is a belief about the clock against device time, which the new frame measures
      // better: it stays (transformed, it would carry the old frame's error of scale as drift).
      const n = new Segment(f(x.startD), this.opts, x.driftB, x.prior() ?? Infinity, x.priorSpanMs);
      for (let i = 0; i < x.bins.size; i++) {
        const d = x.bins.dAt(i);
        n.add(f(d), x.bins.yAt(i) + d - f(d));
      }
      return n;
    };
    this.current = seg(this.current);
    this.previous = seg(this.previous);
    this.suspects = this.suspects.map((p) => ({ d: f(p.d), y: p.y + p.d - f(p.d) }));
  }

  state(): ClockState {
    const l = this.current?.fit() ?? null,
      bins = this.current?.bins;
    // The correction (reference − device) at the newest stamp the estimate rests on.
    const at = bins && bins.size ? bins.dAt(bins.size - 1) : 0;
    return {
      offsetMs: l ? l.a + l.b * at : null,
      driftPpm: l ? -l.b * 1e6 : null,
      uncertaintyMs: this.uncertaintyMs(),
      steps: this.steps,
      spanMs: this.spanMs(),
    };
  }

  /** State for checkpoints: the bin minima of the current and the previous segment, and the suspects. */
  toJSON(): DeviceClockJSON {
    const seg = (x: Segment | null): SegmentJSON | null => {
      if (!x) return null;
      const b = x.bins,
        d: number[] = [],
        y: number[] = [];
      let prev = x.startD,
        exact = true;
      for (let i = 0; i < b.size; i++) {
        const dd = b.dAt(i) - prev;
        exact &&= prev + dd === b.dAt(i);
        d.push(dd);
        y.push(b.yAt(i));
        prev = b.dAt(i);
      }
      // A restore must rebuild the very same points: pairs when a delta would not add back exactly.
      const head = { startD: x.startD, driftB: x.driftB, prior: x.prior(), priorSpan: x.priorSpanMs };
      return exact ? { ...head, d, y } : { ...head, bins: y.map((yi, i) => [b.dAt(i), yi]) };
    };
    return {
      current: seg(this.current),
      previous: seg(this.previous),
      suspects: this.suspects.map((p) => [p.d, p.y]),
      steps: this.steps,
    };
  }

  load(j: DeviceClockJSON): void {
    const seg = (x: DeviceClockJSON['current']) => {
      if (!x) return null;
      const s = new Segment(
        x.startD,
        this.opts,
        x.driftB,
        x.prior ?? Infinity,
        x.priorSpan ?? this.opts.driftShrinkMs,
      );
      if (x.bins) for (const [d, y] of x.bins) s.add(d, y);
      else {
        let d = x.startD;
        x.d?.forEach((dd, i) => {
          d += dd;
          s.add(d, x.y![i]);
        });
      }
      return s;
    };
    this.current = seg(j.current);
    this.previous = seg(j.previous);
    this.suspects = j.suspects.map(([d, y]) => ({ d, y }));
    this.steps = j.steps;
  }

  private startSegment(startD: number, pts: Point[], r: number): void {
    // A clock that stepped keeps its oscillator: the drift (when it was measured), and the uncertainty a
    // one-bin estimate is worth.
    const old = this.current;
    const line = old?.fit() ?? null;
    const drift = line && old!.bins.size > 1 ? line.b : 0;
    const prior = line ? old!.uncertaintyMs : Infinity;
    const priorSpan =
      line && old!.bins.size > 1
        ? Math.min(this.opts.horizonMs, Math.hypot(old!.spanMs(), old!.priorSpanMs))
        : this.opts.driftShrinkMs;
    this.previous = old;
    this.current = new Segment(startD, this.opts, drift, prior, priorSpan);
    for (const p of pts) this.current.add(p.d, p.y);
    this.suspects = [];
    this.steps++;
    const before = line ? line.a + line.b * startD : null,
      after = this.current.predict(startD);
    if (before !== null && after !== null) this.logStep(r, before - after);
  }
}

/**
 * De-jittering for regular-rate devices that stamp with noise (cheap clocks, stamps taken when a buffer
 * fills): within a run of consecutive sequence numbers the stamps lie on a line d = c + p·seq, so a least-
 * squares fit (exponentially weighted, about the last `memory` records) replaces each stamp's noise by the
 * fit's, as the Lab Streaming Layer does. A stamp far off the line starts a new run: a gap in time without
 * a gap in sequence (a camera outage), a reset of the sequence, or a clock step; none of these is a clock
 * step by itself. Its state is a few sums and an origin, so it checkpoints in a few numbers.
 *
 * After a clock step (`startPost`) the stamps are taken less the step's first estimate, which rests on a
 * few noisy records: an error ε of it would show as a level shift, which a single line absorbs slowly and
 * as a false slope (with Laplace jitter of 200 ms, 100 ms of error for minutes). So the records since the
 * step get their own intercept with the slope shared (two lines, one slope: the old records still pin the
 * slope down), ε is the difference of the intercepts, refined by every record, and the line in the old
 * frame (`fit`, `predictBase`) stays continuous. `fold` takes ε into the caller's shift and merges the two
 * (at the next step, or once the old records have faded).
 */
export class StampDejitter {
  /** Sums of the records before the last step (or all of them), then of the records since it. */
  private a = [0, 0, 0, 0, 0];
  private b: number[] | null = null;
  private s0 = 0;
  private d0 = 0;
  private readonly keep: number;

  constructor(
    memory = 600,
    private readonly breakMs = 500,
  ) {
    this.keep = 1 - 1 / memory;
  }

  /** The fitted stamp of record `seq` stamped `d` (in the frame before the last step), after taking it into the fit. */
  fit(seq: number, d: number): number {
    const pred = this.predict(seq);
    if (pred === null || Math.abs(d - pred) > this.breakMs) this.reset(seq, d);
    // Keep the origin near the newest record, so the sums stay small and exact.
    if (Math.abs(seq - this.s0) > 256) this.shift(seq, d);
    const x = seq - this.s0,
      y = d - this.d0;
    const k = this.keep;
    for (const t of this.b ? [this.a, this.b] : [this.a]) for (let i = 0; i < 5; i++) t[i] *= k;
    const t = this.b ?? this.a;
    t[0] += 1;
    t[1] += x;
    t[2] += y;
    t[3] += x * x;
    t[4] += x * y;
    return this.predictBase(seq) ?? d;
  }

  /** A step was taken (its estimate subtracted from later stamps): later records get their own intercept. */
  startPost(): void {
    if (this.a[0] === 0) return;
    this.b = [0, 0, 0, 0, 0];
  }

  /** What the records since the last step say its estimate was off by (0: no such records). */
  bias(): number {
    const l = this.lines();
    return l && l.c2 !== null ? l.c2 - l.c : 0;
  }

  /** Whether the records before the step have faded, so `fold` may merge the two. */
  faded(): boolean {
    return this.b !== null && this.a[0] < 1 && this.b[0] >= 1;
  }

  /** Merges the records since the step into the line, less their bias; returns the bias (for the caller's shift). */
  fold(): number {
    if (!this.b) return 0;
    const eps = this.bias(),
      [w, sx, sy, sxx, sxy] = this.b;
    // The same records with ε subtracted from each y.
    const a = this.a;
    a[0] += w;
    a[1] += sx;
    a[2] += sy - eps * w;
    a[3] += sxx;
    a[4] += sxy - eps * sx;
    this.b = null;
    return eps;
  }

  toJSON(): number[] {
    return [...this.a, this.s0, this.d0, ...(this.b ?? [])];
  }
  static fromJSON(j: number[], memory = 600, breakMs = 500): StampDejitter {
    const x = new StampDejitter(memory, breakMs);
    x.a = j.slice(0, 5);
    [x.s0, x.d0] = j.slice(5, 7);
    if (j.length >= 12) x.b = j.slice(7, 12);
    return x;
  }

  /** The line before the step (c + p·x) and the intercept since it (null: no records since). */
  private lines(): { c: number; p: number; c2: number | null } | null {
    const [w, sx, sy, sxx, sxy] = this.a;
    if (w === 0) return null;
    let cxx = sxx - (sx * sx) / w,
      cxy = sxy - (sx * sy) / w;
    const b = this.b && this.b[0] > 0 ? this.b : null;
    if (b) {
      cxx += b[3] - (b[1] * b[1]) / b[0];
      cxy += b[4] - (b[1] * b[2]) / b[0];
    }
    const p = w + (b?.[0] ?? 0) < 1.5 || Math.abs(cxx) < 1e-9 ? 0 : cxy / cxx;
    return { c: (sy - p * sx) / w, p, c2: b ? (b[2] - p * b[1]) / b[0] : null };
  }

  /** The line's stamps per sequence number (0: not known yet). */
  slope(): number {
    return this.lines()?.p ?? 0;
  }

  /** The stamp `seq` is expected to carry (since the last step: with its bias), without taking anything in. */
  predict(seq: number): number | null {
    const l = this.lines();
    if (!l) return null;
    return this.d0 + (l.c2 ?? l.c) + l.p * (seq - this.s0);
  }

  /** The fitted stamp of `seq` in the frame before the last step (its bias removed). */
  predictBase(seq: number): number | null {
    const l = this.lines();
    return l ? this.d0 + l.c + l.p * (seq - this.s0) : null;
  }

  /** Moves the origin to (seq, d) without changing the fit. */
  private shift(seq: number, d: number): void {
    const dx = seq - this.s0,
      dy = d - this.d0;
    for (const t of this.b ? [this.a, this.b] : [this.a]) {
      const [w, ss, sd] = t;
      t[3] = t[3] - 2 * dx * ss + dx * dx * w;
      t[4] = t[4] - dx * sd - dy * ss + dx * dy * w;
      t[1] = ss - dx * w;
      t[2] = sd - dy * w;
    }
    this.s0 = seq;
    this.d0 = d;
  }

  /** The line's weight: about the number of records it rests on (at most `memory`). */
  weight(): number {
    return this.a[0] + (this.b?.[0] ?? 0);
  }

  /** Forgets the line: the next record starts a new one. */
  restart(): void {
    this.a = [0, 0, 0, 0, 0];
    this.b = null;
  }

  private reset(seq: number, d: number): void {
    this.restart();
    this.s0 = seq;
    this.d0 = d;
  }
}

/** The sequence frame is re-anchored at least this often (records), and its slope may stray this far. */
const FRAME_REFRESH = 600,
  FRAME_MAX_SLOPE_PPM = 100_000;
/** Sequence numbers whose fitted stamps an AdaptiveClock remembers. */
const RECENT = 128;
/** Records off the stamp-per-sequence line that must agree before a step (or a gap) is taken. */
const CONFIRM_STEP = 5,
  CONFIRM_GAP = 2;
/** Records a sequence line rests on before its stamps replace the device's own (and steps are looked for). */
const MATURE = 20;
/**
 * Tolerance of the stamp-per-sequence line: this many median absolute residuals, at least MIN_SEQ_TOL_MS
 * (about 3.4 σ of Gaussian jitter, 3.5 b of Laplace jitter). The median is tracked over every record, on
 * the line or off it (a multiplicative step of MED_RATE towards each residual), so heavy-tailed jitter
 * widens the tolerance: a scale taken from on-line records only shrank with the tolerance it set, until
 * a third of a Laplace-jittered device's records were "off the line" and agreed often enough to be steps.
 */
const SEQ_TOL_FACTOR = 5,
  MIN_SEQ_TOL_MS = 100,
  MED_RATE = 0.03;
/**
 * Small steps (inside the tolerance) show as a shift of the recent residuals' mean: an exponential mean
 * over about SHORT records, beyond SHORT_FACTOR median absolute residuals (at least MIN_SHORT_MS), is a
 * step of the median of the last RECENT_E residuals.
 */
const SHORT = 16,
  SHORT_FACTOR = 1.2,
  MIN_SHORT_MS = 30,
  RECENT_E = 8,
  /**
   * Residuals the scale must rest on before small steps are looked for and records off the line count in
   * it; until then the tolerance is at least WARM_TOL_MS (the envelope's own step size), so the scale
   * starts from nearly every record and a gap's jump is not taken for it.
   */
  SCALE_WARM = 64,
  WARM_TOL_MS = 1_000;

/** A jump this many tolerances ahead, with plausible delays, is a gap at once (a camera outage). */
const CLEAR_GAP = 5;
/** Sequence numbers this far from the highest taken are another numbering, not a step of the clock. */
const SEQ_NEAR = 1_000;
/** Off the line behind (stamps went back), or ahead with a delay nearer −e than 0 (stamps went forward). */
const isStep = (x: { e: number; delay: number }): boolean => x.e < 0 || x.delay < -x.e / 2;

interface SeqSuspect {
  seq: number;
  v: number;
  r: number;
  e: number;
  delay: number;
}

/**
 * A device's clock with both estimates: from the stamps as given, and (when records carry sequence
 * numbers) from de-jittered stamps.
 *
 * With sequence numbers. A regular device's stamps lie on a line d = c + p·seq (StampDejitter), so its
 * clock's steps show at once, and exactly, as a jump of the stamps off that line while the record times go
 * on as before; a delivery stall moves the record times and not the stamps, and a camera outage (time
 * passes, the sequence does not) moves the stamps ahead while the record times agree with them. Each
 * record off the line by more than the line's tolerance is classified against the envelope: ahead of the
 * line with an impossible (negative) delay, or behind it, is a step (corrected meanwhile from its sequence
 * number: the clock that stamped the records around it); ahead with a plausible delay is a gap (corrected
 * from its own stamp). CONFIRM_STEP agreeing records make the step: it is added to the device's known
 * shift, so the estimate runs on "virtual" stamps d − shift that never jump, keeping its drift and its
 * tightness; CONFIRM_GAP agreeing records restart the line there. The envelope's own step detection (on
 * the virtual stamps) still catches what the sequence numbers cannot show (a step hidden in an outage).
 * Without sequence numbers the stamps as given feed the envelope.
 */
export class AdaptiveClock {
  private readonly raw: DeviceClock;
  private readonly smooth: DeviceClock;
  private dejitter = new StampDejitter(600, Infinity);
  /** The sum of the steps found on the sequence line (subtracted from stamps). */
  private shift = 0;
  /** Median absolute residual off the sequence line, of every record (0: none yet), and how many it rests on. */
  private medAbsMs = 0;
  private scaled = 0;
  private seqSuspects: SeqSuspect[] = [];
  /** Recent residuals of on-line records: their exponential mean, and the last RECENT_E of them. */
  private shortMean = 0;
  private recentE: number[] = [];
  private seqSteps = 0;
  /** The latest virtual stamp taken (where the two estimates are compared), and the highest sequence number. */
  private lastV = 0;
  /**
   * The sequence frame the smooth envelope runs on: d* = d + p·(seq − s), anchored on the sequence line and
   * re-anchored as that line improves (the envelope re-expressed exactly: `DeviceClock.remap`). Fed
   * fitted stamps, the envelope followed the line's wander (a heavily jittered device's line moves by
   * tens of ms as records come) and its drift swung by hundreds of ppm; d* of a sequence number never
   * moves, so the envelope sees only the delays. `w`: the line's weight at the anchoring, `n`: records since.
   */
  private frame: { s: number; d: number; p: number; w: number; n: number } | null = null;
  private lastStar = 0;
  private lastSeq = 0;
  private maxSeq = -Infinity;
  /** Whether records carried sequence numbers (then the smooth estimate is the device's). */
  private sequenced = false;
  /**
   * Fitted (virtual) stamps of recent sequence numbers (a later `correct` must not use a run that began
   * after them), direct-mapped by sequence number: the last RECENT of a regular device, in 2 KiB.
   */
  private recentSeq: Float64Array | null = null;
  private recentFit: Float64Array | null = null;

  constructor(opts: ClockOptions = DEFAULT_CLOCK) {
    this.raw = new DeviceClock(opts);
    // In the sequence frame the slope is the drift and the frame's own scale error (large while the line
    // is young), so the clamp is wide; the span weighting still keeps short spans near the carried slope.
    this.smooth = new DeviceClock({ ...opts, maxDriftPpm: Math.max(opts.maxDriftPpm, FRAME_MAX_SLOPE_PPM) });
  }

  private star(seq: number): number {
    const f = this.frame!;
    return f.d + f.p * (seq - f.s);
  }

  /** Anchors the sequence frame on the line (first, then each time the line's weight grew by half, or every FRAME_REFRESH records). */
  private anchor(seq: number, fitted: number): void {
    const p = this.dejitter.slope(),
      w = this.dejitter.weight(),
      f = this.frame;
    if (!(p > 0)) return;
    if (f && w < 1.5 * f.w && ++f.n < FRAME_REFRESH) return;
    if (f) {
      // d*' = A + B·d*: the old frame's d* of any sequence number, expressed in the new frame.
      const B = p / f.p,
        A = fitted + p * (f.s - seq) - B * f.d;
      this.smooth.remap(A, B);
      if (this.recentFit) for (let i = 0; i < RECENT; i++) this.recentFit[i] = A + B * this.recentFit[i];
    }
    this.frame = { s: seq, d: fitted, p, w, n: 0 };
  }

  /** Observes one record (`d` stamped, seen at `r`) and returns its corrected time. */
  process(d: number, r: number, seq?: number): Correction {
    if (seq === undefined) {
      this.raw.observe(d, r);
      return this.raw.correct(d, r);
    }
    this.sequenced = true;
    const known = this.recentOf(seq);
    if (known !== null) return this.correctBy(known, d - this.shift - this.dejitter.bias(), r);
    const v = d - this.shift;
    const pred = this.dejitter.weight() >= MATURE ? this.dejitter.predict(seq) : null;
    const e = pred === null ? 0 : v - pred;
    const tol = this.tolerance();
    // Off-line records count once the scale has warmed up (before, one gap's jump would be the scale).
    if (
      pred !== null &&
      Math.abs(seq - this.maxSeq) <= SEQ_NEAR &&
      (this.scaled >= SCALE_WARM || Math.abs(e) <= tol)
    ) {
      // The scale of the residuals from every record (a step's few suspects move the median little).
      // A stochastic median in log space, with a gain falling from 1 to MED_RATE so the first records set it.
      const a = Math.max(Math.abs(e), 0.5);
      const gain = Math.max(MED_RATE, 2 / (++this.scaled + 1));
      this.medAbsMs = this.medAbsMs === 0 ? a : this.medAbsMs * Math.exp(a > this.medAbsMs ? gain : -gain);
    }
    if (pred === null || Math.abs(e) <= tol) {
      // On the line. A newer record on it proves the suspects glitches; an older one is a straggler.
      const last = this.seqSuspects[this.seqSuspects.length - 1];
      if (last && (seq > last.seq || Math.abs(last.seq - this.maxSeq) > SEQ_NEAR)) this.seqSuspects = [];
      if (pred !== null) {
        this.shortMean += (e - this.shortMean) / SHORT;
        this.recentE.push(e);
        if (this.recentE.length > RECENT_E) this.recentE.shift();
        if (
          Math.abs(this.shortMean) > Math.max(MIN_SHORT_MS, SHORT_FACTOR * this.medAbsMs) &&
          this.recentE.length === RECENT_E &&
          this.scaled >= SCALE_WARM
        ) {
          const jump = [...this.recentE].sort((x, y) => x - y)[RECENT_E >> 1];
          return this.take(seq, v - this.stepBy(jump, r), r);
        }
      }
      return this.take(seq, v, r);
    }
    // Off the line: a step of the clock, a gap (time passed without sequence numbers), or a glitch.
    // Its delay beyond the envelope's if its stamp is right: about 0 after a gap, about −e after a step.
    // A sequence number far from the line's (numbering restarted, another sender) says nothing of the
    // clock: its own stamp stands (as after a gap).
    const far = Math.abs(seq - this.maxSeq) > SEQ_NEAR;
    const delay = far ? 0 : r - v - (this.smooth.correct(v).ts - v);
    const first = this.seqSuspects[0];
    if (first && Math.abs(first.e - e) > tol) this.seqSuspects = [];
    this.seqSuspects.push({ seq, v, r, e, delay });
    const sus = this.seqSuspects;
    // A clear gap (far ahead, every delay plausible) is taken after CONFIRM_GAP records; else CONFIRM_STEP.
    const clearGap = far || (e > CLEAR_GAP * tol && sus.every((x) => !isStep(x)));
    if (sus.length >= (clearGap ? CONFIRM_GAP : CONFIRM_STEP)) return this.confirm(seq, r);
    // Meanwhile: a step-like record by its sequence number (the clock that stamped its neighbours), a
    // clear gap by its own stamp. One ahead by a few tolerances with a plausible delay is far likelier a
    // jitter outlier delivered late (reordered) than a gap of seconds: by its sequence number too.
    const own = far || (!isStep({ e, delay }) && e > CLEAR_GAP * tol);
    if (!own && this.frame) return this.smooth.correct(this.star(seq), r);
    // Without a frame (a line with no slope yet) the smooth envelope holds nothing: the stamps' own.
    const at = own ? v : pred!;
    return this.frame && this.better() === this.smooth ? this.smooth.correct(at, r) : this.raw.correct(at, r);
  }

  /** The suspects agree: a step (their mean jump becomes part of the shift) or a gap (a new line). */
  private confirm(seq: number, r: number): Correction {
    const sus = this.seqSuspects;
    this.seqSuspects = [];
    // The hypothesis nearer the suspects' mean: delays about −e (a step) or about 0 (a gap).
    const mean = (f: (x: SeqSuspect) => number) => sus.reduce((m, x) => m + f(x), 0) / sus.length;
    if (
      sus.every((x) => Math.abs(x.seq - this.maxSeq) <= SEQ_NEAR) &&
      isStep({ e: mean((x) => x.e), delay: mean((x) => x.delay) })
    ) {
      const jump = mean((x) => x.e);
      const moved = this.stepBy(jump, r);
      for (const x of sus) x.v -= moved;
    } else {
      // A new line: what the records since the last step said of it stays in the shift.
      this.shift += this.dejitter.fold();
      this.dejitter.restart();
      // Time passed without sequence numbers: a new frame, anchored on the new line (in device time, as
      // the old one was at its last anchoring, so the envelope goes on).
      this.frame = null;
    }
    let out: Correction = { ts: r, uncertaintyMs: Infinity };
    for (const x of sus) {
      const c = this.take(x.seq, x.v, x.r);
      if (x.seq === seq) out = c;
    }
    return out;
  }

  /**
   * The stamps jumped by `jump` (ms, + forward): later stamps are taken less the shift, and the line
   * refines the jump from the records that follow. Returns how far the shift moved (the previous step's
   * refinement, folded in, and this jump).
   */
  private stepBy(jump: number, r: number): number {
    const moved = this.dejitter.fold() + jump;
    this.shift += moved;
    this.dejitter.startPost();
    this.seqSteps++;
    this.smooth.logStep(r, jump);
    this.shortMean = 0;
    this.recentE = [];
    return moved;
  }

  /** Takes an on-line record into the sequence line and the envelope; its corrected time. */
  private take(seq: number, v0: number, r: number): Correction {
    if (seq > this.maxSeq || Math.abs(seq - this.maxSeq) > SEQ_NEAR) this.maxSeq = seq;
    // A young line (fewer than MATURE records) is not yet better than the stamp itself.
    const fitted = this.dejitter.fit(seq, v0),
      mature = this.dejitter.weight() >= MATURE;
    // The stamp less what the records since the last step say that step's estimate was off by.
    const v = v0 - this.dejitter.bias();
    this.lastV = v;
    // Once the records before the step have faded, the refinement joins the shift.
    if (this.dejitter.faded()) this.shift += this.dejitter.fold();
    // Both envelopes, each of one kind of stamp (they differ by the jitter): the stamps as sent less the
    // known shift, and (once the line is mature) the fitted ones.
    this.raw.observe(v, r);
    if (!mature) return this.raw.correct(v, r);
    if (!this.recentSeq) {
      this.recentSeq = new Float64Array(RECENT).fill(NaN);
      this.recentFit = new Float64Array(RECENT);
    }
    this.anchor(seq, fitted);
    if (!this.frame) return this.raw.correct(v, r);
    const ds = this.star(seq);
    const slot = ((seq % RECENT) + RECENT) % RECENT;
    this.recentSeq[slot] = seq;
    this.recentFit![slot] = ds;
    this.lastStar = ds;
    this.lastSeq = seq;
    this.smooth.observe(ds, r);
    return this.correctBy(ds, v, r);
  }

  /** A record's corrected time by the estimate in use: its place in the sequence frame, or its own stamp (less the shift). */
  private correctBy(star: number, v: number, r?: number): Correction {
    return this.better() === this.smooth ? this.smooth.correct(star, r) : this.raw.correct(v, r);
  }

  private tolerance(): number {
    return Math.max(
      MIN_SEQ_TOL_MS,
      SEQ_TOL_FACTOR * this.medAbsMs,
      this.scaled < SCALE_WARM ? WARM_TOL_MS : 0,
    );
  }

  /** The corrected time of a record observed earlier, with what is known now. */
  correct(d: number, r?: number, seq?: number): Correction {
    if (seq === undefined) return this.raw.correct(d, r);
    const star = this.recentOf(seq) ?? (this.frame ? this.star(seq) : null);
    const v = d - this.shift - this.dejitter.bias();
    return star === null ? this.raw.correct(v, r) : this.correctBy(star, v, r);
  }

  private recentOf(seq: number): number | null {
    if (!this.recentSeq) return null;
    const slot = ((seq % RECENT) + RECENT) % RECENT;
    return this.recentSeq[slot] === seq ? this.recentFit![slot] : null;
  }

  state(): ClockState {
    const better = this.better();
    let st = better.state();
    const slope = this.dejitter.slope();
    if (better === this.smooth && this.frame && st.driftPpm !== null && slope > 0) {
      // From the sequence frame to device time: d* runs at frame.p per sequence number, the stamps at the
      // line's slope; the offset at the latest record, against its fitted stamp.
      const b = (1 - st.driftPpm * 1e-6) * (this.frame.p / slope) - 1;
      const at = this.dejitter.predictBase(this.lastSeq) ?? this.lastV;
      st = { ...st, driftPpm: -b * 1e6, offsetMs: this.smooth.lineAt(this.lastStar)! + this.lastStar - at };
    }
    // The offset of the stamps as sent: the virtual stamps' line, less the shift.
    return {
      ...st,
      ...(this.sequenced && this.scaled > 0 ? { stampJitterMs: this.medAbsMs } : {}),
      offsetMs: st.offsetMs === null ? null : st.offsetMs - this.shift,
      steps: st.steps + this.seqSteps,
    };
  }

  /** The steps found lately (record time, size: + forward). */
  steps(): StepEvent[] {
    return this.sequenced
      ? [...this.smooth.stepLog, ...this.raw.stepLog].sort((x, y) => x.atMs - y.atMs)
      : this.raw.stepLog;
  }

  /** The estimate in use (exact stamps of irregular instants stay exact; noisy stamps of regular ones are smoothed). */
  private better(): DeviceClock {
    // A lower envelope is pulled down by the noise of the stamps it is made of: by the stamps' jitter
    // (the stamps as sent, of regular instants), or by the instants' irregularity (the sequence frame, of
    // exact stamps). The later of the two corrections is the one without that noise.
    if (!this.smooth.hasEstimate() || !this.frame || this.dejitter.weight() < MATURE) return this.raw;
    // Both at the latest record's place on the sequence line (not at its own stamp: that has its noise).
    const at = this.dejitter.predictBase(this.lastSeq) ?? this.lastV;
    return this.smooth.lineAt(this.lastStar)! + this.lastStar >= this.raw.lineAt(at)! + at
      ? this.smooth
      : this.raw;
  }

  toJSON(): AdaptiveClockJSON {
    return {
      raw: this.raw.toJSON(),
      smooth: this.smooth.toJSON(),
      dejitter: this.dejitter.toJSON(),
      seq: {
        shift: this.shift,
        medAbsMs: this.medAbsMs,
        scaled: this.scaled,
        steps: this.seqSteps,
        sequenced: this.sequenced,
        lastV: this.lastV,
        ...(this.frame ? { frame: this.frame, lastStar: this.lastStar, lastSeq: this.lastSeq } : {}),
        ...(Number.isFinite(this.maxSeq) ? { maxSeq: this.maxSeq } : {}),
        shortMean: this.shortMean,
        recentE: this.recentE,
        suspects: this.seqSuspects.map((x) => [x.seq, x.v, x.r, x.e, x.delay]),
      },
    };
  }
  static fromJSON(j: AdaptiveClockJSON, opts: ClockOptions = DEFAULT_CLOCK): AdaptiveClock {
    const c = new AdaptiveClock(opts);
    c.raw.load(j.raw);
    c.smooth.load(j.smooth);
    c.dejitter = StampDejitter.fromJSON(j.dejitter, 600, Infinity);
    if (j.seq) {
      c.shift = j.seq.shift;
      // Older checkpoints kept the mean of the on-line residuals: the median is about 0.85 of a Gaussian's.
      c.medAbsMs = j.seq.medAbsMs ?? 0.85 * (j.seq.meanAbsMs ?? 0);
      c.scaled = j.seq.scaled ?? (c.medAbsMs > 0 ? SCALE_WARM : 0);
      c.seqSteps = j.seq.steps;
      c.sequenced = j.seq.sequenced;
      c.lastV = j.seq.lastV ?? 0;
      // Checkpoints before the sequence frame: the smooth envelope held fitted stamps; a frame anchored
      // on the line now continues it (within the line's wander, once).
      c.frame = j.seq.frame ?? null;
      c.lastStar = j.seq.lastStar ?? 0;
      c.lastSeq = j.seq.lastSeq ?? 0;
      c.maxSeq = j.seq.maxSeq ?? -Infinity;
      c.shortMean = j.seq.shortMean ?? 0;
      c.recentE = j.seq.recentE ?? [];
      c.seqSuspects = (j.seq.suspects ?? []).map(([seq, v, r, e, delay]) => ({ seq, v, r, e, delay }));
    } else c.sequenced = j.smooth.current !== null;
    return c;
  }
}
