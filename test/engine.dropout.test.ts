/**
 * Dropout masks (src/engine/kernels/dropout.ts): the wasm kernel writes the
 * same bits as the reference loop dropoutMultipliers (src/util/random.ts) for
 * every length (SIMD blocks of 8 and odd tails), seed and rate, and so does
 * the cpu backend; bad attributes are named.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dropoutMask, tf } from '../src/engine/index.js';
import { wasmKernelsAvailable } from '../src/engine/kernels/wasm_gemm.js';
import { dropoutMultipliers } from '../src/util/random.js';
import { onBackend, ready } from './helpers.js';

const SIZES = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 1000, 4097];
const SEEDS = [0, 1, 2024, 0x7fffffff, 0x80000000, 0xffffffff];
const RATES = [0, 1 / 65536, 0.1, 0.2, 0.5, 0.999];

describe('dropoutMask', () => {
  before(ready);

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: the same bits as dropoutMultipliers for every size, seed and rate`, async () => {
      for (const n of SIZES) {
        for (const seed of SEEDS) {
          for (const rate of RATES) {
            const got = await onBackend(backend, () => ({ m: dropoutMask([n], rate, seed) }));
            const want = dropoutMultipliers(n, rate, seed);
            assert.deepEqual(Float32Array.from(got.m.values), want, `n ${n} seed ${seed} rate ${rate}`);
          }
        }
      }
    });
  }

  it('the wasm run used the SIMD module (not the JS fallback)', async () => {
    await ready();
    assert.ok(wasmKernelsAvailable(tf.backend() as never), 'the SIMD module is available on this install');
  });

  it('keeps the shape, drops about `rate`, and kept values are 65536 / (65536 - thr)', async () => {
    const got = await onBackend('wasm', () => ({ m: dropoutMask([3, 50, 40], 0.25, 99) }));
    assert.deepEqual(got.m.shape, [3, 50, 40]);
    const zeros = got.m.values.filter((x) => x === 0).length;
    assert.ok(Math.abs(zeros / got.m.values.length - 0.25) < 0.02, `drop fraction ${zeros / got.m.values.length}`);
    assert.ok(got.m.values.every((x) => x === 0 || x === Math.fround(65536 / (65536 - 16384))));
  });

  it('names a bad rate, shape or seed', async () => {
    await ready();
    assert.throws(() => dropoutMask([4], 1, 0), /rate must be in \[0, 1\)/);
    assert.throws(() => dropoutMask([4], -0.1, 0), /rate must be in \[0, 1\)/);
    assert.throws(() => dropoutMask([4], 0.9999999, 0), /rounds to 1/);
    assert.throws(() => dropoutMask([2, -1], 0.1, 0), /shape must be a list of non-negative integers/);
    assert.throws(() => dropoutMask([4], 0.1, 1.5), /seed must be an integer/);
  });
});
