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
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/fs.js';
import { FileKindError, regularFileSize } from './files.js';

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

/** One tensor of a header, validated against the data block but not read. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  /** Byte range inside the data block. */
  begin: number;
  end: number;
}

/** A validated header: its tensors, metadata, where the data block starts and how far the tensors reach into it. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Offset of the data block in the file (8 + header length). */
  dataStart: number;
  /** End of the last tensor inside the data block (the data block's required length). */
  dataEnd: number;
}

type Fail = (msg: string) => never;

/** Validates the 8-byte length against the file size; returns the header length. Never quotes the bytes. */
function headerLength(first8: Uint8Array, size: number, fail: Fail): number {
  if (size < 8) fail(`only ${size} bytes, shorter than the 8-byte header length`);
  const n64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  // The messages below never quote the bytes (or the length field) of a file
  // that is not a safetensors file: it may be any file a symlink points to.
  if (n64 > BigInt(size - 8)) fail(`the 8-byte header length is larger than the file (${size} bytes): not a safetensors file`);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`the 8-byte header length is above the format's limit of ${MAX_HEADER_BYTES} bytes: not a safetensors file`);
  return Number(n64);
}

/** Parses and validates the JSON header (`head`: its n bytes) against a data block of `dataLen` bytes. */
function parseHeader(head: Uint8Array, dataLen: number, fail: Fail): Omit<SafetensorsHeader, 'dataStart'> {
  if (head.length < 2 || head[0] !== 0x7b) fail("the header does not start with '{': not a safetensors file");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head));
  } catch (e) {
    // V8's JSON messages quote the text: keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    fail(`header is not valid UTF-8 JSON${pos ? ` (at header byte ${pos[1]})` : ''}`);
  }
  if (!isRecord(header)) return fail('header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
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
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) return fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(dtype).slice(0, 40)}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((x) => Number.isSafeInteger(x) && x >= 0)) return fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape).slice(0, 80)}`);
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      return fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs).slice(0, 80)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) fail(`tensor '${name}' data_offsets [${begin}, ${end}] outside the data block of ${dataLen} bytes`);
    const dt = dtype as SafeDType;
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dt]) fail(`tensor '${name}' has ${end - begin} bytes, shape ${JSON.stringify(shape)} x ${dt} needs ${count * BYTES[dt]}`);
    entries.push({ name, dtype: dt, shape: shape as number[], begin, end });
  }
  const ranges = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i].begin < ranges[i - 1].end) fail(`tensors '${ranges[i - 1].name}' and '${ranges[i].name}' overlap`);
  }
  return { entries, metadata, dataEnd: entries.reduce((m, e) => Math.max(m, e.end), 0) };
}

/** Parses the bytes of a safetensors file; `what` names the source in errors. Values are copied (aligned). */
export function decodeSafetensors(bytes: Uint8Array, what = '<buffer>'): SafetensorsFile {
  const fail: Fail = (msg) => { throw new Error(`safetensors: corrupt file ${what}: ${msg}`); };
  const n = headerLength(bytes, bytes.length, fail);
  const dataStart = 8 + n;
  const h = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, fail);
  const tensors = new Map<string, SafeTensor>();
  for (const e of h.entries) {
    // A fresh, aligned copy (Buffer#slice would return a view into the pooled buffer).
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: new (arrayCtor(e.dtype))(copy.buffer) });
  }
  return { tensors, metadata: h.metadata };
}

/** Writes a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Opens a regular file for reading (src/io/files.ts: no FIFO, device, folder); errors name the file. */
function openWeights(path: string, maxBytes: number): { fd: number; size: number } {
  try {
    regularFileSize(path, 'safetensors file', maxBytes);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > maxBytes) {
      closeSync(fd);
      throw new FileKindError(path, st.isFile() ? `safetensors file has ${st.size} bytes, more than the limit of ${maxBytes}` : 'safetensors file is not a regular file');
    }
    return { fd, size: st.size };
  } catch (e) {
    const detail = e instanceof FileKindError ? e.message.slice(path.length + 2) : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    throw new Error(`safetensors: cannot read ${path}: ${detail}`, { cause: e });
  }
}

function readAt(fd: number, into: Uint8Array, position: number, path: string): void {
  let off = 0;
  while (off < into.length) {
    const n = readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new Error(`safetensors: corrupt file ${path}: the file shrank while being read`);
    off += n;
  }
}

function readHeaderFd(fd: number, size: number, path: string): SafetensorsHeader {
  const fail: Fail = (msg) => { throw new Error(`safetensors: corrupt file ${path}: ${msg}`); };
  const first8 = new Uint8Array(Math.min(8, size));
  readAt(fd, first8, 0, path);
  const n = headerLength(first8, size, fail);
  const head = new Uint8Array(n);
  readAt(fd, head, 8, path);
  const h = parseHeader(head, size - 8 - n, fail);
  // As the reference implementation: the tensors must cover the data block exactly (no trailing bytes).
  if (8 + n + h.dataEnd !== size) fail(`${size - 8 - n - h.dataEnd} bytes after the last tensor (the file is larger than its header says)`);
  return { ...h, dataStart: 8 + n };
}

/**
 * Reads and validates only the header of a safetensors file: which tensors,
 * dtypes and shapes it holds, before any tensor data is read or allocated.
 */
export function readSafetensorsHeader(path: string, maxBytes: number = bufferConstants.MAX_LENGTH): SafetensorsHeader {
  const { fd, size } = openWeights(path, maxBytes);
  try {
    return readHeaderFd(fd, size, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and validates a safetensors file; corruption errors name the file.
 * Only a regular file (symlinks followed) is read, at most `maxBytes`
 * (default: the largest Buffer); a symlink to /dev/zero or a FIFO is refused
 * before reading (src/io/files.ts). The header is validated before any tensor
 * is read, and each tensor is read into its own aligned buffer.
 */
export function readSafetensors(path: string, maxBytes: number = bufferConstants.MAX_LENGTH): SafetensorsFile {
  const { fd, size } = openWeights(path, maxBytes);
  try {
    const h = readHeaderFd(fd, size, path);
    const tensors = new Map<string, SafeTensor>();
    for (const e of h.entries) {
      const data = new Uint8Array(e.end - e.begin);
      readAt(fd, data, h.dataStart + e.begin, path);
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: new (arrayCtor(e.dtype))(data.buffer) });
    }
    return { tensors, metadata: h.metadata };
  } finally {
    closeSync(fd);
  }
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
