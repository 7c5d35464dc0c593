/**
 * The error catalogue: every error Tributary raises on purpose is a `TributaryError` with a stable `code`
 * (also the `error` field of an API answer), the HTTP status it answers with, whether waiting it out can
 * help (`retriable`), and the `cause` it wraps. Errors from libraries (PostgreSQL, kafkajs, node's sockets)
 * are classified by `classify`, so one function decides what the pipeline retries (`isRetriable`) and one
 * Fastify handler maps any error to its answer.
 */

/** Stable codes → HTTP status and retriability. Codes are part of the API: add, never rename. */
export const ERROR_CATALOGUE = {
  invalid_request: {
    status: 400,
    retriable: false,
    summary: 'a request field is invalid (the answer names it)',
  },
  invalid_query: {
    status: 400,
    retriable: false,
    summary: 'a query parameter is invalid (the answer names it)',
  },
  invalid_body: { status: 400, retriable: false, summary: 'a body field is invalid (the answer names it)' },
  not_found: { status: 404, retriable: false, summary: 'no such resource (or not visible to this key)' },
  conflict: { status: 409, retriable: false, summary: 'the resource is not in a state that allows this' },
  busy: {
    status: 503,
    retriable: true,
    summary: 'the database is busy or out of connections; retry shortly',
  },
  unavailable: { status: 503, retriable: true, summary: 'a connection to the database or broker was lost' },
  fenced: {
    status: 409,
    retriable: false,
    summary: 'another instance owns the partition; this batch was not written',
  },
  fetch_failed: { status: 502, retriable: true, summary: 'a URI frame could not be fetched' },
  fetch_refused: { status: 502, retriable: false, summary: 'a URI frame was refused (host, size, type)' },
  invalid_config: {
    status: 500,
    retriable: false,
    summary: 'the configuration is invalid (every problem listed)',
  },
  invalid_input: {
    status: 400,
    retriable: false,
    summary: 'a file or scenario given to a command is invalid',
  },
  internal: { status: 500, retriable: false, summary: 'a bug: logged under the request id' },
} as const satisfies Record<string, { status: number; retriable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorOptions {
  cause?: unknown;
  /** The request field the error is about (an API answer names it). */
  field?: string;
  /** Overrides the catalogue's status (a code answering with more than one, as not_found vs conflict). */
  status?: number;
  /** Overrides the catalogue's retriability (a fetch refused vs failed). */
  retriable?: boolean;
}

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  readonly field?: string;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? ERROR_CATALOGUE[code].status;
    this.retriable = options.retriable ?? ERROR_CATALOGUE[code].retriable;
    if (options.field !== undefined) this.field = options.field;
  }
}

/** SQLSTATE classes worth waiting out: connection exceptions, insufficient resources, operator intervention, transaction rollback. */
const RETRIABLE_SQLSTATE = /^(08|53|57|40)/;
const RETRIABLE_SOCKET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** node-postgres reports a lost or unobtainable connection by message only. */
const LOST_CONNECTION = /Connection terminated|connection timeout/i;
const POOL_EXHAUSTED = /timeout exceeded when trying to connect/i;

/** Any error → its place in the catalogue. */
export function classify(e: unknown): { code: ErrorCode; status: number; retriable: boolean } {
  if (e instanceof TributaryError) return { code: e.code, status: e.status, retriable: e.retriable };
  const err = e as { code?: unknown; retriable?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = String(err?.message ?? '');
  // A statement stopped by its timeout (57014) or no free connection: the service is fine, the read must wait.
  if (code === '57014' || POOL_EXHAUSTED.test(message)) return { code: 'busy', status: 503, retriable: true };
  if (RETRIABLE_SQLSTATE.test(code) || RETRIABLE_SOCKET.has(code) || LOST_CONNECTION.test(message))
    return { code: 'unavailable', status: 503, retriable: true };
  // kafkajs errors carry `retriable` (KafkaJSError).
  if (err?.retriable === true) return { code: 'unavailable', status: 503, retriable: true };
  return { code: 'internal', status: 500, retriable: false };
}

/**
 * Which failures are worth waiting out: lost connections, a server starting or shutting down, lack of
 * resources, serialisation conflicts and Kafka's retriable errors. Anything else is a bug or bad data.
 */
export const isRetriable = (e: unknown): boolean => classify(e).retriable;
