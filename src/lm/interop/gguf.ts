/**
 * GGUF (version 3), the single-file model format of ggml / llama.cpp: a
 * writer, a small reader (header, metadata and F32/F16/BF16 tensors, for
 * tests and inspection), and `exportGguf`, which turns a llmrec decoder
 * (`LlamaForCausalLM`, `Gpt2LMHeadModel`) plus its byte-level BPE tokenizer
 * into a file that llama.cpp loads, following llama.cpp's
 * `convert_hf_to_gguf.py`:
 *
 * - LLaMA / Mistral configs → the `llama` architecture. Its RoPE pairs
 *   adjacent dimensions (GPT-J style) while HF's LLaMA rotates halves, so the
 *   rows of q_proj and k_proj (and their biases) are permuted per head, as the
 *   converter's `permute(w, n_head, n_head_kv)` does.
 * - Qwen2 configs → the `qwen2` architecture (rotate-half RoPE, no permute;
 *   q/k/v biases as `blk.N.attn_{q,k,v}.bias`).
 * - GPT-2 → the `gpt2` architecture (Conv1D weights transposed to [out, in]).
 * - Tokenizer: `tokenizer.ggml.model = "gpt2"` (byte-level BPE), tokens in
 *   their byte-level form, token types (normal, control for special added
 *   tokens, user-defined for other added tokens, unused for padding ids),
 *   merges as "a b" strings and the pre-tokenizer name (`gpt-2` for the GPT-2
 *   regex of llmrec's `trainBpe`).
 *
 * Layout reminder: ggml lists dimensions fastest-first, i.e. the reverse of a
 * row-major (PyTorch) shape; the bytes are the same row-major data.
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { toFloat32 } from '../../io/safetensors.js';
import type { Gpt2LMHeadModel } from '../families/gpt2.js';
import type { LlamaForCausalLM } from '../families/llama.js';
import { exportStateDict } from '../state_dict.js';
import type { Tokenizer } from '../tokenizer/index.js';

/** The four bytes every GGUF file starts with ("GGUF"), read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The GGUF version this module writes (and the only one it reads). */
export const GGUF_VERSION = 3;
/** Tensor data alignment when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Scalar metadata value types, by their GGUF names. */
export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';

/** One element of a metadata array. */
export type GgufScalar = number | bigint | boolean | string;

/** A typed metadata value (GGUF stores the type with every value). */
export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufScalarType; value: GgufScalar[] };

/** Constructors of typed metadata values: `gguf.u32(4)`, `gguf.strings(['a'])`, ... */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: 'u8', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  u64: (value: number | bigint): GgufValue => ({ type: 'u64', value: BigInt(value) }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value: [...value] }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'i32', value: Array.from(value) }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'f32', value: Array.from(value) }),
} as const;

/** ggml tensor types this module writes or decodes. */
export type GgmlTensorType = 'F32' | 'F16' | 'BF16';

const VALUE_TYPE_IDS: Record<GgufScalarType | 'array', number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
};
const VALUE_TYPE_NAMES = Object.fromEntries(Object.entries(VALUE_TYPE_IDS).map(([k, v]) => [v, k])) as Record<number, GgufScalarType | 'array'>;

const GGML_TYPE_IDS: Record<GgmlTensorType, number> = { F32: 0, F16: 1, BF16: 30 };
const GGML_TYPE_SIZES: Record<GgmlTensorType, number> = { F32: 4, F16: 2, BF16: 2 };

/** A tensor to write: row-major (PyTorch) shape, F32 values, stored as `type`. */
export interface GgufTensorInput {
  name: string;
  /** Row-major shape (as PyTorch prints it); written reversed, in ggml order. */
  shape: readonly number[];
  /** Storage type in the file; F16/BF16 are rounded to nearest even. */
  type: GgmlTensorType;
  data: Float32Array;
}

/** What `writeGguf` writes: metadata in order, then tensors in order. */
export interface GgufWriteInput {
  metadata: ReadonlyArray<readonly [string, GgufValue]> | ReadonlyMap<string, GgufValue>;
  tensors: readonly GgufTensorInput[];
  /** Data alignment (a power of two); recorded as `general.alignment` when it is not 32. */
  alignment?: number;
}

// ---------------------------------------------------------------------------
// Number conversion
// ---------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of a float, rounded to nearest even (what F16C / numpy do). */
export function floatToHalf(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct rounding
  return sign | h;
}

