/**
 * The second round of engine kernels, each on both engine paths (native addon
 * and pure wasm/JS) against the tfjs cpu backend or a float64 formula:
 * zero-copy Identity/Cast, transpose-free Sum/Mean, fused LayerNorm, fused
 * AdamW update and the fused GRU cell (values and gradients).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { adamwStep, engineInfo, gruCell, gruSequence, layerNorm, rmsNorm, rope, swiglu, tf } from '../src/engine/index.js';
import { SWIGLU, SWIGLU_GRAD } from '../src/engine/kernels/swiglu.js';
import { LayerNorm, ParamStore, RMSNorm } from '../src/nn/index.js';
import { Rng, assertClose, assertCloseArrays, onBackend, onEachPath, randn, ready, wasmDataIds } from './helpers.js';

await ready();

/**
 * The fused op on the wasm backend (the active path) and on cpu (the JS
 * loops), each against the unfused composition on cpu (`run(false)`), for
 * the outputs `keys`; returns both fused results for further checks.
 */
async function fusedVsCpu<K extends string>(run: (fused: boolean) => () => Record<K, tf.Tensor>, keys: readonly K[], tol: { atol: number; rtol: number }) {
  const got = await onBackend('wasm', run(true));
  const ref = await onBackend('cpu', run(false));
  const fusedCpu = await onBackend('cpu', run(true));
  for (const k of keys) {
    assertClose(got[k], ref[k], tol, `wasm ${k}`);
    assertClose(fusedCpu[k], ref[k], tol, `cpu ${k}`);
  }
  return { got, fusedCpu };
}

onEachPath('Identity and Cast share the buffer', () => {
  it('clone and same-dtype cast share data; disposing either keeps the other valid', () => {
    const before0 = wasmDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    const z = tf.cast(x, 'float32');
    assert.equal(wasmDataIds(), before0 + 1, 'no new buffer for clone or same-dtype cast');
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
    y.dispose();
    assert.deepEqual(Array.from(z.dataSync()), [1, 2, 3]);
    z.dispose();
    assert.equal(wasmDataIds(), before0, 'buffer freed with its last reference');
  });

  it('cast to another dtype still converts (stock kernel)', () => {
    const r = tf.tidy(() => Array.from(tf.cast(tf.tensor1d([1.7, -2.2, 0]), 'int32').dataSync()));
    assert.deepEqual(r, [1, -2, 0]);
    const b = tf.tidy(() => Array.from(tf.cast(tf.tensor1d([0, 3, -1, 256], 'int32'), 'bool').dataSync()));
    assert.deepEqual(b, [0, 1, 1, 1], 'int32 -> bool is x != 0 (the stock wasm kernel wrapped 256 to 0)');
    const fb = tf.tidy(() => Array.from(tf.cast(tf.tensor1d([0, 0.5, -2, NaN]), 'bool').dataSync()));
    assert.deepEqual(fb, [0, 1, 1, 1], 'float32 -> bool is x != 0 (NaN is true, as on cpu)');
  });

  it('a variable assigned after a clone does not change the clone', () => {
    const v = tf.variable(tf.tensor1d([1, 2]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([5, 6]));
    assert.deepEqual(Array.from(c.dataSync()), [1, 2]);
    assert.deepEqual(Array.from(v.dataSync()), [5, 6]);
    tf.dispose([v, c]);
  });
});

onEachPath('Sum and Mean vs cpu', () => {
  const cases: Array<[number[], number | number[], boolean]> = [
    [[12, 5], 0, false], [[12, 5], 1, false], [[12, 5], [0, 1], false], [[4, 6, 5], [0, 1], false],
    [[4, 6, 5], 1, true], [[4, 6, 5], -1, false], [[3, 4, 5, 2], [1, 2], true], [[7], 0, false],
    [[3, 4, 5], [0, 2], false], // not contiguous: stock kernel
    [[0, 4], 0, false], [[4, 0], 1, true], [[2, 3], [], false],
    [[513, 7], 0, false], [[3, 1001], 1, false], [[6, 50, 64], 1, false], // SIMD lanes and tails
  ];
  for (const [shape, axis, keepDims] of cases) {
    it(`shape [${shape}] axis ${JSON.stringify(axis)} keepDims ${keepDims}`, async () => {
      const data = randn(new Rng(shape.length * 31 + shape[0]), shape);
      const f = () => {
        const x = tf.tensor(data, shape);
        return {
          s: tf.sum(x, axis, keepDims), m: tf.mean(x, axis, keepDims),
          ds: tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.sum(z, axis, keepDims), 2)))(x),
        };
      };
      const got = await onBackend('wasm', f);
      const ref = await onBackend('cpu', f);
      for (const k of ['s', 'm', 'ds'] as const) assertClose(got[k], ref[k], { atol: 1e-5, rtol: 1e-5 }, k);
    });
  }

  it('hand-checked column sums and NaN/Inf propagation', async () => {
    const got = await onBackend('wasm', () => {
      const x = tf.tensor2d([[1, 2], [3, NaN], [5, Infinity]]);
      return { s: tf.sum(x, 0), m: tf.mean(x, 0), r: tf.sum(x, 1) };
    });
    assert.deepEqual(got.s.values.slice(0, 1), [9]);
    assert.ok(Number.isNaN(got.s.values[1]));
    assert.deepEqual(got.m.values.slice(0, 1), [3]);
    assert.deepEqual(got.r.values.slice(0, 1), [3]);
    assert.ok(Number.isNaN(got.r.values[1]));
    assert.equal(got.r.values[2], Infinity);
  });
});

