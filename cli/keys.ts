/** `tributary keys create|list|revoke`: API keys in the configured store. */
import { table } from '../eval/index.js';
import { createApiKey, listApiKeys, openStore, revokeApiKey, SCOPES, type Scope } from '../store/index.js';
import { USAGE, UsageError, type Values, configOr2 } from './args.js';

export async function keys(sub: string | undefined, values: Values): Promise<number> {
  const cfg = configOr2(values);
  if (!cfg) return 2;
  if (sub !== 'create' && sub !== 'list' && sub !== 'revoke')
    throw new UsageError(`keys: give create, list or revoke\n${USAGE}`);
  const store = await openStore(cfg.database);
  try {
    if (sub === 'create') {
      if (!values.name) throw new UsageError('keys create: --name is required');
      const scopes = (values.scopes ?? 'read')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const bad = scopes.filter((x) => !(SCOPES as readonly string[]).includes(x));
      if (bad.length || !scopes.length)
        throw new UsageError(
          `keys create: --scopes must be read, write and/or admin, got ${JSON.stringify(values.scopes)}`,
        );
      const plants = values.plants
        ? values.plants
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : [];
      const k = await createApiKey(store.db, { name: values.name, scopes: scopes as Scope[], plants });
      process.stdout.write(`${k.key}\n`);
      process.stderr.write(
        `key ${k.id} "${k.name}": scopes ${k.scopes.join(', ')}; plants ${k.plants.length ? k.plants.join(', ') : 'all'}. Shown once: store it now.\n`,
      );
      return 0;
    }
    if (sub === 'list') {
      const list = await listApiKeys(store.db);
      process.stdout.write(
        `${table(
          ['id', 'name', 'scopes', 'plants', 'created', 'last used', 'revoked'],
          list.map((k) => [
            k.id,
            k.name,
            k.scopes.join(','),
            k.plants.length ? k.plants.join(',') : 'all',
            k.createdAt,
            k.lastUsedAt ?? '–',
            k.revokedAt ?? '–',
          ]),
        )}\n`,
      );
      return 0;
    }
    if (!values.id) throw new UsageError('keys revoke: --id is required');
    if (!(await revokeApiKey(store.db, values.id))) {
      process.stderr.write(`no active key ${values.id}\n`);
      return 1;
    }
    process.stdout.write(`revoked ${values.id}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
