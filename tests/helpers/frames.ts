/** Encoded camera frames made with the decoding libraries' own encoders, for the frame tests. */
import { PNG } from 'pngjs';
import { PALETTES } from '../../schemas/index.js';

/** A 16-bit radiometric PNG: pixel = (T + 40) / 0.01, so `scale: { offset: -40, gain: 0.01 }` reads it. */
export function png16(w: number, h: number, tempC: (x: number, y: number) => number): Buffer {
  const p = new PNG({ width: w, height: h, bitDepth: 16, colorType: 0, inputColorType: 0 });
  const d = new Uint16Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) d[y * w + x] = Math.round((tempC(x, y) + 40) / 0.01);
  p.data = Buffer.from(d.buffer);
  return PNG.sync.write(p, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** An RGB PNG in the iron palette; `level` gives each pixel's palette position (0…1). */
export function ironPng(w: number, h: number, level: (x: number, y: number) => number): Buffer {
  const p = new PNG({ width: w, height: h });
  const s = PALETTES.iron;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const q = level(x, y);
      let k = 0;
      while (k < s.length - 2 && s[k + 1][0] < q) k++;
      const f = Math.min(1, Math.max(0, (q - s[k][0]) / (s[k + 1][0] - s[k][0])));
      const i = (y * w + x) * 4;
      for (let j = 0; j < 3; j++)
        p.data[i + j] = Math.round(s[k][j + 1] + (s[k + 1][j + 1] - s[k][j + 1]) * f);
      p.data[i + 3] = 255;
    }
  return PNG.sync.write(p, { colorType: 2 });
}