onEachPath('fused LayerNorm vs the tfjs formula on cpu', () => {
  const formula = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
  };
  for (const [shape, eps] of [[[6, 8], 1e-5], [[3, 5, 16], 1e-8], [[1, 1], 1e-5], [[2, 3, 4, 7], 1e-6], [[0, 4], 1e-5], [[300, 64], 1e-5], [[9, 70], 1e-8]] as Array<[number[], number]>) {
    it(`values and gradients (x, gamma, beta), shape [${shape}], eps ${eps}`, async () => {
      const rng = new Rng(shape.reduce((a, b) => a * 7 + b, 3));
      const D = shape[shape.length - 1];
      const xd = randn(rng, shape);
      const gd = randn(rng, [D]);
      const bd = randn(rng, [D]);
      const wd = randn(rng, shape);
      const run = (fused: boolean) => () => {
        const x = tf.tensor(xd, shape);
        const g = tf.tensor1d(gd);
        const b = tf.tensor1d(bd);
        const w = tf.tensor(wd, shape);
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(fused ? layerNorm(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, eps) : formula(xx, gg, bb, eps), w));
        const [dx, dg, db] = tf.grads(f)([x, g, b]);
        return { y: fused ? layerNorm(x, g, b, eps) : formula(x, g, b, eps), dx, dg, db };
      };
      await fusedVsCpu(run, ['y', 'dx', 'dg', 'db'] as const, { atol: 2e-4, rtol: 2e-4 });
    });
  }

  it('the nn LayerNorm layer uses it and matches torch semantics on a hand-checked row', async () => {
    const got = await onBackend('wasm', () => {
      const store = new ParamStore(0);
      const ln = new LayerNorm(store, 'ln', 4, 0);
      const y = ln.apply(tf.tensor2d([[1, 2, 3, 4]]));
      const out = tf.clone(y);
      store.dispose();
      return { y: out };
    });
    const s = Math.sqrt(1.25);
    assertCloseArrays(got.y.values, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], { atol: 1e-6 });
  });

  it('rejects a gamma of the wrong size with a clear error', () => {
    assert.throws(() => tf.tidy(() => layerNorm(tf.ones([2, 3]), tf.ones([4]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D)), /gamma\/beta must be \[3\]/);
  });
});

