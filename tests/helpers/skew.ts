/**
 * ../shared/skew: the independent clock-skew generator and checker (written apart from this project).
 * Read in place, never copied: $SKEW_DIR, else ../shared/skew beside the repository or the working
 * directory. Tests never read its truth.jsonl except through its own checker.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('../../', import.meta.url)));

export function skewDir(): string {
  const candidates = [
    process.env.SKEW_DIR,
    resolve(REPO, '../shared/skew'),
    resolve(process.cwd(), '../shared/skew'),
    '/work/shared/skew',
  ].filter((c): c is string => !!c);
  const found = candidates.find(
    (c) => existsSync(resolve(c, 'gen.mjs')) && existsSync(resolve(c, 'check.mjs')),
  );
  if (!found) throw new Error(`../shared/skew not found (set SKEW_DIR); tried ${candidates.join(', ')}`);
  return found;
}

/** Generates a data set; returns its directory (records.jsonl, truth.jsonl). */
export function generate(args: Record<string, string | number>): string {
  const out = mkdtempSync(join(tmpdir(), 'tributary-skew-'));
  const flags = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  execFileSync(process.execPath, [join(skewDir(), 'gen.mjs'), ...flags, '--out', out], { stdio: 'pipe' });
  return out;
}

export interface CheckRow {
  p50: number;
  p99: number;
  max: number;
  rightWindow: number;
  missing: number;
  reported: number;
  expected: number;
}
/** The checker's verdict on a file of corrected times (its --json output). */
export function check(dir: string, service: string): { sensor: CheckRow; pass: boolean } {
  let text: string;
  try {
    text = execFileSync(
      process.execPath,
      [join(skewDir(), 'check.mjs'), '--dir', dir, '--service', service, '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 },
    ).toString();
  } catch (e) {
    // Exit 1: a target missed; the verdict is still printed.
    const out = (e as { status?: number; stdout?: Buffer }).stdout;
    if ((e as { status?: number }).status !== 1 || !out) throw e;
    text = out.toString();
  }
  const res = JSON.parse(text);
  return { sensor: res.service.sensor, pass: res.verdict.p99Pass !== false && res.verdict.windowPass };
}
