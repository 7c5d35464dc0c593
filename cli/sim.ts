/** `tributary sim`: a simulated scenario to Kafka or to JSONL files. */
import { progress } from '../eval/index.js';
import { createRecordProducer } from '../ingest/index.js';
import {
  jsonlSink,
  kafkaSink,
  labelsOf,
  loadScenario,
  planOf,
  pump,
  shiftPlan,
  stream,
  type Sink,
} from '../sim/index.js';
import { USAGE, UsageError, type Values, num, time, topicsOf } from './args.js';
import { pino } from 'pino';

export async function sim(values: Values): Promise<number> {
  if (!values.brokers === !values.out)
    throw new UsageError(`give exactly one of --brokers and --out\n${USAGE}`);
  const scenario = loadScenario(values.scenario ?? 'bearing-wear');
  const speed = num(values.speed, 'speed', 0);
  let plan = planOf(scenario, num(values.seed, 'seed', scenario.seed));
  // To Kafka the default start is "now" (ending now when as fast as possible), so record times are current.
  const startAt = values.start
    ? time(values.start, 'start')
    : values.brokers
      ? Date.now() - (speed > 0 ? 0 : plan.endMs - plan.startMs)
      : null;
  if (startAt !== null) plan = shiftPlan(plan, startAt);
  const endMs = values.hours
    ? Math.min(plan.endMs, plan.startMs + num(values.hours, 'hours', 0) * 3_600_000)
    : plan.endMs;
  let sink: Sink;
  if (values.out)
    sink = jsonlSink(values.out, {
      'labels.json': labelsOf(plan),
      'scenario.json': { ...scenario, seed: plan.seed, start: new Date(plan.startMs).toISOString() },
    });
  else
    sink = kafkaSink(
      await createRecordProducer(values.brokers!.split(','), pino({ level: 'warn' })),
      topicsOf(values.prefix ?? 'tributary'),
    );
  const bar = progress(`sim ${scenario.name}`);
  const sent = await pump(stream(plan, 3_600_000, plan.startMs, endMs), sink, {
    speed,
    startMs: plan.startMs,
    onProgress: (t) => bar.update(Math.min(1, (t - plan.startMs) / (endMs - plan.startMs))),
  });
  bar.done();
  await sink.close();
  const labels = labelsOf(plan);
  process.stdout.write(
    `${scenario.name} seed ${plan.seed}: ${sent} records from ${new Date(plan.startMs).toISOString()} to ${new Date(endMs).toISOString()}; ${labels.length} labelled fault(s)\n`,
  );
  for (const l of labels)
    process.stdout.write(
      `  ${l.asset} ${l.fault}${l.channel ? ` (${l.channel})` : ''}: onset ${new Date(l.onsetMs).toISOString()}, ${l.kind === 'equipment' ? 'failure' : 'end'} ${new Date(l.failureMs).toISOString()}\n`,
    );
  return 0;
}