onEachPath('fused RMSNorm vs the tfjs formula on cpu', () => {
  const formula = (x: tf.Tensor, g: tf.Tensor, eps: number) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), g);
  for (const [shape, eps] of [[[6, 8], 1e-6], [[3, 5, 16], 1e-5], [[1, 1], 1e-6], [[2, 3, 4, 7], 1e-6], [[0, 4], 1e-6], [[300, 64], 1e-6], [[9, 70], 1e-5], [[5], 1e-6]] as Array<[number[], number]>) {
    it(`values and gradients (x, gamma), shape [${shape}], eps ${eps}`, async () => {
      const rng = new Rng(shape.reduce((a, b) => a * 5 + b, 11));
      const D = shape[shape.length - 1];
      const xd = randn(rng, shape);
      const gd = randn(rng, [D]);
      const wd = randn(rng, shape);
      const run = (fused: boolean) => () => {
        const x = tf.tensor(xd, shape);
        const g = tf.tensor1d(gd);
        const w = tf.tensor(wd, shape);
        const f = (xx: tf.Tensor, gg: tf.Tensor) => tf.sum(tf.mul(fused ? rmsNorm(xx, gg as tf.Tensor1D, eps) : formula(xx, gg, eps), w));
        const [dx, dg] = tf.grads(f)([x, g]);
        return { y: fused ? rmsNorm(x, g, eps) : formula(x, g, eps), dx, dg };
      };
      await fusedVsCpu(run, ['y', 'dx', 'dg'] as const, { atol: 2e-4, rtol: 2e-4 });
    });
  }

  it('the nn RMSNorm layer uses it: a hand-checked row', async () => {
    const got = await onBackend('wasm', () => {
      const store = new ParamStore(0);
      const n = new RMSNorm(store, 'n', 4, 0);
      const out = tf.clone(n.apply(tf.tensor2d([[1, 2, 3, 4]])));
      store.dispose();
      return { y: out };
    });
    const r = Math.sqrt(30 / 4);
    assertCloseArrays(got.y.values, [1 / r, 2 / r, 3 / r, 4 / r], { atol: 1e-6 });
  });

  it('rejects a gamma of the wrong size with a clear error', () => {
    assert.throws(() => tf.tidy(() => rmsNorm(tf.ones([2, 3]), tf.ones([4]) as tf.Tensor1D)), /gamma must be float32 \[3\]/);
  });
});

onEachPath('fused rotary embedding vs split/concat composition on cpu', () => {
  const formula = (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor) => {
    const hd = x.shape[x.rank - 1];
    const [x1, x2] = tf.split(x, [hd / 2, hd / 2], -1);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], -1), sin));
  };
  const cases: Array<[number[], number[]]> = [
    [[2, 3, 5, 8], [5, 8]], [[2, 3, 5, 8], [2, 1, 5, 8]], [[4, 6], [4, 6]], [[1, 2, 1, 4], [1, 1, 1, 4]], [[3, 2, 7, 2], [3, 1, 7, 2]], [[2, 0, 4], [0, 4]],
    [[2, 4, 9, 10], [2, 1, 9, 10]], [[1, 3, 6, 32], [6, 32]], // odd half dim (SIMD pair + tail), the LLaMA head dim
  ];
  for (const [xs, cs] of cases) {
    it(`values and dx, x [${xs}], tables [${cs}]`, async () => {
      const rng = new Rng(xs.reduce((a, b) => a * 3 + b, 1) + cs.length);
      const xd = randn(rng, xs);
      const cd = randn(rng, cs);
      const sd = randn(rng, cs);
      const wd = randn(rng, xs);
      const run = (fused: boolean) => () => {
        const x = tf.tensor(xd, xs);
        const c = tf.tensor(cd, cs);
        const sn = tf.tensor(sd, cs);
        const w = tf.tensor(wd, xs);
        const op = (xx: tf.Tensor) => (fused ? rope(xx, c, sn) : formula(xx, c, sn));
        const [dx] = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(op(xx), w)))([x]);
        return { y: op(x), dx };
      };
      const { got, fusedCpu } = await fusedVsCpu(run, ['y', 'dx'] as const, { atol: 1e-5, rtol: 1e-5 });
      for (const k of ['y', 'dx'] as const) {
        // The SIMD module (float64 lanes) and the JS loop round the same float64 value once: same bits.
        assert.deepEqual(got[k].values, fusedCpu[k].values, `wasm module vs JS loop, ${k}`);
      }
    });
  }

  it('rejects an odd head dim and tables that do not fit, naming them', () => {
    assert.throws(() => tf.tidy(() => rope(tf.ones([2, 3]), tf.ones([2, 3]), tf.ones([2, 3]))), /head dim D must be even, got 3/);
    assert.throws(() => tf.tidy(() => rope(tf.ones([2, 4]), tf.ones([3, 4]), tf.ones([3, 4]))), /must end in \[2, 4\]/);
    assert.throws(() => tf.tidy(() => rope(tf.ones([2, 3, 2, 4]), tf.ones([2, 3, 2, 4]), tf.ones([2, 3, 2, 4]))), /must be \[2, 4\] or \[2, 1, \.\.\., 2, 4\]/);
    assert.throws(() => tf.tidy(() => rope(tf.ones([2, 4]), tf.ones([2, 4]), tf.ones([1, 2, 4]))), /one shape/);
  });
});

