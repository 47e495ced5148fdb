/**
 * Engine entry points and the ops in src/engine/ops.ts: log-sigmoid (values
 * and gradient against the analytic formula), the additive attention masks
 * (hand-checked) and the softmax of masked scores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MASK_NEG, causalMask, causalPaddingMask, engineInfo, initEngine, keyPaddingMask, logSigmoid, nativeAvailable,
  setMatmulPath, tf, timestepMask,
} from '../src/engine/index.js';
import { Rng, assertCloseArrays, onBackend, ready } from './helpers.js';

before(async () => {
  await ready();
});

describe('engine', () => {
  it('initEngine is idempotent and runs on wasm with our kernels registered', async () => {
    const a = await initEngine();
    const b = await initEngine({ native: 'off' }); // later options are ignored: same result
    assert.equal(a, b);
    assert.equal(tf.getBackend(), 'wasm');
    const info = engineInfo();
    assert.equal(info.backend, 'wasm');
    for (const k of ['BatchMatMul', 'GatherV2', 'UnsortedSegmentSum']) assert.ok(info.kernels.includes(k), `${k} listed`);
    for (const k of info.kernels) assert.ok(tf.getKernel(k, 'wasm'), `${k} registered on wasm`);
    assert.equal(info.native.loaded, nativeAvailable());
    assert.ok(tf.findBackend('cpu'), 'the cpu reference backend is registered');
  });

  it('setMatmulPath switches paths and refuses blas without the addon', (t) => {
    const prev = engineInfo().matmulPath;
    try {
      setMatmulPath('wasm');
      assert.equal(engineInfo().matmulPath, 'wasm');
      if (nativeAvailable()) {
        setMatmulPath('blas');
        assert.equal(engineInfo().matmulPath, 'blas');
      } else {
        assert.throws(() => setMatmulPath('blas'), /OpenBLAS addon unavailable/);
        t.diagnostic('OpenBLAS addon unavailable: checked that the blas path is refused');
      }
    } finally {
      setMatmulPath(prev);
    }
  });
});

const XS = [-100, -20, -1, 0, 1, 20, 100];

/** log(sigmoid(x)), computed stably in float64. */
function logSigmoidRef(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

describe('logSigmoid', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`values and gradient match the analytic formula, no NaN/Infinity (${backend})`, async () => {
      const r = await onBackend(backend, () => {
        const x = tf.tensor1d(XS);
        const [dx] = tf.grads((z: tf.Tensor) => tf.sum(logSigmoid(z)))([x]);
        return { y: logSigmoid(x), dx };
      });
      assert.ok(r.y.values.every(Number.isFinite), `values finite: ${r.y.values}`);
      assert.ok(r.dx.values.every(Number.isFinite), `gradient finite: ${r.dx.values}`);
      assertCloseArrays(r.y.values, XS.map(logSigmoidRef), { atol: 1e-6, rtol: 1e-6 }, 'logSigmoid(x)');
      // d/dx log(sigmoid(x)) = 1 - sigmoid(x) = sigmoid(-x)
      assertCloseArrays(r.dx.values, XS.map((x) => sigmoid(-x)), { atol: 1e-6, rtol: 1e-5 }, "logSigmoid'(x)");
      assert.equal(r.y.values[XS.indexOf(-100)], -100);
      assert.equal(r.dx.values[XS.indexOf(-100)], 1);
    });
  }

  it('keeps the input shape and leaks no tensors', () => {
    const x = tf.tensor2d([[-3, 0], [2, 50]]);
    const n0 = tf.memory().numTensors;
    const y = logSigmoid(x);
    assert.deepEqual(y.shape, [2, 2]);
    assert.equal(tf.memory().numTensors, n0 + 1);
    tf.dispose([x, y]);
  });
});

const M = MASK_NEG;

