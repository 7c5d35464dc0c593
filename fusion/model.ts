/**
 * The fusion model as the service uses it: feature spec + network weights + calibration, scoring windows in
 * batches with explanations, training, and a JSON form that loads identically on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import { forward, initWeights, seeded, type NetShape, type Weights } from './net.js';
import {
  IMAGE_FEATURES,
  imageInputDim,
  SENSOR_STATS,
  sensorDim,
  type FeatureSpec,
  type ModelInput,
} from './features.js';

export const FUSION_FORMAT = 'tributary-fusion/1';

export interface Calibration {
  /** Raw scores of held-out normal windows, sorted (at most 4 096 quantiles kept). */
  normals: number[];
  /** How many held-out windows the quantiles stand for. */
  n: number;
}

export interface FusionModelJSON {
  format: typeof FUSION_FORMAT;
  version: string;
  spec: FeatureSpec;
  shape: NetShape;
  /** 'supervised': the head's logit is the raw score; 'self-supervised': the log reconstruction errors. */
  mode: 'supervised' | 'self-supervised';
  /** Modalities the model was trained with (the others are always treated as missing). */
  modalities: Array<'sensors' | 'images' | 'notes'>;
  calibration: Calibration | null;
  /** Per sensor feature: nine decile edges and ten bin shares of the training inputs (the drift reference). */
  reference: number[][];
  weights: Record<string, { shape: number[]; data: string }>;
  card: Record<string, unknown>;
}

export interface WindowScore {
  raw: number;
  /** Calibrated anomaly probability: the share of held-out normal windows scoring lower. */
  probability: number | null;
  /** Modality shares, the sensors' split by channel (keys: channel names, `image`, `notes`); sums to 1. */
  contributions: Record<string, number>;
  /** The note terms that weighed most (toward an anomaly). */
  terms: string[];
  gates: [number, number, number];
}

export interface TrainRow {
  x: ModelInput;
  label: 0 | 1 | null;
}

export interface TrainOptions {
  epochs?: number;
  batch?: number;
  learningRate?: number;
  /** Chance of dropping each present modality of a training row (never all of them): one for all, or per modality. */
  modalityDropout?: number | [number, number, number];
  /** Weight of the reconstruction loss. */
  reconWeight?: number;
  /** L2 penalty on the note encoder's first layer (notes are sparse and noisy: keep their weights small). */
  noteL2?: number;
  seed?: number;
  /** Train the supervised head (needs labels of both kinds). */
  supervised?: boolean;
  modalities?: Array<'sensors' | 'images' | 'notes'>;
  onProgress?: (done: number, loss: number) => void;
}

const MOD_NAMES = ['sensors', 'images', 'notes'] as const;

