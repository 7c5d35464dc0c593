/**
 * Encoded camera frames (PNG, JPEG) → temperatures. Decoding is the libraries': the native decoder
 * (@napi-rs/image, see native-image.ts) where its binary loads, else the portable path (node's zlib with
 * the unfiltering below for the common PNG, fast-png for the rest, mozjpeg built to WebAssembly from
 * @jsquash/jpeg for JPEG: several times faster than the pure-JS decoders). This file reads only the headers (to refuse a decompression bomb before any pixel is inflated) and maps
 * pixels to temperatures:
 * - greyscale (8- or 16-bit): `scale` T = offset + gain·pixel, or `range` T = min + (max − min)·pixel/full;
 * - colour (false-colour PNG/JPEG): each pixel to the nearest entry of the palette (a named one and/or
 *   `paletteStops` [[pos, r, g, b], …], pos 0…1), then its position p through the scale (pixel = 255·p)
 *   or the range (min + (max − min)·p);
 * - `unit` (C, K, F) says what the scale gives; results are in °C.
 * A visible-light frame is never read as temperatures (its header is checked, nothing more).
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { createRequire } from 'node:module';
import mozjpegFactory from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { decode as decodePng } from 'fast-png';
import { PALETTES, type PaletteName, type ThermalPixels } from '../schemas/records.js';
import { decodeNative } from './native-image.js';

export interface FrameCoding {
  kind: 'thermal' | 'visible';
  encoding: 'png' | 'jpeg';
  unit?: 'C' | 'K' | 'F';
  scale?: { offset: number; gain: number };
  range?: { min: number; max: number };
  palette?: PaletteName;
  paletteStops?: Array<[number, number, number, number]>;
}

export type FrameError = {
  code: 'image_too_large' | 'invalid_image' | 'palette_mismatch' | 'missing_scale';
  reason: string;
};
export type DecodedFrame = ThermalPixels;

/** The JPEG decoder: mozjpeg's WebAssembly module, instantiated once when this module loads. */
interface Mozjpeg {
  decode(
    data: BufferSource,
    preserveOrientation: boolean,
  ): { width: number; height: number; data: Uint8ClampedArray } | null;
}
const mozjpeg = await (mozjpegFactory as unknown as (o: object) => Promise<Mozjpeg>)({
  noInitialRun: true,
  wasmBinary: readFileSync(
    createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'),
  ),
});

/** A pixel further than this (RGB distance) from every palette entry does not belong to the palette. */
const PALETTE_TOLERANCE = 48;
/** More than this share of such pixels: the frame was not made with the palette it names. */
const PALETTE_MISS_SHARE = 0.05;

