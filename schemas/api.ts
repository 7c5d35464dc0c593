/** Bodies and queries of the alert and webhook routes. */
import { z } from 'zod';
import { WebhookFilters } from './config.js';
import { AlertState, Severity } from './tuple.js';

const who = z.string().min(1).max(128);
const comment = z.string().max(4000);

export const AlertsQuery = z.strictObject({
  /** Comma-separated states (default: all). */
  state: z.string().regex(/^(open|acknowledged|resolved)(,(open|acknowledged|resolved))*$/, 'open, acknowledged and/or resolved, comma-separated').optional(),
  plant: z.string().min(1).optional(),
  asset: z.string().min(1).optional(),
  /** At least this severity. */
  severity: Severity.optional(),
  kind: z.enum(['anomaly', 'data_quality']).optional(),
  rule: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page').optional(),
});
export const AcknowledgeBody = z.strictObject({ by: who, comment: comment.optional() });
export const SnoozeBody = z.strictObject({ by: who, until: z.iso.datetime({ offset: true }), comment: comment.optional() });
export const ResolveBody = z.strictObject({ by: who, comment: comment.optional() });
export const FeedbackBody = z.strictObject({
  by: who, label: z.enum(['true_positive', 'false_positive']), failureMode: z.string().min(1).max(128).optional(), comment: comment.optional(),
});
export const EndpointCreate = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  description: z.string().max(500).optional(),
  filters: WebhookFilters.optional(),
  /** Optional: a secret of your own ("whsec_" + base64); otherwise one is generated and returned once. */
  secret: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'whsec_<base64>').optional(),
});
export const EndpointPatch = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).optional(),
  description: z.string().max(500).optional(),
  filters: WebhookFilters.optional(),
  enabled: z.boolean().optional(),
});
export const RotateBody = z.strictObject({ graceMs: z.number().int().min(0).max(7 * 86_400_000).default(86_400_000) });
export const RedeliverBody = z.union([
  z.strictObject({ eventId: z.string().min(1) }),
  z.strictObject({ since: z.iso.datetime({ offset: true }) }),
], { error: 'give eventId or since' });
export const AttemptsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export { AlertState };

/** GET /v1/assets/{asset}/timeline: a range (default: the last 6 hours up to `to`) at a resolution. */
export const TimelineQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Reading buckets (e.g. 10s, 1m, 15m, 1h); default: the range / 500. */
  resolution: z.string().regex(/^[1-9][0-9]{0,4}(s|m|h)$/, 'a length such as 10s, 1m or 1h').optional(),
});
