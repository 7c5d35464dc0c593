/**
 * Service configuration: parsed once at start-up, every problem reported at once, the result frozen.
 * Units are in the names. Every option has a default, so an empty object runs the embedded demo.
 */
import { z } from 'zod';
import { MAX_PATTERN_CHARS, MAX_PATTERN_STARS } from './patterns.js';

const ms = (d: number) => z.number().int().min(0).default(d);
const topic = (d: string) =>
  z
    .string()
    .min(1)
    .max(249)
    .regex(/^[A-Za-z0-9._-]+$/)
    .default(d);

/** A plant or asset id, or a pattern with `*` (`pump-*`): at most 128 characters and 8 wildcards. */
const NamePattern = z
  .string()
  .min(1)
  .max(MAX_PATTERN_CHARS)
  .refine(
    (p) => p.split('*').length - 1 <= MAX_PATTERN_STARS,
    `at most ${MAX_PATTERN_STARS} \`*\` wildcards`,
  );
const NamePatterns = z.array(NamePattern).max(100);

/** Which events an endpoint receives (empty or absent: all). */
export const WebhookFilters = z.strictObject({
  plants: NamePatterns.optional(),
  /** Asset ids or patterns with `*` (e.g. `pump-*`). */
  assets: NamePatterns.optional(),
  minSeverity: z.enum(['warning', 'major', 'critical']).optional(),
  eventTypes: z.array(z.string().regex(/^[a-z_]+\.[a-z_]+$/)).optional(),
});
export type WebhookFilters = z.infer<typeof WebhookFilters>;

/**
 * An alert rule: open when the score is ≥ openAbove in openK of the last openN windows; resolve after
 * closeM consecutive windows below closeBelow (hysteresis: between the two counts as neither); then no
 * new alert for cooldownWindows windows. Severity: warning, raised to major / critical by score or by how
 * many windows the alert has been anomalous.
 */
export const AlertRule = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, _ . -'),
    description: z.string().default(''),
    plants: NamePatterns.default([]),
    assets: NamePatterns.default([]),
    openAbove: z.number().finite(),
    openK: z.number().int().min(1).default(3),
    openN: z.number().int().min(1).default(3),
    closeBelow: z.number().finite(),
    closeM: z.number().int().min(1).default(6),
    cooldownWindows: z.number().int().min(0).default(0),
    severity: z
      .strictObject({
        major: z
          .strictObject({
            above: z.number().finite().optional(),
            windows: z.number().int().min(1).optional(),
          })
          .default({}),
        critical: z
          .strictObject({
            above: z.number().finite().optional(),
            windows: z.number().int().min(1).optional(),
          })
          .default({}),
      })
      .prefault({}),
    enabled: z.boolean().default(true),
  })
  .refine((r) => r.openN >= r.openK, { message: 'openN must be ≥ openK', path: ['openN'] })
  .refine((r) => r.closeBelow <= r.openAbove, {
    message: 'closeBelow must be ≤ openAbove',
    path: ['closeBelow'],
  });
export type AlertRule = z.output<typeof AlertRule>;

/** A `context-knn` model's parameters in the registry (fusion/context.ts, ContextOptions). */
export const ContextParams = z.object({
  threshold: z.number().positive(),
  k: z.number().int().min(1).optional(),
  lagMs: z.number().int().min(0).optional(),
  acceptAfterMs: z.number().int().min(0).optional(),
  capacity: z.number().int().min(10).optional(),
  minMemory: z.number().int().min(3).optional(),
  rememberEveryMs: z.number().int().min(0).optional(),
  coldStartMs: z.number().int().min(0).optional(),
  warmUpMs: z.number().int().min(0).optional(),
  features: z.enum(['basic', 'rich']).optional(),
  transitions: z.boolean().optional(),
  thinning: z.enum(['uniform', 'redundant']).optional(),
});
export type ContextParams = z.infer<typeof ContextParams>;

