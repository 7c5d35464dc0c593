/**
 * Plant family B: a packaging and processing line, designed apart from family A (sim/plant.ts) so that
 * detection can be judged on machines, channels, cameras, notes and faults the service was not shaped on.
 *
 * Machines (per seed: two belt conveyors, two screw air compressors, two extraction fans, one batch mixer):
 * - conveyor (variable-speed drive): speed follows the production rate with a ramp; drive torque from the
 *   product mass and belt friction, an inrush at every start; the gearbox vibration velocity passes a
 *   resonance while ramping; motor temperature lags the losses. Sends 10-s blocks at 1 Hz plus a 0.1-Hz sample.
 * - compressor (load/unload control between 6.8 and 7.6 bar): air demand follows production (leaks keep it
 *   cycling at night and at weekends); power and discharge temperature follow the loaded state. 1 Hz and 0.1 Hz.
 * - fan (variable-speed, 50 Hz in production, 30 Hz otherwise): current ∝ speed³ with an inrush, bearing
 *   temperature in kelvin, acceleration at 10 Hz in 2-s blocks with a resonance at 22 Hz passed on every ramp.
 * - mixer (20-minute batches: fill, mix, discharge): torque at 2 Hz in 5-s blocks, current 1 Hz, gear oil 0.05 Hz.
 * Production: two shifts on weekdays (06:00–22:00 UTC) with breaks, product campaigns with changeovers
 * (each product its own rate and viscosity), nights and weekends stopped.
 *
 * Cameras (not on every asset), each its own format: 16-bit PNG in kelvin with a linear scale (CV-101),
 * a visible-light PNG that carries no information (CV-102), inline matrices in kelvin (AC-1), false-colour
 * PNG with the iron palette and a per-frame range (EF-201), 8-bit PNG with a fixed scale behind a window
 * that gathers dust and is cleaned every third day (EF-202), 8-bit PNG with a per-frame range (MX-1).
 * People walk through the view; cameras have outages.
 *
 * Faults (none of family A's): idler seizure (images only), aftercooler fouling (only under high load),
 * compressed-air leak (sensors, and operators hear it), fan blade build-up (imbalance ∝ speed²), motor
 * insulation breakdown (weak in current and in the image, clear only jointly), gear tooth crack
 * (intermittent: some batches). Severity grows quadratically from onset to failure; at failure the machine
 * trips and is repaired. Each fault's first evidence per modality is recorded while generating: the first
 * instant its effect on a channel (or a camera's frame) reaches that channel's normal variability.
 *
 * Benign events, labelled too: shutdowns and start-ups, breaks, product changes, lubrication, a belt
 * replacement, a sensor recalibration step, camera cleaning, communication loss with and without
 * store-and-forward, camera outages, people in view.
 *
 * Notes in English (some non-native), German and Spanish, with abbreviations and typos, several names per
 * asset, shift handovers naming several assets, rounds listing assets that are fine, maintenance announced
 * the day before, repairs, false concerns, equipment that is not monitored; most notes carry no `asset`.
 *
 * Everything is deterministic in (preset, seed, faults). Generation is sequential from the start of the
 * history (`streamB`), in bounded memory.
 */
import { encode as encodePng } from 'fast-png';
import {
  PALETTES,
  type ImageFrame,
  type OperatorNote,
  type SensorBlock,
  type SensorSample,
} from '../schemas/index.js';
import type { Delivery } from './plant.js';
import { Rng, key, strHash, uniformAt } from './random.js';

const SEC = 1000,
  MIN = 60_000,
  HOUR = 3_600_000,
  DAY = 86_400_000;

export type MachineType = 'conveyor' | 'compressor' | 'fan' | 'mixer';
export const PLANT_B_FAULTS = [
  'idler_seizure',
  'aftercooler_fouling',
  'air_leak',
  'blade_buildup',
  'motor_insulation',
  'gear_tooth_crack',
] as const;
export type PlantBFault = (typeof PLANT_B_FAULTS)[number];
export type Visibility =
  'images-only' | 'load-only' | 'sensors+notes' | 'sensors' | 'joint-weak' | 'intermittent';
export const FAULT_INFO: Record<PlantBFault, { asset: string; visibility: Visibility; noticeAt: number }> = {
  idler_seizure: { asset: 'CV-101', visibility: 'images-only', noticeAt: 0.55 },
  aftercooler_fouling: { asset: 'AC-1', visibility: 'load-only', noticeAt: 0.8 },
  air_leak: { asset: 'AC-2', visibility: 'sensors+notes', noticeAt: 0.2 },
  blade_buildup: { asset: 'EF-202', visibility: 'sensors', noticeAt: 0.6 },
  motor_insulation: { asset: 'EF-201', visibility: 'joint-weak', noticeAt: 0.9 },
  gear_tooth_crack: { asset: 'MX-1', visibility: 'intermittent', noticeAt: 0.4 },
};
export const BENIGN_TYPES = [
  'shutdown',
  'startup',
  'break',
  'product_change',
  'lubrication',
  'part_replacement',
  'recalibration',
  'camera_cleaning',
  'comms_loss',
  'comms_loss_burst',
  'camera_outage',
  'person_in_view',
] as const;
export type BenignType = (typeof BENIGN_TYPES)[number];

export type CameraFormat =
  'png16-k' | 'visible-png' | 'matrix-k' | 'false-colour' | 'png8-fixed' | 'png8-range';
export interface BCamera {
  id: string;
  format: CameraFormat;
  width: number;
  height: number;
  periodMs: number;
}
export interface BAsset {
  id: string;
  type: MachineType;
  names: string[];
  gateway: string;
  camera: BCamera | null;
}

export interface BFault {
  asset: string;
  type: PlantBFault;
  visibility: Visibility;
  onsetMs: number;
  failureMs: number;
  /** Repair done (the machine runs again, healthy) or the run's end. */
  endMs: number;
  /** First evidence per modality (null: never); `joint` for a fault no single modality shows. */
  evidence: { sensors: number | null; images: number | null; notes: number | null; joint: number | null };
}
export interface BenignEvent {
  type: BenignType;
  asset: string | null;
  fromMs: number;
  toMs: number;
}

export type PresetName = 'short' | 'week';
export const PLANT_B_PRESETS: Record<PresetName, { historyMs: number; durationMs: number; faults: number }> =
  {
    /** Tuesday 04:00–12:00 (the morning start-up, a shift, breaks), the Monday before as history. */
    short: { historyMs: DAY, durationMs: 8 * HOUR, faults: 3 },
    /** Monday to Monday, the Friday-to-Sunday before as history; every fault type once. */
    week: { historyMs: 3 * DAY, durationMs: 7 * DAY, faults: 6 },
  };
/** Seeds by split. Test seeds are for the final measurement only (see eval/unseen.ts). */
export const PLANT_B_SPLITS = {
  train: [1, 2, 3, 4, 5, 6],
  validation: [11, 12, 13, 14],
  test: [101, 102, 103, 104, 105, 106, 107, 108],
} as const;
export type PlantBSplit = keyof typeof PLANT_B_SPLITS;
export const splitOfSeed = (seed: number): PlantBSplit | null =>
  (Object.keys(PLANT_B_SPLITS) as PlantBSplit[]).find((s) =>
    (PLANT_B_SPLITS[s] as readonly number[]).includes(seed),
  ) ?? null;

