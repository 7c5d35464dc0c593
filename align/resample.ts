/**
 * A channel's samples in a window onto a fixed grid: cell i covers [start + i·step, start + (i+1)·step)
 * and its value is taken at the cell's centre, by linear interpolation between the neighbouring samples
 * (held flat beyond the first and last), or by the last value at or before the centre. The presence mask
 * says which cells hold a real sample; a channel with no sample at all is null everywhere.
 */
export type Interpolation = 'linear' | 'last';

export interface GridSeries {
  v: Array<number | null>;
  mask: boolean[];
}

export function resample(
  t: number[],
  v: number[],
  start: number,
  windowMs: number,
  stepMs: number,
  mode: Interpolation,
): GridSeries {
  const n = Math.ceil(windowMs / stepMs);
  const out: GridSeries = { v: new Array(n).fill(null), mask: new Array(n).fill(false) };
  if (t.length === 0) return out;
  for (const ts of t) {
    const i = Math.floor((ts - start) / stepMs);
    if (i >= 0 && i < n) out.mask[i] = true;
  }
  let j = 0; // index of the first sample after the centre
  for (let i = 0; i < n; i++) {
    const c = start + (i + 0.5) * stepMs;
    while (j < t.length && t[j] <= c) j++;
    if (mode === 'last') {
      out.v[i] = j > 0 ? v[j - 1] : null;
    } else if (j === 0) {
      out.v[i] = v[0];
    } else if (j === t.length) {
      out.v[i] = v[t.length - 1];
    } else {
      const t0 = t[j - 1],
        t1 = t[j];
      out.v[i] = t1 === t0 ? v[j] : v[j - 1] + ((v[j] - v[j - 1]) * (c - t0)) / (t1 - t0);
    }
  }
  return out;
}

/** The grid's cell width for a window: gridMs, or wider so that a window holds at most maxGridCells cells. */
export function gridStepMs(align: { windowMs: number; gridMs: number; maxGridCells: number }): number {
  return align.windowMs / align.gridMs > align.maxGridCells
    ? Math.ceil(align.windowMs / align.maxGridCells)
    : align.gridMs;
}
