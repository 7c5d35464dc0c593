/** What the stages hand each other and what the store keeps: window tuples, score rows, alerts. */
import { z } from 'zod';

/** One channel's samples inside a window, sorted by event time; `t` is epoch ms. */
export const ChannelSeries = z.object({
  device: z.string(),
  t: z.array(z.number()),
  v: z.array(z.number()),
});
export type ChannelSeries = z.infer<typeof ChannelSeries>;

export const TupleImage = z.object({
  camera: z.string(),
  ts: z.number(),
  ageMs: z.number(),
  kind: z.string(),
  /** Mean and max of an inline thermal matrix; null for encoded or URI frames. */
  meanC: z.number().nullable(),
  maxC: z.number().nullable(),
  /** An inline thermal matrix normalised to 8 × 6 patch means in °C (row-major), for the image encoder. */
  patches: z.array(z.number()).optional(),
  /** A frame sent as a URI: where it is fetched from. */
  uri: z.string().optional(),
  /** Why the frame has no temperatures yet (a URI being fetched, or one that could not be). */
  missing: z.string().optional(),
});
export type TupleImage = z.infer<typeof TupleImage>;

export const TupleNote = z.object({
  author: z.string(),
  ts: z.number(),
  /** The note's time is an interval: ts ± slackMs (human time). */
  slackMs: z.number(),
  text: z.string(),
});
export type TupleNote = z.infer<typeof TupleNote>;

export const TupleQuality = z.object({
  samples: z.number().int(),
  duplicates: z.number().int(),
  /** Records that arrived after this window closed are counted on the next window of the asset. */
  late: z.number().int(),
  images: z.number().int(),
  notes: z.number().int(),
  /**
   * Share of the window each modality covers: sensors, the mean over channels of grid cells holding a
   * sample; images, 1 with a frame within its maximum age; notes, 1 with at least one note.
   */
  coverage: z.object({ sensors: z.number(), images: z.number(), notes: z.number() }).optional(),
  /** The largest clock correction applied to a contributing device (corrected − device time). */
  clockOffsetMs: z.number(),
  /** Per contributing device: its clock's offset, drift and uncertainty, and whether it was applied. */
  clocks: z
    .record(
      z.string(),
      z.object({
        offsetMs: z.number().nullable(),
        driftPpm: z.number().nullable(),
        uncertaintyMs: z.number().nullable(),
        corrected: z.boolean(),
      }),
    )
    .optional(),
});
export type TupleQuality = z.infer<typeof TupleQuality>;

/** A channel on the window's fixed grid: values at the cell centres and which cells hold a real sample. */
export const GridSeries = z.object({ v: z.array(z.number().nullable()), mask: z.array(z.boolean()) });

/** A closed event-time window of one asset: every modality aligned to [windowStart, windowEnd). */
export const WindowTuple = z.object({
  plant: z.string(),
  asset: z.string(),
  windowStart: z.number(),
  windowEnd: z.number(),
  /** The hop between window starts (= the window's length for tumbling windows). */
  slideMs: z.number(),
  /** 0 when the window first fires; +1 each time late samples (within the allowed lateness) amend it. */
  revision: z.number().int().min(0),
  channels: z.record(z.string(), ChannelSeries),
  grid: z.object({ stepMs: z.number(), channels: z.record(z.string(), GridSeries) }),
  image: TupleImage.nullable(),
  notes: z.array(TupleNote),
  quality: TupleQuality,
});
export type WindowTuple = z.infer<typeof WindowTuple>;

/**
 * `reference`: the window fed the model's fit (no score yet); `scored`: a score against a fitted model;
 * `unscorable`: the model could not score the window (every modality missing or unusable), `explanation.reason` says why.
 */
export const ScoreStatus = z.enum(['reference', 'scored', 'unscorable']);

/** What a fusion model adds to a score: raw score, gates, the note terms that weighed most, input problems. */
export const ScoreExplanation = z.object({
  raw: z.number().optional(),
  /** Modality gates (sensors, images, notes) in [0, 1]. */
  gates: z.tuple([z.number(), z.number(), z.number()]).optional(),
  terms: z.array(z.string()).optional(),
  /** Why the window is unscorable, or which inputs were ignored. */
  reason: z.string().optional(),
  /** Context scorer: `cold-start` while the asset's memory is still being filled (its first hour), else `memory`. */
  basis: z.enum(['memory', 'cold-start']).optional(),
  /** Context scorer: windows in the asset's memory when scored. */
  memory: z.number().int().optional(),
  /** The maintenance window the asset was in (its alert rules did not see this window). */
  maintenance: z.string().optional(),
});
export type ScoreExplanation = z.infer<typeof ScoreExplanation>;

