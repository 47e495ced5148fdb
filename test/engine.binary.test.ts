/**
 * Broadcast Add / Sub / Multiply on the wasm backend (src/engine/kernels/binary.ts):
 * the broadcast plan by hand, then values (and gradients through the ops)
 * against the tfjs cpu backend for trailing, row, scalar, same-shape and
 * swapped operands, and the cases left to the stock kernel.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/index.js';
import { broadcastPlan } from '../src/engine/kernels/binary.js';
import { Rng, assertClose, onBackend, randn, ready, wasmDataIds } from './helpers.js';

await ready();

describe('broadcast binary ops (wasm kernels)', () => {
  it('plans: trailing, row, scalar, same shape; null when the small operand fits neither', () => {
    assert.deepEqual(broadcastPlan([256, 192], [192]), { mode: 0, outer: 256, inner: 192 });
    assert.deepEqual(broadcastPlan([4, 50, 64], [50, 64]), { mode: 0, outer: 4, inner: 3200 });
    assert.deepEqual(broadcastPlan([4, 50, 64], [1, 1, 64]), { mode: 0, outer: 200, inner: 64 });
    assert.deepEqual(broadcastPlan([3, 5], [3, 5]), { mode: 0, outer: 1, inner: 15 });
    assert.deepEqual(broadcastPlan([4, 50, 64], [4, 50, 1]), { mode: 1, outer: 200, inner: 64 });
    assert.deepEqual(broadcastPlan([6, 7], [6, 1]), { mode: 1, outer: 6, inner: 7 });
    assert.deepEqual(broadcastPlan([6, 7], []), { mode: 1, outer: 1, inner: 42 });
    assert.deepEqual(broadcastPlan([6, 7], [1, 1]), { mode: 1, outer: 1, inner: 42 });
    assert.equal(broadcastPlan([4, 50, 64], [50, 1]), null);
    assert.equal(broadcastPlan([4, 5], [2, 4, 5]), null);
  });

  const cases: Array<[number[], number[]]> = [
    [[256, 192], [192]], [[5, 7], [7]], [[3, 4, 6], [4, 6]], [[3, 4, 6], [3, 4, 1]], [[6, 7], [6, 1]],
    [[6, 7], []], [[9, 13], [9, 13]], [[2, 1, 5], [1, 1, 5]], [[3, 5], [1, 5]], [[1], [1]],
    // left to the stock kernel: both operands broadcast, a middle axis broadcast
    [[4, 1], [1, 5]], [[4, 3, 5], [3, 1]],
  ];
  for (const op of ['add', 'sub', 'mul'] as const) {
    for (const [sa, sb] of cases) {
      for (const swap of [false, true]) {
        const [x, y] = swap ? [sb, sa] : [sa, sb];
        it(`${op} [${x}] and [${y}]: values and gradients as the cpu backend`, async () => {
          const rng = new Rng(x.length * 31 + y.length * 7 + (swap ? 1 : 0));
          const xd = randn(rng, x);
          const yd = randn(rng, y);
          const run = () => {
            const a = tf.tensor(xd, x);
            const b = tf.tensor(yd, y);
            const f = (p: tf.Tensor, q: tf.Tensor) => (op === 'add' ? tf.add(p, q) : op === 'sub' ? tf.sub(p, q) : tf.mul(p, q));
            const out = f(a, b);
            const w = tf.tensor(randn(new Rng(5), out.shape), out.shape);
            const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(p, q), w)))([a, b]);
            return { out, da, db };
          };
          const before = wasmDataIds();
          const got = await onBackend('wasm', run);
          const ref = await onBackend('cpu', run);
          for (const k of ['out', 'da', 'db'] as const) assertClose(got[k], ref[k], { atol: 1e-6, rtol: 1e-6 }, `${op} ${k}`);
          assert.equal(wasmDataIds(), before, 'no tensor leaked');
        });
      }
    }
  }

  it('int32 operands and empty shapes go to the stock kernel', async () => {
    const got = await onBackend('wasm', () => ({
      i: tf.add(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor1d([10, 20], 'int32')),
      e: tf.mul(tf.zeros([0, 3]), tf.ones([3])),
    }));
    assert.deepEqual(got.i.values, [11, 22, 13, 24]);
    assert.equal(got.i.dtype, 'int32');
    assert.deepEqual(got.e.shape, [0, 3]);
  });
});
