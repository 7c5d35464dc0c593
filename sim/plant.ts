/**
 * Plant simulator: pumps and motors with physically motivated channels, a thermal camera per asset,
 * operator notes from a grammar, a fault library, and clock and network disturbances.
 *
 * Every value is a pure function of (seed, asset, time): any time range can be generated on its own, in
 * any order, and a restarted simulator continues exactly where it stopped. `generate` gives the records
 * at their true times; `deliver` applies each device's clock (offset, drift, steps) and the network
 * (delay, jitter and so reordering, duplicates, loss) and gives what a broker would receive, in arrival
 * order; `stream` does both for a whole scenario, chunk by chunk, in bounded memory.
 *
 * Physics (per asset; L load, A ambient, x a fault's level in [0, 1], rising quadratically from onset to
 * failure):
 * - load: an operating set-point that changes every few hours (a start-up transient on current), times a
 *   day/night cycle; ambient: a day/night cycle;
 * - flow ∝ L, pressure ∝ L² (pump curve), current ∝ 0.3 + 0.7·L³ (shaft power);
 * - vibration: `vib_1x` (running-speed band: imbalance, misalignment), `vib_hf` (bearing defect band),
 *   `vib_rms` the overall level combining both; bearing temperature follows load and ambient;
 * - thermal frame: pump casing, coupling, bearing housing, motor body and terminal box at their
 *   temperatures over the ambient background, with pixel noise, occasional occlusion and outages.
 * Faults: bearing wear (vib_hf first, vib_rms next, bearing heat ~35 % of the way later), overheating
 * electrical connection (terminal box hot in thermal, +1 % current), seal leak (−3 % pressure, a cool wet
 * patch, operators see drips), cavitation (pressure and vib_hf noise, "gravel" in notes), misalignment
 * (vib_1x and coupling heat). Sensor faults (stuck, flat-line, spikes) are data-quality issues.
 */
import type { ImageFrame, OperatorNote, SensorSample } from '../schemas/index.js';
import { SENSOR_FAULTS, type FaultType, type Scenario, type SimLabel } from '../schemas/scenario.js';
import { Rng, key, strHash, uniformAt } from './random.js';

export const CHANNELS = [
  'vib_rms',
  'vib_1x',
  'vib_hf',
  'bearing_temp_c',
  'current_a',
  'pressure_bar',
  'flow_lpm',
] as const;
export type Channel = (typeof CHANNELS)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface SimAsset {
  plant: string;
  id: string;
  kind: 'pump' | 'motor';
  aliases: string[];
  /** Integer name of the asset for the random source. */
  h: number;
  /** Per-asset constants: nominal flow, pressure, current, a size factor, the daily phase. */
  qNom: number;
  pNom: number;
  iNom: number;
  size: number;
  phase: number;
}
export interface PlanFault {
  asset: string;
  type: FaultType;
  channel: string | null;
  onsetMs: number;
  failureMs: number;
  severity: number;
}

export interface SimPlan {
  name: string;
  seed: number;
  startMs: number;
  /** Infinity: an endless (embedded) simulation. */
  endMs: number;
  sampleMs: number;
  imageMs: number;
  thermal: { width: number; height: number };
  assets: SimAsset[];
  faults: PlanFault[];
  outages: Array<{ asset: string; fromMs: number; toMs: number }>;
  cycles: Scenario['cycles'];
  notes: Scenario['notes'];
  clocks: {
    offsetMs: number;
    driftPpm: number;
    steps: Array<{ device: string; atMs: number; byMs: number }>;
  };
  network: Scenario['network'];
  cameraDropoutsPerDay: number;
  occlusionRate: number;
  /**
   * Cameras on their own schedules: each asset's frames are shifted by its own share of `imageMs`
   * (default: every camera at the same instants, the plan's grid).
   */
  spreadCameras?: boolean;
}

export interface SimRecords {
  sensors: SensorSample[];
  images: ImageFrame[];
  notes: OperatorNote[];
}
export type Topic = 'sensors' | 'images' | 'notes';
/** One record as the broker receives it: when, on which topic (its record timestamp is `arrivalMs`). */
export interface Delivery {
  topic: Topic;
  arrivalMs: number;
  record: SensorSample | ImageFrame | OperatorNote;
}