describe('attention masks', () => {
  it('MASK_NEG is a large finite negative', () => {
    assert.ok(Number.isFinite(MASK_NEG) && MASK_NEG <= -1e9);
  });

  it('causalMask(4) exact values', () => {
    const m = causalMask(4);
    assert.deepEqual(m.shape, [4, 4]);
    assert.equal(m.dtype, 'float32');
    assert.deepEqual(m.arraySync(), [
      [0, M, M, M],
      [0, 0, M, M],
      [0, 0, 0, M],
      [0, 0, 0, 0],
    ]);
    m.dispose();
    const one = causalMask(1);
    assert.deepEqual(one.arraySync(), [[0]]);
    one.dispose();
  });

  // B = 2, T = 3; 0 is padding.
  const ids = new Int32Array([0, 5, 7, 3, 0, 4]);

  it('keyPaddingMask hand-checked, custom padId, length check', () => {
    const m = keyPaddingMask(ids, 2, 3);
    assert.deepEqual(m.shape, [2, 1, 1, 3]);
    assert.deepEqual(m.arraySync(), [[[[M, 0, 0]]], [[[0, M, 0]]]]);
    m.dispose();
    const m7 = keyPaddingMask(ids, 2, 3, 7);
    assert.deepEqual(m7.arraySync(), [[[[0, 0, M]]], [[[0, 0, 0]]]]);
    m7.dispose();
    assert.throws(() => keyPaddingMask(ids, 2, 4), /expected B\*T = 8/);
  });

  it('causalPaddingMask hand-checked (causal OR key padding)', () => {
    const m = causalPaddingMask(ids, 2, 3);
    assert.deepEqual(m.shape, [2, 1, 3, 3]);
    assert.deepEqual(m.arraySync(), [
      [[
        [M, M, M], // query 0 sees only key 0, which is padding: fully masked
        [M, 0, M],
        [M, 0, 0],
      ]],
      [[
        [0, M, M],
        [0, M, M],
        [0, M, 0],
      ]],
    ]);
    m.dispose();
    assert.throws(() => causalPaddingMask(ids, 3, 3), /expected B\*T = 9/);
  });

  it('timestepMask hand-checked', () => {
    const m = timestepMask(ids, 2, 3);
    assert.deepEqual(m.shape, [2, 3, 1]);
    assert.deepEqual(m.arraySync(), [[[0], [1], [1]], [[1], [0], [1]]]);
    m.dispose();
    const m5 = timestepMask(ids, 2, 3, 5);
    assert.deepEqual(m5.arraySync(), [[[1], [0], [1]], [[1], [1], [1]]]);
    m5.dispose();
  });

  it('timestepMask checks the ids length like the other masks', () => {
    assert.throws(() => timestepMask(ids, 2, 4), /expected B\*T = 8/); // 6 ids: the last 2 positions silently 0
    assert.throws(() => timestepMask(ids, 1, 3), /expected B\*T = 3/); // 6 ids: the last 3 silently dropped
  });

  it('agrees with the masks built by tfjs comparison ops', () => {
    const B = 3;
    const T = 5;
    const rng = new Rng(3);
    const idArr = rng.intArray(B * T, 0, 3); // plenty of padding
    tf.tidy(() => {
      const idt = tf.tensor2d(idArr, [B, T], 'int32');
      const pad = tf.equal(idt, 0); // [B, T]
      const upper = tf.greater(tf.range(0, T).reshape([1, T]), tf.range(0, T).reshape([T, 1])); // j > i
      const masked = tf.logicalOr(tf.reshape(pad, [B, 1, 1, T]), tf.reshape(upper, [1, 1, T, T]));
      const expected = tf.where(masked, tf.fill(masked.shape, M), tf.zeros(masked.shape));
      assert.deepEqual(causalPaddingMask(idArr, B, T).arraySync(), expected.arraySync());
      const key = tf.where(tf.reshape(pad, [B, 1, 1, T]), tf.fill([B, 1, 1, T], M), tf.zeros([B, 1, 1, T]));
      assert.deepEqual(keyPaddingMask(idArr, B, T).arraySync(), key.arraySync());
      const ts = tf.cast(tf.logicalNot(tf.reshape(pad, [B, T, 1])), 'float32');
      assert.deepEqual(timestepMask(idArr, B, T).arraySync(), ts.arraySync());
    });
  });
});

describe('masked softmax', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`scores + causalMask: masked entries exactly 0, rows sum to 1 (${backend})`, async () => {
      const T = 5;
      const scores = new Rng(9).normalArray(T * T, 3);
      const r = await onBackend(backend, () => ({ p: tf.softmax(tf.add(tf.tensor2d(scores, [T, T]), causalMask(T))) }));
      assert.ok(r.p.values.every(Number.isFinite));
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const v = r.p.values[i * T + j];
          if (j > i) assert.equal(v, 0, `p[${i},${j}] above the diagonal`);
          sum += v;
        }
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
      }
      assert.equal(r.p.values[0], 1, 'the first query only sees itself');
    });

    it(`a fully masked row gives a finite (uniform) softmax and finite gradients (${backend})`, async () => {
      const ids = new Int32Array([0, 0, 4, 5]); // B = 1, T = 4: queries 0 and 1 see only padding
      const scores = new Rng(10).normalArray(16, 2);
      const r = await onBackend(backend, () => {
        const s = tf.tensor4d(scores, [1, 1, 4, 4]);
        const mask = causalPaddingMask(ids, 1, 4);
        const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.softmax(tf.add(x, mask)), tf.range(0, 16).reshape([1, 1, 4, 4])));
        return { p: tf.softmax(tf.add(s, mask)), ds: tf.grad(f)(s) };
      });
      assert.ok(r.p.values.every(Number.isFinite), `softmax finite: ${r.p.values}`);
      assert.ok(r.ds.values.every(Number.isFinite), `gradient finite: ${r.ds.values}`);
      assertCloseArrays(r.p.values.slice(0, 4), [0.25, 0.25, 0.25, 0.25], { atol: 1e-6 }, 'fully masked row 0');
      assertCloseArrays(r.p.values.slice(4, 8), [0.25, 0.25, 0.25, 0.25], { atol: 1e-6 }, 'fully masked row 1');
      assert.deepEqual(r.p.values.slice(8, 12).map((v) => v === 0), [true, true, false, true], 'row 2 sees key 2 only');
      assert.equal(r.p.values[10], 1);
    });
  }
});