/** One row per (asset, window start, model version, revision): idempotent, so a replay writes no duplicates. */
export const ScoreRow = z.object({
  plant: z.string(),
  asset: z.string(),
  windowStart: z.number(),
  windowEnd: z.number(),
  revision: z.number().int().min(0),
  modelVersion: z.string(),
  status: ScoreStatus,
  score: z.number().nullable(),
  /** Share of the score per sensor channel (sums to 1 when score > 0). */
  contributions: z.record(z.string(), z.number()),
  quality: TupleQuality,
  imageTs: z.number().nullable(),
  noteCount: z.number().int(),
  explanation: ScoreExplanation.optional(),
});
export type ScoreRow = z.infer<typeof ScoreRow>;

export const Severity = z.enum(['warning', 'major', 'critical']);
export type Severity = z.infer<typeof Severity>;
export const SEVERITY_RANK: Record<Severity, number> = { warning: 0, major: 1, critical: 2 };

/** open → acknowledged → resolved (by its rule, or by a person); a snooze silences notifications until a time. */
export const AlertState = z.enum(['open', 'acknowledged', 'resolved']);
export type AlertState = z.infer<typeof AlertState>;

export const Alert = z.object({
  id: z.string(),
  plant: z.string(),
  asset: z.string(),
  /** The rule's id; data-quality rules are `dq:…`. */
  rule: z.string(),
  kind: z.enum(['anomaly', 'data_quality']),
  state: AlertState,
  severity: Severity,
  /** Start of the first anomalous window of the run that opened the alert (data quality: when it began). */
  openedWindow: z.number(),
  lastWindow: z.number(),
  resolvedWindow: z.number().nullable(),
  peakScore: z.number(),
  modelVersion: z.string(),
  /** Share of the peak score per channel (`image` and `notes` count as channels). */
  contributions: z.record(z.string(), z.number()),
  topModality: z.enum(['sensors', 'images', 'notes']).nullable(),
  topChannel: z.string().nullable(),
  /** Operators' notes in the windows that opened the alert. */
  notes: z.array(z.object({ ts: z.number(), author: z.string(), text: z.string() })),
  acknowledgedBy: z.string().nullable(),
  acknowledgedAt: z.number().nullable(),
  snoozedUntil: z.number().nullable(),
  /** null: resolved by its rule. */
  resolvedBy: z.string().nullable(),
  /** Data-quality alerts: what is wrong. */
  reason: z.string().nullable(),
  links: z.object({ timeline: z.string() }),
});
export type Alert = z.infer<typeof Alert>;

export const ALERT_EVENT_TYPES = [
  'alert.opened',
  'alert.escalated',
  'alert.acknowledged',
  'alert.snoozed',
  'alert.snooze_expired',
  'alert.resolved',
  'alert.feedback',
  'webhook.test',
] as const;
export const AlertEventType = z.enum(ALERT_EVENT_TYPES);
export type AlertEventType = z.infer<typeof AlertEventType>;

/** The JSON body POSTed to webhook endpoints (Standard Webhooks: type, timestamp, data). */
export const AlertEvent = z.object({
  type: AlertEventType,
  timestamp: z.string(),
  data: Alert,
  /** Who caused it: `rule:<id>` for the rule engine, the person for an action. */
  by: z.string(),
  comment: z.string().nullable(),
});
export type AlertEvent = z.infer<typeof AlertEvent>;

/** Query of GET /v1/anomalies. */
export const AnomaliesQuery = z.strictObject({
  asset: z.string().min(1).optional(),
  plant: z.string().min(1).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  minScore: z.coerce.number().finite().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Raw windows: the `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'a cursor from a previous page')
    .optional(),
  /** Aggregate into buckets of this length (e.g. 15m, 1h, 1d): max and mean score, windows at or above `threshold`. */
  bucket: z
    .string()
    .regex(/^[1-9][0-9]{0,4}(s|m|h|d)$/, 'a length such as 30s, 15m, 1h or 1d')
    .optional(),
  threshold: z.coerce.number().finite().optional(),
  /** A model version (default: the active model). */
  model: z.string().min(1).max(128).optional(),
});
export type AnomaliesQuery = z.infer<typeof AnomaliesQuery>;
