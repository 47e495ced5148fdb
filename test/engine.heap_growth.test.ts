/**
 * Kernels must stay correct when allocating their output grows the wasm heap
 * (growth detaches every typed-array view taken before it). Regression test
 * for the native gather, which read the index count from a stale view and
 * copied no rows: a resumed pre-training run's first step saw zero embeddings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { heapBuffer, wasmBackend } from '../src/engine/backend.js';
import { onEachPath, ready, Rng } from './helpers.js';

await ready();

onEachPath('gather whose output allocation grows the heap', () => {
  test('rows are copied exactly', () => {
    const rng = new Rng(3);
    const V = 64;
    const d = 256;
    const table = tf.tensor2d(rng.normalArray(V * d, 1), [V, d]);
    const tableArr = table.dataSync() as Float32Array;
    // Output larger than the whole current heap: its allocation must grow it.
    const heapBytes = heapBuffer(wasmBackend()).byteLength;
    const n = Math.ceil((heapBytes * 1.1) / (d * 4));
    const idsArr = rng.intArray(n, 0, V);
    const ids = tf.tensor1d(idsArr, 'int32');
    const out = tf.gather(table, ids);
    assert.ok(heapBuffer(wasmBackend()).byteLength > heapBytes, 'the heap grew during the gather');
    const o = out.dataSync() as Float32Array;
    for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
      const r = idsArr[i];
      assert.deepEqual(Array.from(o.subarray(i * d, (i + 1) * d)), Array.from(tableArr.subarray(r * d, (r + 1) * d)), `row ${i}`);
    }
    tf.dispose([table, ids, out]);
  });
});
