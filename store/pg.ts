/** The one owner of the `pg` pool. */
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db, Queryable } from './db.js';

// Timestamps come back as Date, bigint counts as numbers (they stay far below 2^53 here).
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openPostgres(url: string, poolSize: number): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  // Session-temporary tables each connection has (they live as long as it does).
  const temps = new WeakMap<pg.PoolClient, Set<string>>();
  const asQueryable = (c: pg.Pool | pg.PoolClient, made?: Set<string>): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await c.query(sql, params as unknown[]);
      return { rows: r.rows as T[] };
    },
    // COPY needs one connection: transactions (a PoolClient) have it.
    ...(c instanceof pg.Pool ? {} : {
      async tempTable(name: string, like: string) {
        if (temps.get(c as pg.PoolClient)?.has(name) || made?.has(name)) return;
        await c.query(`CREATE TEMP TABLE IF NOT EXISTS ${name} (LIKE ${like} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
        // Made in this transaction: remembered once it commits (a rollback drops the table).
        made?.add(name);
      },
      async copyIn(sql: string, lines: string[]) {
        const stream = (c as pg.PoolClient).query(copyFrom(sql));
        const done = finished(stream);
        // In ~1 MiB writes, without waiting for drain: the lines are in memory already.
        for (const chunk of chunked(lines)) stream.write(chunk);
        stream.end();
        await done;
      },
    }),
  });
  return {
    kind: 'postgres',
    ...asQueryable(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      const made = new Set<string>();
      try {
        await client.query('BEGIN');
        const out = await fn(asQueryable(client, made));
        await client.query('COMMIT');
        if (made.size) temps.set(client, new Set([...(temps.get(client) ?? []), ...made]));
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    async exec(sql: string) { await pool.query(sql); },
    async close() { await pool.end(); },
  };
}

/** Lines joined into ~1 MiB chunks: fewer stream writes than one per line. */
function* chunked(lines: string[]): Generator<string> {
  let buf = '';
  for (const l of lines) { buf += l; if (buf.length >= 1 << 20) { yield buf; buf = ''; } }
  if (buf) yield buf;
}