onEachPath('SwiGLU gate vs the silu(g) * u composition on cpu', () => {
  const formula = (g: tf.Tensor, u: tf.Tensor) => tf.mul(tf.mul(g, tf.sigmoid(g)), u);
  // 1,029 = SIMD-width multiples plus a tail; inputs up to |30| reach the clamped exp.
  for (const [shape, scale] of [[[3, 343], 3], [[2, 4, 5], 1], [[7], 30], [[0, 4], 1]] as Array<[number[], number]>) {
    it(`values and gradients (g, u), shape [${shape}], inputs x${scale}`, async () => {
      const rng = new Rng(shape.reduce((a, b) => a * 7 + b, scale));
      const gd = randn(rng, shape).map((v) => v * scale);
      const ud = randn(rng, shape);
      const wd = randn(rng, shape);
      const run = (op: (g: tf.Tensor, u: tf.Tensor) => tf.Tensor) => () => {
        const g = tf.tensor(gd, shape);
        const u = tf.tensor(ud, shape);
        const w = tf.tensor(wd, shape);
        const [dg, du] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), w)))([g, u]);
        return { y: op(g, u), dg, du };
      };
      const got = await onBackend('wasm', run(swiglu));
      const ref = await onBackend('cpu', run(formula));
      // The kernels themselves on cpu (JS loops), whichever path is active.
      const kernel = (g: tf.Tensor, u: tf.Tensor) => {
        const f = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
          save([a, b]);
          return {
            value: tf.engine().runKernel(SWIGLU, { g: a, u: b }, {}) as tf.Tensor,
            gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => tf.engine().runKernel(SWIGLU_GRAD, { dy, g: sa, u: sb }, {}) as tf.Tensor[],
          };
        }) as unknown as Parameters<typeof tf.customGrad>[0]);
        return f(g, u);
      };
      const onCpu = await onBackend('cpu', run(kernel));
      for (const k of ['y', 'dg', 'du'] as const) {
        assertClose(got[k], ref[k], { atol: 1e-5, rtol: 1e-5 }, `wasm (${engineInfo().matmulPath}) ${k}`);
        assertClose(onCpu[k], ref[k], { atol: 1e-5, rtol: 1e-5 }, `cpu kernel ${k}`);
      }
    });
  }

  it('hand-checked values: silu(0) = 0, silu(1) * 2 = 2 / (1 + e^-1)', async () => {
    const r = await onBackend('wasm', () => ({ y: swiglu(tf.tensor1d([0, 1, -1]), tf.tensor1d([5, 2, 1])) }));
    assertCloseArrays(r.y.values, [0, 2 / (1 + Math.exp(-1)), -1 / (1 + Math.exp(1))], { atol: 1e-6, rtol: 1e-6 }, 'swiglu');
  });

  it('rejects inputs of different shapes, naming them', () => {
    assert.throws(() => tf.tidy(() => tf.engine().runKernel(SWIGLU, { g: tf.ones([2, 3]), u: tf.ones([3, 2]) }, {})), /g, u must be float32 of one shape, got u float32 \[3,2\]/);
  });
});