/** bfloat16 bits of a float, rounded to nearest even (NaN stays NaN). */
function floatToBf16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function encodeTensorData(t: GgufTensorInput): Uint8Array {
  if (t.type === 'F32') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint16Array(t.data.length);
  const conv = t.type === 'F16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < t.data.length; i++) out[i] = conv(t.data[i]);
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/** Little-endian byte builder for the header. */
class ByteBuilder {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void { this.ensure(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number): void { this.ensure(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number): void { this.ensure(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number): void { this.ensure(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.ensure(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.ensure(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.ensure(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.ensure(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint | number): void { this.ensure(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: bigint | number): void { this.ensure(8); this.view.setBigInt64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.length); this.length += b.length; }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function checkInteger(key: string, type: GgufScalarType, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`gguf metadata '${key}': ${v} is not a valid ${type}`);
}

function writeScalar(b: ByteBuilder, key: string, type: GgufScalarType, v: GgufScalar): void {
  const want = type === 'string' ? 'string' : type === 'bool' ? 'boolean' : type === 'u64' || type === 'i64' ? 'bigint' : 'number';
  if (typeof v !== want) throw new TypeError(`gguf metadata '${key}': a ${type} value must be a ${want}, got ${typeof v}`);
  switch (type) {
    case 'u8': checkInteger(key, type, v as number, 0, 0xff); b.u8(v as number); break;
    case 'i8': checkInteger(key, type, v as number, -0x80, 0x7f); b.i8(v as number); break;
    case 'u16': checkInteger(key, type, v as number, 0, 0xffff); b.u16(v as number); break;
    case 'i16': checkInteger(key, type, v as number, -0x8000, 0x7fff); b.i16(v as number); break;
    case 'u32': checkInteger(key, type, v as number, 0, 0xffffffff); b.u32(v as number); break;
    case 'i32': checkInteger(key, type, v as number, -0x80000000, 0x7fffffff); b.i32(v as number); break;
    case 'f32': b.f32(v as number); break;
    case 'f64': b.f64(v as number); break;
    case 'bool': b.u8(v ? 1 : 0); break;
    case 'string': b.string(v as string); break;
    case 'u64': b.u64(v as bigint); break;
    case 'i64': b.i64(v as bigint); break;
  }
}

function writeValue(b: ByteBuilder, key: string, v: GgufValue): void {
  b.u32(VALUE_TYPE_IDS[v.type]);
  if (v.type === 'array') {
    b.u32(VALUE_TYPE_IDS[v.itemType]);
    b.u64(v.value.length);
    for (const item of v.value) writeScalar(b, key, v.itemType, item);
  } else {
    writeScalar(b, key, v.type, v.value);
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** The header (magic .. padding before the data) and each tensor's relative data offset. */
function encodeHeader(input: GgufWriteInput): { header: Uint8Array; offsets: number[]; alignment: number } {
  const alignment = input.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!isPowerOfTwo(alignment)) throw new RangeError(`gguf: alignment must be a power of two, got ${alignment}`);
  const meta = new Map<string, GgufValue>();
  for (const [key, value] of input.metadata) {
    if (meta.has(key)) throw new Error(`gguf: duplicate metadata key '${key}'`);
    meta.set(key, value);
  }
  const given = meta.get('general.alignment');
  if (given !== undefined && (given.type !== 'u32' || given.value !== alignment)) {
    throw new Error(`gguf: metadata general.alignment ${JSON.stringify(given)} disagrees with alignment ${alignment}`);
  }
  if (given === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) meta.set('general.alignment', gguf.u32(alignment));
  const names = new Set<string>();
  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(GGUF_VERSION);
  b.u64(input.tensors.length);
  b.u64(meta.size);
  for (const [key, value] of meta) {
    b.string(key);
    writeValue(b, key, value);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of input.tensors) {
    if (names.has(t.name)) throw new Error(`gguf: duplicate tensor name '${t.name}'`);
    names.add(t.name);
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (t.shape.length === 0 || t.shape.length > 4 || t.shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new Error(`gguf: tensor '${t.name}' has shape [${t.shape}] (1 to 4 positive dimensions needed)`);
    }
    if (count !== t.data.length) throw new Error(`gguf: tensor '${t.name}' has ${t.data.length} values, shape [${t.shape}] needs ${count}`);
    b.string(t.name);
    b.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) b.u64(t.shape[i]);
    b.u32(GGML_TYPE_IDS[t.type]);
    b.u64(offset);
    offsets.push(offset);
    const bytes = count * GGML_TYPE_SIZES[t.type];
    offset += bytes + ((alignment - (bytes % alignment)) % alignment);
  }
  b.pad(alignment);
  return { header: b.result(), offsets, alignment };
}

/** Opens `<path>.tmp-*`, lets `fill` write through `fd`, then fsyncs and renames over `path`. */
function writeAtomically(path: string, fill: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  let closed = false;
  try {
    fill(fd);
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (e) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Writes a GGUF v3 file atomically (temp file + rename): metadata in the
 * given order, then the tensors, each padded to the alignment. Tensors are
 * converted and written one at a time, so no whole-file buffer is built.
 */
export function writeGguf(path: string, input: GgufWriteInput): void {
  const { header, offsets, alignment } = encodeHeader(input);
  writeAtomically(path, (fd) => {
    writeAll(fd, header);
    let pos = 0;
    input.tensors.forEach((t, i) => {
      if (pos < offsets[i]) { writeAll(fd, new Uint8Array(offsets[i] - pos)); pos = offsets[i]; }
      const bytes = encodeTensorData(t);
      writeAll(fd, bytes);
      pos += bytes.length;
    });
    const tail = (alignment - (pos % alignment)) % alignment;
    if (tail > 0) writeAll(fd, new Uint8Array(tail));
  });
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/** A tensor's entry in a GGUF header. */
export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (the file's ggml dimensions reversed). */
  shape: number[];
  /** ggml type id (0 F32, 1 F16, 30 BF16, others quantized). */
  typeId: number;
  /** Type name when this module can decode it. */
  type?: GgmlTensorType;
  /** Byte offset of the data from the start of the file. */
  fileOffset: number;
}

/** A parsed GGUF header (tensor data stays in the file; see `readGgufTensor`). */
export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Byte offset where the tensor data section starts. */
  dataOffset: number;
}

/** Sequential little-endian reads from a file descriptor, through a refilled buffer. */
class FileCursor {
  private buf = Buffer.alloc(1 << 20);
  private start = 0; // file offset of buf[0]
  private end = 0; // valid bytes in buf
  pos = 0; // file offset of the next read

  constructor(private readonly fd: number, private readonly size: number, private readonly path: string) {}

  private need(n: number): number {
    if (this.pos + n > this.size) throw new Error(`gguf ${this.path}: truncated (needs ${n} bytes at offset ${this.pos}, file has ${this.size})`);
    if (this.pos >= this.start && this.pos + n <= this.start + this.end) return this.pos - this.start;
    if (n > this.buf.length) this.buf = Buffer.alloc(Math.max(n, this.buf.length * 2));
    this.start = this.pos;
    this.end = readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - this.pos), this.pos);
    return 0;
  }

  /** Bytes left after the read position. */
  remaining(): number { return this.size - this.pos; }
  u8(): number { const i = this.need(1); this.pos += 1; return this.buf.readUInt8(i); }
  i8(): number { const i = this.need(1); this.pos += 1; return this.buf.readInt8(i); }
  u16(): number { const i = this.need(2); this.pos += 2; return this.buf.readUInt16LE(i); }
  i16(): number { const i = this.need(2); this.pos += 2; return this.buf.readInt16LE(i); }
  u32(): number { const i = this.need(4); this.pos += 4; return this.buf.readUInt32LE(i); }
  i32(): number { const i = this.need(4); this.pos += 4; return this.buf.readInt32LE(i); }
  f32(): number { const i = this.need(4); this.pos += 4; return this.buf.readFloatLE(i); }
  f64(): number { const i = this.need(8); this.pos += 8; return this.buf.readDoubleLE(i); }
  u64(): bigint { const i = this.need(8); this.pos += 8; return this.buf.readBigUInt64LE(i); }
  i64(): bigint { const i = this.need(8); this.pos += 8; return this.buf.readBigInt64LE(i); }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  count(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`gguf ${this.path}: ${what} ${v} is too large`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.count(`length of ${what}`);
    const i = this.need(n);
    this.pos += n;
    return this.buf.toString('utf8', i, i + n);
  }
}

function readScalar(c: FileCursor, type: GgufScalarType, key: string): GgufScalar {
  switch (type) {
    case 'u8': return c.u8();
    case 'i8': return c.i8();
    case 'u16': return c.u16();
    case 'i16': return c.i16();
    case 'u32': return c.u32();
    case 'i32': return c.i32();
    case 'f32': return c.f32();
    case 'f64': return c.f64();
    case 'bool': return c.u8() !== 0;
    case 'string': return c.string(`a string of '${key}'`);
    case 'u64': return c.u64();
    case 'i64': return c.i64();
  }
}

function valueType(id: number, path: string, key: string): GgufScalarType | 'array' {
  const t = VALUE_TYPE_NAMES[id];
  if (t === undefined) throw new Error(`gguf ${path}: metadata '${key}' has unknown value type ${id}`);
  return t;
}

function readValue(c: FileCursor, path: string, key: string): GgufValue {
  const type = valueType(c.u32(), path, key);
  if (type !== 'array') return { type, value: readScalar(c, type, key) } as GgufValue;
  const itemType = valueType(c.u32(), path, key);
  if (itemType === 'array') throw new Error(`gguf ${path}: metadata '${key}' is an array of arrays (not supported by this reader)`);
  const n = c.count(`length of '${key}'`);
  if (n > c.remaining()) throw new Error(`gguf ${path}: metadata '${key}' claims ${n} elements, more than the file holds`);
  const value: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = readScalar(c, itemType, key);
  return { type: 'array', itemType, value };
}

/**
 * Reads the header of a GGUF v3 file: metadata and tensor infos (with
 * absolute data offsets). Tensor data is not read; see `readGgufTensor`.
 */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const c = new FileCursor(fd, size, path);
    const magic = c.u32();
    if (magic !== GGUF_MAGIC) throw new Error(`gguf ${path}: not a GGUF file (magic 0x${magic.toString(16).padStart(8, '0')})`);
    const version = c.u32();
    if (version !== GGUF_VERSION) throw new Error(`gguf ${path}: version ${version} is not supported (only ${GGUF_VERSION})`);
    const nTensors = c.count('tensor count');
    const nKv = c.count('metadata count');
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.string('a metadata key');
      if (metadata.has(key)) throw new Error(`gguf ${path}: duplicate metadata key '${key}'`);
      metadata.set(key, readValue(c, path, key));
    }
    const al = metadata.get('general.alignment');
    const alignment = al === undefined ? GGUF_DEFAULT_ALIGNMENT : al.type === 'u32' ? al.value : NaN;
    if (!isPowerOfTwo(alignment)) throw new Error(`gguf ${path}: general.alignment ${JSON.stringify(al)} is not a u32 power of two`);
    const raw: Array<{ name: string; shape: number[]; typeId: number; offset: number }> = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.string('a tensor name');
      const nd = c.u32();
      if (nd === 0 || nd > 4) throw new Error(`gguf ${path}: tensor '${name}' has ${nd} dimensions`);
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) dims.push(c.count(`dimension of '${name}'`));
      const typeId = c.u32();
      const offset = c.count(`offset of '${name}'`);
      if (offset % alignment !== 0) throw new Error(`gguf ${path}: tensor '${name}' offset ${offset} is not aligned to ${alignment}`);
      raw.push({ name, shape: dims.reverse(), typeId, offset });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const typeName = (id: number): GgmlTensorType | undefined => (Object.entries(GGML_TYPE_IDS).find(([, v]) => v === id)?.[0] as GgmlTensorType | undefined);
    const tensors = raw.map((t): GgufTensorInfo => {
      const type = typeName(t.typeId);
      const info: GgufTensorInfo = { name: t.name, shape: t.shape, typeId: t.typeId, fileOffset: dataOffset + t.offset };
      if (type !== undefined) {
        info.type = type;
        const bytes = t.shape.reduce((a, d) => a * d, 1) * GGML_TYPE_SIZES[type];
        if (info.fileOffset + bytes > size) throw new Error(`gguf ${path}: tensor '${t.name}' runs past the end of the file`);
      }
      return info;
    });
    return { path, version, alignment, metadata, tensors, dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** Decodes one F32 / F16 / BF16 tensor of a read header to F32 values (row-major). */
export function readGgufTensor(file: GgufFile, name: string): { shape: number[]; type: GgmlTensorType; data: Float32Array } {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new Error(`gguf ${file.path}: no tensor '${name}'`);
  if (info.type === undefined) throw new Error(`gguf ${file.path}: tensor '${name}' has ggml type ${info.typeId}, only F32/F16/BF16 are decoded`);
  const count = info.shape.reduce((a, d) => a * d, 1);
  const bytes = Buffer.alloc(count * GGML_TYPE_SIZES[info.type]);
  const fd = openSync(file.path, 'r');
  try {
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, info.fileOffset + done);
      if (n === 0) throw new Error(`gguf ${file.path}: tensor '${name}' is truncated`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const data = info.type === 'F32'
    ? new Float32Array(ab)
    : toFloat32({ dtype: info.type, shape: info.shape, data: new Uint16Array(ab) });
  return { shape: [...info.shape], type: info.type, data };
}

/** The plain value of a metadata key (arrays as arrays), or undefined when absent. */
export function ggufMetadata(file: GgufFile, key: string): GgufScalar | GgufScalar[] | undefined {
  return file.metadata.get(key)?.value;
}

// ---------------------------------------------------------------------------
// Export of llmrec models
// ---------------------------------------------------------------------------

/** llama.cpp token types (`tokenizer.ggml.token_type`). */
export const GGUF_TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/**
 * Reorders the rows of a q/k projection (weight [rows, cols] or bias
 * [rows], cols = 1) from HF's rotate-half RoPE layout to GGUF llama's
 * interleaved one, per head: numpy's
 * `w.reshape(nHead, 2, rows / nHead / 2, cols).swapaxes(1, 2).reshape(rows, cols)`,
 * i.e. convert_hf_to_gguf's `LlamaModel.permute`.
 */
export function permuteRopeRows(data: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  if (rows % (2 * nHead) !== 0) throw new Error(`permuteRopeRows: ${rows} rows do not split into ${nHead} heads of even size`);
  if (data.length !== rows * cols) throw new Error(`permuteRopeRows: ${data.length} values, expected ${rows} x ${cols}`);
  const D = rows / nHead;
  const half = D / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * D + j * half + i) * cols;
        out.set(data.subarray(src, src + cols), (h * D + 2 * i + j) * cols);
      }
    }
  }
  return out;
}

/** Options of `exportGguf`. */
export interface ExportGgufOptions {
  /**
   * Storage of the matrices: 'f32' (exact, default) or 'f16' (half the size).
   * 1-D tensors (norms, biases) stay F32 either way, as convert_hf_to_gguf does.
   */
  dtype?: 'f32' | 'f16';
  /** `general.name` (default `llmrec-<architecture>`). */
  name?: string;
  /**
   * llama.cpp pre-tokenizer name (`tokenizer.ggml.pre`). Default: `gpt-2`
   * for a byte-level BPE whose pre-tokenizer is the plain GPT-2 ByteLevel
   * regex without prefix space and without normalizer (what `trainBpe`
   * makes); any other tokenizer must name it explicitly.
   */
  pre?: string;
}

/** What `exportGguf` wrote. */
export interface ExportGgufResult {
  path: string;
  /** `general.architecture`: 'llama', 'qwen2' or 'gpt2'. */
  architecture: 'llama' | 'qwen2' | 'gpt2';
  /** Tensor names written, in file order. */
  tensors: string[];
  /** Number of metadata entries. */
  metadataCount: number;
}

type JsonRecord = Record<string, unknown>;

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The pre-tokenizer name for `tok` (see `ExportGgufOptions.pre`). */
function defaultPre(json: JsonRecord): string {
  const pre = json.pre_tokenizer;
  const plain = isRecord(pre) && pre.type === 'ByteLevel' && pre.use_regex !== false && pre.add_prefix_space !== true && (json.normalizer === null || json.normalizer === undefined);
  if (!plain) {
    throw new Error('exportGguf: the tokenizer is not a plain GPT-2 style byte-level BPE (ByteLevel pre-tokenizer with the GPT-2 regex, no prefix space, no normalizer); ' +
      'pass opts.pre with the llama.cpp pre-tokenizer name that matches it (e.g. "llama-bpe", "qwen2")');
  }
  return 'gpt-2';
}

/**
 * The `tokenizer.ggml.*` metadata of a byte-level BPE tokenizer for a model
 * with `vocabSize` embedding rows (ids the tokenizer lacks become unused
 * `[PAD<id>]` tokens, as in convert_hf_to_gguf).
 */
export function ggufTokenizerMetadata(tok: Tokenizer, vocabSize: number, opts: { pre?: string; bosId?: number; eosId?: number; padId?: number } = {}): Array<[string, GgufValue]> {
  const json = tok.toJSON() as JsonRecord;
  const model = json.model;
  if (!isRecord(model) || model.type !== 'BPE') throw new Error(`exportGguf: only byte-level BPE tokenizers are exported, this one is ${tok.modelType}`);
  if (model.byte_fallback === true) throw new Error('exportGguf: BPE with byte_fallback (SentencePiece style) is not supported; llama.cpp needs the "llama" tokenizer model for it');
  if (tok.vocabSize > vocabSize) throw new Error(`exportGguf: the tokenizer has ${tok.vocabSize} ids but the model only ${vocabSize} embedding rows`);
  const pre = opts.pre ?? defaultPre(json);
  const added = new Map(tok.addedTokens().map((t) => [t.id, t]));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const t = i < tok.vocabSize ? tok.idToToken(i) : undefined;
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(GGUF_TOKEN_TYPE.unused);
      continue;
    }
    tokens.push(t);
    const a = added.get(i);
    types.push(a === undefined ? GGUF_TOKEN_TYPE.normal : a.special ? GGUF_TOKEN_TYPE.control : GGUF_TOKEN_TYPE.userDefined);
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('exportGguf: the vocabulary has duplicate token strings');
  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  const merges = rawMerges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      if (m[0].includes(' ') || m[1].includes(' ')) throw new Error(`exportGguf: merge ${i} ${JSON.stringify(m)} has a space, which GGUF's "a b" merges cannot hold`);
      return `${m[0]} ${m[1]}`;
    }
    throw new Error(`exportGguf: merge ${i} of the tokenizer is malformed: ${JSON.stringify(m)}`);
  });
  const specials = tok.specialTokens;
  const plainIds = tok.encode('a', { addSpecialTokens: false });
  const withIds = tok.encode('a');
  const bosId = specials.bos?.id ?? opts.bosId;
  const eosId = specials.eos?.id ?? opts.eosId;
  const padId = specials.pad?.id ?? opts.padId;
  const addBos = withIds.length > plainIds.length && bosId !== undefined && withIds[0] === bosId;
  const addEos = withIds.length > plainIds.length && eosId !== undefined && withIds[withIds.length - 1] === eosId;
  const out: Array<[string, GgufValue]> = [
    ['tokenizer.ggml.model', gguf.str('gpt2')],
    ['tokenizer.ggml.pre', gguf.str(pre)],
    ['tokenizer.ggml.tokens', gguf.strings(tokens)],
    ['tokenizer.ggml.token_type', gguf.i32s(types)],
    ['tokenizer.ggml.merges', gguf.strings(merges)],
  ];
  const ids: Array<[string, number | undefined]> = [
    ['tokenizer.ggml.bos_token_id', bosId],
    ['tokenizer.ggml.eos_token_id', eosId],
    ['tokenizer.ggml.unknown_token_id', specials.unk?.id],
    ['tokenizer.ggml.padding_token_id', padId],
  ];
  for (const [key, id] of ids) if (id !== undefined && id >= 0 && id < vocabSize) out.push([key, gguf.u32(id)]);
  out.push(['tokenizer.ggml.add_bos_token', gguf.bool(addBos)], ['tokenizer.ggml.add_eos_token', gguf.bool(addEos)]);
  return out;
}

/** Maps a state dict (PyTorch layout) to GGUF tensors, checking that every parameter is used. */
class TensorPlan {
  readonly tensors: GgufTensorInput[] = [];
  private readonly used = new Set<string>();
  private readonly sd: Map<string, { shape: number[]; data: Float32Array }>;

  constructor(store: LlamaForCausalLM['store'], private readonly dtype: 'f32' | 'f16') {
    this.sd = new Map([...exportStateDict(store)].map(([k, t]) => [k, { shape: t.shape, data: toFloat32(t) }]));
  }

  /** Adds `hfName` as `ggufName` (F16 for matrices when exporting f16), optionally transformed. */
  add(ggufName: string, hfName: string, transform?: (data: Float32Array, shape: readonly number[]) => { data: Float32Array; shape: readonly number[] }): void {
    const t = this.sd.get(hfName);
    if (!t) throw new Error(`exportGguf: the model has no parameter '${hfName}'`);
    this.used.add(hfName);
    const { data, shape } = transform ? transform(t.data, t.shape) : t;
    this.tensors.push({ name: ggufName, shape, type: this.dtype === 'f16' && shape.length >= 2 ? 'F16' : 'F32', data });
  }

  /** `add` when the model has `hfName` (biases). */
  addOptional(ggufName: string, hfName: string, transform?: (data: Float32Array, shape: readonly number[]) => { data: Float32Array; shape: readonly number[] }): void {
    if (this.sd.has(hfName)) this.add(ggufName, hfName, transform);
  }

  /** Throws when a parameter was left unmapped. */
  checkAllUsed(): void {
    const left = [...this.sd.keys()].filter((n) => !this.used.has(n));
    if (left.length > 0) throw new Error(`exportGguf: parameters without a GGUF mapping: ${left.slice(0, 8).join(', ')}`);
  }
}

function checkDtype(dtype: unknown): 'f32' | 'f16' {
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`exportGguf: dtype must be 'f32' or 'f16', got ${String(dtype)}`);
  return dtype;
}

