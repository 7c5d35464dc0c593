/**
 * API keys: `trb_<id>_<secret>`, shown once when made; the store keeps the SHA-256 of the whole key (the
 * secret is 256 random bits, so a fast hash is enough: there is nothing to brute-force), the scopes and
 * the plants it may see (none listed: all).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
const RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 };

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  plants: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** admin includes write, write includes read. */
export const hasScope = (scopes: readonly Scope[], need: Scope) => scopes.some((s) => RANK[s] >= RANK[need]);
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

interface KeyRow {
  id: string;
  name: string;
  scopes: Scope[];
  plants: string[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const keyOf = (r: KeyRow): ApiKey => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  plants: r.plants,
  createdAt: iso(r.created_at)!,
  lastUsedAt: iso(r.last_used_at),
  revokedAt: iso(r.revoked_at),
});

export async function createApiKey(
  db: Queryable,
  o: { name: string; scopes: Scope[]; plants?: string[] },
): Promise<ApiKey & { key: string }> {
  const id = randomBytes(6).toString('hex');
  const key = `trb_${id}_${randomBytes(32).toString('base64url')}`;
  const r = await db.query<KeyRow>(
    'INSERT INTO api_keys (id, name, hash, scopes, plants) VALUES ($1, $2, $3, $4, $5) RETURNING *',
    [id, o.name, hashKey(key), o.scopes, o.plants ?? []],
  );
  return { ...keyOf(r.rows[0]), key };
}

/** A key given in the configuration (kept as its hash under the id `config`, scopes as given). */
export async function ensureConfiguredKey(db: Queryable, key: string, scopes: Scope[]): Promise<void> {
  await db.query(
    `
    INSERT INTO api_keys (id, name, hash, scopes) VALUES ('config', 'configured key', $1, $2)
    ON CONFLICT (id) DO UPDATE SET hash = EXCLUDED.hash, scopes = EXCLUDED.scopes, revoked_at = NULL`,
    [hashKey(key), scopes],
  );
}

export async function findApiKey(db: Queryable, key: string): Promise<ApiKey | null> {
  const r = await db.query<KeyRow>('SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL', [
    hashKey(key),
  ]);
  return r.rows[0] ? keyOf(r.rows[0]) : null;
}

export async function listApiKeys(db: Queryable): Promise<ApiKey[]> {
  return (await db.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at, id')).rows.map(keyOf);
}

export async function countActiveKeys(db: Queryable): Promise<number> {
  return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL'))
    .rows[0].n;
}

export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query<{ id: string }>(
    'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
    [id],
  );
  return r.rows.length > 0;
}

export async function touchApiKeys(db: Queryable, ids: string[]): Promise<void> {
  if (ids.length)
    await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])', [ids]);
}
