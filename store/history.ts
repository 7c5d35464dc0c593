/**
 * Stored history as window tuples, for training on a plant's own data (`tributary train --from-store`):
 * readings (one row per asset, channel, device and window), the latest thermal frame within the image age,
 * the notes about the asset in the window (± the note slack), and labels from operator feedback on alerts.
 */
import { cameraPeriodMs, frameMaxAgeMs, gridStepMs, resample, thermalSummary } from '../align/index.js';
import { storedThermal, type StoredFrameRow } from '../ingest/frames.js';
import type { Config, WindowTuple } from '../schemas/index.js';
import type { Queryable } from './db.js';

export interface HistoryWindow {
  tuple: WindowTuple;
  label: 0 | 1 | null;
}

const ms = (d: Date | string) => new Date(d).getTime();

/**
 * Every stored window of [from, to) (optionally one plant), by asset then time. Labels: 1 inside an alert
 * confirmed by an operator (true positive), 0 inside one rejected (false positive) and outside any alert,
 * null inside an alert without feedback (unknown).
 */
export async function historyWindows(
  db: Queryable,
  align: Config['align'],
  o: { from: number; to: number; plant?: string },
): Promise<HistoryWindow[]> {
  // $1, $2: the period; $3: the plant when one is asked for; after them, each query's own interval (seconds).
  const params: unknown[] = [
    new Date(o.from).toISOString(),
    new Date(o.to).toISOString(),
    ...(o.plant ? [o.plant] : []),
  ];
  const plantFilter = o.plant ? ' AND plant = $3' : '';
  const own = `$${params.length + 1}`;
  const rows = (
    await db.query<{
      plant: string;
      asset: string;
      device: string;
      channel: string;
      window_start: Date;
      t_offset_ms: number[];
      v: number[];
    }>(
      `SELECT plant, asset, device, channel, window_start, t_offset_ms, v FROM readings
      WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz${plantFilter} ORDER BY asset, window_start, channel, device`,
      params,
    )
  ).rows;
  const images = (
    await db.query<StoredFrameRow & { asset: string; camera: string; ts: Date }>(
      `SELECT asset, camera, ts, kind, width, height, unit, data, encoding, base64, coding FROM images
      WHERE ts >= $1::timestamptz - make_interval(secs => ${own}) AND ts < $2::timestamptz${plantFilter} ORDER BY asset, ts`,
      [...params, Math.max(align.imageMaxAgeMs, align.imageMaxPeriodAgeMs) / 1000],
    )
  ).rows;
  const notes = (
    await db.query<{ asset: string; author: string; ts: Date; text: string }>(
      `SELECT asset, author, ts, text FROM notes WHERE asset IS NOT NULL AND ts >= $1::timestamptz - make_interval(secs => ${own}) AND ts < $2::timestamptz + make_interval(secs => ${own})${plantFilter} ORDER BY asset, ts`,
      [...params, align.noteSlackMs / 1000],
    )
  ).rows;
  const alerts = (
    await db.query<{ asset: string; opened_window: Date; last_window: Date; label: string | null }>(
      `SELECT a.asset, a.opened_window, a.last_window,
            (SELECT f.label FROM alert_feedback f WHERE f.alert_id = a.id ORDER BY f.at DESC LIMIT 1) AS label
       FROM alerts a WHERE a.kind = 'anomaly' AND a.last_window >= $1::timestamptz AND a.opened_window < $2::timestamptz${plantFilter}`,
      params,
    )
  ).rows;

  const byAsset = <T extends { asset: string }>(xs: T[]) => {
    const m = new Map<string, T[]>();
    for (const x of xs) {
      if (!m.has(x.asset)) m.set(x.asset, []);
      m.get(x.asset)!.push(x);
    }
    return m;
  };
  const imagesOf = byAsset(images),
    notesOf = byAsset(notes),
    alertsOf = byAsset(alerts);
  const lookback = Math.max(align.imageMaxAgeMs, align.imageMaxPeriodAgeMs);
  const summaries = new Map<object, ReturnType<typeof thermalSummary> | { meanC: null; maxC: null }>();
  // Each camera's period: the median gap between its frames in the period read (as the live path learns it).
  const periods = new Map<string, number | null>();
  {
    const last = new Map<string, number>(),
      gaps = new Map<string, number[]>();
    for (const f of images) {
      const k = `${f.asset}\u0000${f.camera}`,
        t = ms(f.ts),
        prev = last.get(k);
      if (prev !== undefined && t > prev) {
        if (!gaps.has(k)) gaps.set(k, []);
        gaps.get(k)!.push(t - prev);
      }
      last.set(k, t);
    }
    for (const [k, g] of gaps) periods.set(k, cameraPeriodMs(g));
  }
  const out: HistoryWindow[] = [];
  let cur: WindowTuple | null = null;
  const close = () => {
    if (!cur) return;
    const t = cur;
    const end = t.windowEnd;
    for (const [ch, s] of Object.entries(t.channels)) {
      const idx = s.t.map((_, i) => i).sort((a, b) => s.t[a] - s.t[b]);
      s.t = idx.map((i) => s.t[i]);
      s.v = idx.map((i) => s.v[i]);
      t.grid.channels[ch] = resample(
        s.t,
        s.v,
        t.windowStart,
        align.windowMs,
        gridStepMs(align),
        align.interpolation[ch] ?? 'linear',
      );
    }
    // The latest frame before the window's end (frames are in time order), if within the image age.
    const frames = imagesOf.get(t.asset) ?? [];
    let lo = 0,
      hi = frames.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ms(frames[mid].ts) < end) lo = mid + 1;
      else hi = mid;
    }
    // The latest frame whose camera's cadence still counts it current at the window's end (as live).
    let frame: (typeof frames)[number] | undefined;
    for (let k = lo - 1; k >= 0 && end - ms(frames[k].ts) <= lookback; k--) {
      const period =
        align.cameraPeriodMs[frames[k].camera] ?? periods.get(`${t.asset}\u0000${frames[k].camera}`) ?? null;
      if (end - ms(frames[k].ts) <= frameMaxAgeMs(align, period)) {
        frame = frames[k];
        break;
      }
    }
    if (frame) {
      // The same patch encoder as the live path, whatever the frame's size and encoding (once per frame:
      // a camera's frame serves every window its cadence covers).
      let thermal = summaries.get(frame);
      if (!thermal) {
        const m = storedThermal(frame);
        thermal = m ? thermalSummary(m.data, m.width, m.height, m.unit) : { meanC: null, maxC: null };
        summaries.set(frame, thermal);
      }
      t.image = {
        camera: frame.camera,
        ts: ms(frame.ts),
        ageMs: end - ms(frame.ts),
        kind: frame.kind,
        ...thermal,
      };
    }
    t.notes = (notesOf.get(t.asset) ?? [])
      .filter((n) => ms(n.ts) - align.noteSlackMs < end && ms(n.ts) + align.noteSlackMs > t.windowStart)
      .map((n) => ({ author: n.author, ts: ms(n.ts), slackMs: align.noteSlackMs, text: n.text }));
    t.quality = { ...t.quality, images: t.image ? 1 : 0, notes: t.notes.length };
    let label: 0 | 1 | null = 0;
    for (const a of alertsOf.get(t.asset) ?? []) {
      if (t.windowStart < ms(a.opened_window) || t.windowStart > ms(a.last_window)) continue;
      if (a.label === 'true_positive') {
        label = 1;
        break;
      }
      if (a.label === null) label = null;
    }
    out.push({ tuple: t, label });
    cur = null;
  };
  for (const r of rows) {
    const start = ms(r.window_start);
    if (!cur || cur.asset !== r.asset || cur.windowStart !== start) {
      close();
      cur = {
        plant: r.plant,
        asset: r.asset,
        windowStart: start,
        windowEnd: start + align.windowMs,
        slideMs: align.windowMs,
        revision: 0,
        channels: {},
        grid: { stepMs: gridStepMs(align), channels: {} },
        image: null,
        notes: [],
        quality: { samples: 0, duplicates: 0, late: 0, images: 0, notes: 0, clockOffsetMs: 0 },
      };
    }
    const s = (cur.channels[r.channel] ??= { device: r.device, t: [], v: [] });
    for (let i = 0; i < r.v.length; i++) {
      s.t.push(start + r.t_offset_ms[i]);
      s.v.push(r.v[i]);
    }
    cur.quality.samples += r.v.length;
  }
  close();
  return out;
}
