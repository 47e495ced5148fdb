/**
 * The safetensors file format (Hugging Face), written and read in plain
 * TypeScript:
 *
 *   [8 bytes]  N = header length, unsigned 64-bit little-endian
 *   [N bytes]  JSON header: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ...,
 *              "__metadata__": { "<key>": "<string value>" } }   (padded with spaces to a multiple of 8)
 *   [rest]     raw little-endian tensor data; offsets are relative to the start of this block
 *
 * Supported dtypes: F32, F64, I32, I64 (read as BigInt64Array), U8, I8, I16, U16, BOOL (as U8),
 * F16 and BF16 (raw bits in a Uint16Array; `toFloat32` converts).
 * Writes are atomic (temp file + rename, `writeFileAtomic`). Reading validates
 * the header (JSON, dtypes, shapes, offsets inside the data block, no overlap,
 * byte counts matching the shapes) and throws an error naming the file.
 */
import { constants as bufferConstants } from 'node:buffer';
import { writeFileAtomic } from '../util/fs.js';
import { FileKindError, readRegularFile } from './files.js';

export type SafeDType = 'F32' | 'F64' | 'I32' | 'I64' | 'U8' | 'I8' | 'I16' | 'U16' | 'BOOL' | 'F16' | 'BF16';

export type SafeArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array;

/** One tensor: its dtype, shape and values (row-major). */
export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeArray;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Largest header the format allows (the reference implementation's limit: 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const BYTES: Record<SafeDType, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1, I8: 1, I16: 2, U16: 2, BOOL: 1, F16: 2, BF16: 2 };

/** The natural typed array of a dtype. */
function arrayCtor(dtype: SafeDType): { new (buf: ArrayBuffer): SafeArray } {
  switch (dtype) {
    case 'F32': return Float32Array;
    case 'F64': return Float64Array;
    case 'I32': return Int32Array;
    case 'I64': return BigInt64Array;
    case 'U8': case 'BOOL': return Uint8Array;
    case 'I8': return Int8Array;
    case 'I16': return Int16Array;
    case 'U16': case 'F16': case 'BF16': return Uint16Array;
  }
}

/** Infers the dtype of a typed array (Uint8Array is U8; pass `dtype` explicitly for BOOL). */
export function dtypeOf(a: SafeArray): SafeDType {
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Float64Array) return 'F64';
  if (a instanceof Int32Array) return 'I32';
  if (a instanceof BigInt64Array) return 'I64';
  if (a instanceof Uint8Array) return 'U8';
  if (a instanceof Int8Array) return 'I8';
  if (a instanceof Int16Array) return 'I16';
  return 'U16';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Serialises tensors (+ string metadata) to the bytes of a safetensors file. Tensors are laid out in the given order. */
export function encodeSafetensors(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('safetensors: big-endian hosts are not supported');
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error("safetensors: '__metadata__' is reserved and cannot name a tensor");
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((s) => Number.isInteger(s) && s >= 0)) throw new Error(`safetensors: tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
    if (t.data.length !== n) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values, shape ${JSON.stringify(t.shape)} needs ${n}`);
    const expected = arrayCtor(t.dtype);
    if (!(t.data instanceof expected)) throw new Error(`safetensors: tensor '${name}' is declared ${t.dtype} but holds a ${t.data.constructor.name}`);
    const bytes = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let headerBytes = enc.encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = enc.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(src, pos);
    pos += src.length;
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parses the bytes of a safetensors file; `what` names the source in errors. Values are copied (aligned). */
export function decodeSafetensors(bytes: Uint8Array, what = '<buffer>'): SafetensorsFile {
  const fail = (msg: string): never => { throw new Error(`safetensors: corrupt file ${what}: ${msg}`); };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  // The messages below never quote the bytes (or the length field) of a file
  // that is not a safetensors file: it may be any file a symlink points to.
  if (n64 > BigInt(bytes.length - 8)) fail(`the 8-byte header length is larger than the file (${bytes.length} bytes): not a safetensors file`);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`the 8-byte header length is above the format's limit of ${MAX_HEADER_BYTES} bytes: not a safetensors file`);
  const n = Number(n64);
  if (n < 2 || bytes[8] !== 0x7b) fail("the header does not start with '{': not a safetensors file");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    // V8's JSON messages quote the text: keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    fail(`header is not valid UTF-8 JSON${pos ? ` (at header byte ${pos[1]})` : ''}`);
  }
  if (!isRecord(header)) return fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafeTensor>();
  const ranges: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!isRecord(entry)) return fail(`entry '${name}' is not an object`);
    const dtype = entry.dtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) return fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) return fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) {
      return fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) fail(`tensor '${name}' data_offsets [${begin}, ${end}] outside the data block of ${dataLen} bytes`);
    const dt = dtype as SafeDType;
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dt]) fail(`tensor '${name}' has ${end - begin} bytes, shape ${JSON.stringify(shape)} x ${dt} needs ${count * BYTES[dt]}`);
    ranges.push([begin, end, name]);
    // A fresh, aligned copy (Buffer#slice would return a view into the pooled buffer).
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    const Ctor = arrayCtor(dt);
    tensors.set(name, { dtype: dt, shape: shape as number[], data: new Ctor(copy.buffer) });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`tensors '${ranges[i - 1][2]}' and '${ranges[i][2]}' overlap`);
  }
  return { tensors, metadata };
}

/** Writes a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads and validates a safetensors file; corruption errors name the file.
 * Only a regular file (symlinks followed) is read, and at most `maxBytes`
 * (default: the largest Buffer): a symlink to /dev/zero or a FIFO is refused
 * before reading (src/io/files.ts).
 */
export function readSafetensors(path: string, maxBytes: number = bufferConstants.MAX_LENGTH): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path, 'safetensors file', maxBytes);
  } catch (e) {
    const detail = e instanceof FileKindError ? e.message.slice(path.length + 2) : (e as Error).message;
    throw new Error(`safetensors: cannot read ${path}: ${detail}`, { cause: e });
  }
  return decodeSafetensors(bytes, path);
}

/** IEEE half-precision bits to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let HALF_TABLE: Float32Array | null = null;

/** All 65,536 half-precision values as floats, built once per process. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF_TABLE[i] = halfToFloat(i);
  }
  return HALF_TABLE;
}

/** Converts any floating-point (or integer) tensor's values to Float32Array; F16 and BF16 are decoded from their bits. */
export function toFloat32(t: SafeTensor): Float32Array {
  const d = t.data;
  if (t.dtype === 'F32') return d as Float32Array;
  if (t.dtype === 'BF16') {
    const src = d as Uint16Array;
    const out = new Uint32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
    return new Float32Array(out.buffer);
  }
  if (t.dtype === 'F16') {
    const src = d as Uint16Array;
    const lut = halfTable();
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = lut[src[i]];
    return out;
  }
  if (t.dtype === 'I64') return Float32Array.from(d as BigInt64Array, (x) => Number(x));
  return Float32Array.from(d as ArrayLike<number>);
}

/** Shorthand for an F32 tensor entry. */
export function f32(data: Float32Array, shape: number[]): SafeTensor {
  return { dtype: 'F32', shape, data };
}

/** Shorthand for an I32 tensor entry. */
export function i32(data: Int32Array, shape: number[]): SafeTensor {
  return { dtype: 'I32', shape, data };
}
