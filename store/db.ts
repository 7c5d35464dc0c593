/** The one database interface both back-ends implement: a PostgreSQL server through `pg`, or PGlite in-process. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /**
   * `COPY … FROM STDIN` of the chunks of a stream (binary format), each sent as it comes (a generator's
   * next chunk is made while the server reads the last; an error it throws aborts the COPY); the
   * PostgreSQL server only.
   */
  copyIn?(sql: string, data: Iterable<Buffer>): Promise<void>;
  /** Creates a session-temporary table like `like` (rows dropped at commit) once per connection; with copyIn. */
  tempTable?(name: string, like: string): Promise<void>;
  /**
   * A statement whose result nobody reads: it goes to the server with the next statement that is read, or
   * with the COMMIT (one round trip for many), and a failure surfaces there. The PostgreSQL server's
   * transactions only.
   */
  defer?(sql: string, params?: unknown[]): Promise<void>;
}

/** `tx` with every query deferred where it can be (see `Queryable.defer`): for statements whose results are not read. */
export function deferring(tx: Queryable): Queryable {
  if (!tx.defer) return tx;
  const defer = tx.defer.bind(tx);
  return {
    ...tx,
    async query<T>(sql: string, params?: unknown[]) {
      await defer(sql, params);
      return { rows: [] as T[] };
    },
  };
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Several statements in one call (migrations); no parameters. */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** Readiness: the database answers a query. */
export async function ping(db: Queryable): Promise<true> {
  await db.query('SELECT 1');
  return true;
}
