/**
 * The native image decoders, each a prebuilt binary per platform from the npm registry, called on the
 * calling thread (no thread pool: a frame costs one core, as the benches count it):
 * - JPEG: libjpeg-turbo with its SIMD code (@julusian/jpeg-turbo, Apache-2.0; libjpeg-turbo is BSD/IJG),
 *   about four times as fast as mozjpeg in WebAssembly on a 640 × 480 frame;
 * - PNG: @napi-rs/image (MIT; Rust's `png` crate), about twice as fast as node's zlib with our
 *   unfiltering on a 160 × 120 16-bit frame.
 *
 * Each is used when its binary loads here and `TRIBUTARY_IMAGE_DECODER` is not `portable`; otherwise the
 * portable path in frames.ts decodes (the tests run both). Only layouts whose output is unambiguous go
 * through them: PNG greyscale or RGB of 8 or 16 bits, and JPEG (decoded to RGB); anything else returns
 * null and the portable path reads it.
 */
import { createRequire } from 'node:module';

interface NativeTransformer {
  rawPixelsSync(): Buffer;
}
type PngModule = { Transformer: new (input: Uint8Array) => NativeTransformer };
type JpegModule = {
  FORMAT_RGB: unknown;
  FORMAT_GRAY: unknown;
  decompressSync(
    image: Buffer,
    options: { format: unknown },
  ): { data: Buffer; width: number; height: number };
};

/** What a decoded frame is: `channels` samples per pixel of `depth` bits (16-bit samples in a Uint16Array). */
export interface RawPixels {
  width: number;
  height: number;
  depth: 8 | 16;
  channels: number;
  data: Uint8Array | Uint16Array;
}

export type ImageDecoder = 'native' | 'portable';

function load<T>(name: string): T | null {
  if (process.env.TRIBUTARY_IMAGE_DECODER === 'portable') return null;
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch {
    // No binary for this platform (or it does not load): the portable decoders do the work.
    return null;
  }
}
const loaded = { png: load<PngModule>('@napi-rs/image'), jpeg: load<JpegModule>('@julusian/jpeg-turbo') };
let active = { ...loaded };

/** Which decoder reads each encoding in this process. */
export function imageDecoders(): { png: ImageDecoder; jpeg: ImageDecoder } {
  return { png: active.png ? 'native' : 'portable', jpeg: active.jpeg ? 'native' : 'portable' };
}

/** For tests and benches: decode with the given decoders (`native` only where its binary loads). */
export function useImageDecoder(which: ImageDecoder): { png: ImageDecoder; jpeg: ImageDecoder } {
  active = which === 'native' ? { ...loaded } : { png: null, jpeg: null };
  return imageDecoders();
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A frame's pixels by the native decoder, or null when it is not loaded or the layout is not one it is
 * used for. `width` × `height`: from the header, already checked against the pixel limit. Throws
 * on a corrupt frame, as the portable decoders do.
 */
export function decodeNative(
  bytes: Uint8Array,
  encoding: 'png' | 'jpeg',
  width: number,
  height: number,
  components = 3,
): RawPixels | null {
  const n = width * height;
  if (encoding === 'jpeg') {
    if (!active.jpeg) return null;
    const buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // A one-component JPEG is grey: decoded as such, a third of the bytes and no colour conversion.
    const channels = components === 1 ? 1 : 3;
    const out = active.jpeg.decompressSync(buf, {
      format: channels === 1 ? active.jpeg.FORMAT_GRAY : active.jpeg.FORMAT_RGB,
    });
    if (out.width !== width || out.height !== height || out.data.length !== n * channels)
      throw new Error(`decoded to ${out.width} × ${out.height}, the header says ${width} × ${height}`);
    return { width, height, depth: 8, channels, data: plain(out.data) };
  }
  if (!active.png) return null;
  const depth = bytes[24],
    colour = bytes[25];
  if ((depth !== 8 && depth !== 16) || (colour !== 0 && colour !== 2)) return null;
  // 16-bit samples come out in the machine's byte order, read here as little-endian.
  if (depth === 16 && !littleEndian) return null;
  const channels = colour === 0 ? 1 : 3;
  const out = new active.png.Transformer(bytes).rawPixelsSync();
  if (out.length !== n * channels * (depth / 8))
    throw new Error(`decoded to ${out.length} bytes, the header promises ${n * channels * (depth / 8)}`);
  if (depth === 8) return { width, height, depth, channels, data: plain(out) };
  // A Uint16Array view needs an even offset.
  const aligned = out.byteOffset % 2 === 0 ? out : Buffer.from(out);
  return {
    width,
    height,
    depth,
    channels,
    data: new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2),
  };
}

/** A plain Uint8Array view of a Buffer (loops that see both Buffer and Uint8Array read each byte more slowly). */
const plain = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.length);