/** Width and height from the header alone (PNG IHDR, JPEG SOFn), or an error; nothing is inflated. */
export function frameSize(
  bytes: Uint8Array,
  encoding: 'png' | 'jpeg',
): { width: number; height: number; components?: number } | FrameError {
  if (encoding === 'png') {
    const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    if (bytes.length < 33 || sig.some((b, i) => bytes[i] !== b))
      return { code: 'invalid_image', reason: 'not a PNG (bad signature)' };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR')
      return { code: 'invalid_image', reason: 'not a PNG (no IHDR chunk first)' };
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8)
    return { code: 'invalid_image', reason: 'not a JPEG (no SOI marker)' };
  // Walk the marker segments to the first start-of-frame.
  for (let i = 2; i + 9 < bytes.length;) {
    if (bytes[i] !== 0xff) return { code: 'invalid_image', reason: `corrupt JPEG: no marker at byte ${i}` };
    const m = bytes[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    const len = (bytes[i + 2] << 8) | bytes[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return {
        height: (bytes[i + 5] << 8) | bytes[i + 6],
        width: (bytes[i + 7] << 8) | bytes[i + 8],
        // 1: a greyscale JPEG (decoded straight to grey), 3: YCbCr.
        components: bytes[i + 9],
      };
    }
    i += 2 + len;
  }
  return { code: 'invalid_image', reason: 'corrupt JPEG: no start-of-frame marker' };
}

/**
 * The common PNG, fast: non-interlaced greyscale or RGB, 8 or 16 bits (what thermal cameras send),
 * inflated by node's zlib (native) and unfiltered here; null for anything else (fast-png reads it). The
 * pure-JS inflate of the general decoders is most of their time on a 160 × 120 frame.
 */
export function readPngFast(
  bytes: Uint8Array,
): { width: number; height: number; depth: number; channels: number; data: Uint8Array | Uint16Array } | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = dv.getUint32(16),
    height = dv.getUint32(20),
    depth = bytes[24],
    colour = bytes[25],
    interlace = bytes[28];
  if (interlace !== 0 || (depth !== 8 && depth !== 16) || (colour !== 0 && colour !== 2)) return null;
  const channels = colour === 0 ? 1 : 3,
    bpp = (channels * depth) / 8,
    stride = width * bpp;
  const idat: Uint8Array[] = [];
  for (let off = 8; off + 8 <= bytes.length;) {
    const len = dv.getUint32(off),
      type = dv.getUint32(off + 4);
    if (off + 12 + len > bytes.length) throw new Error('chunk runs past the end of the file');
    if (type === 0x49444154)
      idat.push(bytes.subarray(off + 8, off + 8 + len)); // IDAT
    else if (type === 0x49454e44) break; // IEND
    off += 12 + len;
  }
  const need = (stride + 1) * height;
  // The output is bounded by what the header promises: a stream inflating to more is refused, not read.
  const inflated = inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat), {
    maxOutputLength: need + 1,
    chunkSize: Math.max(64, need + 1),
  });
  if (inflated.length !== need)
    throw new Error(`image data is ${inflated.length} bytes, the header promises ${need}`);
  // A plain Uint8Array view: loops that see both Buffer and Uint8Array read each byte more slowly.
  const raw = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
  const out = new Uint8Array(stride * height);
  // One loop per filter type (a branch per byte costs more than the unfiltering). On the first row the
  // row above is zeros: Up is None, Average halves the left byte, Paeth is Sub.
  for (let y = 0; y < height; y++) {
    let f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1,
      dst = y * stride;
    if (y === 0 && (f === 2 || f === 4)) f = f === 2 ? 0 : 1;
    if (f === 0) out.set(raw.subarray(src, src + stride), dst);
    else if (f === 1) unfilterSub(raw, src, out, dst, stride, bpp);
    else if (f === 2) unfilterUp(raw, src, out, dst, stride);
    else if (f === 3) {
      if (y === 0) {
        for (let lane = 0; lane < bpp; lane++) {
          let a = (out[dst + lane] = raw[src + lane]);
          for (let i = lane + bpp; i < stride; i += bpp) out[dst + i] = a = (raw[src + i] + (a >> 1)) & 0xff;
        }
      } else unfilterAverage(raw, src, out, dst, stride, bpp);
    } else if (f === 4) unfilterPaeth(raw, src, out, dst, stride, bpp);
    else throw new Error(`unknown filter type ${f} on row ${y}`);
  }
  if (depth === 8) return { width, height, depth, channels, data: out };
  // 16 bits: big-endian pairs, swapped in place and read as one Uint16Array (no second buffer).
  const wide = new Uint16Array(out.buffer, out.byteOffset, width * height * channels);
  if (littleEndian)
    for (let i = 0; i < wide.length; i++) {
      const v = wide[i];
      wide[i] = (v >> 8) | ((v & 0xff) << 8);
    }
  return { width, height, depth, channels, data: wide };
}

