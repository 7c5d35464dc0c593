/**
 * Store writes against raw COPY, same rows, same server, same process.
 * Rows: one per asset, channel and window (samples as arrays), as the pipeline writes them.
 * Also shown: COPY of one row per sample, the layout the array rows replace.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Config, type WindowTuple } from '../schemas/index.js';
import { READINGS, readingRows } from '../store/batch.js';
import { binaryCopy } from '../store/copy-binary.js';
import { emptyBatch, openStore, writeBatch } from '../store/index.js';
import { createTestDatabase } from '../tests/helpers/pg.js';

export interface StoreBenchResult {
  rows: number;
  samples: number;
  storeRowsPerS: number;
  copyRowsPerS: number;
  ratio: number;
  samplePerRowCopySamplesPerS: number;
}

function tuples(assets: number, windows: number, channels: number, perWindow: number): WindowTuple[] {
  const T0 = Date.UTC(2026, 0, 1);
  const out: WindowTuple[] = [];
  for (let w = 0; w < windows; w++) {
    for (let a = 0; a < assets; a++) {
      const start = T0 + w * 10_000;
      const ch: WindowTuple['channels'] = {};
      for (let c = 0; c < channels; c++) {
        const t = Array.from({ length: perWindow }, (_, i) => start + Math.floor((i * 10_000) / perWindow));
        ch[`ch${c}`] = {
          device: `d${a}`,
          t,
          v: t.map((_, i) => Math.round(Math.sin(i + a + c) * 1e4) / 1e4),
        };
      }
      out.push({
        plant: 'p1',
        asset: `a${a}`,
        windowStart: start,
        windowEnd: start + 10_000,
        revision: 0,
        slideMs: 10_000,
        channels: ch,
        grid: { stepMs: 1000, channels: {} },
        image: null,
        notes: [],
        quality: {
          samples: channels * perWindow,
          duplicates: 0,
          late: 0,
          images: 0,
          notes: 0,
          clockOffsetMs: 0,
        },
      });
    }
  }
  return out;
}

const pgArray = (xs: number[]) => `{${xs.join(',')}}`;

export async function runStoreBench(
  opts = { assets: 100, windows: 60, channels: 4, perWindow: 10, rowsPerTx: 2000 },
): Promise<StoreBenchResult> {
  const tdb = await createTestDatabase('bench');
  const store = await openStore({ ...Config.parse({}).database, url: tdb.url, poolSize: 2 });
  const client = new pg.Client({ connectionString: tdb.url });
  await client.connect();
  try {
    const ts = tuples(opts.assets, opts.windows, opts.channels, opts.perWindow);
    const rows = ts.length * opts.channels;
    const samples = rows * opts.perWindow;
    const perTx = Math.max(1, Math.floor(opts.rowsPerTx / opts.channels));

    let t = performance.now();
    for (let i = 0; i < ts.length; i += perTx) {
      const b = emptyBatch();
      b.tuples = ts.slice(i, i + perTx);
      await store.db.transaction((tx) => writeBatch(tx, b));
    }
    const storeS = (performance.now() - t) / 1000;

    await client.query('CREATE TABLE readings_copy (LIKE readings INCLUDING ALL)');
    const lines = ts.flatMap((tu) =>
      Object.entries(tu.channels).map(
        ([ch, s]) =>
          `${tu.plant}\t${tu.asset}\t${s.device}\t${ch}\t${new Date(tu.windowStart).toISOString()}\t${s.v.length}\t${pgArray(s.t.map((x) => x - tu.windowStart))}\t${pgArray(s.v)}\n`,
      ),
    );
    // Raw COPY in both formats, the data made beforehand (text lines; binary as the store encodes it), the
    // faster counted: the store writes binary.
    const cols = Object.keys(READINGS).join(', ');
    const binary: Buffer[][] = [];
    for (let i = 0; i < ts.length; i += perTx)
      binary.push(binaryCopy(readingRows(ts.slice(i, i + perTx)), READINGS));
    let copyS = Infinity;
    for (const format of ['text', 'binary'] as const) {
      await client.query('TRUNCATE readings_copy');
      t = performance.now();
      if (format === 'text') {
        for (let i = 0; i < lines.length; i += opts.rowsPerTx) {
          await pipeline(
            Readable.from(lines.slice(i, i + opts.rowsPerTx)),
            client.query(copyFrom(`COPY readings_copy (${cols}) FROM STDIN`)),
          );
        }
      } else {
        for (const chunks of binary)
          await pipeline(
            Readable.from(chunks),
            client.query(copyFrom(`COPY readings_copy (${cols}) FROM STDIN WITH (FORMAT binary)`)),
          );
      }
      copyS = Math.min(copyS, (performance.now() - t) / 1000);
    }

    await client.query('CREATE TABLE samples_copy (asset text, channel text, ts timestamptz, v float8)');
    const sampleLines = ts.flatMap((tu) =>
      Object.entries(tu.channels).flatMap(([ch, s]) =>
        s.t.map((x, i) => `${tu.asset}\t${ch}\t${new Date(x).toISOString()}\t${s.v[i]}\n`),
      ),
    );
    t = performance.now();
    await pipeline(Readable.from(sampleLines), client.query(copyFrom('COPY samples_copy FROM STDIN')));
    const sampleS = (performance.now() - t) / 1000;

    return {
      rows,
      samples,
      storeRowsPerS: rows / storeS,
      copyRowsPerS: rows / copyS,
      ratio: copyS / storeS,
      samplePerRowCopySamplesPerS: samples / sampleS,
    };
  } finally {
    await client.end();
    await store.close();
    await tdb.drop();
  }
}