export interface DeviceClock {
  offsetMs: number;
  driftPpm: number;
  step: { atMs: number; byMs: number } | null;
}
export interface PlantBRun {
  name: string;
  preset: PresetName;
  seed: number;
  withFaults: boolean;
  plant: string;
  historyFromMs: number;
  startMs: number;
  endMs: number;
  /** Faults' `evidence` and the `person_in_view` events are filled in while the run is generated. */
  assets: BAsset[];
  faults: BFault[];
  benign: BenignEvent[];
  clocks: Record<string, DeviceClock>;
  comms: Array<{ device: string; fromMs: number; toMs: number; storeAndForward: boolean }>;
  cameraOutages: Array<{ camera: string; fromMs: number; toMs: number }>;
  lubrications: Array<{ asset: string; atMs: number }>;
  cleanings: number[];
  beltReplacedMs: number;
  recalibratedMs: number;
}

const ASSETS: Array<Omit<BAsset, 'gateway'>> = [
  {
    id: 'CV-101',
    type: 'conveyor',
    names: ['conveyor 1', 'CV101', 'Band 1', 'cinta 1', 'infeed belt', 'belt one'],
    camera: { id: 'CV-101-ir', format: 'png16-k', width: 80, height: 60, periodMs: 60 * SEC },
  },
  {
    id: 'CV-102',
    type: 'conveyor',
    names: ['conveyor 2', 'CV102', 'Band 2', 'cinta 2', 'outfeed belt'],
    camera: { id: 'CV-102-cam', format: 'visible-png', width: 64, height: 48, periodMs: 5 * MIN },
  },
  {
    id: 'AC-1',
    type: 'compressor',
    names: ['compressor 1', 'comp1', 'Kompressor 1', 'Kompr. 1', 'compresor 1', 'the big compressor'],
    camera: { id: 'AC-1-ir', format: 'matrix-k', width: 40, height: 30, periodMs: 2 * MIN },
  },
  {
    id: 'AC-2',
    type: 'compressor',
    names: ['compressor 2', 'comp2', 'Kompressor 2', 'compresor 2'],
    camera: null,
  },
  {
    id: 'EF-201',
    type: 'fan',
    names: ['fan 201', 'EF201', 'Lüfter 1', 'ventilador 1', 'exhaust fan 1'],
    camera: { id: 'EF-201-ir', format: 'false-colour', width: 64, height: 48, periodMs: 60 * SEC },
  },
  {
    id: 'EF-202',
    type: 'fan',
    names: ['fan 202', 'EF202', 'Lüfter 2', 'ventilador 2', 'roof fan'],
    camera: { id: 'EF-202-ir', format: 'png8-fixed', width: 48, height: 36, periodMs: 5 * MIN },
  },
  {
    id: 'MX-1',
    type: 'mixer',
    names: ['mixer', 'MX1', 'Mischer', 'mezcladora', 'agitator'],
    camera: { id: 'MX-1-ir', format: 'png8-range', width: 48, height: 36, periodMs: 2 * MIN },
  },
];

// ─── the production schedule (plant-wide) ─────────────────────────────────────────────────────────────

const PRODUCTS = [
  { rate: 0.55, viscosity: 1.3 },
  { rate: 0.75, viscosity: 1.0 },
  { rate: 0.9, viscosity: 0.8 },
  { rate: 1.0, viscosity: 1.1 },
];
const BREAKS: Array<[number, number]> = [
  [9.5, 9.75],
  [12, 12.5],
  [18, 18.25],
];

export interface Production {
  running: boolean;
  rate: number;
  viscosity: number;
  why: BenignType | null;
}
/** The line at time t: running or stopped (and why), the product's rate and viscosity. */
export function production(seed: number, t: number): Production {
  const day = Math.floor(t / DAY),
    h = (t - day * DAY) / HOUR,
    dow = (day + 4) % 7; // 1970-01-01 was a Thursday
  const stopped = (why: BenignType): Production => ({ running: false, rate: 0, viscosity: 1, why });
  if (dow === 0 || dow === 6 || h < 6 || h >= 22) return stopped('shutdown');
  for (const [a, b] of BREAKS) if (h >= a && h < b) return stopped('break');
  // A changeover at some full hours (15 minutes stopped), then the next product.
  let product = key(seed, day, 99) % PRODUCTS.length;
  for (let hh = 7; hh <= Math.floor(h); hh++) {
    if (uniformAt(seed, day, hh, 7) < 0.3) {
      if (hh === Math.floor(h) && h - hh < 0.25) return stopped('product_change');
      product = key(seed, day, hh, 8) % PRODUCTS.length;
    }
  }
  return { running: true, ...PRODUCTS[product], why: null };
}
const ambientAt = (seed: number, t: number) =>
  18 + 5 * Math.sin((2 * Math.PI * (t % DAY)) / DAY - 2.2) + 2 * Math.sin(t / (3.1 * DAY) + seed);

// ─── the run's plan ───────────────────────────────────────────────────────────────────────────────────

/**
 * The run of a preset and seed. `endBefore`: move it to the latest week whose run ends before this time
 * (a broker keeps records by their timestamps: the end-to-end path publishes recent ones).
 */
