/**
 * Camera frames as plants send them (issue 20): real PNG and JPEG files made here with the decoding
 * libraries' own encoders (pngjs, jpeg-js), read through the record decoder the pipeline uses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import turbo from '@julusian/jpeg-turbo';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { pixelsSummary, thermalSummary } from '../../align/index.js';
import { decodeRecord } from '../../ingest/index.js';
import { useImageDecoder, type ImageDecoder } from '../../ingest/native-image.js';
import { FramePool } from '../../pipeline/frame-pool.js';
import { Config, PALETTES, type InputRecord } from '../../schemas/index.js';

const limits = Config.parse({}).limits;
const W = 160,
  H = 120;

/** A scene: a warm bearing on a cooler body, about 17…93 °C, at w × h. */
function scene(w: number, h: number): Float64Array {
  const t = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x / w - 0.3, y / h - 0.6);
      t[y * w + x] = 20 + 70 * Math.exp(-d * d * 12) + 3 * Math.sin(x / 7) * Math.cos(y / 5);
    }
  return t;
}

function png(w: number, h: number, depth: 8 | 16, pixel: (i: number) => [number, number, number]): Buffer {
  const p = new PNG({ width: w, height: h, bitDepth: depth, colorType: 2, inputColorType: 2 });
  const data = depth === 16 ? new Uint16Array(w * h * 3) : Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = pixel(i);
    data[i * 3] = r;
    data[i * 3 + 1] = g;
    data[i * 3 + 2] = b;
  }
  p.data = depth === 16 ? Buffer.from(data.buffer) : (data as Buffer);
  return PNG.sync.write(p, {
    bitDepth: depth,
    colorType: depth === 16 ? 0 : 2,
    inputColorType: 2,
    inputHasAlpha: false,
  });
}
function greyPng(w: number, h: number, depth: 8 | 16, grey: (i: number) => number): Buffer {
  const p = new PNG({ width: w, height: h, bitDepth: depth, colorType: 0, inputColorType: 0 });
  const data = depth === 16 ? new Uint16Array(w * h) : Buffer.alloc(w * h);
  for (let i = 0; i < w * h; i++) data[i] = grey(i);
  p.data = depth === 16 ? Buffer.from(data.buffer) : (data as Buffer);
  return PNG.sync.write(p, { bitDepth: depth, colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

const frame = (bytes: Buffer, extra: Record<string, unknown>) => ({
  v: 1,
  plant: 'p1',
  asset: 'pump-01',
  camera: 'cam-1',
  ts: Date.UTC(2026, 11, 1),
  kind: 'thermal',
  encoding: 'png',
  base64: bytes.toString('base64'),
  ...extra,
});
const decode = (rec: object) => decodeRecord('images', Buffer.from(JSON.stringify(rec)), limits);
function pixels(rec: object) {
  const d = decode(rec);
  assert.ok(d.ok, d.ok ? '' : `${d.code}: ${d.reason}`);
  const v = (d.record as Extract<InputRecord, { modality: 'images' }>).value;
  assert.ok(v.pixels, 'decoded to temperatures');
  return v.pixels;
}
const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('the native decoders load here, unless TRIBUTARY_IMAGE_DECODER=portable', () => {
  const want = process.env.TRIBUTARY_IMAGE_DECODER === 'portable' ? 'portable' : 'native';
  assert.deepEqual(useImageDecoder('native'), { png: want, jpeg: want });
});

// Every decoding test runs through the native decoders and through the portable ones.
for (const decoder of ['native', 'portable'] as ImageDecoder[]) {
  test(`16-bit greyscale PNG with a linear scale: temperatures within the scale's step (0.01 °C), in K too (${decoder})`, () => {
    useImageDecoder(decoder);
    const t = scene(W, H);
    const px = pixels(
      frame(
        greyPng(W, H, 16, (i) => Math.round((t[i] + 40) / 0.01)),
        { scale: { offset: -40, gain: 0.01 }, emissivity: 0.95, distanceM: 3, lens: '45°' },
      ),
    );
    assert.deepEqual([px.width, px.height], [W, H]);
    assert.ok(maxErr(px.data, t) <= 0.005 + 1e-4, `max error ${maxErr(px.data, t)}`);
    // The same frame in kelvin (a radiometric camera's 0.04 K counts).
    const k = pixels(
      frame(
        greyPng(W, H, 16, (i) => Math.round((t[i] + 273.15) / 0.04)),
        { scale: { offset: 0, gain: 0.04 }, unit: 'K' },
      ),
    );
    assert.ok(maxErr(k.data, t) <= 0.02 + 1e-4);
  });

  test(`8-bit greyscale PNG with a per-frame range: within half a grey level (${decoder})`, () => {
    useImageDecoder(decoder);
    const t = scene(W, H);
    const lo = Math.min(...t),
      hi = Math.max(...t);
    const px = pixels(
      frame(
        greyPng(W, H, 8, (i) => Math.round((255 * (t[i] - lo)) / (hi - lo))),
        { range: { min: lo, max: hi } },
      ),
    );
    assert.ok(maxErr(px.data, t) <= (hi - lo) / 255 / 2 + 1e-4);
  });

  test(`false-colour PNG (iron, and explicit stops) round-trips within one palette step (${decoder})`, () => {
    useImageDecoder(decoder);
    const t = scene(80, 60);
    const lo = 10,
      hi = 100,
      step = (hi - lo) / 255;
    // The camera's palette as the camera draws it: interpolated between the named stops.
    const colour = (stops: number[][], p: number): [number, number, number] => {
      let k = 0;
      while (k < stops.length - 2 && stops[k + 1][0] < p) k++;
      const [p0, ...c0] = stops[k],
        [p1, ...c1] = stops[k + 1];
      const f = Math.min(1, Math.max(0, (p - p0) / (p1 - p0)));
      return [0, 1, 2].map((j) => Math.round(c0[j] + (c1[j] - c0[j]) * f)) as [number, number, number];
    };
    const level = (x: number) => Math.round((x - lo) / step) / 255;
    const iron = pixels(
      frame(
        png(80, 60, 8, (i) => colour(PALETTES.iron, level(t[i]))),
        { palette: 'iron', range: { min: lo, max: hi } },
      ),
    );
    assert.ok(
      maxErr(iron.data, t) <= 1.5 * step,
      `iron: max error ${maxErr(iron.data, t).toFixed(3)} °C, step ${step.toFixed(3)}`,
    );
    const stops = Array.from({ length: 16 }, (_, i) => [
      i / 15,
      (i * 53) % 256,
      255 - i * 16,
      (i * 97) % 256,
    ]);
    const own = pixels(
      frame(
        png(80, 60, 8, (i) => colour(stops, level(t[i]))),
        { paletteStops: stops, scale: { offset: lo, gain: step } },
      ),
    );
    assert.ok(maxErr(own.data, t) <= 1.5 * step, `stops: max error ${maxErr(own.data, t).toFixed(3)}`);
  });

  test(`JPEG: a thermal greyscale JPEG with a range reads within its compression error; a visible frame is never temperatures (${decoder})`, () => {
    useImageDecoder(decoder);
    const t = scene(W, H);
    const rgba = Buffer.alloc(W * H * 4);
    for (let i = 0; i < W * H; i++) {
      const g = Math.round((255 * (t[i] - 10)) / 90);
      rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = g;
      rgba[i * 4 + 3] = 255;
    }
    const bytes = jpeg.encode({ data: rgba, width: W, height: H }, 95).data;
    const px = pixels(frame(bytes, { encoding: 'jpeg', range: { min: 10, max: 100 } }));
    const meanErr = px.data.reduce((s, x, i) => s + Math.abs(x - t[i]), 0) / (W * H);
    assert.ok(meanErr < 0.5, `mean error ${meanErr.toFixed(3)} °C`);
    const visible = decode(frame(bytes, { encoding: 'jpeg', kind: 'visible' }));
    assert.ok(visible.ok);
    assert.equal((visible.record as Extract<InputRecord, { modality: 'images' }>).value.pixels, undefined);
  });

  test(`JPEG: a one-component (greyscale) JPEG reads within its compression error (${decoder})`, () => {
    useImageDecoder(decoder);
    const t = scene(W, H);
    const g = Buffer.alloc(W * H);
    for (let i = 0; i < W * H; i++) g[i] = Math.round((255 * (t[i] - 10)) / 90);
    const bytes = turbo.compressSync(g, {
      format: turbo.FORMAT_GRAY,
      subsampling: turbo.SAMP_GRAY,
      width: W,
      height: H,
      quality: 95,
    });
    assert.equal(bytes[0], 0xff);
    const px = pixels(frame(bytes, { encoding: 'jpeg', range: { min: 10, max: 100 } }));
    const meanErr = px.data.reduce((s, x, i) => s + Math.abs(x - t[i]), 0) / (W * H);
    assert.ok(meanErr < 0.5, `mean error ${meanErr.toFixed(3)} °C`);
    // The native decoder reads it as grey straight away; the portable one through RGBA.
    assert.equal(px.grey?.step, decoder === 'native' ? 1 : 4, 'read as grey');
  });

  test(`bad frames are dead-lettered with a precise reason, without decoding a bomb (${decoder})`, () => {
    useImageDecoder(decoder);
    const good = greyPng(32, 24, 8, (i) => i % 256);
    const corrupt = Buffer.concat([
      good.subarray(0, 40),
      Buffer.from('not a deflate stream at all'),
      good.subarray(good.length - 12),
    ]);
    const c = decode(frame(corrupt, { range: { min: 0, max: 100 } }));
    assert.ok(!c.ok && c.code === 'invalid_image' && /corrupt PNG/.test(c.reason), JSON.stringify(c));
    const green = decode(
      frame(
        png(32, 24, 8, () => [0, 255, 0]),
        { palette: 'iron', range: { min: 0, max: 100 } },
      ),
    );
    assert.ok(
      !green.ok &&
        green.code === 'palette_mismatch' &&
        /100 % of the pixels are no colour of palette iron/.test(green.reason),
      JSON.stringify(green),
    );
    // A 20 000 × 20 000 header over a few bytes of data.
    const bomb = Buffer.from(good);
    bomb.writeUInt32BE(20_000, 16);
    bomb.writeUInt32BE(20_000, 20);
    const b = decode(frame(bomb, { range: { min: 0, max: 100 } }));
    assert.ok(
      !b.ok &&
        b.code === 'image_too_large' &&
        /20000 × 20000 pixels, limit 1048576 \(not decoded\)/.test(b.reason),
      JSON.stringify(b),
    );
    const bv = decode(frame(bomb, { kind: 'visible' }));
    assert.ok(!bv.ok && bv.code === 'image_too_large');
    const webp = decode(frame(good, { encoding: 'webp', range: { min: 0, max: 100 } }));
    assert.ok(
      !webp.ok && webp.code === 'invalid_record' && /encoding/.test(webp.reason),
      JSON.stringify(webp),
    );
    const noScale = decode(frame(good, {}));
    assert.ok(!noScale.ok && /scale.*needs `scale`/.test(noScale.reason), JSON.stringify(noScale));
    const notPng = decode(frame(Buffer.from('GIF89a……………………………………………………………'), { range: { min: 0, max: 1 } }));
    assert.ok(!notPng.ok && notPng.code === 'invalid_image' && /bad signature/.test(notPng.reason));
  });
}

test('normalisation: a 160 × 120 PNG of a 32 × 24 scene gives the image encoder the same input within 0.1 °C', () => {
  const small = scene(32, 24);
  // The same scene at five times the resolution (each pixel 5 × 5), as a 16-bit radiometric PNG.
  const big = (i: number) => small[Math.floor(Math.floor(i / W) / 5) * 32 + Math.floor((i % W) / 5)];
  const px = pixels(
    frame(
      greyPng(W, H, 16, (i) => Math.round((big(i) + 40) / 0.01)),
      { scale: { offset: -40, gain: 0.01 } },
    ),
  );
  const a = thermalSummary(small, 32, 24, 'C'),
    b = thermalSummary(px.data, W, H, 'C');
  assert.ok(Math.abs(a.meanC - b.meanC) < 0.01 && Math.abs(a.maxC - b.maxC) < 0.01);
  assert.ok(maxErr(a.patches, b.patches) <= 0.1 + 1e-9, `patches differ by ${maxErr(a.patches, b.patches)}`);
});

test('the window summary read from integer pixels equals the one from the °C matrix; native and portable decoders agree', () => {
  const t = scene(W, H);
  const lo = Math.min(...t),
    hi = Math.max(...t);
  const rgba = Buffer.alloc(W * H * 4);
  for (let i = 0; i < W * H; i++) {
    rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = Math.round((255 * (t[i] - 10)) / 90);
    rgba[i * 4 + 3] = 255;
  }
  const frames = [
    frame(
      greyPng(W, H, 16, (i) => Math.round((t[i] + 40) / 0.01)),
      { scale: { offset: -40, gain: 0.01 } },
    ),
    frame(
      greyPng(W, H, 8, (i) => Math.round((255 * (t[i] - lo)) / (hi - lo))),
      { range: { min: lo, max: hi } },
    ),
    // A negative gain: the hottest pixel is the smallest one.
    frame(
      greyPng(W, H, 8, (i) => Math.round((255 * (hi - t[i])) / (hi - lo))),
      { scale: { offset: hi, gain: -(hi - lo) / 255 } },
    ),
    frame(jpeg.encode({ data: rgba, width: W, height: H }, 90).data, {
      encoding: 'jpeg',
      range: { min: 10, max: 100 },
    }),
  ];
  for (const [k, f] of frames.entries()) {
    useImageDecoder('native');
    const a = pixels(f);
    assert.ok(a.grey, `frame ${k}: greyscale pixels kept`);
    const fast = pixelsSummary(a),
      slow = thermalSummary(a.data, a.width, a.height, 'C');
    assert.ok(Math.abs(fast.meanC - slow.meanC) < 1e-3, `frame ${k}: mean ${fast.meanC} vs ${slow.meanC}`);
    assert.ok(Math.abs(fast.maxC - slow.maxC) < 1e-3, `frame ${k}: max ${fast.maxC} vs ${slow.maxC}`);
    assert.ok(maxErr(fast.patches, slow.patches) <= 0.1 + 1e-9, `frame ${k}: patches`);
    useImageDecoder('portable');
    const b = pixels(f);
    // PNG decoding is exact; two JPEG decoders may differ by a grey level (their IDCT and upsampling).
    const tolerance = k === 3 ? 90 / 255 + 1e-4 : 0;
    assert.ok(
      maxErr(a.data, b.data) <= tolerance,
      `frame ${k}: decoders differ by ${maxErr(a.data, b.data)}`,
    );
  }
  useImageDecoder('native');
});

test('a colour JPEG without a palette is refused, not read as grey (both decoders)', () => {
  const rgba = Buffer.alloc(64 * 48 * 4);
  for (let i = 0; i < 64 * 48; i++) {
    rgba[i * 4] = (i * 7) % 256;
    rgba[i * 4 + 1] = 255 - ((i * 3) % 256);
    rgba[i * 4 + 2] = 40;
    rgba[i * 4 + 3] = 255;
  }
  const bytes = jpeg.encode({ data: rgba, width: 64, height: 48 }, 90).data;
  for (const decoder of ['native', 'portable'] as ImageDecoder[]) {
    useImageDecoder(decoder);
    const d = decode(frame(bytes, { encoding: 'jpeg', range: { min: 0, max: 100 } }));
    assert.ok(!d.ok && d.code === 'missing_scale' && /needs `palette`/.test(d.reason), JSON.stringify(d));
    const truncated = decode(
      frame(bytes.subarray(0, 200), { encoding: 'jpeg', range: { min: 0, max: 100 } }),
    );
    assert.ok(
      !truncated.ok && truncated.code === 'invalid_image',
      `${decoder}: ${JSON.stringify(truncated)}`,
    );
  }
  useImageDecoder('native');
});

test('the fast PNG path reads exactly what fast-png reads, every filter type, grey and RGB, 8 and 16 bits; others fall through', async () => {
  const { decode } = await import('fast-png');
  const { readPngFast } = await import('../../ingest/frames.js');
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const depth of [8, 16] as const) {
    for (const colorType of [0, 2] as const) {
      for (const filterType of [0, 1, 2, 3, 4, -1]) {
        const w = 37,
          h = 23,
          ch = colorType === 0 ? 1 : 3,
          max = depth === 16 ? 65535 : 255;
        const p = new PNG({
          width: w,
          height: h,
          bitDepth: depth,
          colorType,
          inputColorType: colorType,
          filterType,
        });
        const src = depth === 16 ? new Uint16Array(w * h * ch) : Buffer.alloc(w * h * ch);
        // Smooth with noise, so every filter has work to do.
        for (let i = 0; i < src.length; i++)
          src[i] = Math.min(max, Math.floor(max * (0.5 + 0.3 * Math.sin(i / 17)) + rnd() * max * 0.1));
        p.data = depth === 16 ? Buffer.from(src.buffer) : (src as Buffer);
        const bytes = PNG.sync.write(p, {
          bitDepth: depth,
          colorType,
          inputColorType: colorType,
          inputHasAlpha: false,
          filterType,
        });
        const fast = readPngFast(bytes);
        assert.ok(fast, `depth ${depth} colour ${colorType} filter ${filterType}: read`);
        const ref = decode(bytes);
        assert.deepEqual(
          [fast.width, fast.height, fast.channels, fast.depth],
          [ref.width, ref.height, ref.channels, ref.depth],
        );
        assert.deepEqual(
          Array.from(fast.data),
          Array.from(ref.data),
          `depth ${depth} colour ${colorType} filter ${filterType}`,
        );
        assert.deepEqual(Array.from(fast.data), Array.from(src));
      }
    }
  }
  // RGBA, and a truncated stream: not for the fast path / refused.
  const rgba = PNG.sync.write(Object.assign(new PNG({ width: 4, height: 4 }), {}), { colorType: 6 });
  assert.equal(readPngFast(rgba), null);
  const good = greyPng(32, 24, 8, (i) => i % 256);
  assert.throws(
    () => readPngFast(good.subarray(0, good.length - 30)),
    /chunk runs past the end|image data is/,
  );
});

test('frames decoded on their own threads: the same summary and °C matrix as on this thread, bad frames the same reason, in order', async () => {
  const t = scene(W, H);
  const rgba = Buffer.alloc(W * H * 4);
  for (let i = 0; i < W * H; i++) {
    rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = Math.round((255 * (t[i] - 10)) / 90);
    rgba[i * 4 + 3] = 255;
  }
  const good = greyPng(32, 24, 8, (i) => i % 256);
  const records = [
    frame(
      greyPng(W, H, 16, (i) => Math.round((t[i] + 40) / 0.01)),
      { scale: { offset: -40, gain: 0.01 } },
    ),
    frame(jpeg.encode({ data: rgba, width: W, height: H }, 90).data, {
      encoding: 'jpeg',
      range: { min: 10, max: 100 },
    }),
    frame(good.subarray(0, good.length - 30), { range: { min: 0, max: 100 } }),
    { ...frame(good, {}), kind: 'visible' },
  ];
  const pool = new FramePool(2, limits);
  try {
    const answers = await Promise.all(records.map((r) => pool.decode(Buffer.from(JSON.stringify(r)))));
    for (const [k, r] of records.entries()) {
      const here = decode(r),
        there = answers[k];
      assert.equal(there.ok, here.ok, `record ${k}`);
      if (!here.ok || !there.ok) {
        assert.deepEqual(there, here, `record ${k}: the same reason`);
        continue;
      }
      const a = (here.record as Extract<InputRecord, { modality: 'images' }>).value.pixels;
      const b = (there.record as Extract<InputRecord, { modality: 'images' }>).value.pixels;
      assert.equal(!!b, !!a, `record ${k}: temperatures on both threads or neither`);
      if (!a || !b) continue;
      // Only the summary crossed; the °C matrix is decoded again here when read.
      assert.ok(b.summary, `record ${k}: summary made on the thread`);
      assert.deepEqual(pixelsSummary(b), pixelsSummary(a), `record ${k}: summary`);
      assert.equal(maxErr(b.data, a.data), 0, `record ${k}: matrix`);
    }
  } finally {
    await pool.close();
  }
});
