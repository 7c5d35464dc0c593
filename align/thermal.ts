/**
 * Thermal frames → what a window keeps of them: any frame size is area-averaged onto one patch grid (the
 * image encoder's fixed-size input), with the frame's mean and hottest pixel, in °C.
 */
import type { ThermalPixels } from '../schemas/index.js';

/** Columns × rows of the patch grid a thermal frame of any size is normalised to (area means). */
const PATCH_COLS = 8,
  PATCH_ROWS = 6;

/** Per frame width, each column's patch column (frames of one camera share a width). */
const patchCols = new Map<number, Int32Array>();
/** Where each patch column starts, for a frame `width` wide (PATCH_COLS + 1 bounds; x → floor(x·COLS/width)). */
function patchColumns(width: number): Int32Array {
  let bounds = patchCols.get(width);
  if (!bounds) {
    bounds = new Int32Array(PATCH_COLS + 1);
    for (let c = 0; c <= PATCH_COLS; c++) bounds[c] = Math.min(width, Math.ceil((c * width) / PATCH_COLS));
    if (patchCols.size > 64) patchCols.clear();
    patchCols.set(width, bounds);
  }
  return bounds;
}

/**
 * One pass over a frame: the patch sums and counts (PATCH_COLS × PATCH_ROWS area means), the sum, count
 * and max of its finite pixels. Each row is read as PATCH_COLS runs with the sums kept in locals (a
 * 640 × 480 frame is 307 200 pixels; a table lookup and two array writes per pixel cost more than the
 * decoding around it).
 */
function scanFrame(data: Float32Array | Float64Array, width: number, height: number) {
  const sum = new Float64Array(PATCH_COLS * PATCH_ROWS),
    cnt = new Float64Array(PATCH_COLS * PATCH_ROWS);
  const bounds = patchColumns(width);
  let s = 0,
    m = -Infinity,
    n = 0;
  for (let y = 0; y < height; y++) {
    const row = Math.min(PATCH_ROWS - 1, Math.floor((y * PATCH_ROWS) / height)) * PATCH_COLS,
      at = y * width;
    for (let c = 0; c < PATCH_COLS; c++) {
      let runSum = 0,
        runCount = 0;
      for (let x = at + bounds[c], end = at + bounds[c + 1]; x < end; x++) {
        const v = data[x];
        if (v - v !== 0) continue; // NaN or infinite: no reading
        runSum += v;
        runCount++;
        if (v > m) m = v;
      }
      sum[row + c] += runSum;
      cnt[row + c] += runCount;
      s += runSum;
      n += runCount;
    }
  }
  const patches: number[] = [];
  for (let i = 0; i < sum.length; i++) patches.push(cnt[i] ? sum[i] / cnt[i] : NaN);
  // A frame smaller than the grid leaves cells empty: they take the frame's mean.
  const filled = patches.filter(Number.isFinite);
  const mean = filled.length ? filled.reduce((a, b) => a + b, 0) / filled.length : 0;
  return { patches: patches.map((x) => (Number.isFinite(x) ? x : mean)), sum: s, n, max: m };
}
/**
 * The same pass over a greyscale frame's integer pixels (`step` samples apart), before their linear map
 * to °C: the run sums stay integers, and the map is applied to the sums, the mean and the extreme pixel
 * (the hottest is the largest pixel for a positive gain, the smallest for a negative one). It skips the
 * °C matrix, which costs as much as the scan on a 640 × 480 frame.
 */
function scanGrey(
  px: Uint8Array | Uint16Array,
  step: number,
  width: number,
  height: number,
  k0: number,
  k1: number,
) {
  const sum = new Float64Array(PATCH_COLS * PATCH_ROWS),
    cnt = new Float64Array(PATCH_COLS * PATCH_ROWS);
  const bounds = patchColumns(width);
  let s = 0,
    hi = 0,
    lo = Infinity;
  for (let y = 0; y < height; y++) {
    const row = Math.min(PATCH_ROWS - 1, Math.floor((y * PATCH_ROWS) / height)) * PATCH_COLS,
      at = y * width;
    for (let c = 0; c < PATCH_COLS; c++) {
      let runSum = 0;
      const end = (at + bounds[c + 1]) * step;
      for (let x = (at + bounds[c]) * step; x < end; x += step) {
        const v = px[x];
        runSum += v;
        if (v > hi) hi = v;
        if (v < lo) lo = v;
      }
      sum[row + c] += runSum;
      cnt[row + c] += bounds[c + 1] - bounds[c];
      s += runSum;
    }
  }
  const n = width * height;
  const patches: number[] = [];
  for (let i = 0; i < sum.length; i++) patches.push(cnt[i] ? k0 + (k1 * sum[i]) / cnt[i] : NaN);
  const filled = patches.filter(Number.isFinite);
  const mean = filled.length ? filled.reduce((a, b) => a + b, 0) / filled.length : 0;
  return {
    patches: patches.map((x) => (Number.isFinite(x) ? x : mean)),
    sum: n * k0 + k1 * s,
    n,
    max: k0 + k1 * (k1 >= 0 ? hi : lo),
  };
}

const typed = (d: ArrayLike<number>): Float32Array | Float64Array =>
  d instanceof Float32Array || d instanceof Float64Array ? d : Float64Array.from(d);

/** Area means of a row-major matrix over a PATCH_COLS × PATCH_ROWS grid: the image encoder's fixed-size input. */
export function thermalPatches(data: ArrayLike<number>, width: number, height: number): number[] {
  return scanFrame(typed(data), width, height).patches;
}

/** What a window tuple keeps of a thermal frame: its mean and max and its patch means, in °C (pixels without a reading left out). */
export function thermalSummary(
  data: ArrayLike<number>,
  width: number,
  height: number,
  unit: 'C' | 'K' | 'F',
): { meanC: number; maxC: number; patches: number[] } {
  return summaryOf(scanFrame(typed(data), width, height), unit);
}

/** The summary of a decoded frame (°C): from its integer pixels when it has them, else from its matrix. */
export function pixelsSummary(p: ThermalPixels): { meanC: number; maxC: number; patches: number[] } {
  if (p.summary) return p.summary;
  if (!p.grey) return thermalSummary(p.data, p.width, p.height, 'C');
  const { px, step, k0, k1 } = p.grey;
  return summaryOf(scanGrey(px, step, p.width, p.height, k0, k1), 'C');
}

function summaryOf(
  f: { patches: number[]; sum: number; n: number; max: number },
  unit: 'C' | 'K' | 'F',
): { meanC: number; maxC: number; patches: number[] } {
  const toC =
    unit === 'K'
      ? (x: number) => x - 273.15
      : unit === 'F'
        ? (x: number) => (x - 32) / 1.8
        : (x: number) => x;
  return {
    meanC: toC(f.n ? f.sum / f.n : NaN),
    maxC: toC(f.n ? f.max : NaN),
    patches: f.patches.map((x) => Math.round(toC(x) * 10) / 10),
  };
}
