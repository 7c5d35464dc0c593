/** `tributary replay`: a CSV dataset (or SKAB) into the sensor topic. */
import { progress } from '../eval/index.js';
import { createRecordProducer } from '../ingest/index.js';
import {
  kafkaSink,
  loadSkab,
  pump,
  readCsv,
  toSamples,
  type Delivery,
  type ReplaySeries,
} from '../sim/index.js';
import { USAGE, UsageError, type Values, num, time, topicsOf } from './args.js';
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';

export async function replay(values: Values): Promise<number> {
  if (!values.brokers) throw new UsageError(`--brokers is required\n${USAGE}`);
  if (!values.csv === !values.skab) throw new UsageError(`give exactly one of --csv and --skab\n${USAGE}`);
  const series: ReplaySeries[] = values.skab
    ? loadSkab(values.skab)
    : [readCsv(values.csv!, { asset: values.asset, plant: values.plant, timeColumn: values['time-column'] })];
  // --shift-to moves history so that it ends then (as fast as possible: a backlog up to now), or, at a
  // replay speed, so that it starts then (played out from now on).
  const shiftTo = values['shift-to'] ? time(values['shift-to'], 'shift-to') : null;
  const speed = num(values.speed, 'speed', 0);
  const shiftOf = (s: ReplaySeries) =>
    shiftTo === null ? 0 : shiftTo - (speed > 0 ? Math.min(...s.ts) : Math.max(...s.ts));
  const deliveries: Delivery[] = series
    .flatMap((s) => toSamples(s, shiftOf(s)))
    .map((r) => ({ topic: 'sensors' as const, arrivalMs: r.ts, record: r }))
    .sort((a, b) => a.arrivalMs - b.arrivalMs);
  if (values.labels) {
    writeFileSync(
      values.labels,
      `${JSON.stringify(
        series.map((s) => ({
          name: s.name,
          plant: s.plant,
          asset: s.asset,
          ts: s.ts.map((t) => t + shiftOf(s)),
          labels: s.labels,
        })),
      )}\n`,
    );
  }
  // The record time is left to the producer (now): a replay of history is not a clock to correct.
  const sink = kafkaSink(
    await createRecordProducer(values.brokers.split(','), pino({ level: 'warn' })),
    topicsOf(values.prefix ?? 'tributary'),
    { keepTimestamps: false },
  );
  const chunks: Delivery[][] = [];
  for (let i = 0; i < deliveries.length; i += 5000) chunks.push(deliveries.slice(i, i + 5000));
  const bar = progress('replay');
  const sent = await pump(chunks, sink, {
    speed,
    startMs: deliveries[0]?.arrivalMs ?? 0,
    onProgress: (_, n) => bar.update(n / deliveries.length),
  });
  bar.done();
  await sink.close();
  process.stdout.write(
    `replayed ${sent} samples of ${series.length} series (${series
      .map((s) => s.asset)
      .slice(0, 5)
      .join(', ')}${series.length > 5 ? ', …' : ''})\n`,
  );
  return 0;
}