onEachPath('fused AdamW step vs a float64 formula', () => {
  it('matches torch.optim.AdamW arithmetic, with decay and gradient scale', () => {
    const rng = new Rng(77);
    const n = 257;
    const p = randn(rng, [n]);
    const g = randn(rng, [n]);
    const m = randn(rng, [n]).map((v) => v * 0.1);
    const v = randn(rng, [n]).map((x) => x * x * 0.01);
    const a = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.99 ** 3, gradScale: 0.5 };
    const [p1, m1, v1] = tf.tidy(() => adamwStep(tf.tensor1d(p), tf.tensor1d(g), tf.tensor1d(m), tf.tensor1d(v), a)
      .map((t) => Array.from(t.dataSync())));
    const ep: number[] = [];
    const em: number[] = [];
    const ev: number[] = [];
    for (let i = 0; i < n; i++) {
      const gi = g[i] * a.gradScale;
      const mi = a.beta1 * m[i] + (1 - a.beta1) * gi;
      const vi = a.beta2 * v[i] + (1 - a.beta2) * gi * gi;
      em.push(mi);
      ev.push(vi);
      ep.push(p[i] * (1 - a.lr * a.weightDecay) - (a.lr / a.bc1) * mi / (Math.sqrt(vi / a.bc2) + a.eps));
    }
    assertCloseArrays(m1, em, { atol: 1e-6, rtol: 1e-5 }, 'm');
    assertCloseArrays(v1, ev, { atol: 1e-7, rtol: 1e-5 }, 'v');
    assertCloseArrays(p1, ep, { atol: 1e-6, rtol: 1e-5 }, 'p');
  });

  it('rejects mismatched shapes', () => {
    assert.throws(() => tf.tidy(() => adamwStep(tf.ones([3]), tf.ones([4]), tf.zeros([3]), tf.zeros([3]),
      { lr: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, bc1: 1, bc2: 1, gradScale: 1 })), /'g' must be float32 \[3\]/);
  });
});

onEachPath('fused GRU cell vs tfjs ops on cpu', () => {
  const composite = (gx: tf.Tensor, gh: tf.Tensor, h: tf.Tensor) => {
    const [xr, xz, xn] = tf.split(gx, 3, -1);
    const [hr, hz, hn] = tf.split(gh, 3, -1);
    const r = tf.sigmoid(tf.add(xr, hr));
    const z = tf.sigmoid(tf.add(xz, hz));
    const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
    return tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
  };
  for (const [B, d, scale] of [[5, 4, 1], [1, 1, 1], [7, 9, 6], [0, 3, 1], [3, 64, 2], [2, 8, 40]]) {
    it(`values and gradients, B=${B} d=${d}, inputs x${scale}`, async () => {
      const rng = new Rng(B * 100 + d);
      const gxd = randn(rng, [B, 3 * d]).map((v) => v * scale);
      const ghd = randn(rng, [B, 3 * d]).map((v) => v * scale);
      const hd = randn(rng, [B, d]);
      const wd = randn(rng, [B, d]);
      const run = (fused: boolean) => () => {
        const gx = tf.tensor2d(gxd, [B, 3 * d]);
        const gh = tf.tensor2d(ghd, [B, 3 * d]);
        const h = tf.tensor2d(hd, [B, d]);
        const w = tf.tensor2d(wd, [B, d]);
        const cell = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          (fused ? gruCell(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D) : composite(a, b, c));
        const [dgx, dgh, dh] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(cell(a, b, c), w)))([gx, gh, h]);
        return { y: cell(gx, gh, h), dgx, dgh, dh };
      };
      await fusedVsCpu(run, ['y', 'dgx', 'dgh', 'dh'] as const, { atol: 2e-6, rtol: 1e-5 });
    });
  }

  it('rejects inconsistent shapes', () => {
    assert.throws(() => tf.tidy(() => gruCell(tf.ones([2, 6]), tf.ones([2, 6]), tf.ones([2, 3]))), /gx, gh \[B, 3d\] and h \[B, d\]/);
  });
});

