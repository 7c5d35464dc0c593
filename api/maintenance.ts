/**
 * Routes for maintenance windows (like Alertmanager's silences, per asset): while an asset is in one, its
 * windows are scored and stored as ever, flagged with the window's id, and its alert rules do not see
 * them. Create, list, end early. A key restricted to plants makes and sees only its plants' windows.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allowedPlants, forbiddenPlant, maySee } from './auth.js';
import { doc, notFound, valid } from './validate.js';
import { MaintenanceCreate, MaintenanceEnd, MaintenanceQuery } from '../schemas/index.js';
import {
  createMaintenance,
  endMaintenance,
  getMaintenance,
  listMaintenance,
  plantOfAsset,
  type Db,
} from '../store/index.js';

export interface MaintenanceApiDeps {
  /** The pipeline's copy of the windows is refreshed (so a new window applies to the next windows fired). */
  changed(): Promise<void> | void;
  now?: () => number;
}

export function registerMaintenanceRoutes(app: FastifyInstance, db: Db, deps: MaintenanceApiDeps): void {
  const tags = ['alerts'];
  const now = deps.now ?? Date.now;
  const by = (req: FastifyRequest, b: { by?: string }) => ({
    by: b.by ?? req.apiKey?.name ?? 'api',
    keyId: req.apiKey?.id ?? null,
  });

  app.post(
    '/v1/maintenance',
    {
      schema: {
        summary: "An asset's maintenance window: scored and flagged, no alerts",
        tags,
        body: doc(MaintenanceCreate),
      },
    },
    async (req, reply) => {
      const b = valid(MaintenanceCreate, req.body, reply, 'body');
      if (!b) return reply;
      if (!maySee(req, b.plant)) return forbiddenPlant(reply, b.plant);
      const owner = await plantOfAsset(db, b.asset);
      if (owner !== null && owner !== b.plant) {
        return reply.code(400).send({
          error: 'invalid_body',
          field: 'asset',
          message: `asset: ${JSON.stringify(b.asset)} is not an asset of plant ${JSON.stringify(b.plant)}`,
        });
      }
      const w = await createMaintenance(db, {
        plant: b.plant,
        asset: b.asset,
        from: Date.parse(b.from),
        to: Date.parse(b.to),
        reason: b.reason,
        ...by(req, b),
      });
      await deps.changed();
      return reply.code(201).send({ maintenance: w });
    },
  );

  app.get(
    '/v1/maintenance',
    {
      schema: {
        summary: 'Maintenance windows, latest start first',
        tags,
        querystring: doc(MaintenanceQuery),
      },
    },
    async (req, reply) => {
      const q = valid(MaintenanceQuery, req.query, reply, 'query');
      if (!q) return reply;
      const windows = await listMaintenance(db, {
        asset: q.asset,
        plants: allowedPlants(req) ?? undefined,
        endsAfter: q.active === 'true' ? now() : undefined,
      });
      return { count: windows.length, maintenance: windows };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/maintenance/:id',
    { schema: { summary: 'One maintenance window', tags } },
    async (req, reply) => {
      const w = await getMaintenance(db, req.params.id);
      return w && maySee(req, w.plant)
        ? { maintenance: w }
        : notFound(reply, `maintenance window ${req.params.id}`);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/maintenance/:id/end',
    {
      schema: {
        summary: 'End a maintenance window now (one not begun is cancelled)',
        tags,
        body: doc(MaintenanceEnd),
      },
    },
    async (req, reply) => {
      const b = valid(MaintenanceEnd, req.body, reply, 'body');
      if (!b) return reply;
      const w = await getMaintenance(db, req.params.id);
      if (!w || !maySee(req, w.plant)) return notFound(reply, `maintenance window ${req.params.id}`);
      const ended = await endMaintenance(db, w.id, now());
      await deps.changed();
      return { maintenance: ended };
    },
  );
}