export const assetName = (i: number) => `pump-${String(i + 1).padStart(2, '0')}`;
export const sensorDevice = (asset: string) => `${asset}-dev`;
export const cameraDevice = (asset: string) => `${asset}-ir`;

/**
 * A scenario file with a seed becomes a plan. A seed other than the file's also shifts every fault's
 * onset and failure by up to ±5 % of the scenario's length, so seeds differ in more than noise.
 */
export function planOf(s: Scenario, seed = s.seed): SimPlan {
  const startMs = Date.parse(s.start);
  const durMs = s.durationH * HOUR;
  const shift = (f: { asset: string }, i: number) =>
    seed === s.seed ? 0 : Math.round((uniformAt(seed, strHash(f.asset), i, 77) - 0.5) * 0.1 * durMs);
  const assets: SimAsset[] = [];
  for (const p of s.plants) {
    for (const a of p.assets) {
      const h = strHash(`${p.id}/${a.id}`);
      const r = Rng.at(seed, h, 1);
      const size = a.kind === 'motor' ? 0.7 + 0.2 * r.next() : 0.9 + 0.3 * r.next();
      assets.push({
        plant: p.id,
        id: a.id,
        kind: a.kind,
        aliases: a.aliases,
        h,
        size,
        qNom: Math.round(80 + 80 * r.next()),
        pNom: 3.5 + 1.5 * r.next(),
        iNom: 25 + 20 * size,
        phase: 2 * Math.PI * r.next(),
      });
    }
  }
  return {
    name: s.name,
    seed,
    startMs,
    endMs: startMs + durMs,
    sampleMs: s.sampleMs,
    imageMs: s.imageMs,
    thermal: s.thermal,
    assets,
    faults: s.faults.map((f, i) => {
      const d = shift(f, i);
      return {
        asset: f.asset,
        type: f.type,
        channel: f.channel ?? null,
        onsetMs: startMs + f.onsetH * HOUR + d,
        failureMs: startMs + f.failureH * HOUR + d,
        severity: f.severity,
      };
    }),
    outages: s.cameraOutages.map((o) => ({
      asset: o.asset,
      fromMs: startMs + o.fromH * HOUR,
      toMs: startMs + o.toH * HOUR,
    })),
    cycles: s.cycles,
    notes: s.notes,
    clocks: {
      offsetMs: s.clocks.offsetMs,
      driftPpm: s.clocks.driftPpm,
      steps: s.clocks.steps.map((st) => ({
        device: st.device,
        atMs: startMs + st.atH * HOUR,
        byMs: st.byMs,
      })),
    },
    network: s.network,
    cameraDropoutsPerDay: s.cameraDropoutsPerDay,
    occlusionRate: s.occlusionRate,
  };
}

/** Ground truth of a plan: one label per fault. */
export function labelsOf(p: SimPlan): SimLabel[] {
  return p.faults.map((f) => ({
    scenario: p.name,
    seed: p.seed,
    plant: p.assets.find((a) => a.id === f.asset)?.plant ?? '',
    asset: f.asset,
    fault: f.type,
    kind: SENSOR_FAULTS.includes(f.type) ? 'data_quality' : 'equipment',
    channel: f.channel,
    onsetMs: f.onsetMs,
    failureMs: f.failureMs,
  }));
}

/** A fault's level at t: equipment faults rise quadratically from 0 at onset to 1 at failure and stay; sensor faults are 1 while active. */
export function levelOf(f: PlanFault, t: number): number {
  if (t < f.onsetMs) return 0;
  if (SENSOR_FAULTS.includes(f.type)) return t < f.failureMs ? 1 : 0;
  const x = Math.min(1, (t - f.onsetMs) / Math.max(1, f.failureMs - f.onsetMs));
  return x * x * f.severity;
}

/** The summed level of each fault type on an asset at t (and bearing wear's delayed heat). */
function faultState(p: SimPlan, asset: string, t: number) {
  const s = {
    bearing_wear: 0,
    bearing_heat: 0,
    electrical_connection: 0,
    seal_leak: 0,
    cavitation: 0,
    misalignment: 0,
  };
  for (const f of p.faults) {
    if (f.asset !== asset || SENSOR_FAULTS.includes(f.type)) continue;
    const x = levelOf(f, t);
    s[f.type as keyof typeof s] += x;
    if (f.type === 'bearing_wear') s.bearing_heat += levelOf(f, t - 0.35 * (f.failureMs - f.onsetMs));
  }
  return s;
}

