/**
 * Slice / SplitV / Unpack block-copy kernels and the fused softmax
 * cross-entropy, against the tfjs cpu backend (stock kernels there).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { softmaxCrossEntropyWithLabels, tf } from '../src/engine/index.js';
import { Rng, assertClose, onBackend, onEachPath, ready } from './helpers.js';

await ready();

function randTensor(rng: Rng, shape: number[], dtype: 'float32' | 'int32' = 'float32'): () => tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = dtype === 'float32' ? rng.uniformArray(n, -2, 2) : rng.intArray(n, -50, 50);
  return () => tf.tensor(vals, shape, dtype);
}

describe('Slice, SplitV, Unpack (wasm block copies) vs cpu', () => {
  const rng = new Rng(11);
  const cases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [5, 7], begin: [1, 2], size: [3, 4] },
    { shape: [5, 7], begin: [2, 0], size: [2, -1] },
    { shape: [4, 3, 6], begin: [1, 0, 0], size: [2, 3, 6] },
    { shape: [4, 3, 6], begin: [0, 1, 2], size: [4, 2, 3] },
    { shape: [2, 3, 4, 5], begin: [1, 1, 0, 1], size: [1, 2, 4, 3] },
    { shape: [3, 4], begin: [1, 1], size: [0, 2] },
    { shape: [6], begin: [2], size: [3] },
  ];
  for (const c of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      it(`slice ${dtype} ${JSON.stringify(c)}`, async () => {
        const mk = randTensor(rng, c.shape, dtype);
        const f = () => ({ y: tf.slice(mk(), c.begin, c.size) });
        assertClose((await onBackend('wasm', f)).y, (await onBackend('cpu', f)).y, { atol: 0, rtol: 0 }, 'slice');
      });
    }
  }
  it('slice of a bool tensor', async () => {
    const f = () => ({ y: tf.slice(tf.tensor2d([[1, 0, 1], [0, 1, 1]], [2, 3], 'bool'), [0, 1], [2, 2]) });
    assertClose((await onBackend('wasm', f)).y, (await onBackend('cpu', f)).y, { atol: 0, rtol: 0 }, 'bool slice');
  });
  it('split into equal and unequal parts, with gradient', async () => {
    const mk = randTensor(rng, [6, 4, 5]);
    const w = randTensor(rng, [6, 4, 5]);
    const f = () => {
      const x = mk();
      const parts = tf.split(x, [1, 2, 1], 1);
      const eq = tf.split(x, 6, 0);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.concat(tf.split(t, 5, 2).reverse(), 2), w())))(x);
      return { p0: parts[0], p1: parts[1], p2: parts[2], e3: eq[3], g };
    };
    const a = await onBackend('wasm', f);
    const b = await onBackend('cpu', f);
    for (const k of ['p0', 'p1', 'p2', 'e3', 'g'] as const) assertClose(a[k], b[k], { atol: 1e-6 }, k);
  });
  it('unstack along each axis, with gradient through stack', async () => {
    const mk = randTensor(rng, [3, 4, 2]);
    for (const axis of [0, 1, 2]) {
      const f = () => {
        const x = mk();
        const parts = tf.unstack(x, axis);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.stack(tf.unstack(t, axis).reverse(), axis))))(x);
        return { first: parts[0], last: parts[parts.length - 1], g };
      };
      const a = await onBackend('wasm', f);
      const b = await onBackend('cpu', f);
      for (const k of ['first', 'last', 'g'] as const) assertClose(a[k], b[k], { atol: 1e-6 }, `axis ${axis} ${k}`);
    }
  });
});

describe('Concat and Pack (wasm block copies) vs cpu', () => {
  const rng = new Rng(23);
  for (const dtype of ['float32', 'int32'] as const) {
    for (const axis of [0, 1, 2, -1]) {
      it(`concat ${dtype} of [2,3,4], [2,3,4] (axis ${axis}) with a matching third part, and an empty part`, async () => {
        const parts = [[2, 3, 4], [2, 3, 4], [2, 3, 4]].map((shape, i) => {
          const s = shape.slice();
          const a = axis < 0 ? axis + 3 : axis;
          s[a] = i === 1 ? 0 : i + 1; // an empty part in the middle
          return randTensor(rng, s, dtype);
        });
        const f = () => ({ c: tf.concat(parts.map((p) => p()), axis) });
        const got = await onBackend('wasm', f);
        const ref = await onBackend('cpu', f);
        assert.deepEqual(got.c.shape, ref.c.shape);
        assert.deepEqual(got.c.values, ref.c.values);
      });
    }
    for (const axis of [0, 1, 2, -1, -3]) {
      it(`stack ${dtype} of 5 tensors [3,4] on axis ${axis}, and of one tensor`, async () => {
        const parts = Array.from({ length: 5 }, () => randTensor(rng, [3, 4], dtype));
        const f = () => ({ s: tf.stack(parts.map((p) => p()), axis), one: tf.stack([parts[0]()], axis) });
        const got = await onBackend('wasm', f);
        const ref = await onBackend('cpu', f);
        for (const k of ['s', 'one'] as const) {
          assert.deepEqual(got[k].shape, ref[k].shape, k);
          assert.deepEqual(got[k].values, ref[k].values, k);
        }
      });
    }
  }
  it('many rows (the wasm module copies them): stack [20, 3] x 5 on axis 1, concat [17, 5] + [17, 3] on axis 1, bool and int32', async () => {
    const parts = Array.from({ length: 5 }, () => randTensor(rng, [20, 3]));
    const a = randTensor(rng, [17, 5], 'int32');
    const b = randTensor(rng, [17, 3], 'int32');
    const f = () => ({
      s: tf.stack(parts.map((p) => p()), 1),
      c: tf.concat([a(), b()], 1),
      bb: tf.concat([tf.cast(a(), 'bool'), tf.cast(b(), 'bool')], 1),
    });
    const got = await onBackend('wasm', f);
    const ref = await onBackend('cpu', f);
    for (const k of ['s', 'c', 'bb'] as const) {
      assert.deepEqual(got[k].shape, ref[k].shape, k);
      assert.deepEqual(got[k].values, ref[k].values, k);
    }
  });
  it('bool tensors, and gradients through concat and stack', async () => {
    const x = randTensor(rng, [4, 3]);
    const w = randTensor(rng, [4, 9]);
    const f = () => ({
      b: tf.concat([tf.tensor1d([true, false], 'bool'), tf.tensor1d([false], 'bool')]),
      sb: tf.stack([tf.tensor1d([true, false], 'bool'), tf.tensor1d([false, true], 'bool')], 1),
      g: tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.concat([t, tf.mul(t, 2), tf.reshape(tf.stack([t], 1), [4, 3])], 1), w())))(x()),
    });
    const got = await onBackend('wasm', f);
    const ref = await onBackend('cpu', f);
    for (const k of ['b', 'sb', 'g'] as const) {
      assert.deepEqual(got[k].shape, ref[k].shape, k);
      assert.deepEqual(got[k].values, ref[k].values, k);
    }
  });
  it('rejects stacking tensors of different shapes', async () => {
    await assert.rejects(onBackend('wasm', () => ({ s: tf.stack([tf.zeros([2]), tf.zeros([3])]) })), /matching shapes/);
  });
});

onEachPath('softmaxCrossEntropyWithLabels', () => {
  for (const [N, V] of [[7, 13], [3, 2048], [5, 4], [4, 6], [6, 37]]) it(`matches tf.losses.softmaxCrossEntropy (one-hot, cpu) in value and gradient, N ${N} V ${V}`, async () => {
    const rng = new Rng(5 + V);
    const logits = rng.uniformArray(N * V, -6, 6);
    const labels = rng.intArray(N, 0, V);
    const ours = await onBackend('wasm', () => {
      const x = tf.variable(tf.tensor2d(logits, [N, V]), true);
      const y = tf.tensor1d(labels, 'int32');
      const { value, grads } = tf.variableGrads(() => softmaxCrossEntropyWithLabels(x as unknown as tf.Tensor2D, y), [x]);
      const g = Object.values(grads)[0];
      return { value, g };
    });
    const ref = await onBackend('cpu', () => {
      const x = tf.variable(tf.tensor2d(logits, [N, V]), true);
      const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), V);
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(onehot, x) as tf.Scalar, [x]);
      return { value, g: Object.values(grads)[0] };
    });
    assertClose(ours.value, ref.value, { atol: 1e-5 }, 'loss');
    assertClose(ours.g, ref.g, { atol: 1e-6 }, 'grad');
    tf.disposeVariables();
  });
  it('is stable for large logits and ignores labels outside [0, V)', async () => {
    const r = await onBackend('wasm', () => {
      const x = tf.tensor2d([[1000, 0, -1000], [0, 0, 0], [5, 5, 5]], [3, 3]);
      const y = tf.tensor1d([1, 2, -1], 'int32');
      const g = tf.grad((t: tf.Tensor) => softmaxCrossEntropyWithLabels(t as tf.Tensor2D, y))(x);
      return { v: softmaxCrossEntropyWithLabels(x, y), g };
    });
    // Row 0: lse = 1000, loss = 1000 - 0; row 1: ln 3; row 2 ignored (0). Mean over N = 3.
    assert.ok(Math.abs(r.v.values[0] - (1000 + Math.log(3)) / 3) < 1e-3, `loss ${r.v.values[0]}`);
    assert.ok(r.g.values.every(Number.isFinite));
    assert.deepEqual(r.g.values.slice(6), [0, 0, 0]);
    assert.ok(Math.abs(r.g.values[1] - (-1 / 3)) < 1e-6);
  });
  it('works inside variableGrads with labels created in the loss function (regression)', () => {
    const w = tf.variable(tf.tensor2d([[0.1, -0.2, 0.3], [0.0, 0.5, -0.1]]));
    const x = tf.tensor2d([[1, 2], [3, -1]]);
    const { value, grads } = tf.variableGrads(() => softmaxCrossEntropyWithLabels(tf.matMul(x, w) as tf.Tensor2D, tf.tensor1d([2, 0], 'int32')), [w]);
    const g = Array.from(grads[w.name].dataSync());
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.equal(g.length, 6);
    assert.ok(g.every(Number.isFinite) && g.some((v) => v !== 0));
    tf.dispose([w, x, value, ...Object.values(grads)]);
  });

  it('rejects bad label shapes and dtypes with a clear message', async () => {
    await ready();
    const x = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(() => softmaxCrossEntropyWithLabels(x, tf.tensor1d([0, 1, 2], 'int32')), /labels must be int32 \[2\]/);
    assert.throws(() => softmaxCrossEntropyWithLabels(x, tf.tensor1d([0, 1], 'float32')), /labels must be int32/);
    x.dispose();
  });
});