export function plantBRun(o: {
  preset: PresetName;
  seed: number;
  faults?: boolean;
  endBefore?: number;
  historyMs?: number;
  durationMs?: number;
}): PlantBRun {
  const pre = {
    ...PLANT_B_PRESETS[o.preset],
    ...(o.historyMs ? { historyMs: o.historyMs } : {}),
    ...(o.durationMs ? { durationMs: o.durationMs } : {}),
  };
  const seed = o.seed,
    withFaults = o.faults ?? true;
  const r = Rng.at(seed, strHash(o.preset), 1);
  const startOf = (monday: number) => (o.preset === 'short' ? monday + DAY + 4 * HOUR : monday);
  let week = Date.UTC(2026, 0, 5) + (seed % 30) * 7 * DAY; // a Monday
  if (o.endBefore !== undefined) {
    week = Date.UTC(2026, 0, 5) + Math.floor((o.endBefore - Date.UTC(2026, 0, 5)) / (7 * DAY)) * 7 * DAY;
    while (startOf(week) + pre.durationMs > o.endBefore) week -= 7 * DAY;
  }
  const startMs = startOf(week);
  const endMs = startMs + pre.durationMs,
    historyFromMs = startMs - pre.historyMs;
  const assets: BAsset[] = ASSETS.map((a) => ({ ...a, gateway: `${a.id}-gw` }));
  const span = endMs - historyFromMs;

  const clocks: Record<string, DeviceClock> = {};
  const devices = assets.flatMap((a) => [a.gateway, ...(a.camera ? [a.camera.id] : [])]);
  const stepped = r.next() < 0.6 ? r.pick(devices) : null;
  for (const d of devices) {
    clocks[d] = {
      offsetMs: Math.round(r.range(-30_000, 30_000)),
      driftPpm: r.range(-100, 100),
      step:
        d === stepped
          ? {
              atMs: Math.round(startMs + r.range(0.1, 0.9) * pre.durationMs),
              byMs: Math.round(r.range(2_000, 10_000) * (r.next() < 0.5 ? -1 : 1)),
            }
          : null,
    };
  }
  const comms: PlantBRun['comms'] = [];
  const cameraOutages: PlantBRun['cameraOutages'] = [];
  const perDay = (x: number) => Math.max(1, Math.round((x * span) / DAY));
  for (let i = 0; i < perDay(0.5); i++) {
    const from = Math.round(historyFromMs + r.next() * (span - HOUR));
    comms.push({
      device: r.pick(assets).gateway,
      fromMs: from,
      toMs: from + Math.round(r.range(10, 60) * MIN),
      storeAndForward: i % 2 === 0,
    });
  }
  for (const a of assets) {
    if (!a.camera) continue;
    for (let i = 0; i < perDay(0.3); i++) {
      const from = Math.round(historyFromMs + r.next() * (span - 2 * HOUR));
      cameraOutages.push({
        camera: a.camera.id,
        fromMs: from,
        toMs: from + Math.round(r.range(20, 90) * MIN),
      });
    }
  }
  // Fans are greased every other day at 10:00 (EF-201 on even days, EF-202 on odd), announced the day before.
  const lubrications: PlantBRun['lubrications'] = [];
  for (let d = Math.floor(historyFromMs / DAY); d * DAY < endMs; d++) {
    const t = d * DAY + 10 * HOUR + Math.round(r.range(-20, 20) * MIN);
    if (t >= historyFromMs && t < endMs)
      lubrications.push({ asset: d % 2 === 0 ? 'EF-201' : 'EF-202', atMs: t });
  }
  const cleanings: number[] = [];
  for (let d = Math.floor(historyFromMs / DAY); d * DAY < endMs; d++)
    if (d % 3 === seed % 3) cleanings.push(d * DAY + 7 * HOUR);
  const beltReplacedMs = Math.round(startMs + r.range(0.3, 0.7) * pre.durationMs);
  const recalibratedMs = Math.round(startMs + r.range(0.2, 0.8) * pre.durationMs);

  const faults: BFault[] = [];
  if (withFaults) {
    const types = [...PLANT_B_FAULTS];
    for (let i = types.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [types[i], types[j]] = [types[j], types[i]];
    }
    types.slice(0, pre.faults).forEach((type, i) => {
      const onset =
        o.preset === 'short'
          ? startMs + Math.round(r.range(0, 0.35) * pre.durationMs)
          : startMs + Math.round((0.3 + i * 0.85 + r.range(0, 0.4)) * DAY);
      const dur = o.preset === 'short' ? r.range(4, 10) * HOUR : r.range(0.8, 2.5) * DAY;
      const failure = Math.round(onset + dur);
      faults.push({
        asset: FAULT_INFO[type].asset,
        type,
        visibility: FAULT_INFO[type].visibility,
        onsetMs: onset,
        failureMs: failure,
        endMs: Math.min(endMs, failure + Math.round(r.range(2, 4) * HOUR)),
        evidence: { sensors: null, images: null, notes: null, joint: null },
      });
    });
  }

  const benign: BenignEvent[] = [];
  // Plant-wide stops and start-ups from the schedule, minute by minute.
  let cur: BenignEvent | null = null,
    lastStop = -Infinity;
  for (let t = historyFromMs; t < endMs; t += MIN) {
    const p = production(seed, t);
    if (!p.running) {
      if (cur && cur.type !== p.why) {
        benign.push(cur);
        cur = null;
      }
      if (!cur) cur = { type: p.why!, asset: null, fromMs: t, toMs: t + MIN };
      else cur.toMs = t + MIN;
      lastStop = t;
    } else {
      if (cur) {
        benign.push(cur);
        cur = null;
      }
      if (t - lastStop === MIN) benign.push({ type: 'startup', asset: null, fromMs: t, toMs: t + 15 * MIN });
    }
  }
  if (cur) benign.push(cur);
  for (const l of lubrications)
    benign.push({ type: 'lubrication', asset: l.asset, fromMs: l.atMs, toMs: l.atMs + 45 * MIN });
  for (const c of cleanings)
    if (c >= historyFromMs && c < endMs)
      benign.push({ type: 'camera_cleaning', asset: 'EF-202', fromMs: c, toMs: c + 10 * MIN });
  benign.push({
    type: 'part_replacement',
    asset: 'CV-102',
    fromMs: beltReplacedMs - 40 * MIN,
    toMs: beltReplacedMs,
  });
  benign.push({
    type: 'recalibration',
    asset: 'AC-2',
    fromMs: recalibratedMs,
    toMs: recalibratedMs + 5 * MIN,
  });
  for (const c of comms)
    benign.push({
      type: c.storeAndForward ? 'comms_loss_burst' : 'comms_loss',
      asset: c.device.replace(/-gw$/, ''),
      fromMs: c.fromMs,
      toMs: c.toMs,
    });
  for (const c of cameraOutages)
    benign.push({
      type: 'camera_outage',
      asset: c.camera.replace(/-(ir|cam)$/, ''),
      fromMs: c.fromMs,
      toMs: c.toMs,
    });
  benign.sort((a, b) => a.fromMs - b.fromMs);

  return {
    name: `plant-b-${o.preset}${withFaults ? '' : '-healthy'}#${seed}`,
    preset: o.preset,
    seed,
    withFaults,
    plant: 'plant-b',
    historyFromMs,
    startMs,
    endMs,
    assets,
    faults,
    benign,
    clocks,
    comms,
    cameraOutages,
    lubrications,
    cleanings,
    beltReplacedMs,
    recalibratedMs,
  };
}

/** What a user configures for this plant: assets, their types and the names operators use. */
export function userConfigOf(run: PlantBRun): {
  assets: Array<{ id: string; type: MachineType }>;
  aliases: Record<string, Record<string, string>>;
} {
  const names: Record<string, string> = {};
  for (const a of run.assets) for (const n of [a.id, ...a.names]) names[n] = a.id;
  return { assets: run.assets.map((a) => ({ id: a.id, type: a.type })), aliases: { [run.plant]: names } };
}

/** A fault's level in [0, 1]: quadratic from onset to failure; 0 before onset and after the repair. */
export function levelB(f: BFault, t: number): number {
  if (t < f.onsetMs || t >= f.endMs) return 0;
  if (t >= f.failureMs) return 1;
  const x = (t - f.onsetMs) / (f.failureMs - f.onsetMs);
  return x * x;
}

// ─── the machines, second by second ───────────────────────────────────────────────────────────────────

interface AssetState {
  rng: Rng;
  speed: number;
  runSince: number;
  motorT: number;
  gearT: number;
  brgK: number;
  pressure: number;
  loaded: boolean;
  dischT: number;
  loadedEma: number;
  batchStart: number;
  burst: boolean;
  dust: number;
  buf: Record<string, number[]>;
  bufT0: number;
  last: Record<string, number>;
}
interface Ctx {
  run: PlantBRun;
  t: number;
  prod: Production;
  ambient: number;
}

export interface BRecords {
  sensors: Array<SensorSample | SensorBlock>;
  images: ImageFrame[];
  notes: OperatorNote[];
}

const BLOCK: Record<MachineType, { periodMs: number; lenMs: number } | null> = {
  conveyor: { periodMs: SEC, lenMs: 10 * SEC },
  fan: { periodMs: 100, lenMs: 2 * SEC },
  mixer: { periodMs: 500, lenMs: 5 * SEC },
  compressor: null,
};

