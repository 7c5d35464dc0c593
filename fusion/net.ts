/**
 * The fusion network (TensorFlow.js, dense and matMul layers only, so it trains on the wasm backend):
 *
 *   h_m   = W2_m · relu(W1_m · x_m + b1_m) + b2_m             one encoder per modality (notes: multi-hot × dense)
 *   g_m   = σ(w_m · h_m + b_m)                               the modality gate
 *   tok_m = present_m ? g_m · h_m : missing_m,  + e_m        a learned "missing" token, a modality embedding
 *   Z     = T + softmax(Q Kᵀ / √d) V W_o                      self-attention over the three modality tokens
 *
 * Self-supervised: for a present modality m, its token is replaced by the missing token and a decoder
 * reconstructs m's current features from Z_m (what the other modalities say m should look like); the
 * reconstruction error grows with cross-modal disagreement. Supervised head: from the mean of Z over the
 * tokens and the log reconstruction errors of sensors and images, one logit.
 *
 * The encoders run once per window; the presence variants (as given, sensors masked, images masked, and each
 * modality removed for the explanations) only re-run the cheap token and attention steps.
 */
import * as tf from '@tensorflow/tfjs';

export interface NetShape {
  /** Input widths: sensors, images, notes (each current ‖ recent). */
  inS: number;
  inI: number;
  inN: number;
  /** Widths reconstructed (the current half of sensors and images). */
  outS: number;
  outI: number;
  d: number;
  hidden: number;
}

export type Weights = Record<string, tf.Variable>;

const MODS = ['S', 'I', 'N'] as const;

function glorot(shape: [number, number], rng: () => number): tf.Tensor {
  const lim = Math.sqrt(6 / (shape[0] + shape[1]));
  const a = new Float32Array(shape[0] * shape[1]);
  for (let k = 0; k < a.length; k++) a[k] = (rng() * 2 - 1) * lim;
  return tf.tensor2d(a, shape);
}

/** A small seeded generator (mulberry32) so that training is reproducible. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function initWeights(sh: NetShape, seed: number): Weights {
  const rng = seeded(seed);
  const w: Record<string, tf.Tensor> = {};
  const ins = { S: sh.inS, I: sh.inI, N: sh.inN };
  for (const m of MODS) {
    w[`enc${m}1`] = glorot([ins[m], sh.hidden], rng);
    w[`enc${m}1b`] = tf.zeros([sh.hidden]);
    w[`enc${m}2`] = glorot([sh.hidden, sh.d], rng);
    w[`enc${m}2b`] = tf.zeros([sh.d]);
    w[`gate${m}`] = glorot([sh.d, 1], rng);
    w[`gate${m}b`] = tf.fill([1], 1);
    w[`miss${m}`] = glorot([1, sh.d], rng);
    w[`emb${m}`] = glorot([1, sh.d], rng);
  }
  for (const k of ['q', 'k', 'v', 'o']) w[`att${k}`] = glorot([sh.d, sh.d], rng);
  w.decS1 = glorot([sh.d, sh.hidden], rng);
  w.decS1b = tf.zeros([sh.hidden]);
  w.decS2 = glorot([sh.hidden, sh.outS], rng);
  w.decS2b = tf.zeros([sh.outS]);
  w.decI1 = glorot([sh.d, sh.hidden], rng);
  w.decI1b = tf.zeros([sh.hidden]);
  w.decI2 = glorot([sh.hidden, sh.outI], rng);
  w.decI2b = tf.zeros([sh.outI]);
  w.head1 = glorot([sh.d + 5, 16], rng);
  w.head1b = tf.zeros([16]);
  w.head2 = glorot([16, 1], rng);
  w.head2b = tf.zeros([1]);
  const out: Weights = {};
  for (const [k, t] of Object.entries(w)) {
    out[k] = tf.variable(t, true);
    t.dispose();
  }
  return out;
}

export interface Encoded {
  h: tf.Tensor2D[];
  g: tf.Tensor2D[];
}

/** The three encoders and gates (run once per window). */
export function encodeModalities(w: Weights, xs: tf.Tensor2D, xi: tf.Tensor2D, xn: tf.Tensor2D): Encoded {
  const x = { S: xs, I: xi, N: xn };
  const h: tf.Tensor2D[] = [],
    g: tf.Tensor2D[] = [];
  for (const m of MODS) {
    const hid = tf.relu(tf.add(tf.matMul(x[m], w[`enc${m}1`] as tf.Tensor2D), w[`enc${m}1b`]));
    const hm = tf.add(tf.matMul(hid, w[`enc${m}2`] as tf.Tensor2D), w[`enc${m}2b`]) as tf.Tensor2D;
    h.push(hm);
    g.push(tf.sigmoid(tf.add(tf.matMul(hm, w[`gate${m}`] as tf.Tensor2D), w[`gate${m}b`])) as tf.Tensor2D);
  }
  return { h, g };
}

/**
 * Tokens and attention for `variants` presence masks over the same encoded batch (B rows each): returns Z of
 * shape [variants·B, 3, d], rows grouped by variant.
 */
