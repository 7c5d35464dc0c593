/**
 * The current schema as SQL: a fresh database migrated by store/migrations.ts, dumped with pg_dump
 * (schema only, no owners or privileges), without the lines that change from dump to dump. The plain
 * PostgreSQL layout; with TimescaleDB the same tables become hypertables (see the migrations' `timescale`).
 *
 *   npm run schema:dump        rewrites store/schema.sql (needs the PostgreSQL server and pg_dump)
 *
 * tests/integration/schema-dump.test.ts fails when store/schema.sql and the migrations disagree.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../store/index.js';
import { openPostgres } from '../../store/pg.js';

export const SCHEMA_FILE = resolve(import.meta.dirname, '../../store/schema.sql');
const ADMIN_URL = process.env.TRIBUTARY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** pg_dump's output without its version lines, session settings and runs of blank lines. */
export function normaliseDump(dump: string): string {
  const kept = dump
    .split('\n')
    .filter((line) => !/^-- (Dumped (from|by)|Started on|Completed on)/.test(line))
    .filter((line) => !/^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line));
  return `${kept
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}

/** Migrates a fresh database on the server and dumps its schema. */
export async function dumpMigratedSchema(): Promise<string> {
  const name = `trib_schema_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    const db = await openPostgres(url.toString(), 2);
    try {
      await migrate(db, { retentionDays: 90 });
    } finally {
      await db.close();
    }
    const dump = execFileSync(
      'pg_dump',
      ['--schema-only', '--no-owner', '--no-privileges', '--no-comments', url.toString()],
      {
        encoding: 'utf8',
      },
    );
    return normaliseDump(dump);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const sql = await dumpMigratedSchema();
  writeFileSync(
    SCHEMA_FILE,
    `-- The schema store/migrations.ts builds on PostgreSQL without TimescaleDB (\`npm run schema:dump\`).\n-- Generated: edit the migrations, never this file.\n\n${sql}`,
  );
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