export class PlantBSim {
  readonly run: PlantBRun;
  private t: number;
  private states = new Map<string, AssetState>();
  private faultsOf = new Map<string, BFault[]>();
  private notes: OperatorNote[] = [];
  private seq = new Map<string, number>();

  constructor(run: PlantBRun) {
    this.run = run;
    this.t = run.historyFromMs;
    for (const a of run.assets) {
      this.states.set(a.id, {
        rng: Rng.at(run.seed, strHash(a.id), 2),
        speed: 0,
        runSince: -Infinity,
        motorT: 20,
        gearT: 25,
        brgK: 293,
        pressure: 7.2,
        loaded: false,
        dischT: 75,
        loadedEma: 0.3,
        batchStart: 0,
        burst: false,
        dust: 0,
        buf: {},
        bufT0: 0,
        last: {},
      });
      this.faultsOf.set(
        a.id,
        run.faults.filter((f) => f.asset === a.id),
      );
    }
  }

  private nextSeq(device: string) {
    const s = this.seq.get(device) ?? 0;
    this.seq.set(device, s + 1);
    return s;
  }
  private level(asset: string, type: PlantBFault, t: number) {
    const f = this.faultsOf.get(asset)!.find((x) => x.type === type);
    return f ? levelB(f, t) : 0;
  }
  /** Records the first instant a fault's effect reaches its modality's normal variability (effect ≥ 1). */
  private evidence(
    asset: string,
    type: PlantBFault,
    mod: 'sensors' | 'images' | 'joint',
    effect: number,
    t: number,
  ) {
    if (effect < 1) return;
    const f = this.faultsOf.get(asset)!.find((x) => x.type === type);
    if (f && f.evidence[mod] === null && t >= f.onsetMs && t < f.failureMs) f.evidence[mod] = t;
  }
  /** Tripped: between a fault's failure and its repair the machine is stopped. */
  private tripped(asset: string, t: number) {
    return this.faultsOf.get(asset)!.some((f) => t >= f.failureMs && t < f.endMs);
  }

  /** Generates true-time records up to `toMs` (exclusive). */
  advance(toMs: number): BRecords {
    const out: BRecords = { sensors: [], images: [], notes: [] };
    for (; this.t < toMs; this.t += SEC) {
      const t = this.t;
      const ctx: Ctx = {
        run: this.run,
        t,
        prod: production(this.run.seed, t),
        ambient: ambientAt(this.run.seed, t),
      };
      for (const a of this.run.assets) {
        const st = this.states.get(a.id)!;
        if (a.type === 'conveyor') this.conveyor(a, st, ctx, out);
        else if (a.type === 'compressor') this.compressor(a, st, ctx, out);
        else if (a.type === 'fan') this.fan(a, st, ctx, out);
        else this.mixer(a, st, ctx, out);
        if (a.camera && t % a.camera.periodMs === 0) {
          const f = this.frame(a, st, ctx);
          if (f) out.images.push(f);
        }
      }
      if (t % MIN === 0) this.noteTick(ctx);
    }
    const keep: OperatorNote[] = [];
    for (const n of this.notes) (n.ts < toMs ? out.notes : keep).push(n);
    this.notes = keep;
    return out;
  }

