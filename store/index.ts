/**
 * The store: one interface over a PostgreSQL/TimescaleDB server (`database.url`) or the embedded
 * PGlite-TimescaleDB (`database.dataDir`). Knows no HTTP and no alert rules.
 */
import type { Config } from '../schemas/index.js';
import type { Db } from './db.js';
import { migrate, type MigrateResult } from './migrations.js';
import { openPostgres } from './pg.js';
import { openPglite } from './pglite.js';

export interface Store {
  db: Db;
  /**
   * The API's: its own pool with a statement timeout on the PostgreSQL server (database.apiPoolSize,
   * apiStatementTimeoutMs); the one connection in embedded mode.
   */
  apiDb: Db;
  migration: MigrateResult;
  /** Runs TimescaleDB's compression and retention jobs where nothing else would (embedded mode). */
  runPolicies(): Promise<number>;
  close(): Promise<void>;
}

export async function openStore(cfg: Config['database']): Promise<Store> {
  if (cfg.url) {
    const db = await openPostgres(cfg.url, cfg.poolSize);
    const migration = await migrate(db, cfg);
    const apiDb = await openPostgres(cfg.url, cfg.apiPoolSize, {
      statementTimeoutMs: cfg.apiStatementTimeoutMs,
    });
    return {
      db,
      apiDb,
      migration,
      runPolicies: async () => 0,
      close: async () => {
        await apiDb.close();
        await db.close();
      },
    };
  }
  const db = await openPglite(cfg.dataDir === ':memory:' ? null : cfg.dataDir);
  const migration = await migrate(db, cfg);
  return { db, apiDb: db, migration, runPolicies: () => db.runPolicies(), close: () => db.close() };
}

export type { Db, Queryable } from './db.js';
export { ping } from './db.js';
export { writeBatch, emptyBatch, noteId, claimPartition, FencedError } from './batch.js';
export { insertRows } from './insert.js';
export * from './webhooks.js';
export * from './rules.js';
export type { BatchWrite, LateRecord, DeadLetterRow, ModelParamsRow } from './batch.js';
export * from './queries.js';
export { migrate } from './migrations.js';
export * from './alerts.js';
export * from './keys.js';
export * from './models.js';
export * from './history.js';
export * from './catalog.js';
export { rebuildRollups, rollupsStale, updateRollups } from './batch.js';
export * from './maintenance.js';
