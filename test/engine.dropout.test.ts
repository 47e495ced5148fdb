/**
 * Dropout masks (src/engine/kernels/dropout.ts): the wasm kernel writes the
 * same bits as the reference loop dropoutMultipliers (src/util/random.ts) for
 * every length (SIMD blocks of 8 and odd tails), seed and rate, and so does
 * the cpu backend; bad attributes are named. The 'single32' draw (the LM
 * families' seeded streams, src/nn/dropout.ts) gives the bits of the JS loop
 * it replaced (a Float32Array of uniform draws u, then u < rate ? 0 :
 * 1 / (1 - rate)), on both backends and across the calls of a stream.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dropoutMask, tf } from '../src/engine/index.js';
import { wasmKernelsAvailable } from '../src/engine/kernels/wasm_gemm.js';
import { dropoutMultipliers, dropoutThreshold32, mixSeed as mixSeedFor, Mulberry32 } from '../src/util/random.js';
import { ParamStore, SeededDropout } from '../src/nn/index.js';
import { onBackend, ready, Rng } from './helpers.js';

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

/** The LM families' dropout loop before the kernel: n uniform draws stored as float32, then the compare. */
function oldLmMask(rng: Mulberry32, n: number, rate: number): Float32Array {
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) u[i] = rng.next();
  const keep = 1 / (1 - rate);
  for (let i = 0; i < n; i++) u[i] = u[i] < rate ? 0 : keep;
  return u;
}

describe("dropoutMask, draw 'single32'", () => {
  before(ready);
  const LM_RATES = [0, 1e-12, 0.05, 0.1, 1 / 3, 0.5, 0.9999999];

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: the bits of the old LM loop for every size, state and rate`, async () => {
      for (const n of SIZES) {
        for (const state of SEEDS) {
          for (const rate of LM_RATES) {
            const got = await onBackend(backend, () => ({ m: dropoutMask([n], rate, state, 'single32') }));
            assert.deepEqual(Float32Array.from(got.m.values), oldLmMask(new Mulberry32(state), n, rate), `n ${n} state ${state} rate ${rate}`);
          }
        }
      }
    });
  }

  it('the threshold is the first draw that is not dropped', () => {
    for (const rate of [1e-12, 0.05, 0.1, 1 / 3, 0.5, 0.9999999, 1 - 2 ** -30]) {
      const { thr, keep } = dropoutThreshold32(rate);
      assert.ok(thr < 2 ** 32, `rate ${rate}`);
      assert.ok(Math.fround(thr / 2 ** 32) >= rate && (thr === 0 || Math.fround((thr - 1) / 2 ** 32) < rate), `rate ${rate}: thr ${thr}`);
      assert.equal(keep, Math.fround(1 / (1 - rate)));
    }
    assert.equal(dropoutThreshold32(0).thr, 0);
    assert.throws(() => dropoutThreshold32(1), /rate must be in \[0, 1\)/);
    assert.throws(() => dropoutMask([4], 0.1, 0, 'triple' as never), /draw must be 'pair16' or 'single32'/);
    assert.throws(() => dropoutMask([4], 1, 0, 'single32'), /rate must be in \[0, 1\)/);
  });

  it('Mulberry32.take(n) skips exactly n draws', () => {
    const a = new Mulberry32(2024);
    const b = new Mulberry32(2024);
    for (const n of [0, 1, 5, 1000]) {
      const from = a.take(n);
      for (let i = 0; i < n; i++) b.next();
      assert.equal(a.uint32(), b.uint32(), `after taking ${n}`);
      assert.ok(Number.isInteger(from) && from >= 0 && from < 2 ** 32);
    }
    assert.throws(() => a.take(-1), /non-negative integer/);
  });

  it('SeededDropout: a stream of calls and stream moves draws the old masks', async () => {
    for (const backend of ['wasm', 'cpu'] as const) {
      const store = new ParamStore();
      const drop = new SeededDropout(0x5eed, store);
      let old = new Rng(0x5eed);
      const calls: Array<{ shape: number[]; rate: number; stream: number }> = [
        { shape: [3, 5], rate: 0.1, stream: 0 },
        { shape: [2, 4, 7], rate: 0.1, stream: 0 },
        { shape: [9], rate: 0.3, stream: 0 },
        { shape: [4, 4], rate: 0.1, stream: 7 },
        { shape: [1, 2, 3, 5], rate: 0.1, stream: 7 },
        { shape: [6], rate: 0.25, stream: 8 },
      ];
      let stream = 0;
      for (const c of calls) {
        store.dropoutStream = c.stream;
        if (c.stream !== stream) {
          stream = c.stream;
          old = new Rng(mixSeedFor(0x5eed, stream));
        }
        const x = Float32Array.from({ length: c.shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 1);
        const got = await onBackend(backend, () => ({ y: drop.apply(tf.tensor(x, c.shape), c.rate), m: drop.mask(c.shape, c.rate) }));
        const m1 = oldLmMask(old, x.length, c.rate);
        const m2 = oldLmMask(old, x.length, c.rate);
        assert.deepEqual(Float32Array.from(got.y.values), Float32Array.from(x, (v, i) => Math.fround(v * m1[i])), `${backend} apply ${JSON.stringify(c)}`);
        assert.deepEqual(Float32Array.from(got.m.values), m2, `${backend} mask ${JSON.stringify(c)}`);
      }
    }
  });
});