  /** This second's values (one per block period) into the asset's block; the block leaves when full. */
  private emit(a: BAsset, st: AssetState, t: number, values: Record<string, number[]>, out: BRecords) {
    const b = BLOCK[a.type]!;
    if (t % b.lenMs === 0) st.bufT0 = t;
    for (const [k, v] of Object.entries(values)) (st.buf[k] ??= []).push(...v.map((x) => round(x, 4)));
    if ((t + SEC) % b.lenMs === 0) {
      out.sensors.push({
        v: 1,
        plant: this.run.plant,
        asset: a.id,
        device: a.gateway,
        seq: this.nextSeq(a.gateway),
        t0: st.bufT0,
        periodMs: b.periodMs,
        channels: st.buf,
      });
      st.buf = {};
    }
  }
  private sample(a: BAsset, t: number, values: Record<string, number>, out: BRecords) {
    out.sensors.push({
      v: 1,
      plant: this.run.plant,
      asset: a.id,
      device: a.gateway,
      seq: this.nextSeq(a.gateway),
      ts: t,
      values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, round(v, 3)])),
    });
  }

  private conveyor(a: BAsset, st: AssetState, c: Ctx, out: BRecords) {
    const { t, prod } = c,
      r = st.rng;
    const replacing =
      a.id === 'CV-102' && t >= this.run.beltReplacedMs - 40 * MIN && t < this.run.beltReplacedMs;
    const running = prod.running && !replacing && !this.tripped(a.id, t);
    const target = running ? 1.2 * prod.rate : 0;
    if (target > 0 && st.speed < 0.05) st.runSince = t;
    st.speed += (target - st.speed) * (1 - Math.exp(-1 / 8));
    const since = (t - st.runSince) / SEC;
    const friction = a.id === 'CV-102' && t >= this.run.beltReplacedMs ? 0.88 : 1;
    const idler = a.id === 'CV-101' ? this.level(a.id, 'idler_seizure', t) : 0;
    const moving = st.speed > 0.02;
    const torque = moving
      ? 18 * friction +
        48 * prod.rate +
        0.6 * idler +
        110 * Math.exp(-since / 2.5) * (since < 20 ? 1 : 0) +
        r.normal() * 1.5
      : Math.abs(r.normal() * 0.3);
    const vel = moving
      ? 0.9 + 1.1 * st.speed + 3.5 * Math.exp(-(((st.speed - 0.55) / 0.07) ** 2)) + r.normal() * 0.12
      : 0.05 + Math.abs(r.normal() * 0.02);
    st.motorT += (c.ambient + 0.012 * torque * torque * (moving ? 1 : 0) - st.motorT) / 1200;
    this.emit(
      a,
      st,
      t,
      { belt_speed_mps: [st.speed + r.normal() * 0.005], drive_torque_pct: [torque], gearbox_vel_mms: [vel] },
      out,
    );
    if (t % (10 * SEC) === 0) this.sample(a, t, { motor_temp_c: st.motorT + r.normal() * 0.2 }, out);
  }

  private compressor(a: BAsset, st: AssetState, c: Ctx, out: BRecords) {
    const { t, prod } = c,
      r = st.rng;
    const leak = a.id === 'AC-2' ? this.level(a.id, 'air_leak', t) : 0;
    const foul = a.id === 'AC-1' ? this.level(a.id, 'aftercooler_fouling', t) : 0;
    const tripped = this.tripped(a.id, t);
    const demand =
      0.18 + (a.id === 'AC-1' ? 0.55 : 0.4) * prod.rate + 0.3 * leak + 0.02 * Math.sin(t / 97_000);
    if (!tripped && st.pressure < 6.8) st.loaded = true;
    if (tripped || st.pressure > 7.6) st.loaded = false;
    st.pressure += 0.01 * ((st.loaded ? 1 : 0) - demand);
    if (st.pressure < 5) st.pressure = 5;
    st.loadedEma += ((st.loaded ? 1 : 0) - st.loadedEma) / 600;
    const highLoad = Math.max(0, demand - 0.5) / 0.35;
    const fouling = st.loaded ? 26 * foul * highLoad : 0;
    st.dischT += (c.ambient + (st.loaded ? 62 : 50) + fouling - st.dischT) / 60;
    const kw = tripped ? 0 : st.loaded ? 52 + 9 * (st.pressure - 6.8) : 17;
    const calib = a.id === 'AC-2' && t < this.run.recalibratedMs ? 0.09 : 0;
    this.sample(
      a,
      t,
      {
        p_disch_bar: st.pressure + calib + r.normal() * 0.015,
        motor_kw: tripped ? 0 : kw + r.normal() * 0.6,
      },
      out,
    );
    if (t % (10 * SEC) === 0) this.sample(a, t, { t_disch_c: st.dischT + r.normal() * 0.3 }, out);
    st.last.fouling = fouling;
    if (a.id === 'AC-1') this.evidence(a.id, 'aftercooler_fouling', 'sensors', fouling / 3, t);
    if (a.id === 'AC-2') this.evidence(a.id, 'air_leak', 'sensors', (0.3 * leak) / 0.08, t);
  }

  private fan(a: BAsset, st: AssetState, c: Ctx, out: BRecords) {
    const { t, prod } = c,
      r = st.rng;
    const tripped = this.tripped(a.id, t);
    const target = tripped ? 0 : prod.running ? 50 : 30;
    if (target > 0 && st.speed < 1) st.runSince = t;
    st.speed += Math.max(-1, Math.min(1, target - st.speed));
    const f = st.speed,
      since = (t - st.runSince) / SEC;
    const blades = a.id === 'EF-202' ? this.level(a.id, 'blade_buildup', t) : 0;
    const ins = a.id === 'EF-201' ? this.level(a.id, 'motor_insulation', t) : 0;
    const grease = this.run.lubrications.find(
      (l) => l.asset === a.id && t >= l.atMs && t < l.atMs + 3 * HOUR,
    );
    const greaseK = grease ? 7 * Math.exp(-(t - grease.atMs) / (40 * MIN)) : 0;
    const amp =
      f > 0.5
        ? 0.06 * (f / 50) ** 2 + 0.35 * blades * (f / 50) ** 2 + 0.45 * Math.exp(-(((f - 22) / 2) ** 2))
        : 0;
    const omega = 2 * Math.PI * f;
    const periodMs = BLOCK.fan!.periodMs;
    const vib: number[] = [];
    for (let k = 0; k < SEC / periodMs; k++)
      vib.push(amp * Math.sin(omega * (t / SEC + (k * periodMs) / SEC)) + r.normal() * 0.02);
    this.emit(a, st, t, { vib_g: vib }, out);
    // The fan's load follows the air it moves: denser when cold (−0.4 %/°C), more with the extraction
    // demand of the product on the line (dampers). Its motor heats with the load and the ambient.
    const duty = (1 - 0.004 * (c.ambient - 18)) * (prod.running ? 0.9 + 0.12 * prod.rate : 1);
    const current =
      f > 0.5
        ? (4 + 36 * (f / 50) ** 3) * duty * (1 + 0.027 * ins) + (since < 3 ? 60 * Math.exp(-since) : 0)
        : 0;
    st.brgK += (273.15 + c.ambient + 16 * (f / 50) ** 2 + greaseK - st.brgK) / 900;
    st.motorT += (c.ambient + 35 * (f / 50) ** 3 * duty * duty + 3 * ins - st.motorT) / 1500;
    if (t % (5 * SEC) === 0)
      this.sample(
        a,
        t,
        {
          fan_hz: f + r.normal() * 0.05,
          motor_a: current * (1 + r.normal() * 0.015),
          brg_temp_k: st.brgK + r.normal() * 0.15,
        },
        out,
      );
    if (a.id === 'EF-202')
      this.evidence(a.id, 'blade_buildup', 'sensors', (0.35 * blades * (f / 50) ** 2) / 0.05, t);
    if (a.id === 'EF-201') this.evidence(a.id, 'motor_insulation', 'sensors', (0.027 * ins) / 0.03, t);
  }

  private mixer(a: BAsset, st: AssetState, c: Ctx, out: BRecords) {
    const { t, prod } = c,
      r = st.rng;
    const crack = this.level(a.id, 'gear_tooth_crack', t);
    const running = prod.running && !this.tripped(a.id, t);
    if (!running) st.batchStart = t + SEC;
    const inBatch = (t - st.batchStart) % (20 * MIN),
      phase = inBatch / MIN;
    if (inBatch === 0) st.burst = crack > 0 && uniformAt(this.run.seed, 55, t) < 0.15 + 0.5 * crack;
    let torque = 0;
    if (running) torque = phase < 4 ? 40 + 25 * phase : phase < 16 ? 140 * prod.viscosity : 30;
    const mesh = running && st.burst && phase >= 4 && phase < 16 && t % 1500 < 500 ? 45 * crack : 0;
    const tq = running ? torque + mesh + r.normal() * 4 : Math.abs(r.normal());
    st.gearT += (c.ambient + 0.12 * torque + (st.burst ? 4 * crack : 0) - st.gearT) / 1800;
    this.emit(a, st, t, { torque_nm: [tq, tq - r.normal() * 4 + r.normal() * 4] }, out);
    this.sample(a, t, { motor_a: running ? 6 + 0.09 * (torque + mesh) + r.normal() * 0.4 : 0 }, out);
    if (t % (20 * SEC) === 0) this.sample(a, t, { gear_oil_c: st.gearT + r.normal() * 0.2 }, out);
    this.evidence(a.id, 'gear_tooth_crack', 'sensors', mesh / 12, t);
  }

  // ─── cameras ───────────────────────────────────────────────────────────────────────────────────────

  private frame(a: BAsset, st: AssetState, c: Ctx): ImageFrame | null {
    const cam = a.camera!,
      t = c.t,
      run = this.run;
    if (run.cameraOutages.some((o) => o.camera === cam.id && t >= o.fromMs && t < o.toMs)) return null;
    const r = Rng.at(run.seed, strHash(cam.id), t / SEC);
    const base = {
      v: 1 as const,
      plant: run.plant,
      asset: a.id,
      camera: cam.id,
      seq: this.nextSeq(cam.id),
      ts: t,
    };
    const { width: w, height: h } = cam;
    if (cam.format === 'visible-png') {
      // A visible-light view of the belt: lighting and texture only, nothing about the machine's health.
      const px = new Uint8Array(w * h * 3);
      const light = 150 + 40 * Math.sin((2 * Math.PI * (t % DAY)) / DAY);
      for (let i = 0; i < w * h; i++) {
        const g = light * (0.6 + 0.4 * ((i % w) / w)) + r.normal() * 12;
        px[3 * i] = clamp8(g);
        px[3 * i + 1] = clamp8(g * 0.95);
        px[3 * i + 2] = clamp8(g * 0.85);
      }
      return {
        ...base,
        kind: 'visible',
        encoding: 'png',
        base64: Buffer.from(encodePng({ width: w, height: h, data: px, channels: 3, depth: 8 })).toString(
          'base64',
        ),
      } as ImageFrame;
    }
    // A thermal scene in °C: background at ambient, the machine's parts at their temperatures.
    const T = new Float32Array(w * h).fill(c.ambient);
    const blob = (u: number, v: number, ru: number, rv: number, temp: number) => {
      for (let y = Math.max(0, Math.floor((v - rv) * h)); y < Math.min(h, Math.ceil((v + rv) * h)); y++) {
        for (let x = Math.max(0, Math.floor((u - ru) * w)); x < Math.min(w, Math.ceil((u + ru) * w)); x++) {
          const d = ((x / w - u) / ru) ** 2 + ((y / h - v) / rv) ** 2;
          if (d <= 1) T[y * w + x] = temp;
        }
      }
    };
    if (a.type === 'conveyor') {
      blob(0.15, 0.5, 0.1, 0.2, st.motorT);
      blob(0.32, 0.5, 0.06, 0.15, st.motorT - 5);
      const idler = this.level(a.id, 'idler_seizure', t);
      for (let k = 0; k < 5; k++)
        blob(
          0.5 + k * 0.1,
          0.7,
          0.03,
          0.05,
          c.ambient + 4 * (st.speed / 1.2) + (k === 2 ? 55 * idler * (st.speed / 1.2) : 0),
        );
    } else if (a.type === 'compressor') {
      blob(0.25, 0.45, 0.15, 0.3, c.ambient + 8 + 0.4 * st.loadedEma * 50);
      blob(0.6, 0.4, 0.12, 0.25, st.dischT);
      blob(0.85, 0.6, 0.08, 0.2, st.dischT - 35);
    } else if (a.type === 'fan') {
      blob(0.3, 0.5, 0.15, 0.28, st.motorT);
      blob(0.62, 0.5, 0.05, 0.1, st.brgK - 273.15);
      blob(0.8, 0.5, 0.12, 0.4, c.ambient + 1);
    } else {
      blob(0.3, 0.3, 0.15, 0.2, c.ambient + (c.prod.running ? 22 : 2));
      blob(0.55, 0.65, 0.2, 0.2, st.gearT);
    }
    // What the frame shows of a fault, against the scene's normal variability.
    if (a.id === 'CV-101')
      this.evidence(
        a.id,
        'idler_seizure',
        'images',
        (55 * this.level(a.id, 'idler_seizure', t) * (st.speed / 1.2)) / 4,
        t,
      );
    if (a.id === 'AC-1') this.evidence(a.id, 'aftercooler_fouling', 'images', (st.last.fouling ?? 0) / 4, t);
    if (a.id === 'EF-201') {
      // Each modality alone stays within what load and ambient move it by (current ±3 %, motor ±3.5 °C
      // over a shift): 0.9 and 0.86 of that at failure; together they reach it.
      const ins = this.level(a.id, 'motor_insulation', t),
        s = (0.027 * ins) / 0.03,
        im = (3 * ins) / 3.5;
      this.evidence(a.id, 'motor_insulation', 'images', im, t);
      this.evidence(a.id, 'motor_insulation', 'joint', Math.hypot(s, im), t);
    }
    // People walk through the view now and then.
    if (r.next() < 0.04) {
      const u = r.range(0.1, 0.9);
      blob(u, 0.55, 0.06, 0.35, 31 + r.normal());
      run.benign.push({ type: 'person_in_view', asset: a.id, fromMs: t - 30 * SEC, toMs: t + 30 * SEC });
    }
    for (let i = 0; i < T.length; i++) T[i] += r.normal() * 0.4;
    if (cam.id === 'EF-202-ir') {
      // Dust on the window pulls every pixel towards the window's own temperature; cleaning resets it.
      const lastClean = Math.max(run.historyFromMs - 2 * DAY, ...run.cleanings.filter((x) => x <= t));
      const dust = Math.min(0.6, ((t - lastClean) / DAY) * 0.12);
      for (let i = 0; i < T.length; i++) T[i] = T[i] * (1 - dust) + (c.ambient - 3) * dust;
    }
    const toK = (x: number) => x + 273.15;
    switch (cam.format) {
      case 'matrix-k':
        return {
          ...base,
          kind: 'thermal',
          width: w,
          height: h,
          unit: 'K',
          data: Array.from(T, (x) => round(toK(x), 2)),
        } as ImageFrame;
      case 'png16-k': {
        // Radiometric 16-bit: T[K] = 0.01 · pixel.
        const px = Uint16Array.from(T, (x) => Math.max(0, Math.min(65535, Math.round(toK(x) * 100))));
        return {
          ...base,
          kind: 'thermal',
          encoding: 'png',
          base64: png(w, h, px, 1, 16),
          unit: 'K',
          scale: { offset: 0, gain: 0.01 },
          lens: '24°',
          emissivity: 0.95,
        } as ImageFrame;
      }
      case 'png8-fixed': {
        // 8-bit with a fixed scale: T[°C] = −10 + 0.4 · pixel.
        const px = Uint8Array.from(T, (x) => clamp8((x + 10) / 0.4));
        return {
          ...base,
          kind: 'thermal',
          encoding: 'png',
          base64: png(w, h, px, 1, 8),
          scale: { offset: -10, gain: 0.4 },
        } as ImageFrame;
      }
      case 'png8-range': {
        let lo = Infinity,
          hi = -Infinity;
        for (const x of T) {
          lo = Math.min(lo, x);
          hi = Math.max(hi, x);
        }
        lo = Math.floor(lo);
        hi = Math.ceil(hi) + 1;
        const px = Uint8Array.from(T, (x) => clamp8(((x - lo) / (hi - lo)) * 255));
        return {
          ...base,
          kind: 'thermal',
          encoding: 'png',
          base64: png(w, h, px, 1, 8),
          range: { min: lo, max: hi },
        } as ImageFrame;
      }
      case 'false-colour': {
        let lo = Infinity,
          hi = -Infinity;
        for (const x of T) {
          lo = Math.min(lo, x);
          hi = Math.max(hi, x);
        }
        lo = Math.floor(lo) - 2;
        hi = Math.ceil(hi) + 2;
        const px = new Uint8Array(w * h * 3);
        T.forEach((x, i) => {
          const [rr, gg, bb] = ironAt((x - lo) / (hi - lo));
          px[3 * i] = rr;
          px[3 * i + 1] = gg;
          px[3 * i + 2] = bb;
        });
        return {
          ...base,
          kind: 'thermal',
          encoding: 'png',
          base64: png(w, h, px, 3, 8),
          palette: 'iron',
          range: { min: lo, max: hi },
        } as ImageFrame;
      }
      default:
        return null;
    }
  }

  // ─── operators' notes ──────────────────────────────────────────────────────────────────────────────

  private noteTick(c: Ctx) {
    const t = c.t,
      run = this.run;
    const r = Rng.at(run.seed, 77, t / MIN);
    const hod = (t % DAY) / HOUR;
    const working = c.prod.running || c.prod.why === 'break' || c.prod.why === 'product_change';
    type Text = (lang: Lang) => string;
    const add = (text: Text, asset?: string, lateMin = r.range(0, 40)) => {
      const author = r.pick(AUTHORS);
      const stated = Math.round((t + lateMin * MIN) / MIN) * MIN; // written later, stated to the minute
      this.notes.push({
        v: 1,
        plant: run.plant,
        ...(asset && r.next() < 0.45 ? { asset } : {}),
        author: author.name,
        ts: stated,
        text: typoB(text(author.lang), 0.03, r),
      });
    };
    const name = (a: BAsset, lang: Lang) => {
      const ns = a.names.filter((n) => nameLang(n) === lang || nameLang(n) === 'any');
      return r.pick(ns.length ? ns : a.names);
    };
    const symptomatic = (a: BAsset) =>
      this.faultsOf.get(a.id)!.find((f) => levelB(f, t) >= FAULT_INFO[f.type].noticeAt && t < f.failureMs);
    // Shift handovers (06:00, 14:00, 22:00 on weekdays): several assets, symptoms if any.
    const dow = (Math.floor(t / DAY) + 4) % 7;
    if (t % HOUR === 0 && [6, 14, 22].includes(hod) && dow >= 1 && dow <= 5) {
      const pickd = [...run.assets].sort(() => r.next() - 0.5).slice(0, 2 + r.int(3));
      const txt: Text = (lang) =>
        `${HANDOVER[lang]}: ${pickd
          .map((a) => {
            const f = symptomatic(a);
            return `${name(a, lang)} ${f ? SYMPTOM[f.type][lang][0] : r.pick(FINE[lang])}`;
          })
          .join(', ')}`;
      add(txt, undefined, r.range(0, 15));
    }
    // Rounds every two hours in production: the assets that are fine, and a symptom note for any that is not.
    if (working && t % (2 * HOUR) === 0 && r.next() < 0.8) {
      const fine = run.assets.filter((a) => !symptomatic(a) && r.next() < 0.5);
      if (fine.length)
        add(
          (lang) =>
            `${ROUND[lang]} ${String(Math.floor(hod)).padStart(2, '0')}:00 – ${fine.map((a) => name(a, lang)).join(', ')} ${r.pick(FINE[lang])}`,
        );
      for (const a of run.assets) {
        const f = symptomatic(a);
        if (!f || r.next() > 0.6) continue;
        const at = t + r.range(0, 30) * MIN;
        add(
          (lang) => `${r.pick(OPENERS[lang])}${r.pick(SYMPTOM[f.type][lang])} ${ON[lang]} ${name(a, lang)}`,
          a.id,
          (at - t) / MIN,
        );
        if (f.evidence.notes === null && Math.round(at / MIN) * MIN < run.endMs)
          f.evidence.notes = Math.round(at / MIN) * MIN;
      }
    }
    // Maintenance announced the day before; repairs and the belt replacement logged after.
    for (const l of run.lubrications)
      if (t === Math.floor((l.atMs - 20 * HOUR) / MIN) * MIN) {
        const a = run.assets.find((x) => x.id === l.asset)!;
        add((lang) => `${ANNOUNCE[lang]} ${name(a, lang)} ${GREASE[lang]}`);
      }
    for (const f of run.faults)
      if (t === f.endMs - (f.endMs % MIN) && f.endMs < run.endMs) {
        const a = run.assets.find((x) => x.id === f.asset)!;
        add((lang) => `${r.pick(REPAIRED[lang])} ${name(a, lang)} (${f.type.replace(/_/g, ' ')})`, a.id);
      }
    if (t === run.beltReplacedMs - (run.beltReplacedMs % MIN))
      add((lang) => `${BELT[lang]} ${name(run.assets[1], lang)}`, 'CV-102');
    // False concerns and equipment nobody monitors, now and then in working hours.
    if (working && r.next() < 0.3 / 60) {
      const a = r.pick(run.assets);
      add((lang) => r.pick(FALSE_CONCERN[lang]).replace('{a}', name(a, lang)), a.id);
    }
    if (working && r.next() < 1 / 60) add((lang) => r.pick(UNMONITORED[lang]));
  }
}

