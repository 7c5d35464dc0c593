/**
 * Image records decoded on their own threads (`frames.decodeThreads`), so that a camera's PNG or JPEG
 * frames cost the partition loop a message each, not their decoding: a 640 × 480 JPEG takes a couple of
 * milliseconds, the time of some thousand sensor samples. Records go to the threads in turn; each
 * answers in the order it was asked. A thread is referenced only while it has work, so an idle pool never
 * keeps the process alive.
 */
import { Worker } from 'node:worker_threads';
import { decodeThermal } from '../ingest/frames.js';
import { decodeRecord } from '../ingest/decode.js';
import type { Config, ThermalPixels } from '../schemas/index.js';

type Decoded = ReturnType<typeof decodeRecord>;

// Built, the worker is JavaScript. Under tsx (tests, benches) it is TypeScript, and a thread does not
// inherit tsx's loader on node 20: a small script registers it in the thread, then imports the worker.
const underTsx = import.meta.url.endsWith('.ts');
const workerUrl = new URL(underTsx ? './frame-worker.ts' : './frame-worker.js', import.meta.url);

function newWorker(workerData: unknown): Worker {
  if (!underTsx) return new Worker(workerUrl, { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((t) => { t.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

interface Thread {
  worker: Worker;
  waiting: Map<number, { resolve: (d: Decoded) => void; value: Uint8Array }>;
  answered: boolean;
  failed?: boolean;
}

const SHARED = new Map<string, FramePool>();

export class FramePool {
  private readonly threads: Thread[] = [];
  private next = 0;
  private id = 0;
  private closed = false;

  /**
   * The process's pool of this size and limits: pipelines created one after another (tests, benches, a
   * restart of the consumer) share its threads instead of each starting its own.
   */
  static shared(size: number, limits: Config['limits']): FramePool {
    const key = `${size}\u0000${JSON.stringify(limits)}`;
    let pool = SHARED.get(key);
    if (!pool) SHARED.set(key, (pool = new FramePool(size, limits)));
    return pool;
  }

  /** Threads start with the first frame: a pipeline that never sees one never starts them. */
  constructor(
    private readonly size: number,
    private readonly limits: Config['limits'],
  ) {}
  private started = false;

  private start(): Thread {
    const t: Thread = { worker: newWorker({ limits: this.limits }), waiting: new Map(), answered: false };
    t.worker.unref();
    t.worker.on('message', (m: { id: number; result: Decoded }) => {
      t.answered = true;
      const w = t.waiting.get(m.id);
      if (!w) return;
      t.waiting.delete(m.id);
      if (!t.waiting.size) t.worker.unref();
      w.resolve(this.attach(m.result));
    });
    // A thread that dies hands what it held back to this thread (nothing is lost) and is replaced; one
    // that dies before answering anything cannot start here, so the pool decodes on this thread from then on.
    const fail = (e: Error) => {
      if (t.failed) return;
      t.failed = true;
      const held = [...t.waiting.values()];
      t.waiting.clear();
      const i = this.threads.indexOf(t);
      if (i >= 0) {
        if (t.answered && !this.closed) this.threads[i] = this.start();
        else this.threads.splice(i, 1);
      }
      if (!t.answered && !this.closed)
        process.emitWarning(
          `frame decoding thread failed to start (${e.message}); decoding frames on the main thread`,
        );
      for (const w of held) w.resolve(decodeRecord('images', w.value, this.limits));
    };
    t.worker.on('error', fail);
    t.worker.on('exit', (code) => fail(new Error(`frame decoding thread exited with code ${code}`)));
    return t;
  }

  /** An image record's bytes → the record decoder's answer, decoded on one of the threads. */
  decode(value: Uint8Array): Promise<Decoded> {
    if (!this.started) {
      this.started = true;
      for (let i = 0; i < this.size; i++) this.threads.push(this.start());
    }
    if (!this.threads.length) return Promise.resolve(decodeRecord('images', value, this.limits));
    const t = this.threads[this.next++ % this.threads.length];
    const id = this.id++;
    if (!t.waiting.size) t.worker.ref();
    return new Promise((resolve) => {
      t.waiting.set(id, { resolve, value });
      // A record's bytes are often a view of the whole fetch response: cloning the view would copy all
      // of it, so its own bytes are copied once and moved.
      const own = Uint8Array.prototype.slice.call(value);
      t.worker.postMessage({ id, value: own }, [own.buffer]);
    });
  }

  /** A decoded thermal frame's °C matrix, made again here only when something reads it. */
  private attach(d: Decoded): Decoded {
    if (!d.ok || d.record.modality !== 'images') return d;
    const f = d.record.value;
    if (!f.pixels || !('base64' in f)) return d;
    const { width, height, summary } = f.pixels;
    let matrix: Float32Array | null = null;
    const limits = this.limits;
    f.pixels = {
      width,
      height,
      summary,
      get data(): Float32Array {
        if (!matrix) {
          const again = decodeThermal(Buffer.from(f.base64, 'base64'), f, limits.maxImagePixels);
          matrix = 'code' in again ? new Float32Array(width * height).fill(NaN) : again.data;
        }
        return matrix;
      },
    } satisfies ThermalPixels;
    return d;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