/** The operating set-point at t: a value per block of `setpointEveryH` hours, approached over ~3 minutes. */
function setpoint(p: SimPlan, a: SimAsset, t: number): { sp: number; sinceChangeMs: number } {
  const every = p.cycles.setpointEveryH * HOUR;
  if (every <= 0) return { sp: 1, sinceChangeMs: Infinity };
  const b = Math.floor(t / every);
  const v = (k: number) => 1 + 0.16 * (uniformAt(p.seed, a.h, k, 11) - 0.5);
  const since = t - b * every;
  const cur = v(b),
    prev = v(b - 1);
  return { sp: prev + (cur - prev) * (1 - Math.exp(-since / 60_000)), sinceChangeMs: since };
}

export interface Conditions {
  load: number;
  ambient: number;
  sinceChangeMs: number;
}
export function conditions(p: SimPlan, a: SimAsset, t: number): Conditions {
  const { sp, sinceChangeMs } = setpoint(p, a, t);
  const load = sp * (1 + p.cycles.loadDaily * Math.sin((2 * Math.PI * t) / DAY + a.phase));
  const ambient = 20 + p.cycles.ambientDailyC * Math.sin((2 * Math.PI * t) / DAY - 2.4);
  return { load, ambient, sinceChangeMs };
}

/** Noise-free channel values (what the asset is doing) at t. */
function truth(p: SimPlan, a: SimAsset, t: number) {
  const { load: L, ambient: A, sinceChangeMs } = conditions(p, a, t);
  const f = faultState(p, a.id, t);
  const startup = 0.25 * Math.exp(-sinceChangeMs / 20_000);
  const vib_1x = 0.45 * a.size * (0.6 + 0.4 * L) * (1 + 3 * f.misalignment);
  const vib_hf = 0.05 * a.size * (1 + 8 * f.bearing_wear);
  const base = 0.55 * a.size * (0.7 + 0.3 * L);
  return {
    L,
    A,
    f,
    vib_1x,
    vib_hf,
    vib_rms: Math.sqrt(base * base + vib_1x * vib_1x + 4 * vib_hf * vib_hf),
    bearing_temp_c: A + 18 + 10 * L + 15 * f.bearing_heat + 5 * f.misalignment,
    current_a: a.iNom * (0.3 + 0.7 * L ** 3) * (1 + 0.01 * f.electrical_connection + startup),
    pressure_bar: a.pNom * L * L * (1 - 0.03 * f.seal_leak - 0.02 * f.cavitation),
    flow_lpm: a.qNom * L * (1 - 0.01 * f.seal_leak - 0.03 * f.cavitation),
  };
}

/** Measured values at t: the truth with sensor noise, cavitation's noise, and any sensor fault. */
function measure(p: SimPlan, a: SimAsset, t: number, applySensorFaults = true): Record<Channel, number> {
  const x = truth(p, a, t);
  const r = Rng.at(p.seed, a.h, t, 2);
  const cav = x.f.cavitation;
  const v: Record<Channel, number> = {
    vib_rms: round(x.vib_rms * (1 + 0.02 * r.normal()), 4),
    vib_1x: round(x.vib_1x * (1 + 0.03 * r.normal()), 4),
    vib_hf: round(Math.max(0, x.vib_hf * (1 + 0.05 * r.normal()) + 0.08 * cav * Math.abs(r.normal())), 4),
    bearing_temp_c: round(x.bearing_temp_c + 0.15 * r.normal(), 2),
    current_a: round(x.current_a * (1 + 0.003 * r.normal()), 3),
    pressure_bar: round(x.pressure_bar * (1 + 0.004 * (1 + 6 * cav) * r.normal()), 4),
    flow_lpm: round(x.flow_lpm * (1 + 0.005 * r.normal()), 2),
  };
  if (applySensorFaults) {
    for (const f of p.faults) {
      if (f.asset !== a.id || !f.channel || !SENSOR_FAULTS.includes(f.type) || levelOf(f, t) === 0) continue;
      const ch = f.channel as Channel;
      if (!(ch in v)) continue;
      if (f.type === 'sensor_flatline') v[ch] = 0;
      else if (f.type === 'sensor_stuck')
        v[ch] = measure(p, a, Math.floor(f.onsetMs / p.sampleMs) * p.sampleMs, false)[ch];
      else if (uniformAt(p.seed, a.h, t, 3) < 0.03)
        v[ch] = round(v[ch] * (4 + 4 * uniformAt(p.seed, a.h, t, 4)), 4);
    }
  }
  return v;
}

