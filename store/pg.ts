/** The one owner of the `pg` pool. */
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db, Queryable } from './db.js';

// Timestamps come back as Date, bigint counts as numbers (they stay far below 2^53 here).
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openPostgres(
  url: string,
  poolSize: number,
  o: { statementTimeoutMs?: number } = {},
): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 10_000,
    ...(o.statementTimeoutMs ? { statement_timeout: o.statementTimeoutMs } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  // Session-temporary tables each connection has (they live as long as it does).
  const temps = new WeakMap<pg.PoolClient, Set<string>>();
  const asQueryable = (c: pg.Pool | pg.PoolClient, made?: Set<string>, pending?: string[]): Queryable => {
    /**
     * The deferred statements go first, in one round trip with `sql` when its parameters can be inlined
     * (and with a COPY, see copyIn). Joined with the semicolon on a line of its own: a statement ending in
     * a line comment keeps its end.
     */
    const withPending = (...sql: string[]) => [...(pending?.splice(0) ?? []), ...sql].join('\n;\n');
    const flush = async () => {
      if (pending?.length) await c.query(withPending());
    };
    const run = async (sql: string, params?: unknown[]): Promise<pg.QueryResult> => {
      if (!pending?.length) return c.query(sql, params as unknown[]);
      const text = params?.length ? inlined(sql, params) : sql;
      if (text === null) {
        await flush();
        return c.query(sql, params as unknown[]);
      }
      const r = (await c.query(withPending(text))) as pg.QueryResult | pg.QueryResult[];
      return Array.isArray(r) ? r[r.length - 1] : r;
    };
    return {
      async query<T>(sql: string, params?: unknown[]) {
        const r = await run(sql, params);
        return { rows: r.rows as T[] };
      },
      ...(pending
        ? {
            async defer(sql: string, params?: unknown[]) {
              const text = params?.length ? inlined(sql, params) : sql;
              if (text === null) await run(sql, params);
              else pending.push(text);
            },
          }
        : {}),
      // COPY needs one connection: transactions (a PoolClient) have it.
      ...(c instanceof pg.Pool
        ? {}
        : {
            async tempTable(name: string, like: string) {
              if (temps.get(c as pg.PoolClient)?.has(name) || made?.has(name)) return;
              await run(
                `CREATE TEMP TABLE IF NOT EXISTS ${name} (LIKE ${like} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
              );
              // Made in this transaction: remembered once it commits (a rollback drops the table).
              made?.add(name);
            },
            async copyIn(sql: string, data: Iterable<Buffer>) {
              // The deferred statements go in the same simple query, before the COPY: the server runs them,
              // then asks for the data (a failing one fails the COPY, with its error).
              const stream = (c as pg.PoolClient).query(copyFrom(withPending(sql)));
              const done = finished(stream);
              // It may fail while chunks are still being made (awaited below, after them).
              done.catch(() => {});
              let failed = false;
              stream.once('error', () => {
                failed = true;
              });
              try {
                // Without waiting for drain (the chunks are made in memory anyway), but letting the event loop
                // turn between chunks: the server's answer to the COPY comes in, and each chunk goes out while
                // the next is made.
                for (const chunk of data) {
                  if (failed) break;
                  stream.write(chunk);
                  await new Promise((r) => setImmediate(r));
                }
              } catch (e) {
                stream.destroy(e as Error);
                await done.catch(() => {});
                throw e;
              }
              stream.end();
              await done;
            },
          }),
    };
  };
  return {
    kind: 'postgres',
    ...asQueryable(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      const made = new Set<string>();
      // BEGIN goes with the first statement, deferred ones with the next read or the COMMIT.
      const pending = ['BEGIN'];
      try {
        const tx = asQueryable(client, made, pending);
        const out = await fn(tx);
        await tx.query('COMMIT');
        if (made.size) temps.set(client, new Set([...(temps.get(client) ?? []), ...made]));
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * `sql` with its parameters written in as literals (null: one cannot be): strings dollar-quoted (nothing
 * inside is escaped), numbers in parentheses (a minus sign after an operator would start a comment).
 * An unknown-typed literal takes its type from its context as a parameter does; the statements deferred
 * cast where the context does not say.
 */
function inlined(sql: string, params: unknown[]): string | null {
  const lits: string[] = [];
  for (const v of params) {
    if (v === null || v === undefined) lits.push('NULL');
    else if (typeof v === 'boolean') lits.push(v ? 'TRUE' : 'FALSE');
    else if (typeof v === 'number' && Number.isFinite(v)) lits.push(`(${v})`);
    else if (typeof v === 'string' && !v.includes('\u0000')) {
      let tag = '$q$';
      for (let k = 0; v.includes(tag); k++) tag = `$q${k}$`;
      lits.push(`${tag}${v}${tag}`);
    } else return null;
  }
  return sql.replace(/\$(\d+)/g, (_, i: string) => lits[Number(i) - 1]);
}
