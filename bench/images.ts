/**
 * Camera frames through the record decoder on one core (issue 20): frames/s per kind — the wire JSON
 * parsed, the header checked and, for thermal frames, the pixels decoded to °C and reduced to the image
 * encoder's patch means — beside an inline 32 × 24 matrix, the baseline.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { pixelsSummary, thermalSummary } from '../align/index.js';
import { decodeRecord } from '../ingest/index.js';
import { Config, PALETTES, type InputRecord } from '../schemas/index.js';

const limits = Config.parse({}).limits;

function scene(w: number, h: number): Float64Array {
  const t = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      t[y * w + x] =
        20 + 70 * Math.exp(-12 * ((x / w - 0.3) ** 2 + (y / h - 0.6) ** 2)) + Math.sin(x * 0.7 + y);
  return t;
}
export function grey(w: number, h: number, depth: 8 | 16): Buffer {
  const t = scene(w, h),
    p = new PNG({ width: w, height: h, bitDepth: depth, colorType: 0, inputColorType: 0 });
  const d = depth === 16 ? new Uint16Array(w * h) : Buffer.alloc(w * h);
  for (let i = 0; i < w * h; i++)
    d[i] = depth === 16 ? Math.round((t[i] + 40) / 0.01) : Math.round((255 * (t[i] - 10)) / 90);
  p.data = depth === 16 ? Buffer.from(d.buffer) : (d as Buffer);
  return PNG.sync.write(p, { bitDepth: depth, colorType: 0, inputColorType: 0, inputHasAlpha: false });
}
export function iron(w: number, h: number): Buffer {
  const t = scene(w, h),
    p = new PNG({ width: w, height: h });
  const stops = PALETTES.iron;
  for (let i = 0; i < w * h; i++) {
    const q = Math.round((255 * (t[i] - 10)) / 90) / 255;
    let k = 0;
    while (k < stops.length - 2 && stops[k + 1][0] < q) k++;
    const f = Math.min(1, Math.max(0, (q - stops[k][0]) / (stops[k + 1][0] - stops[k][0])));
    for (let j = 0; j < 3; j++)
      p.data[i * 4 + j] = Math.round(stops[k][j + 1] + (stops[k + 1][j + 1] - stops[k][j + 1]) * f);
    p.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(p, { colorType: 2 });
}
export function jpg(w: number, h: number): Buffer {
  const t = scene(w, h),
    rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const g = Math.round((255 * (t[i] - 10)) / 90);
    rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = g;
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width: w, height: h }, 90).data;
}

/**
 * The same scene as a one-component (greyscale) JPEG, the way a camera's encoder writes a grey frame
 * (jpeg-js above always writes three components); null where libjpeg-turbo's binding does not load.
 */
export function jpgGrey(w: number, h: number): Buffer | null {
  if (!turbo) return null;
  const t = scene(w, h),
    g = Buffer.alloc(w * h);
  for (let i = 0; i < w * h; i++) g[i] = Math.round((255 * (t[i] - 10)) / 90);
  return turbo.compressSync(g, {
    format: turbo.FORMAT_GRAY,
    subsampling: turbo.SAMP_GRAY,
    width: w,
    height: h,
    quality: 90,
  });
}
const turbo = await import('@julusian/jpeg-turbo').then(
  (m) => (m as unknown as { default?: typeof import('@julusian/jpeg-turbo') }).default ?? m,
  () => null,
);

export interface ImageBenchRow {
  name: string;
  bytes: number;
  perS: number;
  target: number | null;
}

export function runImagesBench(
  seconds = 1.5,
  only?: string,
): { rows: ImageBenchRow[]; baselinePerS: number } {
  const head = {
    v: 1,
    plant: 'p1',
    asset: 'pump-01',
    camera: 'cam',
    ts: Date.UTC(2026, 11, 1),
    kind: 'thermal',
  };
  const enc = (bytes: Buffer, extra: object) =>
    Buffer.from(JSON.stringify({ ...head, base64: bytes.toString('base64'), ...extra }));
  const small = scene(32, 24);
  const greyJpeg = jpgGrey(640, 480);
  const kinds: Array<{ name: string; value: Buffer; target: number | null }> = [
    {
      name: 'inline 32×24 matrix',
      value: Buffer.from(
        JSON.stringify({
          ...head,
          width: 32,
          height: 24,
          unit: 'C',
          data: Array.from(small, (x) => Math.round(x * 100) / 100),
        }),
      ),
      target: null,
    },
    {
      name: 'PNG 160×120 8-bit',
      value: enc(grey(160, 120, 8), { encoding: 'png', range: { min: 10, max: 100 } }),
      target: 2_000,
    },
    {
      name: 'PNG 160×120 16-bit',
      value: enc(grey(160, 120, 16), { encoding: 'png', scale: { offset: -40, gain: 0.01 } }),
      target: 2_000,
    },
    {
      name: 'PNG 80×60 false colour',
      value: enc(iron(80, 60), { encoding: 'png', palette: 'iron', range: { min: 10, max: 100 } }),
      target: 2_000,
    },
    {
      name: 'JPEG 640×480 thermal',
      value: enc(jpg(640, 480), { encoding: 'jpeg', range: { min: 10, max: 100 } }),
      target: 200,
    },
    ...(greyJpeg
      ? [
          {
            name: 'JPEG 640×480 grey 1-comp',
            value: enc(greyJpeg, { encoding: 'jpeg', range: { min: 10, max: 100 } }),
            target: 200,
          },
        ]
      : []),
    {
      name: 'JPEG 640×480 visible',
      value: enc(jpg(640, 480), { encoding: 'jpeg', kind: 'visible' }),
      target: 200,
    },
  ];
  const rows: ImageBenchRow[] = [];
  for (const k of kinds.filter(
    (x) => !only || x.name.includes(only) || (x.target === null && !process.env.NOBASE),
  )) {
    // Decode, then reduce to what a window keeps (the patch encoder's input), as the window operator does.
    const one = () => {
      const d = decodeRecord('images', k.value, limits);
      if (!d.ok) throw new Error(`${k.name}: ${d.reason}`);
      const f = (d.record as Extract<InputRecord, { modality: 'images' }>).value;
      if ('data' in f) thermalSummary(f.data, f.width, f.height, f.unit);
      else if (f.pixels) pixelsSummary(f.pixels);
    };
    for (let i = 0; i < 20; i++) one();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      one();
      n++;
    }
    rows.push({
      name: k.name,
      bytes: k.value.length,
      perS: n / ((performance.now() - t0) / 1000),
      target: k.target,
    });
  }
  return { rows, baselinePerS: rows[0].perS };
}