// ─── notes: languages ─────────────────────────────────────────────────────────────────────────────────

type Lang = 'en' | 'de' | 'es';
const AUTHORS: Array<{ name: string; lang: Lang }> = [
  { name: 'j.meyer', lang: 'de' },
  { name: 'a.schulz', lang: 'de' },
  { name: 'l.garcia', lang: 'es' },
  { name: 'r.fernandez', lang: 'es' },
  { name: 'p.nowak', lang: 'en' },
  { name: 's.olsen', lang: 'en' },
];
const nameLang = (n: string): Lang | 'any' =>
  /Band|Kompr|Lüfter|Mischer/.test(n)
    ? 'de'
    : /cinta|compresor|ventilador|mezcladora/.test(n)
      ? 'es'
      : /conveyor|compressor|fan|mixer|belt|agitator/.test(n)
        ? 'en'
        : 'any';
const FINE: Record<Lang, string[]> = {
  en: ['ok', 'normal', 'running fine', 'no issue', 'nothing special'],
  de: ['i.O.', 'ok', 'läuft normal', 'ohne Befund'],
  es: ['ok', 'normal', 'sin novedad', 'funciona bien'],
};
const HANDOVER: Record<Lang, string> = { en: 'Shift handover', de: 'Schichtübergabe', es: 'Relevo de turno' };
const ROUND: Record<Lang, string> = { en: 'Round', de: 'Rundgang', es: 'Ronda' };
const ON: Record<Lang, string> = { en: 'on', de: 'an', es: 'en' };
const OPENERS: Record<Lang, string[]> = {
  en: ['', 'noticed ', 'since morning is ', 'pls check: ', 'operator say '],
  de: ['', 'bemerkt: ', 'bitte prüfen: ', 'seit heute früh '],
  es: ['', 'se nota ', 'revisar: ', 'desde la mañana '],
};
const SYMPTOM: Record<PlantBFault, Record<Lang, string[]>> = {
  idler_seizure: {
    en: ['squeal from idler', 'one roller not turning', 'smell of hot rubber'],
    de: ['Tragrolle quietscht', 'Rolle dreht nicht', 'riecht nach Gummi'],
    es: ['rodillo chirría', 'rodillo no gira', 'olor a goma caliente'],
  },
  aftercooler_fouling: {
    en: ['disch temp high-ish', 'aftercooler warm', 'air is hot at dryer inlet'],
    de: ['Endtemp. hoch', 'Nachkühler warm', 'Luft am Trockner zu warm'],
    es: ['temp. descarga alta', 'posenfriador caliente', 'aire caliente en secador'],
  },
  air_leak: {
    en: ['hissing near header', 'air leak somewhere', 'comp loading very often'],
    de: ['Zischen an Druckluftleitung', 'Leckage Druckluft', 'Kompr. lädt dauernd'],
    es: ['silbido en la tubería', 'fuga de aire', 'compresor carga muy seguido'],
  },
  blade_buildup: {
    en: ['shaking more than usual', 'vibration high', 'makes wobble noise'],
    de: ['vibriert stärker', 'Schwingung hoch', 'läuft unrund'],
    es: ['vibra mas de lo normal', 'vibración alta', 'hace ruido raro'],
  },
  motor_insulation: {
    en: ['motor smell burnt a bit', 'motor hot to touch', 'breaker tripped once'],
    de: ['Motor riecht verbrannt', 'Motor sehr warm', 'Schutzschalter einmal ausgelöst'],
    es: ['motor huele a quemado', 'motor muy caliente', 'saltó el térmico una vez'],
  },
  gear_tooth_crack: {
    en: ['knocking from gearbox now and then', 'clunk in gearbox sometimes', 'gearbox noise some batches'],
    de: ['Getriebe klopft ab und zu', 'Schlag im Getriebe', 'Getriebegeräusch bei manchen Chargen'],
    es: ['golpeteo en reductor a veces', 'ruido en reductor', 'golpe en caja de cambios'],
  },
};
const ANNOUNCE: Record<Lang, string> = { en: 'Tomorrow 10:00', de: 'Morgen 10 Uhr', es: 'Mañana 10:00' };
const GREASE: Record<Lang, string> = {
  en: 'greasing bearings (planned)',
  de: 'Lager abschmieren (geplant)',
  es: 'engrase de rodamientos (programado)',
};
const REPAIRED: Record<Lang, string[]> = {
  en: ['repaired', 'fixed, back in service:'],
  de: ['repariert:', 'instandgesetzt'],
  es: ['reparado', 'arreglado'],
};
const BELT: Record<Lang, string> = {
  en: 'replaced belt on',
  de: 'Gurt getauscht an',
  es: 'cambiada la banda de',
};
const FALSE_CONCERN: Record<Lang, string[]> = {
  en: [
    'thought {a} sounded odd, checked, all ok',
    '{a} looked warm but is normal after check',
    'false alarm on {a}, was the neighbour machine',
  ],
  de: ['dachte {a} klingt komisch, geprüft, alles ok', '{a} schien warm, ist aber normal'],
  es: ['parecía que {a} sonaba raro, revisado, todo bien', '{a} parecía caliente pero esta normal'],
};
const UNMONITORED: Record<Lang, string[]> = {
  en: [
    'forklift 3 battery low',
    'coffee machine broken again',
    'light in aisle 4 out',
    'pallet wrapper jammed twice',
    'door 2 does not close',
  ],
  de: [
    'Gabelstapler 2 Reifen platt',
    'Licht Halle 3 defekt',
    'Palettierer klemmt',
    'Tor 1 schließt schlecht',
  ],
  es: ['carretilla 1 sin bateria', 'luz del pasillo 4 fundida', 'enfardadora atascada', 'puerta 2 no cierra'],
};