/** Whether the asset's camera delivers a frame at t (planned outages and random dropouts). */
export function cameraUp(p: SimPlan, a: SimAsset, t: number): boolean {
  for (const o of p.outages) if (o.asset === a.id && t >= o.fromMs && t < o.toMs) return false;
  const rate = p.cameraDropoutsPerDay / 24;
  if (rate <= 0) return true;
  for (const slot of [Math.floor(t / HOUR), Math.floor(t / HOUR) - 1]) {
    if (uniformAt(p.seed, a.h, slot, 5) >= rate) continue;
    const from = slot * HOUR + uniformAt(p.seed, a.h, slot, 6) * HOUR;
    const len = (5 + 25 * uniformAt(p.seed, a.h, slot, 7)) * 60_000;
    if (t >= from && t < from + len) return false;
  }
  return true;
}

/** Regions of the thermal scene in unit coordinates: [u0, v0, u1, v1]. */
const SCENE = {
  casing: [0.06, 0.35, 0.4, 0.8],
  coupling: [0.42, 0.45, 0.5, 0.7],
  motor: [0.58, 0.3, 0.93, 0.8],
  terminal: [0.68, 0.14, 0.8, 0.28],
  wet: [0.12, 0.83, 0.36, 0.96],
} as const;
const BEARING = { u: 0.54, v: 0.57, r: 0.06 };

export function thermalFrame(p: SimPlan, a: SimAsset, t: number): number[] {
  const { width: w, height: h } = p.thermal;
  const x = truth(p, a, t);
  const A = x.A,
    L = x.L,
    f = x.f;
  const temps = {
    casing: A + 8 + 4 * L,
    coupling: A + 12 + 4 * L + 15 * f.misalignment,
    motor: A + 25 + 10 * L,
    terminal: A + 15 + 5 * L + 45 * f.electrical_connection,
    wet: A - 3 * Math.min(1, 3 * f.seal_leak),
  };
  const regions: Array<[number, number, number, number, number]> = [];
  for (const [name, [u0, v0, u1, v1]] of Object.entries(SCENE)) {
    if (name === 'wet' && f.seal_leak <= 0) continue;
    regions.push([u0, v0, u1, v1, temps[name as keyof typeof temps]]);
  }
  const r = Rng.at(p.seed, a.h, t, 8);
  const occluded = r.next() < p.occlusionRate ? 0.1 + 0.8 * r.next() : -1;
  const data = new Array<number>(w * h);
  for (let yi = 0; yi < h; yi++) {
    const v = (yi + 0.5) / h;
    for (let xi = 0; xi < w; xi++) {
      const u = (xi + 0.5) / w;
      let c = A;
      for (const [u0, v0, u1, v1, temp] of regions) if (u >= u0 && u < u1 && v >= v0 && v < v1) c = temp;
      const du = (u - BEARING.u) * (w / h),
        dv = v - BEARING.v;
      if (du * du + dv * dv < BEARING.r * BEARING.r) c = x.bearing_temp_c;
      if (occluded >= 0 && Math.abs(u - occluded) < 0.08 && v > 0.1) c = 33;
      data[yi * w + xi] = Math.round((c + 0.3 * r.normal()) * 10) / 10;
    }
  }
  return data;
}

// ─── operator notes ────────────────────────────────────────────────────────────────────────────────

