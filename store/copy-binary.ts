/**
 * Rows in COPY's binary format (`COPY … FROM STDIN WITH (FORMAT binary)`): numbers go over as their bytes,
 * so neither side formats or parses decimal text (for arrays of samples and pixels, most of the work of a
 * text COPY). Fields are written by their column's SQL type; the types must be the table's own, since the
 * server reads the bytes as its column's type.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */

/** SQL types this writer knows (those of the tables written by COPY): scalars, and arrays by element type. */
const SCALARS = new Set(['text', 'int', 'float8', 'timestamptz', 'jsonb']);
const ELEMENT_OID: Record<string, number> = { 'int[]': 23, 'float8[]': 701, 'real[]': 700 };
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
/**
 * The first buffer is small (most batches are), the next ones 256 KiB: a chunk goes to the server while
 * the next is written (see `binaryChunks`).
 */
const FIRST = 64 << 10,
  CHUNK = 256 << 10;

/** Whether every column of `columns` can be written in binary. */
export function binaryWritable(columns: Record<string, string>): boolean {
  return Object.values(columns).every((t) => SCALARS.has(t) || t in ELEMENT_OID);
}

/** `x` when it fits an int4; else an error naming `what`. */
function int32(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < -2147483648 || x > 2147483647)
    throw new Error(`${what}: not a 32-bit integer: ${String(x)}`);
  return x;
}

/** Writes into buffers (64 KiB, then 256 KiB) through a DataView (big-endian; faster than Buffer's write methods). */
class Writer {
  readonly chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(FIRST);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    this.chunks.push(this.buf.subarray(0, this.at));
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.at = 0;
  }
  int16(v: number) {
    this.room(2);
    this.view.setInt16(this.at, v);
    this.at += 2;
  }
  int32(v: number) {
    this.room(4);
    this.view.setInt32(this.at, v);
    this.at += 4;
  }
  float64(v: number) {
    this.room(8);
    this.view.setFloat64(this.at, v);
    this.at += 8;
  }
  /** An integer of up to 53 bits, as int8 (high and low words: no BigInt per value). */
  int64(v: number) {
    this.room(8);
    const hi = Math.floor(v / 4294967296);
    this.view.setInt32(this.at, hi);
    this.view.setUint32(this.at + 4, v - hi * 4294967296);
    this.at += 8;
  }
  /** A length-prefixed UTF-8 field (with a leading version byte for jsonb). */
  text(s: string, version?: number) {
    const n = Buffer.byteLength(s) + (version === undefined ? 0 : 1);
    this.room(4 + n);
    this.view.setInt32(this.at, n);
    this.at += 4;
    if (version !== undefined) this.buf[this.at++] = version;
    this.at += this.buf.write(s, this.at, 'utf8');
  }
  /** A one-dimensional array without nulls. */
  array(xs: ArrayLike<number>, type: string, what: string) {
    const oid = ELEMENT_OID[type],
      size = oid === 701 ? 8 : 4;
    const n = xs.length;
    this.room(4 + 20 + n * (4 + size));
    const b = this.view;
    let at = this.at;
    b.setInt32(at, 20 + n * (4 + size));
    at += 4;
    b.setInt32(at, 1);
    b.setInt32(at + 4, 0);
    b.setInt32(at + 8, oid);
    b.setInt32(at + 12, n);
    b.setInt32(at + 16, 1);
    at += 20;
    for (let i = 0; i < n; i++) {
      const x = xs[i];
      b.setInt32(at, size);
      at += 4;
      if (oid === 701) b.setFloat64(at, x);
      else if (oid === 700) b.setFloat32(at, x);
      else b.setInt32(at, int32(x, what));
      at += size;
    }
    this.at = at;
  }
  done(): Buffer[] {
    if (this.at) this.chunks.push(this.buf.subarray(0, this.at));
    return this.chunks;
  }
}

/**
 * The COPY binary stream of `rows`: header, one tuple per row (fields in `columns` order), trailer; each
 * chunk as soon as it is full, so that a caller can send one while the next is made.
 */
export function* binaryChunks(
  rows: Array<Record<string, unknown>>,
  columns: Record<string, string>,
): Generator<Buffer> {
  const w = new Writer();
  const names = Object.keys(columns),
    types = names.map((n) => columns[n]);
  // Header: signature, flags, header extension length.
  yield Buffer.from([
    0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
  ]);
  for (const r of rows) {
    w.int16(names.length);
    for (let i = 0; i < names.length; i++) {
      const v = r[names[i]],
        t = types[i];
      if (v === null || v === undefined) {
        w.int32(-1);
        continue;
      }
      switch (t) {
        case 'text':
          w.text(String(v));
          break;
        case 'jsonb':
          w.text(JSON.stringify(v), 1);
          break;
        case 'int':
          w.int32(4);
          w.int32(int32(v, names[i]));
          break;
        case 'float8':
          w.int32(8);
          w.float64(Number(v));
          break;
        case 'timestamptz': {
          const ms = typeof v === 'number' ? v : v instanceof Date ? v.getTime() : Date.parse(String(v));
          if (!Number.isFinite(ms)) throw new Error(`${names[i]}: not a time: ${String(v)}`);
          w.int32(8);
          w.int64(Math.round((ms - PG_EPOCH_MS) * 1000));
          break;
        }
        default:
          w.array(v as ArrayLike<number>, t, names[i]);
      }
    }
    if (w.chunks.length) yield* w.chunks.splice(0);
  }
  w.int16(-1);
  yield* w.done();
}

/** `binaryChunks`, all of them. */
export function binaryCopy(rows: Array<Record<string, unknown>>, columns: Record<string, string>): Buffer[] {
  return [...binaryChunks(rows, columns)];
}