// Each unfilter runs per byte lane (bytes `bpp` apart depend on each other), keeping the left byte, and
// for Paeth the upper-left one, in locals: read back from the output, they cost a store-to-load stall per byte.
function unfilterSub(
  raw: Uint8Array,
  src: number,
  out: Uint8Array,
  dst: number,
  stride: number,
  bpp: number,
): void {
  for (let lane = 0; lane < bpp; lane++) {
    let a = (out[dst + lane] = raw[src + lane]);
    for (let i = lane + bpp; i < stride; i += bpp) out[dst + i] = a = (raw[src + i] + a) & 0xff;
  }
}
function unfilterUp(raw: Uint8Array, src: number, out: Uint8Array, dst: number, stride: number): void {
  for (let i = 0, up = dst - stride; i < stride; i++) out[dst + i] = (raw[src + i] + out[up + i]) & 0xff;
}
function unfilterAverage(
  raw: Uint8Array,
  src: number,
  out: Uint8Array,
  dst: number,
  stride: number,
  bpp: number,
): void {
  const up = dst - stride;
  for (let lane = 0; lane < bpp; lane++) {
    let a = (out[dst + lane] = (raw[src + lane] + (out[up + lane] >> 1)) & 0xff);
    for (let i = lane + bpp; i < stride; i += bpp)
      out[dst + i] = a = (raw[src + i] + ((a + out[up + i]) >> 1)) & 0xff;
  }
}
/** Paeth on a row below another: |p − a| = |b − c|, |p − b| = |a − c|, |p − c| = |a + b − 2c| (integer abs without a call). */
function unfilterPaeth(
  raw: Uint8Array,
  src: number,
  out: Uint8Array,
  dst: number,
  stride: number,
  bpp: number,
): void {
  const up = dst - stride;
  for (let lane = 0; lane < bpp; lane++) {
    let a = (out[dst + lane] = (raw[src + lane] + out[up + lane]) & 0xff),
      c = out[up + lane];
    for (let i = lane + bpp; i < stride; i += bpp) {
      const b = out[up + i];
      let pa = b - c,
        pb = a - c,
        pc = pa + pb;
      pa = (pa ^ (pa >> 31)) - (pa >> 31);
      pb = (pb ^ (pb >> 31)) - (pb >> 31);
      pc = (pc ^ (pc >> 31)) - (pc >> 31);
      out[dst + i] = a = (raw[src + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      c = b;
    }
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A palette as 256 RGB entries, interpolated between its stops. */
function paletteTable(stops: Array<[number, number, number, number]>): Uint8Array {
  const s = [...stops].sort((a, b) => a[0] - b[0]);
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const p = i / 255;
    let k = 0;
    while (k < s.length - 2 && s[k + 1][0] < p) k++;
    const [p0, r0, g0, b0] = s[Math.min(k, s.length - 1)],
      [p1, r1, g1, b1] = s[Math.min(k + 1, s.length - 1)];
    const f = p1 > p0 ? Math.min(1, Math.max(0, (p - p0) / (p1 - p0))) : 0;
    out[i * 3] = Math.round(r0 + (r1 - r0) * f);
    out[i * 3 + 1] = Math.round(g0 + (g1 - g0) * f);
    out[i * 3 + 2] = Math.round(b0 + (b1 - b0) * f);
  }
  return out;
}

/** Nearest palette entry per colour, kept per palette (frames share palettes, and a frame few colours). */
const palettes = new Map<string, { table: Uint8Array; nearest: Map<number, number> }>();
function paletteOf(c: FrameCoding) {
  const stops = c.paletteStops ?? PALETTES[c.palette ?? 'grey'];
  const key = JSON.stringify(stops);
  let p = palettes.get(key);
  if (!p) {
    if (palettes.size >= 64) palettes.clear();
    p = { table: paletteTable(stops), nearest: new Map() };
    palettes.set(key, p);
  }
  // A JPEG's noise makes many colours: the memo is a cache, not a record of them all.
  if (p.nearest.size > 1 << 20) p.nearest.clear();
  return p;
}

/** Index (0…255) of the palette entry nearest to the colour, or −1 when none is within the tolerance. */
function nearestEntry(
  p: { table: Uint8Array; nearest: Map<number, number> },
  r: number,
  g: number,
  b: number,
): number {
  const key = (r << 16) | (g << 8) | b;
  let idx = p.nearest.get(key);
  if (idx === undefined) {
    let best = Infinity;
    idx = -1;
    for (let i = 0; i < 256; i++) {
      const dr = p.table[i * 3] - r,
        dg = p.table[i * 3 + 1] - g,
        db = p.table[i * 3 + 2] - b;
      const d = dr * dr + dg * dg + db * db;
      if (d < best) {
        best = d;
        idx = i;
      }
    }
    if (Math.sqrt(best) > PALETTE_TOLERANCE) idx = -1;
    p.nearest.set(key, idx);
  }
  return idx;
}

/**
 * A thermal frame's temperatures (°C), or why it cannot be read. `maxPixels`: the header is checked
 * against it before anything is decoded.
 */
export function decodeThermal(
  bytes: Uint8Array,
  c: FrameCoding,
  maxPixels: number,
): DecodedFrame | FrameError {
  if (!c.scale && !c.range)
    return {
      code: 'missing_scale',
      reason: 'a thermal PNG/JPEG needs `scale` {offset, gain} or `range` {min, max} to give temperatures',
    };
  const size = frameSize(bytes, c.encoding);
  if ('code' in size) return size;
  if (size.width * size.height > maxPixels || size.width === 0 || size.height === 0) {
    return {
      code: 'image_too_large',
      reason: `${c.encoding.toUpperCase()} header says ${size.width} × ${size.height} pixels, limit ${maxPixels} (not decoded)`,
    };
  }
  // Pixels as channels per pixel (1: grey, 3: RGB, 2 and 4: with alpha), of `full` at most.
  let width: number, height: number, px: ArrayLike<number>, full: number, channels: number;
  try {
    const fast =
      decodeNative(bytes, c.encoding, size.width, size.height, size.components) ??
      (c.encoding === 'png' ? readPngFast(bytes) : null);
    if (fast) {
      ({ width, height } = fast);
      px = fast.data;
      channels = fast.channels;
      full = 2 ** fast.depth - 1;
      // A greyscale JPEG decodes to equal R, G and B: read as grey unless a palette is named.
      if (channels === 3 && c.encoding === 'jpeg' && !c.palette && !c.paletteStops && isGrey(px, 3))
        channels = -3;
    } else if (c.encoding === 'png') {
      const png = decodePng(bytes);
      ({ width, height } = png);
      full = 2 ** png.depth - 1;
      if (png.palette) {
        // An indexed PNG: its own colour table gives each pixel's colour.
        const rgb = new Uint8Array(width * height * 3),
          pal = png.palette;
        for (let i = 0; i < width * height; i++) {
          const e = pal[png.data[i]] ?? [0, 0, 0];
          rgb[i * 3] = e[0];
          rgb[i * 3 + 1] = e[1];
          rgb[i * 3 + 2] = e[2];
        }
        px = rgb;
        channels = 3;
        full = 255;
      } else {
        px = png.data;
        channels = png.channels;
      }
    } else {
      const j = mozjpeg.decode(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        false,
      );
      if (!j) throw new Error('the decoder refused it');
      ({ width, height } = j);
      px = j.data;
      channels = 4;
      full = 255;
      // A greyscale JPEG decodes to equal R, G and B: read as grey unless a palette is named.
      if (!c.palette && !c.paletteStops && isGrey(j.data, 4)) channels = -4;
    }
  } catch (e) {
    return { code: 'invalid_image', reason: `corrupt ${c.encoding.toUpperCase()}: ${(e as Error).message}` };
  }
  const grey = channels === 1 || channels === 2 || channels < 0;
  channels = Math.abs(channels);
  // Pixel → °C is linear, T = k0 + k1 · pixel (the unit folded in): one multiply-add per pixel.
  const n = width * height;
  const perStep = (max: number) =>
    c.scale ? [c.scale.offset, c.scale.gain] : [c.range!.min, (c.range!.max - c.range!.min) / max];
  const linear = (max: number): [number, number] => {
    const [o, g] = perStep(max);
    return c.unit === 'K' ? [o - 273.15, g] : c.unit === 'F' ? [(o - 32) / 1.8, g / 1.8] : [o, g];
  };
  if (grey) {
    const [k0, k1] = linear(full);
    const ints =
      px instanceof Uint8ClampedArray
        ? new Uint8Array(px.buffer, px.byteOffset, px.length)
        : (px as Uint8Array | Uint16Array);
    const step = channels;
    let matrix: Float32Array | null = null;
    // The °C matrix only when read (the window's summary reads `grey`): on a 640 × 480 frame it costs a
    // third of the decoding. One loop per array type: a loop that has seen several types is slower.
    return {
      width,
      height,
      grey: { px: ints, step, k0, k1 },
      get data(): Float32Array {
        if (!matrix) {
          matrix = new Float32Array(n);
          if (ints instanceof Uint16Array) greyWide(ints, step, k0, k1, matrix);
          else greyBytes(ints, step, k0, k1, matrix);
        }
        return matrix;
      },
    };
  }
  if (!c.palette && !c.paletteStops)
    return {
      code: 'missing_scale',
      reason: 'a colour thermal frame needs `palette` or `paletteStops` to map its colours to temperatures',
    };
  const pal = paletteOf(c);
  const [k0, k1] = linear(255);
  const shift = full === 65535 ? 8 : 0,
    out = new Float32Array(n);
  let missed = 0;
  for (let i = 0; i < n; i++) {
    const idx = nearestEntry(
      pal,
      px[i * channels] >> shift,
      px[i * channels + 1] >> shift,
      px[i * channels + 2] >> shift,
    );
    if (idx < 0) {
      missed++;
      out[i] = NaN;
      continue;
    }
    out[i] = k0 + k1 * idx;
  }
  if (missed > n * PALETTE_MISS_SHARE) {
    return {
      code: 'palette_mismatch',
      reason: `${Math.round((100 * missed) / n)} % of the pixels are no colour of palette ${c.paletteStops ? '(paletteStops)' : c.palette}: wrong palette?`,
    };
  }
  return { width, height, data: out };
}

function greyBytes(px: Uint8Array, step: number, k0: number, k1: number, out: Float32Array): void {
  for (let i = 0, j = 0; i < out.length; i++, j += step) out[i] = k0 + k1 * px[j];
}
function greyWide(px: Uint16Array, step: number, k0: number, k1: number, out: Float32Array): void {
  for (let i = 0, j = 0; i < out.length; i++, j += step) out[i] = k0 + k1 * px[j];
}

/** Whether sampled pixels have R ≈ G ≈ B (`step`: samples per pixel). */
function isGrey(px: ArrayLike<number>, step: number): boolean {
  for (let i = 0; i < px.length; i += step * 97)
    if (Math.abs(px[i] - px[i + 1]) > 8 || Math.abs(px[i + 1] - px[i + 2]) > 8) return false;
  return true;
}

/** A visible-light frame: its header must be sound and within the pixel limit; it is never decoded. */
export function checkVisible(
  bytes: Uint8Array,
  encoding: 'png' | 'jpeg',
  maxPixels: number,
): FrameError | null {
  const size = frameSize(bytes, encoding);
  if ('code' in size) return size;
  if (size.width * size.height > maxPixels)
    return {
      code: 'image_too_large',
      reason: `${encoding.toUpperCase()} header says ${size.width} × ${size.height} pixels, limit ${maxPixels}`,
    };
  return null;
}

/** A stored frame row (the images table). */
export interface StoredFrameRow {
  kind: string;
  width: number | null;
  height: number | null;
  unit: string | null;
  data: number[] | null;
  encoding: string | null;
  base64: string | null;
  coding: Omit<FrameCoding, 'kind' | 'encoding'> | null;
}

/**
 * A stored thermal frame's matrix in its unit (an inline matrix as sent; an encoded one decoded again, in
 * °C), or null: a visible frame, a reference only, or pixels that no longer decode.
 */
export function storedThermal(
  f: StoredFrameRow,
): { data: ArrayLike<number>; width: number; height: number; unit: 'C' | 'K' | 'F' } | null {
  if (f.kind !== 'thermal') return null;
  if (f.data && f.width && f.height && f.data.length === f.width * f.height)
    return { data: f.data, width: f.width, height: f.height, unit: (f.unit ?? 'C') as 'C' | 'K' | 'F' };
  if (!f.base64 || (f.encoding !== 'png' && f.encoding !== 'jpeg')) return null;
  const d = decodeThermal(
    Buffer.from(f.base64, 'base64'),
    { ...f.coding, kind: 'thermal', encoding: f.encoding },
    Infinity,
  );
  return 'code' in d ? null : { ...d, unit: 'C' };
}

/** A fetched frame's encoding from its content type, else its first bytes (null: neither PNG nor JPEG). */
export function sniffEncoding(bytes: Uint8Array, contentType: string | null): 'png' | 'jpeg' | null {
  if (contentType && /^image\/png\b/i.test(contentType)) return 'png';
  if (contentType && /^image\/jpe?g\b/i.test(contentType)) return 'jpeg';
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  return null;
}
