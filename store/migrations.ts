/**
 * Numbered migrations. Each has a plain-PostgreSQL body and, where it differs, TimescaleDB extras that run
 * only when the extension is there (hypertables, compression and retention policies).
 * Applied in order, each in its own transaction, recorded in schema_migrations.
 */
import type { Db } from './db.js';

/**
 * schemas/threshold.ts's rule in SQL, for a calibrated fusion model's stored parameters (`params`): its
 * card's threshold when that is a number (or a number's text), else 0.999.
 */
export const CALIBRATED_THRESHOLD_SQL = `CASE
    WHEN jsonb_typeof(params->'card'->'threshold') = 'number' THEN (params->'card'->>'threshold')::float8
    WHEN jsonb_typeof(params->'card'->'threshold') = 'string'
     AND (params->'card'->>'threshold') ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$' THEN (params->'card'->>'threshold')::float8
    ELSE 0.999 END`;

interface Migration {
  id: number;
  name: string;
  sql: string;
  timescale?: (o: { retentionDays: number }) => string[];
}

const MIGRATIONS: Migration[] = [
  {
    id: 1,
    name: 'init',
    sql: `
CREATE TABLE readings (
  plant        text NOT NULL,
  asset        text NOT NULL,
  device       text NOT NULL,
  channel      text NOT NULL,
  window_start timestamptz NOT NULL,
  n            integer NOT NULL,
  t_offset_ms  integer[] NOT NULL,
  v            double precision[] NOT NULL,
  PRIMARY KEY (asset, channel, device, window_start)
);
CREATE INDEX readings_time ON readings (window_start DESC);

CREATE TABLE scores (
  plant          text NOT NULL,
  asset          text NOT NULL,
  window_start   timestamptz NOT NULL,
  window_end     timestamptz NOT NULL,
  model_version  text NOT NULL,
  status         text NOT NULL CHECK (status IN ('reference', 'scored')),
  score          double precision,
  contributions  jsonb NOT NULL,
  quality        jsonb NOT NULL,
  image_ts       timestamptz,
  note_count     integer NOT NULL,
  scored_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (asset, window_start, model_version)
);
CREATE INDEX scores_plant_time ON scores (plant, window_start DESC);
CREATE INDEX scores_time ON scores (window_start DESC);

CREATE TABLE images (
  plant       text NOT NULL,
  asset       text NOT NULL,
  camera      text NOT NULL,
  ts          timestamptz NOT NULL,
  kind        text NOT NULL,
  width       integer,
  height      integer,
  unit        text,
  data        real[],
  encoding    text,
  base64      text,
  uri         text,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (asset, camera, ts)
);

CREATE TABLE notes (
  id          text NOT NULL,
  plant       text NOT NULL,
  asset       text,
  author      text NOT NULL,
  ts          timestamptz NOT NULL,
  text        text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, ts)
);
CREATE INDEX notes_asset_time ON notes (asset, ts DESC);

CREATE TABLE late_records (
  record_key  text PRIMARY KEY,
  modality    text NOT NULL,
  plant       text NOT NULL,
  asset       text,
  reason      text NOT NULL,
  value       jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
  record_key  text PRIMARY KEY,
  source      text NOT NULL,
  code        text NOT NULL,
  reason      text NOT NULL,
  value       bytea,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
  id              text PRIMARY KEY,
  plant           text NOT NULL,
  asset           text NOT NULL,
  rule            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('open', 'resolved')),
  opened_window   timestamptz NOT NULL,
  last_window     timestamptz NOT NULL,
  resolved_window timestamptz,
  peak_score      double precision NOT NULL,
  model_version   text NOT NULL,
  contributions   jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (asset, rule) WHERE state = 'open';

CREATE TABLE webhook_outbox (
  event_id        text NOT NULL,
  endpoint_url    text NOT NULL,
  event_type      text NOT NULL,
  payload         jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  last_status     integer,
  last_error      text,
  delivered_at    timestamptz,
  failed_at       timestamptz,
  PRIMARY KEY (event_id, endpoint_url)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE align_checkpoints (
  partition_key text PRIMARY KEY,
  state         jsonb NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_params (
  model_version text NOT NULL,
  asset         text NOT NULL,
  kind          text NOT NULL,
  params        jsonb NOT NULL,
  fitted_at     timestamptz NOT NULL DEFAULT now(),
  reference_to  timestamptz NOT NULL,
  PRIMARY KEY (model_version, asset)
);
`,
    timescale: ({ retentionDays }) => [
      `SELECT create_hypertable('readings', by_range('window_start', INTERVAL '1 day'))`,
      `SELECT create_hypertable('scores', by_range('window_start', INTERVAL '7 days'))`,
      `SELECT create_hypertable('images', by_range('ts', INTERVAL '7 days'))`,
      `SELECT create_hypertable('notes', by_range('ts', INTERVAL '30 days'))`,
      `ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'asset, channel', timescaledb.compress_orderby = 'window_start')`,
      `SELECT add_compression_policy('readings', INTERVAL '2 days')`,
      ...(retentionDays > 0
        ? [
            `SELECT add_retention_policy('readings', INTERVAL '${retentionDays} days')`,
            `SELECT add_retention_policy('images', INTERVAL '${retentionDays} days')`,
          ]
        : []),
    ],
  },
  {
    id: 2,
    name: 'score revisions',
    // A window amended by late samples is scored again as a new revision; queries read the latest.
    sql: `
ALTER TABLE scores ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE scores DROP CONSTRAINT scores_pkey;
ALTER TABLE scores ADD PRIMARY KEY (asset, window_start, model_version, revision);
`,
  },
  {
    id: 3,
    name: 'alert lifecycle and webhook endpoints',
    // Alerts: acknowledged state, severity, snooze, data-quality kind; the document holds what the rule
    // engine decided, the columns what people did. Every transition is an event. Endpoints move from the
    // configuration into a table (the API manages them); deliveries point at them and log each attempt.
    sql: `
ALTER TABLE alerts DROP CONSTRAINT alerts_state_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_state_check CHECK (state IN ('open', 'acknowledged', 'resolved'));
ALTER TABLE alerts ADD COLUMN kind text NOT NULL DEFAULT 'anomaly';
ALTER TABLE alerts ADD COLUMN severity text NOT NULL DEFAULT 'warning';
ALTER TABLE alerts ADD COLUMN acknowledged_by text;
ALTER TABLE alerts ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE alerts ADD COLUMN snoozed_until timestamptz;
ALTER TABLE alerts ADD COLUMN resolved_by text;
ALTER TABLE alerts ADD COLUMN unack_escalated boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN doc jsonb;
DROP INDEX alerts_one_open;
CREATE UNIQUE INDEX alerts_one_active ON alerts (asset, rule) WHERE state <> 'resolved';
CREATE INDEX alerts_recent ON alerts (created_at DESC, id);
CREATE TABLE alert_events (
  event_id text PRIMARY KEY,
  alert_id text NOT NULL,
  type     text NOT NULL,
  at       timestamptz NOT NULL DEFAULT now(),
  by       text NOT NULL,
  comment  text,
  data     jsonb NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);
CREATE TABLE alert_feedback (
  id           bigserial PRIMARY KEY,
  alert_id     text NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  by           text NOT NULL,
  label        text NOT NULL CHECK (label IN ('true_positive', 'false_positive')),
  failure_mode text,
  comment      text
);
CREATE INDEX alert_feedback_alert ON alert_feedback (alert_id);
CREATE TABLE alert_rules (
  id         text PRIMARY KEY,
  rule       jsonb NOT NULL,
  source     text NOT NULL CHECK (source IN ('config', 'api')),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE webhook_endpoints (
  id              text PRIMARY KEY,
  url             text NOT NULL,
  description     text NOT NULL DEFAULT '',
  secrets         jsonb NOT NULL DEFAULT '[]',
  filters         jsonb NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true,
  disabled_reason text,
  failing_since   timestamptz,
  source          text NOT NULL CHECK (source IN ('config', 'api')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE webhook_outbox ADD COLUMN endpoint_id text;
UPDATE webhook_outbox SET endpoint_id = 'ep_' || left(md5(endpoint_url), 16);
INSERT INTO webhook_endpoints (id, url, source) SELECT DISTINCT endpoint_id, endpoint_url, 'config' FROM webhook_outbox;
ALTER TABLE webhook_outbox ALTER COLUMN endpoint_id SET NOT NULL;
ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_pkey;
ALTER TABLE webhook_outbox ADD PRIMARY KEY (event_id, endpoint_id);
CREATE TABLE webhook_attempts (
  event_id    text NOT NULL,
  endpoint_id text NOT NULL,
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL,
  status      integer,
  error       text,
  duration_ms integer NOT NULL,
  PRIMARY KEY (event_id, endpoint_id, attempt)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at DESC);
`,
  },
  {
    id: 4,
    name: 'api keys, asset catalogue, score roll-ups, model registry',
    // Roll-ups: per asset, model version and minute (and hour), the latest revision of each scored window,
    // kept in the batch transaction that writes the scores, so history queries read a few rows per bucket.
    // TimescaleDB's continuous aggregates cannot pick a window's latest revision (no DISTINCT ON), so the
    // same tables serve both back-ends; on TimescaleDB they are hypertables.
    sql: `
CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  name         text NOT NULL,
  hash         text NOT NULL UNIQUE,
  scopes       text[] NOT NULL,
  plants       text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE TABLE assets (
  plant        text NOT NULL,
  asset        text PRIMARY KEY,
  first_window timestamptz NOT NULL,
  last_window  timestamptz NOT NULL,
  last_status  text NOT NULL,
  last_score   double precision,
  last_model   text NOT NULL,
  contributions jsonb NOT NULL DEFAULT '{}',
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assets_plant ON assets (plant, asset);
CREATE TABLE score_rollup_1m (
  plant         text NOT NULL,
  asset         text NOT NULL,
  model_version text NOT NULL,
  bucket        timestamptz NOT NULL,
  windows       integer NOT NULL,
  sum_score     double precision NOT NULL,
  max_score     double precision,
  above         integer NOT NULL,
  threshold     double precision NOT NULL,
  PRIMARY KEY (asset, model_version, bucket)
);
CREATE INDEX score_rollup_1m_plant ON score_rollup_1m (plant, bucket);
CREATE TABLE score_rollup_1h (LIKE score_rollup_1m INCLUDING ALL);
CREATE INDEX score_rollup_1m_time ON score_rollup_1m (model_version, bucket DESC, asset);
CREATE INDEX score_rollup_1h_time ON score_rollup_1h (model_version, bucket DESC, asset);
CREATE TABLE models (
  version      text PRIMARY KEY,
  kind         text NOT NULL,
  state        text NOT NULL CHECK (state IN ('active', 'shadow', 'retired')),
  params       jsonb NOT NULL DEFAULT '{}',
  metrics      jsonb NOT NULL DEFAULT '{}',
  card         text NOT NULL DEFAULT '',
  trained_from timestamptz,
  trained_to   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz
);
CREATE UNIQUE INDEX models_one_active ON models (state) WHERE state = 'active';
CREATE TABLE model_activations (
  id       bigserial PRIMARY KEY,
  version  text NOT NULL,
  previous text,
  action   text NOT NULL CHECK (action IN ('activate', 'rollback', 'register')),
  by       text NOT NULL,
  at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE alert_events ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX alert_events_recorded ON alert_events (recorded_at);
CREATE INDEX assets_updated ON assets (updated_at);
INSERT INTO assets (plant, asset, first_window, last_window, last_status, last_score, last_model, contributions)
SELECT DISTINCT ON (asset) plant, asset, (SELECT min(window_start) FROM scores f WHERE f.asset = s.asset), window_start, status, score, model_version, contributions
  FROM scores s ORDER BY asset, window_start DESC, revision DESC;
INSERT INTO score_rollup_1m (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
SELECT plant, asset, model_version, date_bin('1 minute', window_start, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       count(*), coalesce(sum(score), 0), max(score), count(*) FILTER (WHERE score >= 6), 6
  FROM (SELECT DISTINCT ON (asset, window_start, model_version) * FROM scores ORDER BY asset, window_start, model_version, revision DESC) l
 WHERE status = 'scored' GROUP BY 1, 2, 3, 4;
INSERT INTO score_rollup_1h (plant, asset, model_version, bucket, windows, sum_score, max_score, above, threshold)
SELECT plant, asset, model_version, date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       sum(windows), sum(sum_score), max(max_score), sum(above), 6
  FROM score_rollup_1m GROUP BY 1, 2, 3, 4;
`,
    timescale: () => [
      `SELECT create_hypertable('score_rollup_1m', by_range('bucket', INTERVAL '30 days'), migrate_data => true)`,
      `SELECT create_hypertable('score_rollup_1h', by_range('bucket', INTERVAL '365 days'), migrate_data => true)`,
    ],
  },
  {
    id: 5,
    name: 'packed daily roll-up',
    // Per asset, model version and UTC day, the day's hour cells packed as float8 quintuples (bucket ms,
    // windows, sum, max or NaN, above) in one bytea: a plant-wide history over weeks reads a row per
    // asset and day instead of one per hour, and decodes without parsing text. Kept from the hour roll-up.
    sql: `
CREATE TABLE score_rollup_day (
  plant         text NOT NULL,
  asset         text NOT NULL,
  model_version text NOT NULL,
  day           timestamptz NOT NULL,
  cells         bytea NOT NULL,
  PRIMARY KEY (asset, model_version, day)
);
CREATE INDEX score_rollup_day_time ON score_rollup_day (model_version, day DESC, asset);
INSERT INTO score_rollup_day (plant, asset, model_version, day, cells)
SELECT min(plant), asset, model_version, date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       string_agg(float8send((extract(epoch FROM bucket) * 1000)::float8) || float8send(windows::float8) || float8send(sum_score)
                  || float8send(coalesce(max_score, 'NaN'::float8)) || float8send(above::float8), ''::bytea ORDER BY bucket)
  FROM score_rollup_1h GROUP BY asset, model_version, 4;
`,
  },
  {
    id: 6,
    name: 'partition ownership epochs',
    // Fencing: each instance that takes a partition (restores its checkpoint) claims the next epoch; a
    // batch commits only while its epoch is the partition's, so a zombie owner writes nothing.
    sql: `
CREATE TABLE partition_owners (
  partition_key text PRIMARY KEY,
  epoch         bigint NOT NULL,
  claimed_at    timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    id: 7,
    name: 'fusion model scores: unscorable windows, explanations, input drift',
    sql: `
ALTER TABLE scores DROP CONSTRAINT IF EXISTS scores_status_check;
ALTER TABLE scores ADD CONSTRAINT scores_status_check CHECK (status IN ('reference', 'scored', 'unscorable'));
ALTER TABLE scores ADD COLUMN explanation jsonb;
CREATE TABLE model_drift (
  model_version text NOT NULL,
  plant         text NOT NULL,
  at            timestamptz NOT NULL,
  windows       integer NOT NULL,
  max_psi       double precision NOT NULL,
  psi           jsonb NOT NULL,
  PRIMARY KEY (model_version, plant, at)
);
`,
  },
  {
    id: 8,
    name: 'per-asset checkpoints',
    // A batch rewrites the parts of the checkpoint it changed (an asset's core, frames, clocks, scoring
    // state), not the whole partition: with thousands of assets per partition the full state was megabytes
    // per transaction. Text, not jsonb: it is only ever read back whole, and the server need not parse it.
    sql: `
CREATE TABLE asset_checkpoints (
  partition_key text NOT NULL,
  asset         text NOT NULL,
  part          text NOT NULL,
  state         text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partition_key, asset, part)
);
`,
  },
  {
    id: 9,
    name: 'checkpoint rows rewritten in place',
    // Every batch rewrites hundreds of these rows. Room on each page lets an update stay on its page
    // (a heap-only tuple: no index entry to add); and rows up to a page are kept inline and uncompressed
    // (by default a row over 2 KB, as an asset's frames or clocks are, was compressed on every write).
    sql: `
ALTER TABLE asset_checkpoints SET (fillfactor = 50, toast_tuple_target = 8160);
ALTER TABLE asset_checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;
`,
  },
  {
    id: 10,
    name: 'operating threshold per model version',
    // A calibrated fusion model scores probabilities: its roll-ups and history count windows above its own
    // threshold (null: the alert threshold). Registered models get theirs as schemas/threshold.ts says;
    // the roll-ups are rebuilt at start-up where a cell's threshold is not its version's.
    sql: `
ALTER TABLE models ADD COLUMN threshold float8;
UPDATE models SET threshold = ${CALIBRATED_THRESHOLD_SQL} WHERE kind = 'fusion' AND jsonb_typeof(params->'calibration') = 'object';
`,
  },
  {
    id: 11,
    name: 'asset owners: an asset id belongs to one plant',
    // Every table keys assets by id alone, so an id is claimed by the first plant that sends it; a record
    // of another plant naming it is dead-lettered (asset_of_other_plant). Assets already scored keep the
    // plant they were stored under.
    sql: `
CREATE TABLE asset_owners (
  asset      text PRIMARY KEY,
  plant      text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO asset_owners (asset, plant) SELECT asset, plant FROM assets ON CONFLICT DO NOTHING;
INSERT INTO asset_owners (asset, plant) SELECT DISTINCT ON (asset) asset, plant FROM alerts ORDER BY asset, created_at ON CONFLICT DO NOTHING;
`,
  },
  {
    id: 12,
    name: 'encoded frames: how their pixels give temperatures',
    // unit, scale, range, palette, paletteStops of a PNG/JPEG frame (null: an inline matrix or none given).
    sql: `ALTER TABLE images ADD COLUMN coding jsonb`,
  },
  {
    id: 13,
    name: 'the API key behind each alert action and feedback',
    sql: `
ALTER TABLE alert_events ADD COLUMN key_id text;
ALTER TABLE alert_feedback ADD COLUMN key_id text;
`,
  },
  {
    id: 14,
    name: 'maintenance windows',
    // An asset in maintenance is scored as ever (its score rows say so) but its alert rules do not see
    // those windows. Ended early by setting ends_at; never deleted (the history says why nothing alerted).
    sql: `
CREATE TABLE maintenance_windows (
  id          text PRIMARY KEY,
  plant       text NOT NULL,
  asset       text NOT NULL,
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL CHECK (ends_at >= starts_at),
  reason      text NOT NULL,
  created_by  text NOT NULL,
  key_id      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_windows_asset ON maintenance_windows (asset, ends_at DESC);
`,
  },
  {
    id: 15,
    name: 'encoded frames stored without a second compression',
    // A PNG or JPEG is compressed already: PostgreSQL's pglz would try each one and give up, costing the
    // server more CPU than the rest of the frame's write. Out of line, uncompressed.
    sql: `ALTER TABLE images ALTER COLUMN base64 SET STORAGE EXTERNAL`,
  },
];

export interface MigrateResult {
  timescale: boolean;
  applied: number[];
}

/** Creates the TimescaleDB extension when the server has it; returns whether it is in use. */
async function enableTimescale(db: Db): Promise<boolean> {
  const have = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`,
  );
  if (have.rows[0].n > 0) return true;
  const avail = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`,
  );
  if (avail.rows[0].n === 0) return false;
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
    return true;
  } catch {
    return false;
  }
}

export async function migrate(db: Db, opts: { retentionDays: number }): Promise<MigrateResult> {
  const timescale = await enableTimescale(db);
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id integer PRIMARY KEY, name text NOT NULL, timescale boolean NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const done = new Set(
    (await db.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id),
  );
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.id)) continue;
    await db.transaction(async (tx) => {
      // One statement per call: the extended protocol (and PGlite's query) take one at a time.
      for (const stmt of splitSql(m.sql)) await tx.query(stmt);
      if (timescale) for (const stmt of m.timescale?.(opts) ?? []) await tx.query(stmt);
      await tx.query('INSERT INTO schema_migrations (id, name, timescale) VALUES ($1, $2, $3)', [
        m.id,
        m.name,
        timescale,
      ]);
    });
    applied.push(m.id);
  }
  return { timescale, applied };
}

function splitSql(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}
