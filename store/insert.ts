/** The one way rows are inserted set-at-a-time (store/batch.ts, store/alerts.ts, store/webhooks.ts). */
import type { Queryable } from './db.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Column name → SQL type, in table order: the one description each write below is generated from. */
export type Columns = Record<string, string>;

/**
 * One statement for all rows: INSERT … SELECT FROM jsonb_to_recordset($1), so the batch costs one round
 * trip per table whatever its size. `onConflict` makes the write idempotent. A time is epoch ms or ISO text.
 */
export async function insertRows(
  tx: Queryable,
  table: string,
  columns: Columns,
  rows: Array<Record<string, unknown>>,
  onConflict: string,
): Promise<void> {
  if (rows.length === 0) return;
  const names = Object.keys(columns);
  // Times may come as epoch ms (the rows COPY takes as they are): JSON gives the server ISO text.
  const times = names.filter((n) => columns[n] === 'timestamptz');
  const decoded = names.map((n) => (columns[n] === 'bytea' ? `decode(${n}, 'base64')` : n));
  const types = names.map((n) => `${n} ${columns[n] === 'bytea' ? 'text' : columns[n]}`);
  await tx.query(
    `INSERT INTO ${table} (${names.join(', ')}) SELECT ${decoded.join(', ')}
       FROM jsonb_to_recordset($1::jsonb) AS x(${types.join(', ')}) ${onConflict}`,
    [
      JSON.stringify(
        times.length
          ? rows.map((r) => {
              const o = { ...r };
              for (const n of times) if (typeof o[n] === 'number') o[n] = iso(o[n]);
              return o;
            })
          : rows,
      ),
    ],
  );
}
