/**
 * A frame decoding thread (see frame-pool.ts): an image record's bytes → the record decoder's result, with
 * a thermal frame's window summary made here. Its pixels stay here: the main thread reads the summary,
 * and decodes the frame again only if something asks for its °C matrix.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pixelsSummary } from '../align/thermal.js';
import { decodeRecord } from '../ingest/decode.js';
import type { Config } from '../schemas/index.js';

const limits = (workerData as { limits: Config['limits'] }).limits;

parentPort!.on('message', (m: { id: number; value: Uint8Array }) => {
  let result;
  try {
    result = decodeRecord('images', m.value, limits);
    if (result.ok && result.record.modality === 'images' && result.record.value.pixels) {
      const p = result.record.value.pixels;
      // No pixels cross back: the width, the height and the summary.
      result.record.value.pixels = {
        width: p.width,
        height: p.height,
        summary: pixelsSummary(p),
      } as unknown as typeof p;
    }
  } catch (e) {
    result = {
      ok: false as const,
      code: 'invalid_record',
      reason: `frame decoding failed: ${(e as Error).message}`,
    };
  }
  parentPort!.postMessage({ id: m.id, result });
});
