/** Bodies and queries of the alert and webhook routes. */
import { z } from 'zod';
import { WebhookFilters } from './config.js';
import { AlertState, Severity } from './tuple.js';

/** Who acts (default: the API key's name). */
const who = z.string().min(1).max(128).optional();
const comment = z.string().max(4000);

export const AlertsQuery = z.strictObject({
  /** Comma-separated states (default: all). */
  state: z
    .string()
    .regex(
      /^(open|acknowledged|resolved)(,(open|acknowledged|resolved))*$/,
      'open, acknowledged and/or resolved, comma-separated',
    )
    .optional(),
  plant: z.string().min(1).optional(),
  asset: z.string().min(1).optional(),
  /** At least this severity. */
  severity: Severity.optional(),
  kind: z.enum(['anomaly', 'data_quality']).optional(),
  rule: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page')
    .optional(),
});
export const AcknowledgeBody = z.strictObject({ by: who, comment: comment.optional() });
export const SnoozeBody = z.strictObject({
  by: who,
  until: z.iso.datetime({ offset: true }),
  comment: comment.optional(),
});
export const ResolveBody = z.strictObject({ by: who, comment: comment.optional() });
export const FeedbackBody = z.strictObject({
  by: who,
  label: z.enum(['true_positive', 'false_positive']),
  failureMode: z.string().min(1).max(128).optional(),
  comment: comment.optional(),
});
export const EndpointCreate = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  description: z.string().max(500).optional(),
  filters: WebhookFilters.optional(),
  /** Optional: a secret of your own ("whsec_" + base64); otherwise one is generated and returned once. */
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]+$/, 'whsec_<base64>')
    .optional(),
});
export const EndpointPatch = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).optional(),
  description: z.string().max(500).optional(),
  filters: WebhookFilters.optional(),
  enabled: z.boolean().optional(),
});
export const RotateBody = z.strictObject({
  graceMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000)
    .default(86_400_000),
});
export const RedeliverBody = z.union(
  [
    z.strictObject({ eventId: z.string().min(1) }),
    z.strictObject({ since: z.iso.datetime({ offset: true }) }),
  ],
  { error: 'give eventId or since' },
);
export const AttemptsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export { AlertState };

/** GET /v1/assets/{asset}/timeline: a range (default: the last 6 hours up to `to`) at a resolution. */
/** POST /v1/maintenance: an asset's maintenance window (its alert rules do not see windows in it). */
export const MaintenanceCreate = z
  .strictObject({
    plant: z.string().min(1),
    asset: z.string().min(1),
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    reason: z.string().min(1).max(500),
    by: who,
  })
  .refine((m) => Date.parse(m.to) > Date.parse(m.from), { message: 'must be after from', path: ['to'] })
  .refine((m) => Date.parse(m.to) - Date.parse(m.from) <= 31 * 86_400_000, {
    message: 'at most 31 days after from',
    path: ['to'],
  });
export const MaintenanceQuery = z.strictObject({
  asset: z.string().min(1).optional(),
  /** Only windows not yet over (default: all). */
  active: z.enum(['true', 'false']).optional(),
});
export const MaintenanceEnd = z.strictObject({ by: who });

export const TimelineQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Reading buckets (e.g. 10s, 1m, 15m, 1h); default: the range / 500. */
  resolution: z
    .string()
    .regex(/^[1-9][0-9]{0,4}(s|m|h)$/, 'a length such as 10s, 1m or 1h')
    .optional(),
});

/** GET /v1/assets: the asset catalogue with each asset's latest score and open alerts. */
export const AssetsQuery = z.strictObject({
  plant: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page')
    .optional(),
});
/** GET /v1/stream: Server-Sent Events of scores and alert events. */
export const StreamQuery = z.strictObject({
  plant: z.string().min(1).optional(),
  asset: z.string().min(1).optional(),
});
/** GET /v1/assets/{asset}/frame.png: a camera frame (default: the latest) as a PNG thumbnail. */
export const FrameQuery = z
  .strictObject({
    camera: z.string().min(1).optional(),
    /** The frame's time (exact, as in the timeline); default: the latest frame at or before now. */
    ts: z.iso.datetime({ offset: true }).optional(),
    scale: z.coerce.number().int().min(1).max(16).default(4),
    /** Colour range in the frame's unit (default: the frame's own range). */
    lo: z.coerce.number().finite().optional(),
    hi: z.coerce.number().finite().optional(),
  })
  .refine((q) => q.lo === undefined || q.hi === undefined || q.hi > q.lo, {
    message: 'hi must be above lo',
    path: ['hi'],
  });
export const ModelActionBody = z.strictObject({ by: who, comment: comment.optional() });
