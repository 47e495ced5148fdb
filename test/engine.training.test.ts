/**
 * Training on the engine, with the bench workloads at tiny shapes: no tensor
 * leaks across steps, the loss goes down, the matmul paths and the cpu
 * reference backend agree, LoRA freezes the base model, and AdamW matches a
 * hand computation.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type MatmulPath } from '../src/engine/index.js';
import { gru4recWorkload, llamaWorkload, sasrecWorkload, type LlamaShape, type SeqShape, type Workload } from '../src/bench/workloads.js';
import { AdamW } from '../src/nn/optim.js';
import { Linear, ParamStore } from '../src/nn/index.js';
import { assertCloseArrays, blasSkipReason, ready, skipPath, wasmDataIds, withMatmulPath } from './helpers.js';

before(async () => {
  await ready();
});

const SAS: SeqShape = { B: 4, L: 6, d: 8, items: 20, blocks: 1, dropout: 0.1, padPrefix: 2 };
const GRU: SeqShape = { B: 4, L: 5, d: 8, items: 20, dropout: 0.1 };
const LLAMA: LlamaShape = { B: 2, T: 8, d: 16, layers: 1, heads: 2, ffn: 24, vocab: 32 };
const LORA = { r: 2, alpha: 4 };

interface Maker {
  name: string;
  make: (dropout: boolean, seed?: number) => Workload;
}

const MAKERS: Maker[] = [
  { name: 'sasrec', make: (dropout, seed = 0) => sasrecWorkload({ ...SAS, dropout: dropout ? SAS.dropout : 0 }, seed) },
  { name: 'gru4rec', make: (dropout, seed = 0) => gru4recWorkload({ ...GRU, dropout: dropout ? GRU.dropout : 0 }, seed) },
  { name: 'llama', make: (_dropout, seed = 0) => llamaWorkload(LLAMA, null, seed) },
  { name: 'llama_lora', make: (_dropout, seed = 0) => llamaWorkload(LLAMA, LORA, seed) },
];

function runSteps(w: Workload, n: number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < n; i++) losses.push(w.step());
  return losses;
}

describe('training: no tensor leaks', () => {
  for (const path of ['wasm', 'blas'] as const) {
    for (const m of MAKERS) {
      it(`${m.name} (${path} matmul, with dropout): tensor count stable from step 2 to 5, back to start after dispose`, async (t) => {
        if (skipPath(t, path)) return;
        await withMatmulPath(path, () => {
          const n0 = tf.memory().numTensors;
          const ids0 = wasmDataIds();
          const w = m.make(true);
          try {
            const losses = runSteps(w, 2);
            const n2 = tf.memory().numTensors;
            const ids2 = wasmDataIds();
            losses.push(...runSteps(w, 3));
            assert.equal(tf.memory().numTensors, n2, `${m.name}: tensors after step 5 vs step 2`);
            assert.equal(wasmDataIds(), ids2, `${m.name}: wasm buffers after step 5 vs step 2`);
            assert.ok(losses.every(Number.isFinite), `${m.name}: finite losses ${losses}`);
          } finally {
            w.dispose();
          }
          assert.equal(tf.memory().numTensors, n0, `${m.name}: tensors after dispose`);
          assert.equal(wasmDataIds(), ids0, `${m.name}: wasm buffers after dispose`);
        });
      });
    }
  }
});

describe('training: loss decreases (dropout 0)', () => {
  for (const m of MAKERS) {
    it(`${m.name}: loss after 10 steps is below the initial loss`, () => {
      const w = m.make(false);
      try {
        const losses = runSteps(w, 10);
        assert.ok(losses.every(Number.isFinite), `finite: ${losses}`);
        assert.ok(losses[9] < losses[0], `${m.name}: ${losses.map((l) => l.toFixed(5)).join(' ')}`);
        // Same fixed batch every step: mostly downhill, not just one lucky step.
        let down = 0;
        for (let i = 1; i < losses.length; i++) if (losses[i] < losses[i - 1]) down++;
        assert.ok(down >= 7, `${m.name}: only ${down}/9 steps decreased: ${losses.map((l) => l.toFixed(5)).join(' ')}`);
      } finally {
        w.dispose();
      }
    });
  }
});

describe('training: paths and backends agree (same seed, dropout 0)', () => {
  async function lossesOn(backend: 'cpu' | 'wasm', path: MatmulPath, m: Maker): Promise<number[]> {
    await tf.setBackend(backend);
    try {
      return await withMatmulPath(path, () => {
        const w = m.make(false, 3);
        try {
          return runSteps(w, 3);
        } finally {
          w.dispose();
        }
      });
    } finally {
      await tf.setBackend('wasm');
    }
  }

  for (const m of MAKERS) {
    it(`${m.name}: first 3 losses, wasm path vs blas path (1e-4) vs cpu backend (1e-3)`, async (t) => {
      const wasm = await lossesOn('wasm', 'wasm', m);
      assert.ok(wasm.every(Number.isFinite));
      const wasmAgain = await lossesOn('wasm', 'wasm', m);
      assert.deepEqual(wasmAgain, wasm, 'deterministic for a fixed seed');
      const cpu = await lossesOn('cpu', 'wasm', m); // the matmul path is irrelevant on cpu
      assertCloseArrays(wasm, cpu, { atol: 1e-3, rtol: 1e-3 }, `${m.name} wasm vs cpu`);
      const reason = blasSkipReason();
      if (reason) {
        t.diagnostic(`blas comparison skipped: ${reason}`);
        return;
      }
      const blas = await lossesOn('wasm', 'blas', m);
      assertCloseArrays(blas, wasm, { atol: 1e-4, rtol: 1e-4 }, `${m.name} blas vs wasm`);
    });
  }
});

describe('training: LoRA', () => {
  function newVariables(before: Set<string>): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of Object.entries(tf.engine().state.registeredVariables)) if (!before.has(name)) out.set(name, v);
    return out;
  }

  it('only the LoRA matrices are trainable: count, flags, and frozen weights stay put', () => {
    const { d, layers } = LLAMA;
    const { r } = LORA;
    const before = new Set(Object.keys(tf.engine().state.registeredVariables));
    const w = llamaWorkload(LLAMA, LORA, 0);
    try {
      assert.equal(w.trainable, 2 * layers * (d * r + r * d));
      const vars = newVariables(before);
      assert.ok(vars.size > 0);
      const lora = [...vars].filter(([name]) => name.includes('lora_'));
      assert.equal(lora.length, 4 * layers, 'A and B on q and v per layer');
      for (const [name, v] of vars) assert.equal(v.trainable, name.includes('lora_'), `${name} trainable flag`);
      const snapshot = new Map([...vars].map(([name, v]) => [name, Array.from(v.dataSync())]));
      w.step();
      w.step();
      for (const [name, v] of vars) {
        const changed = Array.from(v.dataSync()).some((x, i) => x !== snapshot.get(name)![i]);
        assert.equal(changed, name.includes('lora_'), `${name} ${changed ? 'changed' : 'did not change'}`);
      }
    } finally {
      w.dispose();
    }
  });

  it('first LoRA loss equals the base model loss for the same seed (B starts at zero)', () => {
    for (const seed of [0, 5]) {
      const base = llamaWorkload(LLAMA, null, seed);
      const lora = llamaWorkload(LLAMA, LORA, seed);
      try {
        const l0 = base.step();
        const l1 = lora.step();
        assert.ok(Number.isFinite(l0));
        assertCloseArrays([l1], [l0], { atol: 1e-6, rtol: 1e-6 }, `seed ${seed}`);
      } finally {
        base.dispose();
        lora.dispose();
      }
    }
  });
});

describe('LoRA dropout', () => {
  it('is seeded: the same store stream gives the same masks, another stream other masks, inference none', () => {
    const store = new ParamStore(3);
    const lin = new Linear(store, 'q', 8, 8);
    lin.addLora(store, { r: 2, alpha: 4, dropout: 0.5 });
    // B starts at zero: give it values so the adapter path shows in y
    lin.B!.assign(tf.ones([2, 8]));
    const x = tf.ones([4, 8]);
    const run = (stream: number, training: boolean): number[] => {
      store.training = training;
      store.dropoutStream = stream;
      return tf.tidy(() => Array.from(lin.apply(x).dataSync()));
    };
    try {
      const a = run(1, true), b = run(2, true);
      // a fresh layer with the same name and seed replays stream 1 exactly
      const store2 = new ParamStore(3);
      const lin2 = new Linear(store2, 'q', 8, 8);
      lin2.addLora(store2, { r: 2, alpha: 4, dropout: 0.5 });
      lin2.B!.assign(tf.ones([2, 8]));
      store2.training = true;
      store2.dropoutStream = 1;
      const a2 = tf.tidy(() => Array.from(lin2.apply(x).dataSync()));
      assert.deepEqual(a2, a);
      assert.notDeepEqual(a, b);
      const inf1 = run(1, false), inf2 = run(2, false);
      assert.deepEqual(inf1, inf2, 'no dropout at inference');
      assert.notDeepEqual(a, inf1, 'dropout changed the training output');
      for (const v of store2.vars.values()) v.dispose();
    } finally {
      x.dispose();
      for (const v of store.vars.values()) v.dispose();
    }
  });
});

describe('AdamW', () => {
  it('single step on a scalar matches the hand computation (p = 0.899)', () => {
    const p = tf.variable(tf.scalar(1), true, 'adamw_test_p');
    const opt = new AdamW({ lr: 0.1, weightDecay: 0.01 });
    try {
      const loss = opt.minimize(() => tf.square(p) as tf.Scalar, [p]);
      assert.equal(loss, 1);
      assert.equal(opt.step, 1);
      // g = 2; m̂ = 2, v̂ = 4; p1 = 1 - 0.1*0.01*1 - 0.1 * 2 / (sqrt(4) + 1e-8)
      const expected = 1 - 0.1 * 0.01 * 1 - 0.1 * (2 / (Math.sqrt(4) + 1e-8));
      assert.ok(Math.abs(expected - 0.899) < 1e-8);
      assertCloseArrays([p.dataSync()[0]], [expected], { atol: 1e-6, rtol: 0 }, 'p after one step');
    } finally {
      opt.dispose();
      p.dispose();
    }
  });

  /** torch.optim.AdamW in float64, for loss = sum(c * p^2) (g = 2 c p), with optional global-norm clipping. */
  function adamwRef(p0: number[], c: number[], steps: number, cfg: { lr: number; wd: number; clip?: number }): number[] {
    const p = [...p0];
    const m = p.map(() => 0);
    const v = p.map(() => 0);
    for (let t = 1; t <= steps; t++) {
      let g = p.map((x, i) => 2 * c[i] * x);
      if (cfg.clip !== undefined) {
        const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
        const scale = Math.min(1, cfg.clip / (norm + 1e-6));
        g = g.map((x) => x * scale);
      }
      for (let i = 0; i < p.length; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        const mh = m[i] / (1 - 0.9 ** t);
        const vh = v[i] / (1 - 0.999 ** t);
        p[i] = p[i] - cfg.lr * cfg.wd * p[i] - cfg.lr * mh / (Math.sqrt(vh) + 1e-8);
      }
    }
    return p;
  }

  for (const clip of [undefined, 0.5]) {
    it(`5 steps on a vector match a float64 reference${clip ? ' (clipNorm 0.5)' : ''}, without leaks`, () => {
      const p0 = [1, -2, 0.5, 3];
      const c = [1, 0.5, 4, 0.1];
      const p = tf.variable(tf.tensor1d(p0), true, `adamw_vec_${clip ?? 'noclip'}`);
      const cT = tf.tensor1d(c);
      const opt = new AdamW({ lr: 0.05, weightDecay: 0.1, clipNorm: clip });
      const n0 = tf.memory().numTensors;
      try {
        let n1 = 0;
        for (let s = 0; s < 5; s++) {
          opt.minimize(() => tf.sum(tf.mul(cT, tf.square(p))) as tf.Scalar, [p]);
          if (s === 0) n1 = tf.memory().numTensors;
          else assert.equal(tf.memory().numTensors, n1, `tensors stable at step ${s + 1}`);
        }
        assert.equal(n1, n0 + 2, 'only the m and v slots were added');
        assertCloseArrays(Array.from(p.dataSync()), adamwRef(p0, c, 5, { lr: 0.05, wd: 0.1, clip }), { atol: 1e-5, rtol: 1e-5 }, 'p after 5 steps');
      } finally {
        opt.dispose();
        assert.equal(tf.memory().numTensors, n0, 'dispose frees the m and v slots');
        tf.dispose([p, cT]);
      }
    });
  }
});
