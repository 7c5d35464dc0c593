/** Alert rules as stored: the configuration's (replaced at start-up) and the API's. */
import type { AlertRule } from '../schemas/index.js';
import type { Db, Queryable } from './db.js';

export async function syncConfigRules(db: Db, rules: AlertRule[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`DELETE FROM alert_rules WHERE source = 'config'`);
    for (const r of rules) {
      await tx.query(
        `INSERT INTO alert_rules (id, rule, source) VALUES ($1, $2::jsonb, 'config') ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule, source = 'config', updated_at = now()`,
        [r.id, JSON.stringify(r)],
      );
    }
  });
}
export async function listRules(
  db: Queryable,
): Promise<Array<{ rule: AlertRule; source: 'config' | 'api' }>> {
  return (
    await db.query<{ rule: AlertRule; source: 'config' | 'api' }>(
      `SELECT rule, source FROM alert_rules ORDER BY id`,
    )
  ).rows;
}
export async function putRule(db: Queryable, r: AlertRule): Promise<'created' | 'updated' | 'config'> {
  const cur = (await db.query<{ source: string }>(`SELECT source FROM alert_rules WHERE id = $1`, [r.id]))
    .rows[0];
  if (cur?.source === 'config') return 'config';
  await db.query(
    `INSERT INTO alert_rules (id, rule, source) VALUES ($1, $2::jsonb, 'api') ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule, updated_at = now()`,
    [r.id, JSON.stringify(r)],
  );
  return cur ? 'updated' : 'created';
}
export async function deleteRule(db: Queryable, id: string): Promise<'deleted' | 'missing' | 'config'> {
  const cur = (await db.query<{ source: string }>(`SELECT source FROM alert_rules WHERE id = $1`, [id]))
    .rows[0];
  if (!cur) return 'missing';
  if (cur.source === 'config') return 'config';
  await db.query(`DELETE FROM alert_rules WHERE id = $1`, [id]);
  return 'deleted';
}