const SYMPTOMS: Record<string, string[]> = {
  bearing_wear: [
    'grinding noise',
    'rough running',
    'bearing noise, sounds dry',
    'high pitched whine from the bearing',
    'squealing on run-up',
  ],
  electrical_connection: [
    'burning smell',
    'terminal box hot to the touch',
    'discoloured cable lug',
    'smell of hot insulation',
    'buzzing from the terminal box',
  ],
  seal_leak: [
    'drips at the mechanical seal',
    'small puddle under the pump',
    'wet gland',
    'seal weeping',
    'water on the baseplate',
  ],
  cavitation: [
    'gravel noise',
    'sounds like marbles in the casing',
    'crackling in the pump',
    'discharge gauge fluttering',
    'rattling on the suction side',
  ],
  misalignment: [
    'shaking at the coupling',
    'coupling guard warm',
    'axial movement on the shaft',
    'coupling knocking',
    'vibration at the coupling',
  ],
};
const LOCATIONS: Record<string, string[]> = {
  bearing_wear: ['at the drive end', 'at the non-drive end', 'on the motor bearing'],
  electrical_connection: ['at the terminal box', 'near the motor cable entry', 'at the starter'],
  seal_leak: ['under the seal', 'on the pump side', 'by the suction flange'],
  cavitation: ['on the suction side', 'in the casing', 'near the impeller'],
  misalignment: ['near the coupling', 'between motor and pump', 'at the coupling guard'],
};
/** When operators notice each fault: the level at which a round may see it. */
const NOTICE_AT: Record<string, number> = {
  bearing_wear: 0.3,
  electrical_connection: 0.5,
  seal_leak: 0.12,
  cavitation: 0.15,
  misalignment: 0.35,
};
const OPENERS = ['noticed ', 'heard ', '', 'operator reports ', 'on round: ', 'found '];
const ACTIONS = [
  'will monitor',
  'raised a work order',
  'informed the shift lead',
  'to be checked next shift',
  'logged for maintenance',
  'keeping an eye on it',
];
const ROUTINE = [
  'routine round, all normal',
  'gauges steady, no issues',
  'oil level ok',
  'cleaned the strainer',
  'area clean, nothing to report',
  'greased per schedule',
  'running smooth',
  'checked guards and bolts, all good',
  'readings logged, normal',
];
const IRRELEVANT = [
  'coffee machine in the control room is broken again',
  'forklift parked in bay 3',
  'safety briefing moved to 14:00',
  'lights out in corridor B',
  'repainted the guard rail near {a}',
  'contractor badge left at the gate',
  'new SOP binder on the shelf',
];
const MISLEADING = [
  'thought I heard {s} near {a}, turned out to be the neighbouring compressor',
  'no {s} at {a} anymore',
  'checked {a} for {s}, none found',
  'trainee reported {s} at {a}, could not confirm',
];
const AUTHORS = ['j.doe', 'a.kumar', 'm.silva', 'k.nowak', 't.okafor'];

function typo(text: string, rate: number, r: Rng): string {
  if (rate <= 0) return text;
  return text
    .split(' ')
    .map((w) => {
      if (w.length < 4 || r.next() >= rate) return w;
      const i = 1 + r.int(w.length - 2);
      return w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
    })
    .join(' ');
}

/** How an operator names the asset: its id or one of its aliases. */
const nameOf = (a: SimAsset, r: Rng) => (a.aliases.length && r.next() < 0.6 ? r.pick(a.aliases) : a.id);

function note(
  p: SimPlan,
  a: SimAsset,
  ts: number,
  text: string,
  r: Rng,
  mentionAlways = false,
): OperatorNote {
  const textOnly = r.next() < p.notes.textOnlyRate;
  let t = text;
  if (textOnly || mentionAlways) t = t.includes('{a}') ? t : `${nameOf(a, r)}: ${t}`;
  t = t.replaceAll('{a}', nameOf(a, r));
  t = typo(t, p.notes.typoRate, r);
  const n: OperatorNote = { v: 1, plant: a.plant, author: r.pick(AUTHORS), ts, text: t };
  if (!textOnly) n.asset = a.id;
  return n;
}