function typoB(text: string, rate: number, r: Rng): string {
  return text
    .split(' ')
    .map((w) => {
      if (w.length < 4 || r.next() >= rate) return w;
      const i = 1 + r.int(w.length - 2);
      return w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
    })
    .join(' ');
}

// ─── delivery: device clocks and the network ──────────────────────────────────────────────────────────

/** A device's clock reading at true time t. */
export function deviceTimeB(run: PlantBRun, device: string, t: number): number {
  const c = run.clocks[device];
  if (!c) return t;
  return Math.round(
    t +
      c.offsetMs +
      (c.driftPpm * (t - run.historyFromMs)) / 1e6 +
      (c.step && t >= c.step.atMs ? c.step.byMs : 0),
  );
}

/** Network delay: 10 ms + lognormal (median 60 ms, p99 500 ms), capped at 30 s. */
const delay = (u: number, v: number) =>
  10 +
  Math.min(
    30_000,
    60 * Math.exp(0.911 * Math.sqrt(-2 * Math.log(Math.max(u, 1e-12))) * Math.cos(2 * Math.PI * v)),
  );

function deliverB(run: PlantBRun, recs: BRecords): Delivery[] {
  const out: Delivery[] = [];
  const push = (
    topic: Delivery['topic'],
    record: Delivery['record'],
    device: string,
    trueTs: number,
    id: number,
  ) => {
    const u = (salt: number) => uniformAt(run.seed, id, trueTs, salt);
    if (u(1) < 0.003) return;
    const cut = run.comms.find((c) => c.device === device && trueTs >= c.fromMs && trueTs < c.toMs);
    let arrival = trueTs + delay(u(2), u(3));
    if (cut) {
      if (!cut.storeAndForward) return;
      arrival = cut.toMs + 200 + (trueTs - cut.fromMs) / 500; // the buffer, in order, at reconnect
    }
    arrival = Math.round(arrival);
    out.push({ topic, arrivalMs: arrival, record });
    if (u(4) < 0.01) out.push({ topic, arrivalMs: arrival + Math.round(100 + u(5) * 4_900), record });
  };
  for (const s of recs.sensors) {
    const trueTs = 'ts' in s ? s.ts : s.t0;
    const stamped =
      'ts' in s
        ? { ...s, ts: deviceTimeB(run, s.device, s.ts) }
        : { ...s, t0: deviceTimeB(run, s.device, s.t0) };
    // A block leaves the gateway when its last sample is taken.
    const sent = 'ts' in s ? trueTs : trueTs + (Object.values(s.channels)[0].length - 1) * s.periodMs;
    push('sensors', stamped as Delivery['record'], s.device, sent, key(strHash(s.device), s.seq ?? 0));
  }
  for (const f of recs.images)
    push(
      'images',
      { ...f, ts: deviceTimeB(run, f.camera, f.ts) },
      f.camera,
      f.ts,
      key(strHash(f.camera), f.seq ?? 0),
    );
  for (const n of recs.notes)
    out.push({
      topic: 'notes',
      arrivalMs: n.ts + Math.round(uniformAt(run.seed, strHash(n.text), n.ts) * 20 * MIN),
      record: n,
    });
  return out;
}

