/**
 * Stateless pseudo-randomness for the simulator: every draw is a pure function of integers (seed, entity,
 * time, …), so any time range can be generated on its own, in any order, and gives the same values.
 */

/** Mixes two 32-bit integers into one (murmur3 finaliser on a combined word). */
export function mix32(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ (b >>> 0);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a of a string, for naming entities (assets, channels) as integers. */
export function strHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h >>> 0, s.length);
}

/** Combines any number of integers (epoch milliseconds allowed: split into two words). */
export function key(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    const lo = p % 4294967296;
    h = mix32(h, lo >>> 0);
    if (p >= 4294967296 || p < 0) h = mix32(h, Math.floor(p / 4294967296) >>> 0);
  }
  return h;
}

/** A small sequential generator (mulberry32) seeded from `key(...)`; `normal()` is Box–Muller. */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  static at(...parts: number[]): Rng {
    return new Rng(key(...parts));
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
}

/** One uniform draw in [0, 1) at a key. */
export const uniformAt = (...parts: number[]) => key(...parts) / 4294967296;