function notesOf(p: SimPlan, a: SimAsset, from: number, to: number): OperatorNote[] {
  const out: OperatorNote[] = [];
  const n = p.notes;
  if (n.roundsPerDay > 0) {
    const R = DAY / n.roundsPerDay;
    const off = uniformAt(p.seed, a.h, 9) * R * 0.25;
    const maxDelay = Math.max(n.delayMin[0], n.delayMin[1]) * 60_000 + 600_000;
    for (let k = Math.floor((from - maxDelay - off) / R); k * R + off < to; k++) {
      const tr = k * R + off;
      if (tr < p.startMs || tr >= p.endMs) continue;
      const r = Rng.at(p.seed, a.h, k, 10);
      const f = faultState(p, a.id, tr);
      const seen = (Object.keys(NOTICE_AT) as Array<keyof typeof NOTICE_AT>).filter(
        (type) =>
          (f as Record<string, number>)[type] >= NOTICE_AT[type] &&
          r.next() < 0.35 + (f as Record<string, number>)[type],
      );
      let ts: number, text: string;
      if (seen.length) {
        const type = r.pick(seen);
        ts = Math.round(tr + (n.delayMin[0] + (n.delayMin[1] - n.delayMin[0]) * r.next()) * 60_000);
        text = `${r.pick(OPENERS)}${r.pick(SYMPTOMS[type])} ${r.pick(LOCATIONS[type])}, ${r.pick(ACTIONS)}`;
      } else if (r.next() < n.routineRate) {
        ts = Math.round(tr + r.next() * 600_000);
        text = r.pick(ROUTINE);
      } else continue;
      if (ts >= from && ts < to) out.push(note(p, a, ts, text, r));
    }
  }
  const extras: Array<[number, number, (r: Rng) => string]> = [
    [n.irrelevantPerDay, 12, (r) => r.pick(IRRELEVANT)],
    [
      n.misleadingPerDay,
      13,
      (r) => {
        const s = r.pick(Object.values(SYMPTOMS).flat());
        return r.pick(MISLEADING).replace('{s}', s);
      },
    ],
  ];
  for (const [perDay, salt, make] of extras) {
    if (perDay <= 0) continue;
    for (let slot = Math.floor(from / HOUR); slot * HOUR < to; slot++) {
      if (uniformAt(p.seed, a.h, slot, salt) >= perDay / 24) continue;
      const r = Rng.at(p.seed, a.h, slot, salt + 100);
      const ts = Math.round(slot * HOUR + r.next() * HOUR);
      if (ts < from || ts >= to || ts < p.startMs || ts >= p.endMs) continue;
      out.push(note(p, a, ts, make(r), r));
    }
  }
  return out;
}

/** Only the operator notes of [from, to) (cheap: for long ranges). */
export function generateNotes(p: SimPlan, fromMs: number, toMs: number): OperatorNote[] {
  const from = Math.max(fromMs, p.startMs),
    to = Math.min(toMs, p.endMs);
  return to > from ? p.assets.flatMap((a) => notesOf(p, a, from, to)) : [];
}

/** Records at their true times for [from, to) ∩ the plan's period. */
export function generate(p: SimPlan, fromMs: number, toMs: number): SimRecords {
  const from = Math.max(fromMs, p.startMs),
    to = Math.min(toMs, p.endMs);
  const out: SimRecords = { sensors: [], images: [], notes: [] };
  if (to <= from) return out;
  const first = (period: number) => Math.ceil(from / period) * period;
  for (const [i, a] of p.assets.entries()) {
    const device = sensorDevice(a.id);
    for (let t = first(p.sampleMs); t < to; t += p.sampleMs) {
      out.sensors.push({
        v: 1,
        plant: a.plant,
        asset: a.id,
        device,
        seq: Math.floor(t / p.sampleMs),
        ts: t,
        values: measure(p, a, t),
      });
    }
    const { width, height } = p.thermal;
    // A camera's phase: a low-discrepancy share of the period, so n cameras spread evenly.
    const phase = p.spreadCameras ? Math.floor(((i * 0.6180339887) % 1) * p.imageMs) : 0;
    for (let t = Math.ceil((from - phase) / p.imageMs) * p.imageMs + phase; t < to; t += p.imageMs) {
      if (!cameraUp(p, a, t)) continue;
      out.images.push({
        v: 1,
        plant: a.plant,
        asset: a.id,
        camera: cameraDevice(a.id),
        seq: Math.floor((t - phase) / p.imageMs),
        ts: t,
        kind: 'thermal',
        width,
        height,
        unit: 'C',
        data: thermalFrame(p, a, t),
      });
    }
    out.notes.push(...notesOf(p, a, from, to));
  }
  return out;
}