/** Runs f in a TensorFlow.js scope: every tensor made inside is freed when it returns plain data. */
function scoped<T>(f: () => T): T {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

export class FusionModel {
  private constructor(
    readonly version: string,
    readonly spec: FeatureSpec,
    readonly shape: NetShape,
    readonly w: Weights,
    public mode: FusionModelJSON['mode'],
    readonly modalities: FusionModelJSON['modalities'],
    public calibration: Calibration | null,
    public reference: number[][],
    public card: Record<string, unknown>,
  ) {}

  static create(
    version: string,
    spec: FeatureSpec,
    o: { d?: number; hidden?: number; seed?: number; modalities?: FusionModelJSON['modalities'] } = {},
  ): FusionModel {
    const dS = sensorDim(spec),
      dI = IMAGE_FEATURES.length;
    const shape: NetShape = {
      inS: 2 * dS,
      inI: imageInputDim(spec),
      inN: 2 * spec.noteBuckets,
      outS: dS,
      outI: dI,
      d: o.d ?? 32,
      hidden: o.hidden ?? 64,
    };
    return new FusionModel(
      version,
      spec,
      shape,
      initWeights(shape, o.seed ?? 1),
      'self-supervised',
      o.modalities ?? [...MOD_NAMES],
      null,
      [],
      {},
    );
  }

  dispose(): void {
    for (const v of Object.values(this.w)) v.dispose();
  }

  /** Stacks inputs into tensors; modalities the model does not use are marked absent. */
  private tensors(xs: ModelInput[], present?: number[][]) {
    const B = xs.length,
      sh = this.shape;
    const s = new Float32Array(B * sh.inS),
      i = new Float32Array(B * sh.inI),
      n = new Float32Array(B * sh.inN),
      p = new Float32Array(B * 3);
    const use = MOD_NAMES.map((m) => (this.modalities.includes(m) ? 1 : 0));
    xs.forEach((x, r) => {
      const pr = present?.[r] ?? x.present;
      for (let k = 0; k < 3; k++) p[r * 3 + k] = pr[k] * use[k];
      if (p[r * 3]) s.set(x.s, r * sh.inS);
      if (p[r * 3 + 1]) i.set(x.i, r * sh.inI);
      if (p[r * 3 + 2]) n.set(x.n, r * sh.inN);
    });
    return {
      s: tf.tensor2d(s, [B, sh.inS]),
      i: tf.tensor2d(i, [B, sh.inI]),
      n: tf.tensor2d(n, [B, sh.inN]),
      p: tf.tensor2d(p, [B, 3]),
    };
  }

  private rawOf(
    o: { logit: Float32Array | Int32Array | Uint8Array; eS: ArrayLike<number>; eI: ArrayLike<number> },
    r: number,
    p: ArrayLike<number>,
  ): number {
    if (this.mode === 'supervised') return o.logit[r];
    return (p[r * 3] ? Math.log(o.eS[r] + 1e-3) : 0) + (p[r * 3 + 1] ? Math.log(o.eI[r] + 1e-3) : 0);
  }

  /** Calibrated probability of a raw score. */
  probability(raw: number): number | null {
    const c = this.calibration;
    if (!c || !c.normals.length) return null;
    let lo = 0,
      hi = c.normals.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c.normals[mid] < raw) lo = mid + 1;
      else hi = mid;
    }
    return round6(((lo / c.normals.length) * c.n) / (c.n + 1));
  }

  /** Scores a batch (no explanations): raw scores only, the fast path for calibration and benchmarks. */
  rawScores(xs: ModelInput[]): Float32Array {
    if (!xs.length) return new Float32Array(0);
    return scoped(() => {
      const t = this.tensors(xs);
      const o = forward(this.w, this.shape, t.s, t.i, t.n, t.p, false);
      const logit = o.logit.dataSync() as Float32Array,
        eS = o.eS.dataSync(),
        eI = o.eI.dataSync(),
        p = t.p.dataSync();
      const out = new Float32Array(xs.length);
      for (let r = 0; r < xs.length; r++) out[r] = this.rawOf({ logit, eS, eI }, r, p);
      return out;
    });
  }

  /** Scores a batch with explanations. */
  score(xs: ModelInput[]): WindowScore[] {
    if (!xs.length) return [];
    const sh = this.shape;
    return scoped(() => {
      const t = this.tensors(xs);
      const o = forward(this.w, sh, t.s, t.i, t.n, t.p, true);
      const logit = o.logit.dataSync() as Float32Array,
        eS = o.eS.dataSync(),
        eI = o.eI.dataSync(),
        p = t.p.dataSync();
      const errS = o.errS.dataSync(),
        gates = o.gates.dataSync();
      const without = o.without!.map((x) => x.dataSync());
      // Note terms: the gradient of the logit with respect to each note bucket (current and memory).
      // Only the rows with note terms go through the backward pass.
      // Terms explain anomalies: only rows where the notes raised a score that reaches half the scale.
      const withTerms = xs.flatMap((x, r) => {
        if (!p[r * 3 + 2] || !x.terms.length) return [];
        const raw = this.rawOf({ logit, eS, eI }, r, p);
        const notesRaise = this.mode === 'supervised' ? logit[r] > without[2][r] : true;
        return notesRaise && (this.probability(raw) ?? 1) >= 0.5 ? [r] : [];
      });
      const gRow = new Map(withTerms.map((r, j) => [r, j]));
      let gN: Float32Array | null = null;
      if (withTerms.length) {
        const sub = this.tensors(withTerms.map((r) => xs[r]));
        gN = tf
          .grad((xn: tf.Tensor) => tf.sum(forward(this.w, sh, sub.s, sub.i, xn as tf.Tensor2D, sub.p).logit))(
            sub.n,
          )
          .dataSync() as Float32Array;
      }
      const NB = this.spec.noteBuckets,
        nStats = SENSOR_STATS.length;
      return xs.map((x, r) => {
        const raw = this.rawOf({ logit, eS, eI }, r, p);
        // Modality shares: how much the score drops when the modality is removed (occlusion); with no drop
        // anywhere, the reconstruction errors.
        const drop = [0, 1, 2].map((k) => {
          if (!p[r * 3 + k]) return 0;
          if (this.mode === 'supervised') return Math.max(0, logit[r] - without[k][r]);
          return k === 0
            ? Math.max(0, Math.log(eS[r] + 1e-3) + 7)
            : k === 1
              ? Math.max(0, Math.log(eI[r] + 1e-3) + 7)
              : 0;
        });
        let total = drop[0] + drop[1] + drop[2];
        if (total <= 0) {
          drop[0] = p[r * 3] * eS[r];
          drop[1] = p[r * 3 + 1] * eI[r];
          total = drop[0] + drop[1];
        }
        const contributions: Record<string, number> = {};
        if (total > 0) {
          if (drop[0] > 0) {
            const per = this.spec.channels.map((_, c) => {
              let e = 0;
              for (let j = 0; j < nStats; j++)
                e += errS[r * sh.outS + c * nStats + j] + 0.01 * x.zS[c * nStats + j] ** 2;
              return e;
            });
            const sum = per.reduce((a, b) => a + b, 0);
            this.spec.channels.forEach((ch, c) => {
              const v = sum > 0 ? (drop[0] / total) * (per[c] / sum) : 0;
              if (v > 0) contributions[ch] = round6(v);
            });
          }
          if (drop[1] > 0) contributions.image = round6(drop[1] / total);
          if (drop[2] > 0) contributions.notes = round6(drop[2] / total);
        }
        let terms: string[] = [];
        const g = gRow.get(r);
        if (gN && g !== undefined) {
          const weight = new Map<string, number>();
          for (const [term, b] of x.terms)
            weight.set(term, (weight.get(term) ?? 0) + gN[g * 2 * NB + b] + gN[g * 2 * NB + NB + b]);
          terms = [...weight]
            .filter(([term, v]) => v > 0 && term !== '<asset>')
            .sort((a, b) => b[1] - a[1])
            .slice(0, 3)
            .map(([term]) => term);
        }
        return {
          raw: round6(raw),
          probability: this.probability(raw),
          contributions,
          terms,
          gates: [round6(gates[r * 3]), round6(gates[r * 3 + 1]), round6(gates[r * 3 + 2])],
        };
      });
    });
  }

  /** Trains in place. Rows labelled 1 feed only the supervised head; 0 and null feed the reconstruction too. */
  train(rows: TrainRow[], o: TrainOptions = {}): { loss: number; steps: number } {
    const epochs = o.epochs ?? 6,
      B = o.batch ?? 256,
      lambda = o.reconWeight ?? 1;
    const md = o.modalityDropout ?? 0.25;
    const pDrop = typeof md === 'number' ? [md, md, md] : md;
    const rng = seeded(o.seed ?? 7);
    const labelled = rows.filter((r) => r.label !== null);
    const pos = labelled.filter((r) => r.label === 1).length,
      neg = labelled.length - pos;
    const supervised = (o.supervised ?? true) && pos > 0 && neg > 0;
    this.mode = supervised ? 'supervised' : 'self-supervised';
    const posWeight = supervised ? Math.min(10, neg / pos) : 1;
    const opt = tf.train.adam(o.learningRate ?? 3e-3);
    const vars = Object.values(this.w);
    const idx = rows.map((_, k) => k);
    const steps = epochs * Math.ceil(rows.length / B);
    let step = 0,
      last = 0;
    for (let e = 0; e < epochs; e++) {
      for (let k = idx.length - 1; k > 0; k--) {
        const j = Math.floor(rng() * (k + 1));
        [idx[k], idx[j]] = [idx[j], idx[k]];
      }
      for (let from = 0; from < idx.length; from += B) {
        const batch = idx.slice(from, from + B).map((k) => rows[k]);
        // Modality dropout: each present modality is dropped with chance pDrop, never all of them.
        const present = batch.map((r) => {
          const pr = r.x.present.map((v, m) => v * (this.modalities.includes(MOD_NAMES[m]) ? 1 : 0));
          const kept = pr.map((v, m) => (v && rng() >= pDrop[m] ? 1 : 0));
          return kept.some((v) => v) ? kept : pr;
        });
        const y = new Float32Array(batch.map((r) => r.label ?? 0));
        const wl = new Float32Array(batch.map((r) => (r.label === null ? 0 : r.label === 1 ? posWeight : 1)));
        const wr = new Float32Array(batch.map((r) => (r.label === 1 ? 0 : 1)));
        const loss = tf.tidy(() => {
          const t = this.tensors(
            batch.map((r) => r.x),
            present,
          );
          const yt = tf.tensor1d(y),
            wlt = tf.tensor1d(wl),
            wrt = tf.tensor1d(wr);
          const l = opt.minimize(
            () => {
              const out = forward(this.w, this.shape, t.s, t.i, t.n, t.p);
              const recon = tf.div(tf.sum(tf.mul(tf.add(out.eS, out.eI), wrt)), tf.add(tf.sum(wrt), 1e-6));
              if (!supervised) return recon as tf.Scalar;
              const bce = tf
                .mul(tf.relu(out.logit), 1)
                .sub(tf.mul(out.logit, yt))
                .add(tf.log1p(tf.exp(tf.neg(tf.abs(out.logit)))));
              const sup = tf.div(tf.sum(tf.mul(bce, wlt)), tf.add(tf.sum(wlt), 1e-6));
              const l2 = o.noteL2 ? tf.mul(tf.sum(tf.square(this.w.encN1)), o.noteL2) : tf.scalar(0);
              return tf.add(tf.add(sup, tf.mul(recon, lambda)), l2) as tf.Scalar;
            },
            true,
            vars,
          );
          return l!.dataSync()[0];
        });
        last = loss;
        o.onProgress?.(++step / steps, loss);
      }
    }
    opt.dispose();
    return { loss: last, steps };
  }

  /** Fixes the calibration from held-out normal windows. */
  calibrate(normals: ModelInput[], batch = 1024): void {
    const raws: number[] = [];
    for (let k = 0; k < normals.length; k += batch) raws.push(...this.rawScores(normals.slice(k, k + batch)));
    raws.sort((a, b) => a - b);
    const keep = 4096;
    const q =
      raws.length <= keep
        ? raws
        : Array.from({ length: keep }, (_, j) => raws[Math.floor((j * (raws.length - 1)) / (keep - 1))]);
    this.calibration = { normals: q.map(round6), n: raws.length };
  }

  /**
   * Drift reference: per current sensor feature, the deciles of the training inputs and the share of those
   * inputs in each of the ten bins they bound (ties make bins uneven, so the shares are kept, not assumed).
   */
  setReference(xs: ModelInput[]): void {
    const dS = this.shape.outS;
    const rows = xs.filter((x) => x.present[0]);
    this.reference = Array.from({ length: dS }, (_, j) => {
      const v = rows.map((x) => x.s[j]).sort((a, b) => a - b);
      if (!v.length) return [];
      const edges = Array.from({ length: 9 }, (_, q) =>
        round6(v[Math.floor(((q + 1) * (v.length - 1)) / 10)]),
      );
      const counts = binCounts(edges, v);
      return [...edges, ...counts.map((c) => round6(c / v.length))];
    });
  }

  toJSON(): FusionModelJSON {
    const weights: FusionModelJSON['weights'] = {};
    for (const [k, v] of Object.entries(this.w)) {
      const data = v.dataSync() as Float32Array;
      weights[k] = {
        shape: v.shape,
        data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      };
    }
    return {
      format: FUSION_FORMAT,
      version: this.version,
      spec: this.spec,
      shape: this.shape,
      mode: this.mode,
      modalities: this.modalities,
      calibration: this.calibration,
      reference: this.reference,
      weights,
      card: this.card,
    };
  }

  static fromJSON(j: FusionModelJSON): FusionModel {
    if (j.format !== FUSION_FORMAT)
      throw new Error(`not a Tributary fusion model (format ${String(j.format)})`);
    const w: Weights = {};
    for (const [k, v] of Object.entries(j.weights)) {
      const buf = Buffer.from(v.data, 'base64');
      const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      w[k] = tf.variable(tf.tensor(data, v.shape), true);
    }
    return new FusionModel(
      j.version,
      j.spec,
      j.shape,
      w,
      j.mode,
      j.modalities,
      j.calibration,
      j.reference,
      j.card,
    );
  }
}

function binCounts(edges: number[], values: ArrayLike<number>): number[] {
  const counts = new Array(10).fill(0);
  for (let k = 0; k < values.length; k++) {
    let b = 0;
    while (b < 9 && values[k] > edges[b]) b++;
    counts[b]++;
  }
  return counts;
}

/**
 * Population stability index of each sensor feature's recent inputs against the model's reference (nine
 * decile edges, then the ten bin shares of the training inputs): Σ (a − e)·ln(a / e) over the bins.
 */
export function psi(reference: number[][], xs: ModelInput[]): number[] {
  const rows = xs.filter((x) => x.present[0]);
  return reference.map((ref, j) => {
    if (ref.length !== 19 || !rows.length) return 0;
    const counts = binCounts(
      ref.slice(0, 9),
      rows.map((x) => x.s[j]),
    );
    let s = 0;
    counts.forEach((c, b) => {
      const a = Math.max(c / rows.length, 1e-4),
        e = Math.max(ref[9 + b], 1e-4);
      s += (a - e) * Math.log(a / e);
    });
    return round6(s);
  });
}
