/**
 * The composition root. Start here to follow one sensor record from Kafka to a webhook:
 *
 *   Kafka topics ──▶ ingest (kafkajs consumer group, eachBatch)          ingest/kafka.ts
 *        │            decode + validate, rejects ─▶ dead-letter topic    ingest/decode.ts
 *        ▼
 *   pipeline.handle(batch)                                               pipeline.ts
 *        │  align: event-time windows per asset, watermark, late log     align/window-operator.ts
 *        │  fusion: baseline robust-z score per closed window            fusion/baseline.ts
 *        │  alerts: k consecutive anomalous windows → alert + outbox     alerts/rules.ts
 *        │  store: one transaction (readings, scores, alerts, outbox,    store/batch.ts
 *        │         checkpoint), then the Kafka offsets are committed
 *        ▼
 *   webhook sender: outbox ─▶ POST (Standard Webhooks headers)           alerts/webhooks.ts
 *   api: /healthz, /readyz, /v1/anomalies                                api/server.ts
 *
 * Without Kafka brokers configured, the built-in simulator feeds the same pipeline in-process.
 * Start-up order: store (migrations) → webhook sender → pipeline → Kafka or simulator → API.
 * Shutdown runs the registered cleanups in reverse order.
 */
import type { Logger } from 'pino';
import { buildApi, createMetrics } from './api/index.js';
import { configuredRules, startAlertJobs, startDeliveryWorker } from './alerts/index.js';
import {
  createKafkaIngest,
  LagTracker,
  type CommitRequest,
  type KafkaIngest,
  type PartitionLag,
} from './ingest/index.js';
import { configuredScorer, createPipeline, type Pipeline } from './pipeline/index.js';
import {
  ContextParams,
  MODALITIES,
  operatingThreshold as thresholdOf,
  type Config,
  type Modality,
} from './schemas/index.js';
import {
  aliasTable,
  deliver,
  generate,
  loadScenario,
  planOf,
  shiftPlan,
  simplePlan,
  type SimPlan,
} from './sim/index.js';
import type { RunningModel } from './pipeline/index.js';
import {
  DriftMonitor,
  FusionModel,
  initBackend,
  startModelLifecycle,
  type FusionModelJSON,
} from './fusion/index.js';
import {
  alertCounts,
  countActiveKeys,
  createApiKey,
  ensureConfiguredKey,
  getModel,
  latestWindowEnd,
  listMaintenance,
  modelStates,
  openStore,
  ping,
  rebuildRollups,
  recordDrift,
  rollupsStale,
  registerModel,
  syncConfigEndpoints,
  syncConfigRules,
  type Db,
  type MaintenanceWindow,
  type Store,
} from './store/index.js';

export interface Service {
  store: Store;
  pipeline: Pipeline;
  apiUrl: string;
  stop(): Promise<void>;
}

