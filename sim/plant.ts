/**
 * A small plant simulator: pumps with four sensor channels, a thermal camera and operator notes, and one
 * injected fault (bearing wear: vibration rises first, bearing temperature and the camera's hot spot later).
 *
 * Deterministic by seed and time: every value is a pure function of (seed, asset, channel, time), so any
 * time range can be generated on its own and a restarted simulator continues exactly where it stopped.
 * The fuller simulator (clock skew, network faults, more faults, scenario files) is its own issue.
 */
import type { ImageFrame, OperatorNote, SensorSample } from '../schemas/index.js';

export interface PlantOptions {
  seed: number;
  plant?: string;
  assets: number;
  sampleMs: number;
  /** One frame per this many ms per asset. */
  imageMs?: number;
  /** One note per this many ms per asset (deterministic times). */
  noteMs?: number;
  /** The faulty asset's index and the fault's onset and full-failure times (epoch ms); none: no fault. */
  fault?: { asset: number; onsetMs: number; fullMs: number } | null;
  /** Relative amplitude of the slow load cycle (0 = stationary). */
  loadCycle?: number;
  thermal?: { width: number; height: number };
}

export interface SimRecords { sensors: SensorSample[]; images: ImageFrame[]; notes: OperatorNote[] }

export const assetName = (i: number) => `pump-${String(i + 1).padStart(2, '0')}`;

/** 32-bit mix of the inputs (FNV-1a then a murmur finaliser): a stateless pseudo-random source. */
function hash(...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    h ^= 0xff; h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** A standard normal deviate from two uniform hashes (Box–Muller). */
function gauss(...parts: Array<string | number>): number {
  const u = Math.max(hash(...parts, 'u'), 1e-12);
  const v = hash(...parts, 'v');
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fault severity in [0, 1] at time t: 0 before onset, ramping quadratically to 1 at full failure. */
export function faultLevel(o: PlantOptions, asset: number, t: number): number {
  const f = o.fault;
  if (!f || f.asset !== asset || t < f.onsetMs) return 0;
  const x = Math.min(1, (t - f.onsetMs) / Math.max(1, f.fullMs - f.onsetMs));
  return x * x;
}

export function generate(o: PlantOptions, fromMs: number, toMs: number): SimRecords {
  const plant = o.plant ?? 'p1';
  const imageMs = o.imageMs ?? 10_000;
  const noteMs = o.noteMs ?? 600_000;
  const th = o.thermal ?? { width: 16, height: 12 };
  const out: SimRecords = { sensors: [], images: [], notes: [] };
  const first = (period: number) => Math.ceil(fromMs / period) * period;
  for (let a = 0; a < o.assets; a++) {
    const asset = assetName(a);
    const base = 1 + 0.1 * hash(o.seed, asset, 'base');
    for (let t = first(o.sampleMs); t < toMs; t += o.sampleMs) {
      const load = 1 + (o.loadCycle ?? 0) * Math.sin((2 * Math.PI * t) / 86_400_000);
      const f = faultLevel(o, a, t);
      const fHeat = faultLevel(o, a, t - 0.3 * ((o.fault?.fullMs ?? 0) - (o.fault?.onsetMs ?? 0)));
      const g = (ch: string) => gauss(o.seed, asset, ch, t);
      out.sensors.push({
        v: 1, plant, asset, device: `${asset}-dev`, seq: Math.floor(t / o.sampleMs), ts: t,
        values: {
          vib_rms: round(base * 0.8 * load * (1 + 3 * f) + 0.03 * g('vib'), 4),
          temp_c: round(45 * base + 4 * load + 15 * fHeat + 0.2 * g('temp'), 3),
          current_a: round(32 * base * load + 0.3 * g('cur'), 3),
          pressure_bar: round(4.2 * base + 0.04 * g('pres'), 4),
        },
      });
    }
    for (let t = first(imageMs); t < toMs; t += imageMs) {
      const hot = 55 + 25 * faultLevel(o, a, t - 0.3 * ((o.fault?.fullMs ?? 0) - (o.fault?.onsetMs ?? 0)));
      const data: number[] = [];
      for (let y = 0; y < th.height; y++) {
        for (let x = 0; x < th.width; x++) {
          const d2 = (x - th.width / 2) ** 2 + (y - th.height / 2) ** 2;
          data.push(round(22 + (hot - 22) * Math.exp(-d2 / 8) + 0.3 * gauss(o.seed, asset, 'px', t, x, y), 2));
        }
      }
      out.images.push({ v: 1, plant, asset, camera: `${asset}-ir`, seq: Math.floor(t / imageMs), ts: t, kind: 'thermal', width: th.width, height: th.height, unit: 'C', data });
    }
    for (let t = Math.floor(fromMs / noteMs) * noteMs + Math.floor(hash(o.seed, asset, 'noteoff') * 60_000); t < toMs; t += noteMs) {
      if (t < fromMs) continue;
      const f = faultLevel(o, a, t);
      const text = f > 0.2
        ? `${asset}: bearing sounds rough, louder than last shift; housing warm to the touch`
        : ROUTINE[Math.floor(hash(o.seed, asset, 'note', t) * ROUTINE.length)];
      out.notes.push({ v: 1, plant, asset, author: AUTHORS[Math.floor(hash(o.seed, asset, 'author', t) * AUTHORS.length)], ts: t, text });
    }
  }
  return out;
}

const ROUTINE = [
  'routine round, all normal',
  'checked oil level, topped up slightly',
  'no leaks at the seal, gauges steady',
  'cleaned strainer, flow back to normal',
];
const AUTHORS = ['j.doe', 'a.kumar', 'm.silva'];

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
