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
export const ID_PATTERN = /^[A-Za-z0-9._:\-/]+$/,
  CHANNEL_PATTERN = /^[A-Za-z0-9_.-]+$/;

const id = z.string().min(1).max(128).regex(ID_PATTERN, 'letters, digits and . _ : - / only');

/** Device time: epoch ms or an RFC 3339 string; output is epoch ms. */
export const Timestamp = z
  .union([z.number().finite(), z.iso.datetime({ offset: true, local: false })])
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
const byte = z.number().int().min(0).max(255);
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

/**
 * A camera frame: a thermal matrix inline, PNG/JPEG bytes inline, or a URI to fetch. Unknown keys are dropped:
 * metadata a camera adds (emissivity, distance, lens, regions…) is ignored, never a reason to refuse.
 */
const ThermalFrame = z
  .object({
    ...imageHeader,
    width: z.number().int().positive().max(4096),
    height: z.number().int().positive().max(4096),
    unit: z.enum(['C', 'K', 'F']).default('C'),
    data: z.array(finite),
  })
  .refine((f) => f.data.length === f.width * f.height, {
    message: 'data length must be width*height',
    path: ['data'],
  });
/** Named false-colour palettes: stops [position 0…1, r, g, b]. */
export const PALETTES = {
  grey: [
    [0, 0, 0, 0],
    [1, 255, 255, 255],
  ],
  'black-hot': [
    [0, 255, 255, 255],
    [1, 0, 0, 0],
  ],
  iron: [
    [0, 0, 0, 0],
    [0.2, 32, 0, 140],
    [0.4, 160, 0, 160],
    [0.6, 235, 80, 30],
    [0.8, 255, 190, 0],
    [1, 255, 255, 240],
  ],
  rainbow: [
    [0, 0, 0, 255],
    [0.25, 0, 255, 255],
    [0.5, 0, 255, 0],
    [0.75, 255, 255, 0],
    [1, 255, 0, 0],
  ],
} satisfies Record<string, Array<[number, number, number, number]>>;
export type PaletteName = keyof typeof PALETTES;

/** Encoded pixels → temperatures (see ingest/frames.ts): a linear scale or a range, and a palette for colour frames. */
const FrameCoding = {
  /** What the scale or range gives (default C; results are stored in °C). */
  unit: z.enum(['C', 'K', 'F']).optional(),
  /** T = offset + gain · pixel (pixel 0…255 or 0…65535; for a colour frame, 255 · its palette position). */
  scale: z
    .strictObject({ offset: finite, gain: finite.refine((g) => g !== 0, 'gain must not be 0') })
    .optional(),
  /** T = min + (max − min) · pixel / full scale: a per-frame range (8-bit frames whose span changes). */
  range: z
    .strictObject({ min: finite, max: finite })
    .refine((r) => r.max > r.min, { message: 'max must be above min', path: ['max'] })
    .optional(),
  /** A named false-colour palette (colour frames). */
  palette: z.enum(Object.keys(PALETTES) as [PaletteName, ...PaletteName[]]).optional(),
  /** A false-colour palette as stops [position 0…1, r, g, b]; with `palette`, these win. */
  paletteStops: z
    .array(z.tuple([z.number().min(0).max(1), byte, byte, byte]))
    .min(2)
    .max(256)
    .optional(),
};
/**
 * Standard base64, padded. Checked without a regular expression: on a 640 × 480 JPEG the linear regex
 * took 0.47 ms, longer than decoding the string (0.03 ms). The decoder skips or stops at any character
 * outside the alphabet, so a string is base64 exactly when it decodes to the length its size promises and
 * holds none of the URL-safe letters the decoder also takes. The JSON Schema keeps the pattern.
 */
export function isBase64(x: string): boolean {
  if (x.length < 4 || x.length % 4 !== 0 || x.includes('-') || x.includes('_')) return false;
  const pad = x.endsWith('==') ? 2 : x.endsWith('=') ? 1 : 0;
  return base64Bytes(x).length === (x.length / 4) * 3 - pad;
}
/** The last string decoded: the record decoder asks for the bytes the schema check has just made. */
let lastBase64: { text: string; bytes: Buffer } | null = null;
/** A base64 string's bytes (decoded once for the check and the decoder). */
export function base64Bytes(x: string): Buffer {
  if (lastBase64?.text !== x) lastBase64 = { text: x, bytes: Buffer.from(x, 'base64') };
  return lastBase64.bytes;
}
const base64 = z.string().min(4).refine(isBase64, 'not base64').meta({ pattern: '^[A-Za-z0-9+/]+={0,2}$' });
const EncodedFrame = z
  .object({ ...imageHeader, encoding: z.enum(['png', 'jpeg']), base64, ...FrameCoding })
  .refine((f) => f.kind !== 'thermal' || f.scale || f.range, {
    message: 'a thermal PNG/JPEG needs `scale` {offset, gain} or `range` {min, max}',
    path: ['scale'],
  });
const UriFrame = z.object({
  ...imageHeader,
  uri: z.url(),
  encoding: z.enum(['png', 'jpeg']).optional(),
  ...FrameCoding,
});
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
/** An encoded thermal frame's temperatures (°C, row-major), decoded at ingest; never on the wire. */
export interface ThermalPixels {
  width: number;
  height: number;
  /** °C, row-major (for a greyscale frame, made on first read). */
  readonly data: Float32Array;
  /**
   * A greyscale frame's integer pixels before the linear map, T = k0 + k1 · px[i · step] (°C): the
   * window's summary is read from them without making the °C matrix.
   */
  grey?: { px: Uint8Array | Uint16Array; step: number; k0: number; k1: number };
  /** What a window keeps of it, when already made (a frame decoded on a decoding thread). */
  summary?: { meanC: number; maxC: number; patches: number[] };
}

export type InputRecord =
  | { modality: 'sensors'; value: SensorRecord }
  | { modality: 'images'; value: ImageFrame & { pixels?: ThermalPixels } }
  | { modality: 'notes'; value: OperatorNote };

/**
 * The one variant a JSON value claims to be, chosen by its shape, so a validation error names the
 * offending field instead of "matches no variant of the union".
 */
export function schemaFor(modality: Modality, json: unknown): z.ZodType<InputRecord['value']> {
  const has = (k: string) => typeof json === 'object' && json !== null && k in json;
  if (modality === 'sensors') return has('channels') || has('t0') ? SensorBlock : SensorSample;
  if (modality === 'images')
    return has('uri') ? UriFrame : has('encoding') || has('base64') ? EncodedFrame : ThermalFrame;
  return OperatorNote;
}