onEachPath('GRU layer over a sequence (gruSequence) vs tfjs ops on cpu', () => {
  // Reference: the per-step composition (matMul + bias + the cell's formulas, mask carry), differentiated by tfjs on cpu.
  const reference = (gx: tf.Tensor, w: tf.Tensor, b: tf.Tensor, h0: tf.Tensor, mask: tf.Tensor | null) => {
    const [T, B] = gx.shape;
    const H = w.shape[0];
    let h = h0;
    const outs: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const x = tf.reshape(tf.slice(gx, [t, 0, 0], [1, B, 3 * H]), [B, 3 * H]);
      const gh = tf.add(tf.matMul(h, w), b);
      const [xr, xz, xn] = tf.split(x, 3, -1);
      const [hr, hz, hn] = tf.split(gh, 3, -1);
      const r = tf.sigmoid(tf.add(xr, hr));
      const z = tf.sigmoid(tf.add(xz, hz));
      const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
      const next = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
      h = mask ? tf.add(h, tf.mul(tf.sub(next, h), tf.reshape(tf.slice(mask, [t, 0], [1, B]), [B, 1]))) : next;
      outs.push(h);
    }
    return tf.stack(outs, 0);
  };
  const cases: Array<[number, number, number, 'none' | 'leading' | 'random']> = [
    [5, 3, 4, 'none'], [1, 2, 3, 'leading'], [7, 4, 9, 'leading'], [6, 5, 8, 'random'], [4, 1, 1, 'random'], [3, 0, 4, 'none'],
  ];
  for (const [T, B, H, maskKind] of cases) {
    it(`values and gradients (gx, W, b, h0), T=${T} B=${B} H=${H}, mask ${maskKind}`, async () => {
      const rng = new Rng(T * 1000 + B * 10 + H);
      const gxd = randn(rng, [T, B, 3 * H]);
      const wd = randn(rng, [H, 3 * H]).map((v) => v * 0.5);
      const bd = randn(rng, [3 * H]);
      const hd = randn(rng, [B, H]);
      const outW = randn(rng, [T, B, H]);
      const md = new Float32Array(T * B).fill(1);
      if (maskKind === 'leading') for (let r = 0; r < B; r++) for (let t = 0; t < Math.min(r, T - 1); t++) md[t * B + r] = 0;
      if (maskKind === 'random') for (let i = 0; i < md.length; i++) md[i] = rng.int(0, 5) < 2 ? 0 : 1;
      const run = (fused: boolean) => () => {
        const gx = tf.tensor3d(gxd, [T, B, 3 * H]);
        const w = tf.tensor2d(wd, [H, 3 * H]);
        const b = tf.tensor1d(bd);
        const h0 = tf.tensor2d(hd, [B, H]);
        const mask = maskKind === 'none' ? null : tf.tensor2d(md, [T, B]);
        const f = (a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, hh: tf.Tensor) => (fused
          ? gruSequence(a as tf.Tensor3D, ww as tf.Tensor2D, bb as tf.Tensor1D, hh as tf.Tensor2D, mask as tf.Tensor2D | null)
          : reference(a, ww, bb, hh, mask));
        const [dgx, dw, db, dh0] = tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, hh: tf.Tensor) =>
          tf.sum(tf.mul(f(a, ww, bb, hh), tf.tensor3d(outW, [T, B, H]))))([gx, w, b, h0]);
        return { y: f(gx, w, b, h0), dgx, dw, db, dh0 };
      };
      const before = wasmDataIds();
      const got = await onBackend('wasm', run(true));
      assert.equal(wasmDataIds(), before, 'no wasm tensor leaked');
      const ref = await onBackend('cpu', run(false));
      const fusedCpu = await onBackend('cpu', run(true));
      for (const k of ['y', 'dgx', 'dw', 'db', 'dh0'] as const) {
        assertClose(got[k], ref[k], { atol: 2e-5, rtol: 1e-4 }, `wasm ${k}`);
        assertClose(fusedCpu[k], ref[k], { atol: 2e-5, rtol: 1e-4 }, `cpu ${k}`);
      }
    });
  }

  it('rejects inconsistent shapes and a mask that is not 0/1', async () => {
    assert.throws(() => tf.tidy(() => gruSequence(tf.ones([2, 3, 6]), tf.ones([2, 5]), tf.ones([6]), tf.ones([3, 2]))), /gx \[T, B, 3H\], W \[H, 3H\]/);
    await assert.rejects(onBackend('wasm', () => ({ y: gruSequence(tf.ones([2, 3, 6]), tf.ones([2, 6]), tf.ones([6]), tf.ones([3, 2]), tf.fill([2, 3], 0.5)) })),
      /mask values must be 0 or 1, got 0.5 at step 0, row 0/);
  });
});