export const Config = z.strictObject({
  /**
   * The plants accepted (absent: any). A record of another plant is dead-lettered (`unknown_plant`), so
   * a misconfigured or foreign producer cannot create a plant.
   */
  plants: z.array(z.string().min(1)).min(1).optional(),
  kafka: z
    .strictObject({
      /** Empty: no Kafka; the built-in simulator feeds the pipeline in-process. */
      brokers: z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port')).default([]),
      clientId: z.string().min(1).default('tributary'),
      groupId: z.string().min(1).default('tributary'),
      topics: z
        .strictObject({
          sensors: topic('tributary.sensors'),
          images: topic('tributary.images'),
          notes: topic('tributary.notes'),
          deadLetter: topic('tributary.dead-letter'),
        })
        .prefault({}),
      /** Create missing topics at start-up with this many partitions (all three equal: co-partitioned). */
      createTopics: z.boolean().default(true),
      partitions: z.number().int().min(1).max(1000).default(3),
      fromBeginning: z.boolean().default(true),
      /** Topic-partitions handled at once (batches of one partition number are still serialised). */
      concurrency: z.number().int().min(1).max(64).default(3),
      /** How long the group waits for a silent (crashed) member before giving its partitions to others. */
      sessionTimeoutMs: z.number().int().min(6_000).max(300_000).default(30_000),
      /** How often each instance reads its partitions' log-end and committed offsets (the lag metrics). */
      lagCheckMs: z.number().int().min(500).default(15_000),
      /**
       * A partition with lag whose committed offset has not moved for this long is stuck: a warn log, the
       * `tributary_partition_stuck` metric and a `dq:partition-stuck` alert. Keep it well above a window
       * plus `align.idleTimeoutMs` (the sensor commit waits for the oldest open window).
       */
      stuckAfterMs: z.number().int().min(1_000).default(300_000),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** postgres://… for a PostgreSQL/TimescaleDB server; absent: embedded PGlite-TimescaleDB in dataDir. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
        .optional(),
      dataDir: z.string().min(1).default('./data'),
      poolSize: z.number().int().min(1).max(100).default(4),
      /**
       * The API's own connections (PostgreSQL server): its reads can never take the pipeline's, the webhook
       * sender's or the model refresh's; each statement of theirs stops after apiStatementTimeoutMs.
       */
      apiPoolSize: z.number().int().min(1).max(100).default(3),
      apiStatementTimeoutMs: z.number().int().min(100).default(15_000),
      /** Drop raw readings older than this (TimescaleDB retention policy); 0 keeps everything. */
      retentionDays: z.number().int().min(0).default(30),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxRecordBytes: z.number().int().min(256).default(1_048_576),
      maxChannels: z.number().int().min(1).default(64),
      maxSamplesPerRecord: z.number().int().min(1).default(100_000),
      /** Pixels of a frame (inline, or in a PNG/JPEG header: checked before anything is decoded). */
      maxImagePixels: z.number().int().min(1).default(1_048_576),
      maxNoteChars: z.number().int().min(1).default(4000),
    })
    .prefault({}),
  align: z
    .strictObject({
      windowMs: z.number().int().min(100).default(10_000),
      /** Sliding (hop) windows: a window of windowMs starts every slideMs (a divisor of windowMs). Absent: tumbling. */
      slideMs: z.number().int().min(100).optional(),
      /** Bounded out-of-orderness of the watermark generator. */
      outOfOrdernessMs: ms(2_000),
      /** How long after a window fired a late sensor sample still amends it (then: the late log). */
      allowedLatenessMs: ms(3_000),
      /** The same for a camera frame and for an operator's note (default: allowedLatenessMs). A window is kept
       *  for the longest of the three. */
      imageLatenessMs: z.number().int().min(0).optional(),
      noteLatenessMs: z.number().int().min(0).optional(),
      /**
       * A stream silent this long stops holding the asset's watermark back, in record time (see the
       * docs/architecture.md, Time and windows), or in processing time once no record has come for this long.
       */
      idleTimeoutMs: ms(30_000),
      /**
       * How old a camera's frame may be and still inform a window: at least this, and 1.5 × the camera's
       * period (`cameraPeriodMs`, else learnt from the gaps between its frames) up to `imageMaxPeriodAgeMs`.
       */
      imageMaxAgeMs: ms(120_000),
      imageMaxPeriodAgeMs: ms(3_600_000),
      /** A camera's frame period, by camera id, where it should not be learnt from its frames. */
      cameraPeriodMs: z.record(z.string(), z.number().int().positive()).default({}),
      /**
       * Device clock correction against the Kafka record timestamp (the broker's append time when the topic
       * uses LogAppendTime, else the producer's): 'record', or 'none' to take device times as given. A
       * device's correction is used only while its fit is plausible (a replay of history, where record times
       * are all "now", is not), otherwise its stamps are taken as given.
       */
      clock: z
        .strictObject({
          reference: z.enum(['record', 'none']).default('record'),
          /**
           * The pace check (align/window-operator.ts): over each stretch of this much device or record time, a
           * device whose stamps advance at the pace of record time (within a factor 2, over this much of both
           * clocks) is live and corrected
           * from then on, through steps and bursts; one whose stamps advance at another pace (a replay of
           * history faster or slower than real time) and was never seen live has its stamps taken as given.
           */
          minEvidenceMs: z.number().int().min(0).default(20_000),
          /** Accepted for older configurations, unused: corrections no longer depend on the envelope's tightness (see alerts.clockUncertaintyMs). */
          maxUncertaintyMs: z.number().positive().default(500),
          /**
           * A device whose stamps are taken as given (not yet seen live) and stamp a record further ahead of
           * its record time than this is quarantined in the late log: a clock far ahead must not move event
           * time forward. (A corrected time is never after its record time.)
           */
          maxFutureMs: z.number().int().min(0).default(60_000),
          /**
           * Quarantined too: a record a live clock places further in the past than this (its stamp does not
           * fit the device's clock: a backward step not yet confirmed).
           */
          maxDelayMs: z.number().int().min(0).default(3_600_000),
          /**
           * At first sight, a device stamping within this of its record time is presumed live (corrected from
           * its first record); further off, its stamps are taken as given (history, or a backfill sent fast)
           * until the pace check says it runs in real time.
           */
          maxUntrustedSkewMs: z.number().int().min(0).default(120_000),
          /**
           * A device first seen stamping further back than this is a clock that was never set (1970, 2000),
           * not history: its records are quarantined until the pace check finds it live, then corrected.
           */
          historyMaxAgeMs: z
            .number()
            .int()
            .min(0)
            .default(20 * 365 * 86_400_000),
          /**
           * How often device clocks are checkpointed (processing time). Between checkpoints, the records a
           * restored clock has not seen are re-read and observed again in order (the commit of the sensor and
           * camera topics is held back to the last clock checkpoint), so a clock is exact after a restart
           * without rewriting its bins with every batch.
           */
          checkpointEveryMs: z.number().int().min(0).default(30_000),
        })
        .prefault({}),
      /** Cell width of the fixed grid each channel is resampled onto (the window must hold whole cells). */
      gridMs: z.number().int().min(1).default(1_000),
      /**
       * At most this many grid cells per window and channel: a longer window gets a coarser grid (a 1-hour
       * window of 1-s cells would hold 3 600 per channel; see align/resample.ts gridStepMs).
       */
      maxGridCells: z.number().int().min(1).default(360),
      /** Per channel: 'linear' interpolation (the default) or the 'last' value (counters, states, set-points). */
      interpolation: z.record(z.string(), z.enum(['linear', 'last'])).default({}),
      noteSlackMs: ms(300_000),
      /**
       * Per plant, every name operators use for an asset → the asset id. A note without an asset goes to
       * every asset its text names, by these names or by an asset's id as operators write it ("Pump 7",
       * "PUMP-07" for pump-0007; "P-07" for the one asset numbered 7 whose id starts with P); with no match
       * it stays a plant-level note.
       */
      aliases: z.record(z.string(), z.record(z.string().min(1), z.string().min(1))).default({}),
    })
    .prefault({})
    .refine((a) => a.slideMs === undefined || a.windowMs % a.slideMs === 0, {
      message: 'windowMs must be a multiple of slideMs',
      path: ['slideMs'],
    }),
  scorer: z
    .strictObject({
      /**
       * The scorer registered at start-up (active when the registry has no model yet): `context`, each
       * asset's windows against its adaptive memory of its own normal windows (fusion/context.ts), scored
       * from 15 minutes after its first data; `baseline`, the robust z against the first referenceWindows.
       */
      kind: z.enum(['context', 'baseline']).default('context'),
      /** Windows per asset used to fit the baseline (median/MAD) before scoring starts (kind `baseline`). */
      referenceWindows: z.number().int().min(3).default(20),
      /** The registered version; default `context-knn-1` or `baseline-robustz-1` by kind. */
      modelVersion: z.string().min(1).optional(),
      /** Kind `context`: its options (fusion/context.ts; defaults there). A changed option needs a new modelVersion (a registered version's parameters never change). */
      context: ContextParams.omit({ threshold: true }).strict().default({}),
      /** How often the fusion models' input drift (PSI against their training inputs) is computed and stored. */
      driftEveryMs: z.number().int().min(1_000).default(60_000),
      /**
       * Scheduled retraining and shadow promotion (fusion/lifecycle.ts). Every `retrainEveryMs` (0: never) a
       * fusion model is trained on the last `historyMs` of stored history in a child process and registered
       * in shadow as `fusion-auto-…`; after `shadowMs` in shadow it is compared with the active model on the
       * windows both scored since and on operators' feedback, and promoted only when it beats it by the
       * guard (`margin`, see docs/model.md), otherwise kept in shadow with the reason. Needs a PostgreSQL
       * server: the embedded database is held by the service's own process.
       */
      lifecycle: z
        .strictObject({
          retrainEveryMs: ms(7 * 86_400_000),
          historyMs: z
            .number()
            .int()
            .min(3_600_000)
            .default(14 * 86_400_000),
          shadowMs: z
            .number()
            .int()
            .min(60_000)
            .default(2 * 86_400_000),
          /** The share fewer alerts (outside confirmed faults) a candidate must open to win on that alone. */
          margin: z.number().min(0).max(1).default(0.2),
          /** Fewer windows scored by both in the shadow period: no decision yet. */
          minWindows: z.number().int().min(1).default(1_000),
        })
        .prefault({}),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      /**
       * The default rule (id `default`), used when `rules` is empty: open after `openAfter` consecutive
       * windows with a score ≥ threshold (the model's score: the anomaly probability once a calibrated model
       * is active, the largest robust z for the baseline), resolve after `resolveAfter` windows below it.
       */
      threshold: z.number().positive().default(6),
      openAfter: z.number().int().min(1).default(3),
      resolveAfter: z.number().int().min(1).default(6),
      /** Rules per plant and asset pattern; more can be added through the API. */
      rules: z.array(AlertRule).default([]),
      /** Data-quality alerts: a stream silent this long (processing time) opens `dq:sensors-silent` / `dq:camera-silent`. */
      silentAfterMs: ms(600_000),
      /** A device whose clock uncertainty exceeds this opens `dq:clock-uncertain` (0: off). */
      clockUncertaintyMs: z.number().min(0).default(2_000),
      /**
       * The active fusion model's input drift in a plant (the median, over the last 10 minutes of stored
       * drift figures from every instance, of the largest feature's PSI against its training inputs) at or
       * above this opens `dq:model-drift` for the plant (asset `model:<version>`); it resolves below 0.4 ×
       * this (0: off). 0.25 is the usual line of a major shift.
       */
      driftPsi: z.number().min(0).default(0.25),
      /** An alert nobody acknowledged for this long is escalated once (0: never). */
      escalateUnacknowledgedMs: z.number().int().min(0).default(3_600_000),
      /** How often snoozes, escalations and data quality are checked. */
      checkEveryMs: ms(15_000),
      /** Base of the timeline link in alert payloads (this service's public URL). */
      publicUrl: z.url().default('http://127.0.0.1:8080'),
    })
    .prefault({}),
  webhooks: z
    .array(
      z.strictObject({
        url: z.url({ protocol: /^https?$/ }),
        /** Standard Webhooks secret ("whsec_" + base64); unsigned deliveries without it. */
        secret: z
          .string()
          .regex(/^whsec_[A-Za-z0-9+/=]+$/, 'whsec_<base64>')
          .optional(),
        filters: WebhookFilters.optional(),
      }),
    )
    .default([]),
  delivery: z
    .strictObject({
      /**
       * Waits after each failed attempt (ms, ±20 % jitter): the default is Svix's schedule, 5 s, 5 min,
       * 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27 hours. Then the message fails.
       */
      schedule: z
        .array(z.number().int().min(0))
        .min(1)
        .default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
      /** A Retry-After (429/503) longer than this is capped to it. */
      maxRetryAfterMs: ms(3_600_000),
      /** An endpoint failing continuously this long is disabled. */
      disableAfterMs: ms(5 * 86_400_000),
      timeoutMs: z.number().int().min(100).default(10_000),
      pollMs: z.number().int().min(10).default(1_000),
      /** Deliver to loopback and private addresses (off: refused, against SSRF). */
      allowPrivateNetworks: z.boolean().default(false),
    })
    .prefault({}),
  api: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** A request (headers and body) must arrive within this; a body trickled in is cut off. */
      requestTimeoutMs: z.number().int().min(100).default(30_000),
      /** A kept-alive connection with no request for this long is closed. */
      idleTimeoutMs: z.number().int().min(100).default(5_000),
      auth: z
        .strictObject({
          /**
           * A key given here (at least 32 characters) works with the admin scope, kept hashed in the store
           * like any other: for automation that cannot run `tributary keys create`.
           */
          key: z.string().min(32, 'at least 32 characters').optional(),
          /**
           * With no usable key in the store, make an admin key at start-up and log it once (with the
           * dashboard link), so a fresh `npm start` can be used at once.
           */
          bootstrap: z.boolean().default(true),
        })
        .prefault({}),
      /** Per API key: a burst of `burst` requests, refilled at `perMinute`. */
      rateLimit: z
        .strictObject({
          perMinute: z.number().int().min(1).default(1200),
          burst: z.number().int().min(1).default(200),
        })
        .prefault({}),
      /** How often the live stream reads new scores and alert events. */
      streamPollMs: z.number().int().min(50).default(1000),
    })
    .prefault({}),
  sim: z
    .strictObject({
      /** Run the built-in plant simulator; defaults to on when no Kafka brokers are configured. */
      enabled: z.boolean().optional(),
      seed: z.number().int().default(7),
      assets: z.number().int().min(1).max(100).default(4),
      sampleMs: z.number().int().min(10).default(1_000),
      /** Simulated history before now, replayed at `speed`× before the simulator runs in real time. */
      backfillMs: ms(3_600_000),
      speed: z.number().positive().default(60),
      /**
       * A scenario (a name in sim/scenarios or a JSON file) to simulate instead of the default plant: its
       * faults, device clocks and network disturbances, moved to start `backfillMs` before now.
       */
      scenario: z.string().min(1).optional(),
    })
    .prefault({}),
  frames: z
    .strictObject({
      /**
       * Frames sent as a `uri`: fetched (http/https) from these hosts only (`*.example.com` covers its
       * subdomains); none listed: stored by reference, never fetched.
       */
      fetch: z
        .strictObject({
          allowHosts: z.array(z.string().min(1)).default([]),
          timeoutMs: z.number().int().min(100).default(5_000),
          maxBytes: z
            .number()
            .int()
            .min(1_024)
            .default(4 * 1024 * 1024),
          /** Attempts after the first, at backoffMs × 1, 2, 4… (timeouts, refused connections, 429, 5xx). */
          retries: z.number().int().min(0).max(10).default(3),
          backoffMs: z.number().int().min(10).default(1_000),
          concurrency: z.number().int().min(1).max(64).default(4),
        })
        .prefault({}),
      /**
       * Threads that decode image records (PNG, JPEG) beside the partition loop; 0: on it. One suits two
       * cores: the loop keeps one, the database and the broker share the other.
       */
      decodeThreads: z.number().int().min(0).max(16).default(1),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});
export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
