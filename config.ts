/**
 * Loads the configuration once: a JSON file (optional) overlaid with environment variables, validated
 * with the zod schema, every problem reported at once, the result frozen.
 */
import { readFileSync } from 'node:fs';
import { Config } from './schemas/index.js';
import { TributaryError } from './schemas/errors.js';
import { loadScenario } from './sim/scenarios.js';

export class ConfigError extends TributaryError {
  constructor(readonly problems: string[]) {
    super('invalid_config', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Environment variables and where they go; numbers are parsed, lists split on commas. */
export const ENV_VARS: Record<
  string,
  { path: string[]; kind: 'string' | 'number' | 'list' | 'webhooks' | 'boolean' }
> = {
  KAFKA_BROKERS: { path: ['kafka', 'brokers'], kind: 'list' },
  TRIBUTARY_GROUP_ID: { path: ['kafka', 'groupId'], kind: 'string' },
  DATABASE_URL: { path: ['database', 'url'], kind: 'string' },
  TRIBUTARY_DATA_DIR: { path: ['database', 'dataDir'], kind: 'string' },
  TRIBUTARY_HOST: { path: ['api', 'host'], kind: 'string' },
  TRIBUTARY_PORT: { path: ['api', 'port'], kind: 'number' },
  TRIBUTARY_API_KEY: { path: ['api', 'auth', 'key'], kind: 'string' },
  TRIBUTARY_WEBHOOK_URLS: { path: ['webhooks'], kind: 'webhooks' },
  TRIBUTARY_SIM: { path: ['sim', 'enabled'], kind: 'boolean' },
  TRIBUTARY_SIM_SCENARIO: { path: ['sim', 'scenario'], kind: 'string' },
  TRIBUTARY_WEBHOOKS_ALLOW_PRIVATE: { path: ['delivery', 'allowPrivateNetworks'], kind: 'boolean' },
  TRIBUTARY_PUBLIC_URL: { path: ['alerts', 'publicUrl'], kind: 'string' },
  TRIBUTARY_LOG_LEVEL: { path: ['log', 'level'], kind: 'string' },
};

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  const file = opts.file ?? env.TRIBUTARY_CONFIG;
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        raw = parsed as Record<string, unknown>;
      else problems.push(`${file}: the configuration must be a JSON object`);
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
    }
  }
  for (const [name, { path, kind }] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) problems.push(`${name}: expected a number, got ${JSON.stringify(v)}`);
      else setPath(raw, path, n);
    } else if (kind === 'boolean') {
      if (!['true', 'false', '1', '0'].includes(v))
        problems.push(`${name}: expected true or false, got ${JSON.stringify(v)}`);
      else setPath(raw, path, v === 'true' || v === '1');
    } else if (kind === 'list')
      setPath(
        raw,
        path,
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (kind === 'webhooks')
      setPath(
        raw,
        path,
        v
          .split(',')
          .map((s) => ({ url: s.trim() }))
          .filter((w) => w.url),
      );
    else setPath(raw, path, v);
  }
  const parsed = Config.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const at = i.path.join('.') || '(root)';
      const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
      problems.push(`${at}: ${i.message}${keys}`);
    }
  }
  if (parsed.success && parsed.data.sim.scenario) {
    try {
      loadScenario(parsed.data.sim.scenario);
    } catch (e) {
      problems.push(`sim.scenario: ${(e as Error).message.replace(/\n\s*/g, '; ')}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(parsed.data!);
}
