/** What a run left in the database, for comparing runs: latest revision of each window, alerts, outbox. */
import pg from 'pg';

export async function snapshot(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // The latest revision of each window, as the history API reads it (a note that arrives after its
    // window fired amends it as a new revision).
    const scores = (
      await c.query(`SELECT DISTINCT ON (asset, window_start) asset, extract(epoch FROM window_start) * 1000 AS ws,
      revision, status, score, contributions, quality, note_count, image_ts
      FROM scores ORDER BY asset, window_start, revision DESC`)
    ).rows.map((r) => ({ ...r, ws: Number(r.ws) }));
    // Anomaly alerts (data-quality alerts follow processing time and are not comparable between runs).
    const alerts = (
      await c.query(
        `SELECT id, asset, rule, state, opened_window, last_window, resolved_window, peak_score, contributions FROM alerts WHERE kind = 'anomaly' ORDER BY id`,
      )
    ).rows;
    const outbox = (
      await c.query(
        `SELECT event_id, event_type, delivered_at IS NOT NULL AS delivered FROM webhook_outbox ORDER BY event_id`,
      )
    ).rows;
    const readings = Number((await c.query(`SELECT count(*) FROM readings`)).rows[0].count);
    const duplicates = Number(
      (
        await c.query(
          `SELECT count(*) FROM (SELECT asset, window_start, revision FROM scores GROUP BY 1, 2, 3 HAVING count(*) > 1) d`,
        )
      ).rows[0].count,
    );
    return { scores, alerts, outbox, readings, duplicates };
  } finally {
    await c.end();
  }
}
export type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/**
 * Everything decided by the sensors and the camera (which hold the watermark). Notes do not hold it, so
 * which window a note reaches depends on when it is read: not compared.
 */
export const decided = (rows: Snapshot['scores']) =>
  rows.map(({ ws, asset, status, score, contributions, image_ts, quality }) => ({
    ws,
    asset,
    status,
    score,
    contributions,
    image_ts,
    samples: quality.samples,
    duplicates: quality.duplicates,
    late: quality.late,
    images: quality.images,
  }));