/** A device's clock reading at true time t: offset, drift since the plan's start, and steps. */
export function deviceTime(p: SimPlan, device: string, t: number): number {
  const h = strHash(device);
  const offset = (uniformAt(p.seed, h, 20) - 0.5) * 2 * p.clocks.offsetMs;
  const drift = (uniformAt(p.seed, h, 21) - 0.5) * 2 * p.clocks.driftPpm;
  let d = t + offset + (drift * (t - p.startMs)) / 1e6;
  for (const s of p.clocks.steps) if (s.device === device && t >= s.atMs) d += s.byMs;
  return Math.round(d);
}

/** What the broker receives for some records: device clocks applied, network delay, jitter, loss and duplicates; sorted by arrival. */
export function deliver(p: SimPlan, recs: SimRecords): Delivery[] {
  const out: Delivery[] = [];
  const net = p.network;
  const push = (topic: Topic, record: Delivery['record'], trueTs: number, id: number) => {
    const u = (salt: number) => uniformAt(p.seed, id, trueTs, salt);
    if (u(30) < net.lossRate) return;
    const arrival = trueTs + net.delayMs + Math.round(-Math.log(Math.max(u(31), 1e-9)) * net.jitterMs);
    out.push({ topic, arrivalMs: arrival, record });
    if (u(32) < net.duplicateRate)
      out.push({
        topic,
        arrivalMs: arrival + 5 + Math.round(-Math.log(Math.max(u(33), 1e-9)) * 2 * net.jitterMs),
        record,
      });
  };
  for (const s of recs.sensors)
    push('sensors', { ...s, ts: deviceTime(p, s.device, s.ts) }, s.ts, key(strHash(s.device), 1));
  for (const f of recs.images)
    push('images', { ...f, ts: deviceTime(p, f.camera, f.ts) }, f.ts, key(strHash(f.camera), 2));
  for (const n of recs.notes) push('notes', n, n.ts, key(strHash(n.author), strHash(n.text)));
  return out.sort((x, y) => x.arrivalMs - y.arrivalMs);
}

/**
 * The whole plan as deliveries in arrival order, a chunk at a time (bounded memory): a delivery is
 * released once no later chunk can produce an earlier arrival (arrival ≥ true time).
 */
export function* stream(
  p: SimPlan,
  chunkMs = HOUR,
  fromMs = p.startMs,
  toMs = p.endMs,
): Generator<Delivery[]> {
  let pending: Delivery[] = [];
  for (let c = fromMs; c < toMs; c += chunkMs) {
    const end = Math.min(toMs, c + chunkMs);
    pending = pending.concat(deliver(p, generate(p, c, end))).sort((x, y) => x.arrivalMs - y.arrivalMs);
    const cut = end >= toMs ? Infinity : end;
    let i = 0;
    while (i < pending.length && pending[i].arrivalMs < cut) i++;
    if (i > 0) yield pending.slice(0, i);
    pending = pending.slice(i);
  }
  if (pending.length) yield pending;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** The plant's alias table for notes that name their asset only in the text (ids and aliases). */
export function aliasTable(p: SimPlan): Record<string, Record<string, string>> {
  const t: Record<string, Record<string, string>> = {};
  for (const a of p.assets) {
    t[a.plant] ??= {};
    t[a.plant][a.id] = a.id;
    for (const al of a.aliases) t[a.plant][al] = a.id;
  }
  return t;
}

/** The same plan moved in time so that it starts at `startMs` (faults, outages and clock steps with it). */
export function shiftPlan(p: SimPlan, startMs: number): SimPlan {
  const d = startMs - p.startMs;
  return {
    ...p,
    startMs,
    endMs: p.endMs + d,
    faults: p.faults.map((f) => ({ ...f, onsetMs: f.onsetMs + d, failureMs: f.failureMs + d })),
    outages: p.outages.map((o) => ({ ...o, fromMs: o.fromMs + d, toMs: o.toMs + d })),
    clocks: { ...p.clocks, steps: p.clocks.steps.map((s) => ({ ...s, atMs: s.atMs + d })) },
  };
}
