/**
 * The wire contract: the JSON value of every record on the three input topics (UTF-8, key = asset id).
 * Version field `v` lets the format evolve; this build reads v = 1 only.
 * Times are the device's own clock, as epoch milliseconds or RFC 3339 strings; they are normalised to
 * epoch milliseconds here and corrected (clock offset and drift) later, in align/.
 */
import { z } from 'zod';

/**
 * Earliest and latest device time we accept (1970-01-01 .. 2100-01-01). A device that booted without its
 * clock stamps 1970: align/ quarantines and re-estimates it; later than 2100 is a typo.
 */
export const MIN_TS_MS = 0;
export const MAX_TS_MS = Date.UTC(2100, 0, 1);

/** Plant, asset and device ids (1–128 characters) and channel names (1–64): the characters allowed. */
export const ID_PATTERN = /^[A-Za-z0-9._:\-/]+$/, CHANNEL_PATTERN = /^[A-Za-z0-9_.-]+$/;

const id = z.string().min(1).max(128).regex(ID_PATTERN, 'letters, digits and . _ : - / only');

/** Device time: epoch ms or an RFC 3339 string; output is epoch ms. */
export const Timestamp = z
  .union([
    z.number().finite(),
    z.iso.datetime({ offset: true, local: false }),
  ])
  .transform((t, ctx) => {
    const ms = typeof t === 'number' ? t : Date.parse(t);
    if (!Number.isFinite(ms) || ms < MIN_TS_MS || ms >= MAX_TS_MS) {
      ctx.addIssue({ code: 'custom', message: 'time outside 1970-01-01 .. 2100-01-01' });
      return z.NEVER;
    }
    return Math.round(ms);
  });

const channelName = z.string().min(1).max(64).regex(CHANNEL_PATTERN, 'letters, digits and _ . - only');
const finite = z.number().finite();
const version = z.literal(1, { error: 'unsupported version (this build reads v=1)' });

const header = {
  v: version,
  plant: id,
  asset: id,
};

/** One device's sample of one or more channels. */
export const SensorSample = z.strictObject({
  ...header,
  device: id,
  seq: z.number().int().nonnegative().optional(),
  ts: Timestamp,
  values: z.record(channelName, finite),
});
export type SensorSample = z.output<typeof SensorSample>;

/** Many samples at a fixed period: the efficient form for high-rate channels. */
export const SensorBlock = z.strictObject({
  ...header,
  device: id,
  seq: z.number().int().nonnegative().optional(),
  t0: Timestamp,
  periodMs: z.number().positive().max(3_600_000),
  channels: z.record(channelName, z.array(finite).min(1)),
});
export type SensorBlock = z.output<typeof SensorBlock>;

export const SensorRecord = z.union([SensorSample, SensorBlock]);
export type SensorRecord = z.output<typeof SensorRecord>;

const imageHeader = {
  ...header,
  camera: id,
  seq: z.number().int().nonnegative().optional(),
  ts: Timestamp,
  kind: z.enum(['thermal', 'visible']),
};

/** A camera frame: a small thermal matrix inline, PNG/JPEG bytes inline, or a URI to fetch. */
const ThermalFrame = z.strictObject({
    ...imageHeader,
    width: z.number().int().positive().max(4096),
    height: z.number().int().positive().max(4096),
    unit: z.enum(['C', 'K', 'F']).default('C'),
    data: z.array(finite),
  }).refine((f) => f.data.length === f.width * f.height, { message: 'data length must be width*height', path: ['data'] });
const EncodedFrame = z.strictObject({ ...imageHeader, encoding: z.enum(['png', 'jpeg']), base64: z.base64().min(1) });
const UriFrame = z.strictObject({ ...imageHeader, uri: z.url() });
export const ImageFrame = z.union([ThermalFrame, EncodedFrame, UriFrame]);
export type ImageFrame = z.output<typeof ImageFrame>;

/** An operator's note; the asset may be given or only named in the text. */
export const OperatorNote = z.strictObject({
  v: version,
  plant: id,
  asset: id.optional(),
  author: z.string().min(1).max(128),
  ts: Timestamp,
  text: z.string().min(1),
});
export type OperatorNote = z.output<typeof OperatorNote>;

export const MODALITIES = ['sensors', 'images', 'notes'] as const;
export type Modality = (typeof MODALITIES)[number];

/** A decoded, validated input record tagged with its modality. */
export type InputRecord =
  | { modality: 'sensors'; value: SensorRecord }
  | { modality: 'images'; value: ImageFrame }
  | { modality: 'notes'; value: OperatorNote };

/**
 * The one variant a JSON value claims to be, chosen by its shape, so a validation error names the
 * offending field instead of "matches no variant of the union".
 */
export function schemaFor(modality: Modality, json: unknown): z.ZodType<InputRecord['value']> {
  const has = (k: string) => typeof json === 'object' && json !== null && k in json;
  if (modality === 'sensors') return has('channels') || has('t0') ? SensorBlock : SensorSample;
  if (modality === 'images') return has('uri') ? UriFrame : has('encoding') || has('base64') ? EncodedFrame : ThermalFrame;
  return OperatorNote;
}