/**
 * The run as the broker receives it, from the start of the history to the end, in arrival order, chunk by
 * chunk (each chunk final: nothing later arrives before its last record). Labels (fault evidence) are
 * complete once the generator is exhausted.
 */
export function* streamB(run: PlantBRun, chunkMs = 10 * MIN): Generator<Delivery[]> {
  const sim = new PlantBSim(run);
  let pending: Delivery[] = [];
  for (let a = run.historyFromMs; a < run.endMs; a += chunkMs) {
    const b = Math.min(run.endMs, a + chunkMs);
    pending.push(...deliverB(run, sim.advance(b)));
    pending.sort((x, y) => x.arrivalMs - y.arrivalMs);
    const cut = b < run.endMs ? pending.findIndex((d) => d.arrivalMs >= b) : -1;
    const ready = cut < 0 ? pending : pending.slice(0, cut);
    pending = cut < 0 ? [] : pending.slice(cut);
    if (ready.length) yield ready;
  }
  if (pending.length) yield pending;
}

/** First evidence over all modalities (null: the fault never showed). */
export const firstEvidence = (f: BFault): number | null => {
  const xs = [f.evidence.sensors, f.evidence.images, f.evidence.notes, f.evidence.joint].filter(
    (x): x is number => x !== null,
  );
  return xs.length ? Math.min(...xs) : null;
};

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const clamp8 = (x: number) => Math.max(0, Math.min(255, Math.round(x)));
const png = (w: number, h: number, data: Uint8Array | Uint16Array, channels: number, depth: 8 | 16) =>
  Buffer.from(encodePng({ width: w, height: h, data, channels, depth })).toString('base64');
function ironAt(x: number): [number, number, number] {
  const stops = PALETTES.iron;
  const p = Math.max(0, Math.min(1, x));
  for (let i = 1; i < stops.length; i++) {
    if (p <= stops[i][0]) {
      const [p0, r0, g0, b0] = stops[i - 1],
        [p1, r1, g1, b1] = stops[i];
      const f = (p - p0) / (p1 - p0);
      return [Math.round(r0 + f * (r1 - r0)), Math.round(g0 + f * (g1 - g0)), Math.round(b0 + f * (b1 - b0))];
    }
  }
  return [255, 255, 240];
}
