/** Runs the real service (cli.ts start) as a child process with a JSON configuration; parses its JSON logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConfigInput } from '../../schemas/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface RunningService {
  url: string;
  proc: ChildProcess;
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The admin key every test service is configured with (api.auth.key). */
export const TEST_API_KEY = 'trb_test_admin_key_0123456789abcdefghijklmnop';
/** Request options with the test key. */
export const withKey = (init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: {
    ...(init.headers as Record<string, string> | undefined),
    authorization: `Bearer ${TEST_API_KEY}`,
  },
});

export async function startServiceProcess(config: ConfigInput, timeoutMs = 60_000): Promise<RunningService> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-svc-'));
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({ ...config, api: { ...config.api, auth: { key: TEST_API_KEY, ...config.api?.auth } } }),
  );
  // The V8 flags `npm start` gives the service (its heap limit), so tests and benches run it as users do.
  const flags =
    (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start.match(/--max-old-space-size=\d+/g) ?? [];
  const proc = spawn(
    process.execPath,
    [...flags, '--import', import.meta.resolve('tsx'), join(ROOT, 'cli.ts'), 'start', '--config', file],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TRIBUTARY_CONFIG: '' },
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`service not listening after ${timeoutMs} ms:\n${stderr.join('\n')}`)),
      timeoutMs,
    );
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.msg === 'api listening') {
        clearTimeout(timer);
        resolve(String(rec.url));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `service exited with ${code}:\n${stderr.join('\n')}\n${logs
            .slice(-5)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        ),
      );
    });
  });
  return {
    url,
    proc,
    logs,
    stderr,
    exited,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Polls fn until it returns a truthy value or the time runs out. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
