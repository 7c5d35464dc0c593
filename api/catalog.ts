/**
 * Routes for plants and assets (the catalogue, frames as thumbnails), models (list, get, activate,
 * roll back, retire, metrics) and the live event stream.
 */
import type { FastifyInstance } from 'fastify';
import { doc, notFound, valid } from './validate.js';
import { AssetsQuery, FrameQuery, ModelActionBody, StreamQuery } from '../schemas/index.js';
import {
  activateModel,
  getModel,
  latestDrift,
  latestFrame,
  listAssets,
  listModels,
  listPlants,
  modelActivations,
  modelMetrics,
  plantOfAsset,
  retireModel,
  rollbackModel,
  type Db,
  type ModelInfo,
} from '../store/index.js';
import { storedThermal } from '../ingest/frames.js';
import { allowedPlants, forbiddenPlant, maySee } from './auth.js';
import { thermalPng } from './png.js';
import type { EventHub } from './stream.js';

export interface CatalogDeps {
  threshold: () => number;
  hub: EventHub;
  modelsChanged(): Promise<void> | void;
}

export function registerCatalogRoutes(app: FastifyInstance, db: Db, deps: CatalogDeps): void {
  // Open event streams end when the server closes (they would hold it open).
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
    streams.clear();
  });

  app.get(
    '/v1/plants',
    {
      schema: {
        summary: 'Plants: assets, latest window, assets above the threshold, open alerts',
        tags: ['assets'],
      },
    },
    async (req) => ({
      plants: await listPlants(db, { plants: allowedPlants(req) ?? undefined, threshold: deps.threshold() }),
    }),
  );

  app.get(
    '/v1/assets',
    {
      schema: {
        summary: "Assets with each one's latest score, contributions and open alerts (cursor pages)",
        tags: ['assets'],
        querystring: doc(AssetsQuery),
      },
    },
    async (req, reply) => {
      const q = valid(AssetsQuery, req.query, reply, 'query');
      if (!q) return reply;
      if (q.plant && !maySee(req, q.plant)) return forbiddenPlant(reply, q.plant);
      const page = await listAssets(db, { ...q, plants: allowedPlants(req) ?? undefined });
      return {
        count: page.assets.length,
        threshold: deps.threshold(),
        assets: page.assets,
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get<{ Params: { asset: string } }>(
    '/v1/assets/:asset',
    { schema: { summary: 'One asset: latest score, contributions, open alerts', tags: ['assets'] } },
    async (req, reply) => {
      const page = await listAssets(db, { asset: req.params.asset, limit: 1 });
      const a = page.assets[0];
      // Another plant's asset answers as one that does not exist.
      return a && maySee(req, a.plant)
        ? { ...a, threshold: deps.threshold() }
        : notFound(reply, `asset ${req.params.asset}`);
    },
  );

  app.get<{ Params: { asset: string } }>(
    '/v1/assets/:asset/frame.png',
    {
      schema: {
        summary:
          'A camera frame as a PNG thumbnail (thermal matrices through a colour map); default: the latest',
        tags: ['assets'],
        querystring: doc(FrameQuery),
      },
    },
    async (req, reply) => {
      const q = valid(FrameQuery, req.query, reply, 'query');
      if (!q) return reply;
      const plant = await plantOfAsset(db, req.params.asset);
      if (plant === null || !maySee(req, plant)) return notFound(reply, `asset ${req.params.asset}`);
      const f = await latestFrame(db, req.params.asset, { camera: q.camera, ts: q.ts });
      if (!f) return notFound(reply, `frame of ${req.params.asset}${q.ts ? ` at ${q.ts}` : ''}`);
      void reply
        .header('cache-control', 'private, max-age=60')
        .header('x-frame-ts', new Date(f.ts).toISOString());
      // Thermal frames (inline or encoded) through the colour map; visible ones as they were sent.
      const m = storedThermal(f);
      if (m)
        return reply
          .type('image/png')
          .send(thermalPng(m.data, m.width, m.height, { scale: q.scale, lo: q.lo, hi: q.hi }));
      if (f.base64 && f.encoding)
        return reply.type(`image/${f.encoding}`).send(Buffer.from(f.base64, 'base64'));
      return reply
        .code(404)
        .send({ error: 'not_found', message: `the frame is stored by reference only: ${f.uri}` });
    },
  );

  app.get(
    '/v1/stream',
    {
      schema: {
        summary:
          "Live Server-Sent Events: `score` (each asset's latest window) and `alert` (every alert event)",
        tags: ['stream'],
        querystring: doc(StreamQuery),
      },
    },
    async (req, reply) => {
      const q = valid(StreamQuery, req.query, reply, 'query');
      if (!q) return reply;
      if (q.plant && !maySee(req, q.plant)) return forbiddenPlant(reply, q.plant);
      // Another plant's asset: the stream is filtered to the key's plants, as for an asset that does not exist.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 2000\n: connected\n\n`);
      let n = 0;
      streams.add(res);
      const unsubscribe = deps.hub.subscribe({
        plants: allowedPlants(req),
        plant: q.plant,
        asset: q.asset,
        send(e) {
          res.write(`id: ${++n}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
        },
      });
      const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
      const close = () => {
        clearInterval(ping);
        unsubscribe();
        streams.delete(res);
      };
      req.raw.on('close', close);
      res.on('error', close);
    },
  );

  const mtags = ['models'];
  // A fusion model's parameters hold its weights and calibration quantiles: the API shows their size only.
  const brief = (m: ModelInfo): ModelInfo => {
    if (m.kind !== 'fusion') return m;
    const { weights, calibration, reference, ...rest } = m.params as Record<string, unknown> & {
      calibration?: { n?: number } | null;
    };
    const tensors = Object.values((weights ?? {}) as Record<string, { shape: number[] }>);
    return {
      ...m,
      params: {
        ...rest,
        weights: {
          tensors: tensors.length,
          parameters: tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0),
        },
        calibration: calibration ? { heldOutWindows: calibration.n ?? null } : null,
        driftReferenceFeatures: Array.isArray(reference) ? reference.length : 0,
      },
    };
  };
  app.get(
    '/v1/models',
    { schema: { summary: 'Model versions: the active one first, then shadow and retired', tags: mtags } },
    async () => ({
      models: (await listModels(db)).map(brief),
      activations: await modelActivations(db, 20),
    }),
  );
  app.get<{ Params: { version: string } }>(
    '/v1/models/:version',
    { schema: { summary: 'One model version with its card', tags: mtags } },
    async (req, reply) => {
      const m = await getModel(db, req.params.version);
      return m ? brief(m) : notFound(reply, `model ${req.params.version}`);
    },
  );
  app.get<{ Params: { version: string } }>(
    '/v1/models/:version/metrics',
    {
      schema: {
        summary:
          'Training metrics, what the model did in service (windows, alerts, feedback), and its latest input drift per plant',
        tags: mtags,
      },
    },
    async (req, reply) => {
      const m = await getModel(db, req.params.version);
      if (!m) return notFound(reply, `model ${req.params.version}`);
      return {
        version: m.version,
        training: m.metrics,
        service: await modelMetrics(db, m.version),
        drift: await latestDrift(db, m.version),
      };
    },
  );
  const modelAction = (
    path: string,
    summary: string,
    act: (version: string, by: string) => Promise<unknown>,
  ) => {
    app.post<{ Params: { version: string } }>(
      path,
      { schema: { summary, tags: mtags, body: doc(ModelActionBody) } },
      async (req, reply) => {
        const b = valid(ModelActionBody, req.body, reply, 'body');
        if (!b) return reply;
        const out = await act(req.params.version, b.by ?? req.apiKey?.name ?? 'api');
        await deps.modelsChanged();
        return out;
      },
    );
  };
  modelAction(
    '/v1/models/:version/activate',
    'Make this version active (the current one goes to shadow); no restart',
    (v, by) => activateModel(db, v, by),
  );
  modelAction('/v1/models/:version/retire', 'Stop scoring with a shadow version', (v) => retireModel(db, v));
  app.post(
    '/v1/models/rollback',
    {
      schema: {
        summary: 'Return to the model active before the current one',
        tags: mtags,
        body: doc(ModelActionBody),
      },
    },
    async (req, reply) => {
      const b = valid(ModelActionBody, req.body, reply, 'body');
      if (!b) return reply;
      const m = await rollbackModel(db, b.by ?? req.apiKey?.name ?? 'api');
      await deps.modelsChanged();
      return m;
    },
  );
}
