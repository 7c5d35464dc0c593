/** Thermal frames as PNG thumbnails: a temperature matrix through a perceptual colour map, scaled up by whole pixels. */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

/** An RGB PNG from width × height pixels (3 bytes each, rows top to bottom). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

// Stops of the "inferno" colour map (dark → purple → orange → pale yellow): hotter is brighter.
const STOPS: Array<[number, number, number]> = [
  [0, 0, 4],
  [40, 11, 84],
  [101, 21, 110],
  [159, 42, 99],
  [212, 72, 66],
  [245, 125, 21],
  [250, 193, 39],
  [252, 255, 164],
];
function colour(x: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(t));
  const f = t - i;
  return [0, 1, 2].map((k) => Math.round(STOPS[i][k] + f * (STOPS[i + 1][k] - STOPS[i][k]))) as [
    number,
    number,
    number,
  ];
}

/** A thermal matrix (row-major) as a PNG, scaled `scale`× and coloured over [lo, hi] (default: the frame's range). */
export function thermalPng(
  data: ArrayLike<number>,
  width: number,
  height: number,
  o: { scale?: number; lo?: number; hi?: number } = {},
): Buffer {
  // Whole-pixel scaling, to at most about 1 024 pixels a side.
  const scale = Math.max(
    1,
    Math.min(16, Math.floor(o.scale ?? 4), Math.floor(1024 / Math.max(width, height))),
  );
  let lo = o.lo ?? Infinity,
    hi = o.hi ?? -Infinity;
  if (o.lo === undefined || o.hi === undefined) {
    for (let i = 0; i < width * height; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) continue;
      if (o.lo === undefined && v < lo) lo = v;
      if (o.hi === undefined && v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) {
    lo = Number.isFinite(lo) ? lo : 0;
    hi = lo + 1;
  }
  const W = width * scale,
    H = height * scale;
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [r, g, b] = colour(
        (data[Math.floor(y / scale) * width + Math.floor(x / scale)] - lo) / (hi - lo),
      );
      const o3 = (y * W + x) * 3;
      rgb[o3] = r;
      rgb[o3 + 1] = g;
      rgb[o3 + 2] = b;
    }
  }
  return encodePng(W, H, rgb);
}