function generalMetadata(arch: string, opts: ExportGgufOptions, dtype: 'f32' | 'f16'): Array<[string, GgufValue]> {
  return [
    ['general.architecture', gguf.str(arch)],
    ['general.name', gguf.str(opts.name ?? `llmrec-${arch}`)],
    ['general.file_type', gguf.u32(dtype === 'f32' ? 0 : 1)],
  ];
}

/**
 * Writes a llmrec decoder and its tokenizer as a GGUF file llama.cpp loads,
 * atomically, following convert_hf_to_gguf (see the module doc):
 *
 * - `LlamaForCausalLM` with a LLaMA / Mistral config (no active sliding
 *   window) → `llama`, q/k rows permuted for llama.cpp's interleaved RoPE;
 *   attention and MLP biases, GQA, an explicit head_dim and linear RoPE
 *   scaling are carried over.
 * - `LlamaForCausalLM` with a Qwen2 config → `qwen2` (no MLP biases there).
 * - `Gpt2LMHeadModel` (tanh GELU, scaled attention) → `gpt2`, Conv1D
 *   weights transposed to [out, in], the tied head written as `output.weight`.
 *
 * llama.cpp then computes the same logits as `model.forward` up to float
 * rounding (plus F16 rounding of the matrices with `dtype: 'f16'`).
 */