export async function startService(config: Config, logger: Logger): Promise<Service> {
  const wallStart = Date.now();
  const simPlan =
    (config.sim.enabled ?? config.kafka.brokers.length === 0) ? embeddedPlan(config, wallStart) : null;
  // A scenario's notes may name their asset only in the text: its alias table joins the configured one.
  const cfg: Config =
    simPlan && config.sim.scenario
      ? {
          ...config,
          align: { ...config.align, aliases: { ...aliasTable(simPlan), ...config.align.aliases } },
        }
      : config;
  const cleanups: Array<{ name: string; fn: () => Promise<void> | void }> = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const c of cleanups.reverse()) {
      try {
        await c.fn();
      } catch (e) {
        logger.warn({ err: (e as Error).message }, `cleanup ${c.name} failed`);
      }
    }
    logger.info('stopped');
  };

  try {
    const store = await openStore(cfg.database);
    cleanups.push({ name: 'store', fn: () => store.close() });
    logger.info(
      { backend: store.db.kind, timescale: store.migration.timescale, applied: store.migration.applied },
      'store ready',
    );

    if (store.db.kind === 'pglite') {
      // PGlite has no background workers: run TimescaleDB's compression and retention jobs ourselves.
      const t = setInterval(() => {
        store.runPolicies().catch((e) => logger.warn({ err: e.message }, 'policy run failed'));
      }, 3_600_000);
      t.unref();
      cleanups.push({ name: 'policies', fn: () => clearInterval(t) });
    }

    // Roll-ups count windows above each version's operating threshold (the alert threshold for most):
    // rebuilt when a cell's is not its version's (the alert threshold changed since they were written).
    if (await rollupsStale(store.db, cfg.alerts.threshold)) {
      logger.info(
        { threshold: cfg.alerts.threshold },
        "score roll-ups counted at another threshold than their model version's (the alert threshold changed): rebuilding them",
      );
      await store.db.transaction((tx) => rebuildRollups(tx, cfg.alerts.threshold));
    }

    // API keys: the configured one; with none usable, a bootstrap admin key, logged once.
    if (cfg.api.auth.key) await ensureConfiguredKey(store.db, cfg.api.auth.key, ['admin']);
    let bootstrapKey: string | null = null;
    if (cfg.api.auth.bootstrap && (await countActiveKeys(store.db)) === 0) {
      bootstrapKey = (await createApiKey(store.db, { name: 'bootstrap admin', scopes: ['admin'] })).key;
    }

    // The model registry: the configured scorer is registered (active when it is the first model: a
    // database whose active model is another keeps it, and scores this one in shadow); every non-retired
    // version is scored, the active one alerts.
    const configured = configuredScorer(cfg);
    await registerModel(store.db, {
      version: configured.running.version,
      kind: configured.kind,
      params: configured.params,
      card: configured.card,
    });
    const models = await modelTracker(store.db, logger);
    const modelTimer = setInterval(() => {
      models.refresh().catch((e) => logger.warn({ err: (e as Error).message }, 'model registry read failed'));
    }, 10_000);
    modelTimer.unref();
    cleanups.push({ name: 'models', fn: () => clearInterval(modelTimer) });

    // Configured endpoints and rules join those made through the API.
    await syncConfigEndpoints(store.db, cfg.webhooks);
    await syncConfigRules(store.db, cfg.alerts.rules.length ? cfg.alerts.rules : configuredRules(cfg.alerts));
    const kafkaMode = cfg.kafka.brokers.length > 0;
    const topics: Record<Modality, string> = {
      sensors: cfg.kafka.topics.sensors,
      images: cfg.kafka.topics.images,
      notes: cfg.kafka.topics.notes,
    };
    const metrics = createMetrics(topics);
    metrics.watchAlerts(() => alertCounts(store.db));
    const delivery = startDeliveryWorker(store.db, cfg, logger.child({ stage: 'webhooks' }), {
      report: (o) => metrics.delivery(o),
    });
    cleanups.push({ name: 'webhooks', fn: () => delivery.stop() });
    let pipelineRef: Pipeline | null = null;
    let partitionLag: PartitionLag[] = [];
    const jobs = startAlertJobs({
      db: store.db,
      cfg,
      logger: logger.child({ stage: 'alerts' }),
      streams: () => pipelineRef?.streamStates() ?? [],
      clocks: () => pipelineRef?.clockStates() ?? [],
      partitions: () => partitionLag,
      onChange: () => delivery.wake(),
    });
    await jobs.refreshRules();
    cleanups.push({ name: 'alert jobs', fn: () => jobs.stop() });
    // Scheduled retraining and promotion from shadow (fusion/lifecycle.ts).
    const lifecycle = startModelLifecycle({
      db: store.db,
      cfg,
      logger: logger.child({ stage: 'lifecycle' }),
    });
    cleanups.push({ name: 'model lifecycle', fn: () => lifecycle.stop() });
    if (cfg.scorer.lifecycle.retrainEveryMs && !cfg.database.url)
      logger.info(
        'scheduled retraining is off: it trains in a child process, which needs a PostgreSQL server (database.url), not the embedded database',
      );

    const ingest: KafkaIngest | null = kafkaMode
      ? createKafkaIngest(cfg.kafka, logger.child({ stage: 'ingest' }))
      : null;
    // Input drift of the fusion models: evaluated and stored every minute, exposed as a metric.
    const drift = new DriftMonitor();
    const driftTimer = setInterval(() => {
      drift.retain(new Set(models.running().map((m) => m.version)));
      const rows = drift.evaluate();
      metrics.drift(rows);
      recordDrift(store.db, Date.now(), rows).catch((e) =>
        logger.warn({ err: (e as Error).message }, 'drift figures not stored'),
      );
    }, cfg.scorer.driftEveryMs);
    driftTimer.unref();
    cleanups.push({ name: 'drift', fn: () => clearInterval(driftTimer) });
    // Maintenance windows: read every 10 s (another instance's API may have made one) and when this one's changes them.
    let maintenance: MaintenanceWindow[] = [];
    const refreshMaintenance = async () => {
      maintenance = await listMaintenance(store.db, { endsAfter: Date.now() - 30 * 86_400_000 });
    };
    await refreshMaintenance();
    const maintenanceTimer = setInterval(() => {
      refreshMaintenance().catch((e) =>
        logger.warn({ err: (e as Error).message }, 'maintenance windows read failed'),
      );
    }, 10_000);
    maintenanceTimer.unref();
    cleanups.push({ name: 'maintenance', fn: () => clearInterval(maintenanceTimer) });
    const pipeline = createPipeline({
      maintenance: () => maintenance,
      cfg,
      db: store.db,
      logger: logger.child({ stage: 'pipeline' }),
      topics,
      deadLetter: ingest ? (r) => ingest.deadLetter(r) : null,
      republish: ingest ? (m, r) => ingest.republish(m, r) : undefined,
      isStopping: () => stopping,
      rules: () => jobs.rules(),
      models: () => models.running(),
    });
    pipelineRef = pipeline;
    pipeline.events.on('durable', (s) => {
      metrics.batch(s);
      // Alert events committed: the webhook sender looks now rather than at its next poll.
      if (s.alertsOpened || s.windows) delivery.wake();
    });
    pipeline.events.on('scored', (s) => metrics.scored(s));
    pipeline.events.on('fusionInputs', ({ model, inputs }) => drift.add(model, inputs));
    metrics.watchClocks(() => pipeline.clockStates());
    metrics.watchCameras(() => pipeline.cameraStates());
    // Partitions gone quiet still fire their last windows (the end of a replay, a plant that stopped).
    const tickCommit = ingest ? (c: CommitRequest[]) => ingest.commit(c) : undefined;
    const tickTimer = setInterval(
      () => {
        if (!stopping) void pipeline.tick(tickCommit);
      },
      Math.max(1_000, Math.floor(cfg.align.idleTimeoutMs / 2)),
    );
    tickTimer.unref();
    cleanups.push({ name: 'idle tick', fn: () => clearInterval(tickTimer) });

    if (ingest) {
      const limits = await ingest.ensureTopics();
      const inputs = [topics.sensors, topics.images, topics.notes];
      const smallest = Math.min(...inputs.map((t) => limits[t] ?? Infinity));
      if (cfg.limits.maxRecordBytes > smallest) {
        logger.warn(
          {
            maxRecordBytes: cfg.limits.maxRecordBytes,
            topics: Object.fromEntries(inputs.map((t) => [t, limits[t]])),
          },
          "limits.maxRecordBytes is above an input topic's max.message.bytes: records between the two cannot reach the service",
        );
      }
      cleanups.push({ name: 'kafka', fn: () => ingest.stop() });
      await ingest.run(
        async (b) => {
          try {
            return await pipeline.handle({ ...b, partitionKey: `p${b.partition}` });
          } catch (e) {
            // The pipeline dropped this partition's state; rewind its three topics to match the checkpoint.
            if (!stopping) ingest.seek(b.partition, await ingest.committedOffsets(b.partition));
            throw e;
          }
        },
        (held) => pipeline.forget(held),
        (err) => {
          // A consumer kafkajs will not restart: end the process with a non-zero status, so that a supervisor
          // starts it again (the committed offsets and checkpoints make the restart exact).
          logger.fatal({ err: err?.message }, 'the Kafka consumer stopped for good; exiting');
          process.exitCode = 1;
          void stop().finally(() => process.exit(1));
        },
      );
      logger.info({ brokers: cfg.kafka.brokers, groupId: cfg.kafka.groupId }, 'consuming');
      // Lag against the committed offsets, and partitions whose commit stands still.
      const lagLog = logger.child({ stage: 'lag' });
      const tracker = new LagTracker(cfg.kafka.stuckAfterMs);
      const modalityOfTopic = new Map(Object.entries(topics).map(([m, t]) => [t, m as Modality]));
      let checking = false;
      const lagTimer = setInterval(() => {
        if (checking || stopping) return;
        checking = true;
        ingest
          .partitionOffsets()
          .then((offsets) => {
            // How far the pipeline has processed each partition it holds.
            const rows = offsets.map((o) => ({
              ...o,
              processed:
                pipeline.processedThrough(`p${o.partition}`)?.[modalityOfTopic.get(o.topic)!] ?? null,
            }));
            const was = new Set(partitionLag.filter((p) => p.stuck).map((p) => `${p.topic}:${p.partition}`));
            partitionLag = tracker.update(rows, Date.now());
            metrics.partitions(partitionLag);
            for (const p of partitionLag) {
              const key = `${p.topic}:${p.partition}`;
              if (p.stuck && !was.has(key))
                lagLog.warn(
                  {
                    topic: p.topic,
                    partition: p.partition,
                    lag: p.lag,
                    pending: p.pending,
                    committed: p.committed,
                    stillMs: p.stillMs,
                  },
                  'partition stuck: records wait and its offsets have not moved',
                );
              else if (!p.stuck && was.has(key))
                lagLog.info(
                  { topic: p.topic, partition: p.partition, lag: p.lag, committed: p.committed },
                  'partition moving again',
                );
            }
          })
          .catch((e) => lagLog.warn({ err: (e as Error).message }, 'partition offsets not read'))
          .finally(() => {
            checking = false;
          });
      }, cfg.kafka.lagCheckMs);
      lagTimer.unref();
      cleanups.push({ name: 'lag', fn: () => clearInterval(lagTimer) });
    }

    if (simPlan) {
      const sim = await startEmbeddedSimulator(
        cfg,
        simPlan,
        wallStart,
        store,
        pipeline,
        logger.child({ stage: 'sim' }),
        () => stopping,
      );
      cleanups.push({ name: 'simulator', fn: () => sim.stop() });
    }

    const api = await buildApi({
      db: store.apiDb,
      logger: logger.child({ stage: 'api' }),
      alerts: { cfg, wake: () => delivery.wake(), rulesChanged: () => jobs.refreshRules() },
      maintenance: { changed: refreshMaintenance },
      metrics,
      threshold: cfg.alerts.threshold,
      operatingThreshold: () => models.operatingThreshold(),
      rollupThreshold: cfg.alerts.threshold,
      rateLimit: cfg.api.rateLimit,
      requestTimeoutMs: cfg.api.requestTimeoutMs,
      idleTimeoutMs: cfg.api.idleTimeoutMs,
      streamPollMs: cfg.api.streamPollMs,
      activeModel: () => models.active(),
      modelsChanged: () => models.refresh(),
      readiness: {
        database: () => ping(store.db),
        model: () => models.running().some((m) => m.active),
        ...(ingest ? { kafka: () => ingest.isJoined() } : {}),
      },
    });
    await api.listen({ host: cfg.api.host, port: cfg.api.port });
    cleanups.push({ name: 'api', fn: () => api.close() });
    const addr = api.server.address();
    const apiUrl =
      typeof addr === 'object' && addr
        ? `http://${cfg.api.host}:${addr.port}`
        : `http://${cfg.api.host}:${cfg.api.port}`;
    logger.info({ url: apiUrl }, 'api listening');
    if (bootstrapKey) {
      // Shown once: only its hash is stored. The fragment never reaches a server.
      logger.warn(
        { key: bootstrapKey, dashboard: `${apiUrl}/#key=${bootstrapKey}` },
        'no API keys existed: made an admin key (shown once; `tributary keys create` makes more, `tributary keys revoke` retires this one)',
      );
    }
    return { store, pipeline, apiUrl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The registry's models as the pipeline runs them: every non-retired baseline and fusion version, the active
 * one alerting. Fusion models are loaded from their stored parameters once per version.
 */
export async function modelTracker(db: Db, logger: Logger) {
  let running: RunningModel[] = [];
  let activeVersion: string | undefined;
  const skipped = new Set<string>();
  const loaded = new Map<string, FusionModel>();
  const refresh = async () => {
    const list = await modelStates(db);
    const next: RunningModel[] = [];
    for (const m of list) {
      if (m.state === 'retired') continue;
      const active = m.state === 'active';
      if (m.kind === 'fusion') {
        let model = loaded.get(m.version);
        // A version's parameters never change (registering it again does nothing): one that failed to load stays skipped.
        if (!model && skipped.has(m.version)) continue;
        if (!model) {
          try {
            const backend = await initBackend();
            const stored = await getModel(db, m.version);
            if (!stored) continue; // removed since the list was read
            model = FusionModel.fromJSON(stored.params as unknown as FusionModelJSON);
            loaded.set(m.version, model);
            logger.info(
              {
                version: m.version,
                backend,
                modalities: model.modalities,
                calibrated: model.calibration !== null,
              },
              'fusion model loaded',
            );
          } catch (e) {
            logger.error(
              { version: m.version, err: (e as Error).message },
              'fusion model could not be loaded: not scored',
            );
            skipped.add(m.version);
            continue;
          }
        }
        next.push({
          version: m.version,
          active,
          referenceWindows: model.spec.referenceWindows,
          fusion: model,
        });
        continue;
      }
      if (m.kind === 'context-knn') {
        const parsed = ContextParams.safeParse(m.params);
        if (!parsed.success) {
          if (!skipped.has(m.version))
            logger.warn(
              {
                version: m.version,
                problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
              },
              'context scorer parameters not usable: not scored',
            );
          skipped.add(m.version);
          continue;
        }
        next.push({ version: m.version, active, referenceWindows: 0, context: parsed.data });
        continue;
      }
      const ref = Number(m.params.referenceWindows);
      if (m.kind !== 'baseline-robustz' || !Number.isInteger(ref) || ref < 3) {
        if (!skipped.has(m.version))
          logger.warn(
            { version: m.version, kind: m.kind },
            'model kind not runnable by this service: not scored',
          );
        skipped.add(m.version);
        continue;
      }
      next.push({ version: m.version, active, referenceWindows: ref });
    }
    for (const [v, model] of loaded)
      if (!next.some((r) => r.version === v)) {
        model.dispose();
        loaded.delete(v);
      }
    running = next;
    activeVersion = list.find((m) => m.state === 'active')?.version;
  };
  await refresh();
  /** The active model's operating threshold when it is a calibrated fusion model (its card's probability). */
  const operatingThreshold = (): number | undefined => {
    const m = running.find((r) => r.active)?.fusion;
    return (m && thresholdOf(m)) ?? undefined;
  };
  return { refresh, running: () => running, active: () => activeVersion, operatingThreshold };
}

/**
 * Embedded mode: the simulator's records, encoded as JSON exactly as a plant would publish them, go
 * through the same pipeline (partition "embedded"). It replays `backfillMs` of history at `speed`×, then
 * runs in real time; after a restart it resumes after the last stored window.
 */
function embeddedPlan(cfg: Config, wallStart: number): SimPlan {
  if (cfg.sim.scenario)
    return shiftPlan(planOf(loadScenario(cfg.sim.scenario), cfg.sim.seed), wallStart - cfg.sim.backfillMs);
  return simplePlan({
    seed: cfg.sim.seed,
    assets: cfg.sim.assets,
    sampleMs: cfg.sim.sampleMs,
    imageMs: cfg.align.windowMs,
    loadCycle: 0.005,
    // One fault: bearing wear on the second asset, starting a third of the way into the backfill.
    fault:
      cfg.sim.assets > 1
        ? {
            asset: 1,
            onsetMs: wallStart - (2 * cfg.sim.backfillMs) / 3,
            fullMs: wallStart - cfg.sim.backfillMs / 6,
          }
        : null,
  });
}

async function startEmbeddedSimulator(
  cfg: Config,
  plan: SimPlan,
  wallStart: number,
  store: Store,
  pipeline: Pipeline,
  logger: Logger,
  isStopping: () => boolean,
) {
  const resumeAt = await latestWindowEnd(store.db);
  const simStart = Math.max(wallStart - cfg.sim.backfillMs, resumeAt ?? -Infinity);
  let cursor = simStart;
  let stopped = false;
  logger.info(
    { from: new Date(simStart).toISOString(), speed: cfg.sim.speed, assets: cfg.sim.assets },
    'simulator started',
  );
  const loop = (async () => {
    while (!stopped && !isStopping()) {
      const elapsed = Date.now() - wallStart;
      const target = Math.min(Date.now(), simStart + elapsed * cfg.sim.speed);
      if (target > cursor) {
        const recs = generate(plan, cursor, target);
        cursor = target;
        // A scenario's records come as the broker would get them (device clocks, network); the default
        // plant's as they were measured.
        const deliveries = cfg.sim.scenario ? deliver(plan, recs) : null;
        for (const m of MODALITIES) {
          const list = deliveries
            ? deliveries.filter((d) => d.topic === m).map((d) => ({ v: d.record, ts: d.arrivalMs }))
            : recs[m].map((v) => ({ v, ts: Date.now() }));
          if (!list.length) continue;
          const first = await pipeline.nextOffset('embedded', m);
          await pipeline
            .handle({
              partitionKey: 'embedded',
              partition: 0,
              modality: m,
              topic: `sim.${m}`,
              messages: list.map(({ v, ts }, i) => ({
                offset: first + i,
                key: Buffer.from((v as { asset?: string }).asset ?? ''),
                value: Buffer.from(JSON.stringify(v)),
                timestamp: ts,
                headers: {},
              })),
            })
            .catch((e) => logger.error({ err: (e as Error).message }, 'simulated batch failed'));
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
