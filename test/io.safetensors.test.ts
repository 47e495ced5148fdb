/**
 * safetensors: round trips (F32, I32, I64, U8, metadata, empty tensors),
 * the on-disk layout (8-byte little-endian header length, 8-aligned header),
 * and clear errors naming the file on truncated or corrupted input.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, f32, i32, readSafetensors, writeSafetensors, type SafeTensor } from '../src/io/safetensors.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'llmrec-st-'));
}

/** Builds a file with a hand-written header (for corruption cases). */
function rawFile(header: unknown, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32, I32, I64, U8 tensors and metadata through a file', () => {
    const dir = tmp();
    try {
      const path = join(dir, 'sub', 'w.safetensors');
      const tensors: Record<string, SafeTensor> = {
        'item_emb.weight': f32(new Float32Array([1.5, -2, 3.25, Number.NEGATIVE_INFINITY, 0, 1e-30]), [3, 2]),
        ids: i32(new Int32Array([7, -1, 2147483647]), [3]),
        big: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, -(2n ** 40n)]) },
        mask: { dtype: 'BOOL', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
        empty: f32(new Float32Array(0), [0, 4]),
        scalar: f32(new Float32Array([42]), []),
      };
      writeSafetensors(path, tensors, { format: 'pt', model: 'sasrec' });
      assert.deepEqual(readdirSync(join(dir, 'sub')), ['w.safetensors'], 'no temp file left behind');
      const back = readSafetensors(path);
      assert.deepEqual(back.metadata, { format: 'pt', model: 'sasrec' });
      assert.deepEqual([...back.tensors.keys()], Object.keys(tensors));
      for (const [name, t] of Object.entries(tensors)) {
        const b = back.tensors.get(name)!;
        assert.equal(b.dtype, t.dtype, name);
        assert.deepEqual(b.shape, t.shape, name);
        assert.equal(b.data.constructor, t.data.constructor, name);
        assert.deepEqual(Array.from(b.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lays out the header as the format requires', () => {
    const bytes = encodeSafetensors({ a: f32(new Float32Array([1, 2]), [2]), b: i32(new Int32Array([3]), [1]) });
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    assert.equal(n % 8, 0, 'header padded to 8 bytes');
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    assert.deepEqual(header.a, { dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    assert.deepEqual(header.b, { dtype: 'I32', shape: [1], data_offsets: [8, 12] });
    assert.equal(header.__metadata__, undefined, 'no metadata key when none given');
    assert.equal(bytes.length, 8 + n + 12);
    const data = new Float32Array(bytes.slice(8 + n, 8 + n + 8).buffer);
    assert.deepEqual(Array.from(data), [1, 2]);
  });

  it('rejects inconsistent input on write', () => {
    assert.throws(() => encodeSafetensors({ a: f32(new Float32Array(3), [2, 2]) }), /has 3 values/);
    assert.throws(() => encodeSafetensors({ a: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), /declared I32/);
  });

  it('throws a clear error naming the file on corruption', () => {
    const dir = tmp();
    try {
      const good = encodeSafetensors({ w: f32(new Float32Array([1, 2, 3, 4]), [2, 2]) }, { k: 'v' });
      const cases: Array<[string, Uint8Array, RegExp]> = [
        ['truncated-length', good.subarray(0, 5), /shorter than the 8-byte/],
        ['truncated-data', good.subarray(0, good.length - 4), /outside the data block/],
        ['huge-header', (() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })(), /header length is larger than the file/],
        ['garbage-json', (() => { const b = good.slice(); b[9] = 0x7b; b[10] = 0x7b; return b; })(), /not valid UTF-8 JSON/],
        ['bad-dtype', rawFile({ w: { dtype: 'F99', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /unsupported dtype/],
        ['bad-shape', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 4] } }, new Uint8Array(4)), /needs 12/],
        ['overlap', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /overlap/],
        ['bad-meta', rawFile({ __metadata__: { k: 1 } }, new Uint8Array(0)), /not a string/],
        // Not a safetensors file at all: plausible length, but text where the JSON header should be.
        ['text-file', new TextEncoder().encode('\x10\0\0\0\0\0\0\0root:x:0:0:root:/root:/bin/bash\n'), /does not start with '\{'/],
      ];
      for (const [name, bytes, re] of cases) {
        const path = join(dir, `${name}.safetensors`);
        writeFileSync(path, bytes);
        assert.throws(() => readSafetensors(path), (e: Error) => {
          assert.match(e.message, re, name);
          assert.ok(e.message.includes(path), `${name}: message names the file: ${e.message}`);
          assert.ok(!e.message.includes('root:'), `${name}: message does not echo the file's bytes: ${e.message}`);
          return true;
        });
      }
      assert.throws(() => readSafetensors(join(dir, 'missing.safetensors')), /cannot read .*missing\.safetensors/);
      // The good bytes still decode (sanity of the corruption cases).
      assert.deepEqual(Array.from(decodeSafetensors(good).tensors.get('w')!.data as Float32Array), [1, 2, 3, 4]);
      assert.ok(readFileSync(join(dir, 'overlap.safetensors')).length > 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