export function exportGguf(model: LlamaForCausalLM | Gpt2LMHeadModel, tokenizer: Tokenizer, path: string, opts: ExportGgufOptions = {}): ExportGgufResult {
  const dtype = checkDtype(opts.dtype ?? 'f32');
  const { arch, meta, plan } = model.family === 'gpt2'
    ? gpt2Plan(model as Gpt2LMHeadModel, opts, dtype)
    : llamaPlan(model as LlamaForCausalLM, opts, dtype);
  const c = model.config;
  const eosConfig = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
  meta.push(...ggufTokenizerMetadata(tokenizer, c.vocab_size, {
    pre: opts.pre,
    bosId: c.bos_token_id ?? undefined,
    eosId: eosConfig ?? undefined,
    padId: c.pad_token_id ?? undefined,
  }));
  plan.checkAllUsed();
  writeGguf(path, { metadata: meta, tensors: plan.tensors });
  return { path, architecture: arch, tensors: plan.tensors.map((t) => t.name), metadataCount: meta.length };
}

function llamaPlan(model: LlamaForCausalLM, opts: ExportGgufOptions, dtype: 'f32' | 'f16'): { arch: 'llama' | 'qwen2'; meta: Array<[string, GgufValue]>; plan: TensorPlan } {
  const c = model.config;
  const arch: 'llama' | 'qwen2' = c.model_type === 'qwen2' ? 'qwen2' : 'llama';
  const window = c.model_type === 'mistral' || c.use_sliding_window ? (c.sliding_window ?? undefined) : undefined;
  if (window !== undefined && window < c.max_position_embeddings) {
    throw new Error(`exportGguf: sliding-window attention (window ${window} < context ${c.max_position_embeddings}) has no equivalent in llama.cpp's ${arch} architecture`);
  }
  if (c.mlp_bias && arch === 'qwen2') throw new Error('exportGguf: mlp_bias is not supported for Qwen2 configs (llama.cpp\'s qwen2 architecture has no feed-forward biases)');
  const scaling = c.rope_scaling;
  const scalingKind = scaling ? (scaling.rope_type ?? scaling.type) : undefined;
  const H = model.numHeads;
  const G = model.numKvHeads;
  const D = model.headDim;
  const d = model.hiddenSize;
  const meta = generalMetadata(arch, opts, dtype);
  meta.push(
    [`${arch}.vocab_size`, gguf.u32(c.vocab_size)],
    [`${arch}.context_length`, gguf.u32(c.max_position_embeddings)],
    [`${arch}.embedding_length`, gguf.u32(d)],
    [`${arch}.block_count`, gguf.u32(c.num_hidden_layers)],
    [`${arch}.feed_forward_length`, gguf.u32(c.intermediate_size)],
    [`${arch}.attention.head_count`, gguf.u32(H)],
    [`${arch}.attention.head_count_kv`, gguf.u32(G)],
    [`${arch}.rope.freq_base`, gguf.f32(c.rope_theta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(c.rms_norm_eps)],
    [`${arch}.rope.dimension_count`, gguf.u32(D)],
  );
  if (D * H !== d) meta.push([`${arch}.attention.key_length`, gguf.u32(D)], [`${arch}.attention.value_length`, gguf.u32(D)]);
  if (scalingKind === 'linear' && scaling?.factor !== undefined && scaling.factor !== 1) {
    meta.push([`${arch}.rope.scaling.type`, gguf.str('linear')], [`${arch}.rope.scaling.factor`, gguf.f32(scaling.factor)]);
  }
  const plan = new TensorPlan(model.store, dtype);
  const permute = (heads: number) => (data: Float32Array, shape: readonly number[]) =>
    ({ data: arch === 'llama' ? permuteRopeRows(data, shape[0], shape.length > 1 ? shape[1] : 1, heads) : data, shape });
  plan.add('token_embd.weight', 'model.embed_tokens.weight');
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const b = `blk.${i}`;
    plan.add(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`);
    plan.add(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`, permute(H));
    plan.addOptional(`${b}.attn_q.bias`, `${p}.self_attn.q_proj.bias`, permute(H));
    plan.add(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight`, permute(G));
    plan.addOptional(`${b}.attn_k.bias`, `${p}.self_attn.k_proj.bias`, permute(G));
    plan.add(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight`);
    plan.addOptional(`${b}.attn_v.bias`, `${p}.self_attn.v_proj.bias`);
    plan.add(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`);
    plan.addOptional(`${b}.attn_output.bias`, `${p}.self_attn.o_proj.bias`);
    plan.add(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`);
    plan.add(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`);
    plan.addOptional(`${b}.ffn_gate.bias`, `${p}.mlp.gate_proj.bias`);
    plan.add(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`);
    plan.addOptional(`${b}.ffn_up.bias`, `${p}.mlp.up_proj.bias`);
    plan.add(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`);
    plan.addOptional(`${b}.ffn_down.bias`, `${p}.mlp.down_proj.bias`);
  }
  plan.add('output_norm.weight', 'model.norm.weight');
  if (!c.tie_word_embeddings) plan.add('output.weight', 'lm_head.weight');
  return { arch, meta, plan };
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(data: Float32Array, shape: readonly number[]): { data: Float32Array; shape: readonly number[] } {
  const [r, c] = shape;
  const out = new Float32Array(data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
  return { data: out, shape: [c, r] };
}

function gpt2Plan(model: Gpt2LMHeadModel, opts: ExportGgufOptions, dtype: 'f32' | 'f16'): { arch: 'gpt2'; meta: Array<[string, GgufValue]>; plan: TensorPlan } {
  const c = model.config;
  if (c.activation_function !== 'gelu_new' && c.activation_function !== 'gelu_pytorch_tanh') {
    throw new Error(`exportGguf: GPT-2 activation '${c.activation_function}' is not supported (llama.cpp's gpt2 architecture uses the tanh GELU)`);
  }
  if (!c.scale_attn_weights) throw new Error('exportGguf: GPT-2 with scale_attn_weights false has no equivalent in llama.cpp');
  const meta = generalMetadata('gpt2', opts, dtype);
  meta.push(
    ['gpt2.vocab_size', gguf.u32(c.vocab_size)],
    ['gpt2.context_length', gguf.u32(c.n_positions)],
    ['gpt2.embedding_length', gguf.u32(c.n_embd)],
    ['gpt2.feed_forward_length', gguf.u32(c.n_inner ?? 4 * c.n_embd)],
    ['gpt2.block_count', gguf.u32(c.n_layer)],
    ['gpt2.attention.head_count', gguf.u32(c.n_head)],
    ['gpt2.attention.layer_norm_epsilon', gguf.f32(c.layer_norm_epsilon)],
  );
  const plan = new TensorPlan(model.store, dtype);
  plan.add('token_embd.weight', 'transformer.wte.weight');
  plan.add('position_embd.weight', 'transformer.wpe.weight');
  for (let i = 0; i < c.n_layer; i++) {
    const p = `transformer.h.${i}`;
    const b = `blk.${i}`;
    const pairs: Array<[string, string, boolean]> = [
      ['attn_norm', 'ln_1', false], ['attn_qkv', 'attn.c_attn', true], ['attn_output', 'attn.c_proj', true],
      ['ffn_norm', 'ln_2', false], ['ffn_up', 'mlp.c_fc', true], ['ffn_down', 'mlp.c_proj', true],
    ];
    for (const [g, h, conv1d] of pairs) {
      // HF's Conv1D stores [in, out]; ggml wants nn.Linear's [out, in].
      plan.add(`${b}.${g}.weight`, `${p}.${h}.weight`, conv1d ? transpose : undefined);
      plan.add(`${b}.${g}.bias`, `${p}.${h}.bias`);
    }
  }
  plan.add('output_norm.weight', 'transformer.ln_f.weight');
  plan.add('output_norm.bias', 'transformer.ln_f.bias');
  // GPT-2's head is tied to wte; convert_hf_to_gguf writes it out as output.weight too.
  plan.add('output.weight', 'transformer.wte.weight');
  return { arch: 'gpt2', meta, plan };
}
