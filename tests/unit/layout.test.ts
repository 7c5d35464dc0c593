/** The layout's rules (issue 24): no import cycles between source files; stages never import the composition root. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', 'dist', 'tests', 'bench', '.git', 'infra', 'coverage']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return SKIP.has(name) ? [] : sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of a file (value and type imports alike), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)) {
    out.push(relative(ROOT, resolve(dirname(file), m[1].replace(/\.js$/, '.ts'))));
  }
  return out;
}

const graph = new Map(sources(ROOT).map((f) => [relative(ROOT, f), importsOf(f)]));

test('no import cycles between source files', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.ok(graph.size > 50, `found ${graph.size} source files`);
  assert.deepEqual(cycles, []);
});

test('stages never import the composition root (service, cli, config) or the pipeline', () => {
  const stages = ['schemas/', 'ingest/', 'align/', 'fusion/', 'store/', 'alerts/', 'api/'];
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    if (!stages.some((s) => file.startsWith(s))) continue;
    for (const i of imports)
      if (['service.ts', 'cli.ts', 'config.ts'].includes(i) || i.startsWith('pipeline/'))
        upward.push(`${file} → ${i}`);
  }
  assert.deepEqual(upward, []);
});