export function attend(w: Weights, enc: Encoded, presence: tf.Tensor2D[], d: number): tf.Tensor3D {
  const toks: tf.Tensor3D[] = [];
  for (const p of presence) {
    const perMod = MODS.map((m, k) => {
      const pm = tf.slice(p, [0, k], [-1, 1]);
      const on = tf.mul(enc.g[k], enc.h[k]);
      const tok = tf.add(tf.add(tf.mul(pm, on), tf.mul(tf.sub(1, pm), w[`miss${m}`])), w[`emb${m}`]);
      return tf.expandDims(tok, 1);
    });
    toks.push(tf.concat(perMod, 1) as tf.Tensor3D);
  }
  const T = (toks.length === 1 ? toks[0] : tf.concat(toks, 0)) as tf.Tensor3D;
  const n = T.shape[0];
  const flat = tf.reshape(T, [n * 3, d]) as tf.Tensor2D;
  const proj = (k: string) =>
    tf.reshape(tf.matMul(flat, w[`att${k}`] as tf.Tensor2D), [n, 3, d]) as tf.Tensor3D;
  const Q = proj('q'),
    K = proj('k'),
    V = proj('v');
  const A = tf.softmax(tf.div(tf.matMul(Q, K, false, true), Math.sqrt(d)));
  const AV = tf.reshape(tf.matMul(A, V), [n * 3, d]) as tf.Tensor2D;
  return tf.add(T, tf.reshape(tf.matMul(AV, w.atto as tf.Tensor2D), [n, 3, d])) as tf.Tensor3D;
}

const token = (Z: tf.Tensor3D, k: number, from: number, rows: number) =>
  tf.reshape(tf.slice(Z, [from, k, 0], [rows, 1, -1]), [rows, -1]) as tf.Tensor2D;

function decode(w: Weights, m: 'S' | 'I', z: tf.Tensor2D): tf.Tensor2D {
  const hid = tf.relu(tf.add(tf.matMul(z, w[`dec${m}1`] as tf.Tensor2D), w[`dec${m}1b`]));
  return tf.add(tf.matMul(hid, w[`dec${m}2`] as tf.Tensor2D), w[`dec${m}2b`]) as tf.Tensor2D;
}

export interface NetOut {
  logit: tf.Tensor1D;
  /** Mean squared reconstruction error of the current sensor / image features (0 when absent). */
  eS: tf.Tensor1D;
  eI: tf.Tensor1D;
  /** Squared reconstruction error per sensor feature [B, outS]. */
  errS: tf.Tensor2D;
  /** Logits with each modality removed (sensors, images, notes), when asked for. */
  without?: tf.Tensor1D[];
  gates: tf.Tensor2D;
}

const maskCol = (p: tf.Tensor2D, k: number) =>
  tf.mul(p, tf.tensor2d([[k === 0 ? 0 : 1, k === 1 ? 0 : 1, k === 2 ? 0 : 1]])) as tf.Tensor2D;

function headLogit(
  w: Weights,
  Z: tf.Tensor3D,
  from: number,
  rows: number,
  p: tf.Tensor2D,
  eS: tf.Tensor1D,
  eI: tf.Tensor1D,
): tf.Tensor1D {
  const pooled = tf.mean(tf.slice(Z, [from, 0, 0], [rows, 3, -1]), 1) as tf.Tensor2D;
  const pS = tf.reshape(tf.slice(p, [0, 0], [-1, 1]), [-1]);
  const pI = tf.reshape(tf.slice(p, [0, 1], [-1, 1]), [-1]);
  const le = (e: tf.Tensor1D, pm: tf.Tensor) => tf.expandDims(tf.mul(tf.log(tf.add(e, 1e-3)), pm), 1);
  const hin = tf.concat([pooled, le(eS, pS), le(eI, pI), p], 1) as tf.Tensor2D;
  const hid = tf.relu(tf.add(tf.matMul(hin, w.head1 as tf.Tensor2D), w.head1b));
  return tf.reshape(tf.add(tf.matMul(hid, w.head2 as tf.Tensor2D), w.head2b), [-1]) as tf.Tensor1D;
}

/**
 * The forward pass. `p` is the presence mask [B, 3]; `explain` adds the three modality-removed logits.
 * Targets for reconstruction are the first outS / outI columns of xs / xi.
 */
export function forward(
  w: Weights,
  sh: NetShape,
  xs: tf.Tensor2D,
  xi: tf.Tensor2D,
  xn: tf.Tensor2D,
  p: tf.Tensor2D,
  explain = false,
): NetOut {
  const B = xs.shape[0];
  const enc = encodeModalities(w, xs, xi, xn);
  const variants = [p, maskCol(p, 0), maskCol(p, 1)];
  if (explain) variants.push(maskCol(p, 0), maskCol(p, 1), maskCol(p, 2));
  const Z = attend(w, enc, variants, sh.d);
  const pS = tf.reshape(tf.slice(p, [0, 0], [-1, 1]), [-1]);
  const pI = tf.reshape(tf.slice(p, [0, 1], [-1, 1]), [-1]);
  const recS = decode(w, 'S', token(Z, 0, B, B));
  const recI = decode(w, 'I', token(Z, 1, 2 * B, B));
  const errS = tf.mul(
    tf.square(tf.sub(recS, tf.slice(xs, [0, 0], [-1, sh.outS]))),
    tf.expandDims(pS, 1),
  ) as tf.Tensor2D;
  const eS = tf.mean(errS, 1) as tf.Tensor1D;
  const eI = tf.mul(
    tf.mean(tf.square(tf.sub(recI, tf.slice(xi, [0, 0], [-1, sh.outI]))), 1),
    pI,
  ) as tf.Tensor1D;
  const logit = headLogit(w, Z, 0, B, p, eS, eI);
  const gates = tf.concat(enc.g, 1) as tf.Tensor2D;
  if (!explain) return { logit, eS, eI, errS, gates };
  const zero = tf.zerosLike(eS) as tf.Tensor1D;
  const without = [0, 1, 2].map((k) => {
    const pk = variants[3 + k];
    return headLogit(w, Z, (3 + k) * B, B, pk, k === 0 ? zero : eS, k === 1 ? zero : eI);
  });
  return { logit, eS, eI, errS, gates, without };
}
