/**
 * Fused attention (src/engine/kernels/attention.ts, `fusedAttention` in ops.ts)
 * against the unfused composition on the tfjs cpu backend: values and the
 * gradients of q, k, v, with causal, padding and combined masks and edge
 * shapes, on both engine paths (OpenBLAS addon and pure wasm).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attentionDropoutKeep, attentionReference, causalMask, causalPaddingMask, fusedAttention, keyPaddingMask, tf } from '../src/engine/index.js';
import { MATMUL_PATHS, Rng, assertClose, onBackend, randn, ready, skipPath, withMatmulPath } from './helpers.js';

await ready();

type MaskKind = 'none' | 'causal' | 'padding' | 'causal+padding' | 'rank3-causal';

interface Case { batch: number[]; Lq: number; Lk: number; d: number; dv: number; mask: MaskKind; dropout?: number }

/** Token ids [B, Lk] with the first `pad[b]` positions padding (id 0), as left-padded sequences. */
function ids(B: number, T: number, rng: Rng): Int32Array {
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const pad = b === B - 1 ? T : Math.floor(rng.next() * T); // the last row is fully padded
    for (let t = 0; t < T; t++) out[b * T + t] = t < pad ? 0 : 1 + t;
  }
  return out;
}

function makeMask(c: Case, rng: Rng): (() => tf.Tensor) | null {
  const B = c.batch[0] ?? 1;
  switch (c.mask) {
    case 'none': return null;
    case 'causal': return () => causalMask(c.Lq);
    case 'rank3-causal': return () => tf.reshape(causalMask(c.Lq), [1, c.Lq, c.Lq]);
    case 'padding': { const i = ids(B, c.Lk, rng); return () => keyPaddingMask(i, B, c.Lk); }
    case 'causal+padding': { const i = ids(B, c.Lq, rng); return () => causalPaddingMask(i, B, c.Lq); }
  }
}

async function check(path: (typeof MATMUL_PATHS)[number], c: Case, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const qs = [...c.batch, c.Lq, c.d];
  const ks = [...c.batch, c.Lk, c.d];
  const vs = [...c.batch, c.Lk, c.dv];
  const os = [...c.batch, c.Lq, c.dv];
  const qv = randn(rng, qs);
  const kv = randn(rng, ks);
  const vv = randn(rng, vs);
  const wv = randn(rng, os);
  const mk = makeMask(c, rng);
  // A fixed dropout multiplier (0 or 1 / (1 - rate)) shared by both sides.
  const keepV = c.dropout ? Float32Array.from(randn(rng, [...c.batch, c.Lq, c.Lk]), (x) => (x > 0.5 ? 0 : 1 / (1 - c.dropout!))) : null;
  const run = (attn: typeof fusedAttention) => () => {
    const q = tf.tensor(qv, qs);
    const k = tf.tensor(kv, ks);
    const v = tf.tensor(vv, vs);
    const w = tf.tensor(wv, os);
    const mask = mk ? mk() : null;
    const keep = keepV ? tf.tensor(keepV, [...c.batch, c.Lq, c.Lk]) : null;
    const y = attn(q, k, v, { mask, keep });
    const [dq, dk, dvv] = tf.grads((a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => tf.sum(tf.mul(attn(a, b, cc, { mask, keep }), w)))([q, k, v]);
    return { y, dq, dk, dv: dvv };
  };
  const ref = await onBackend('cpu', run(attentionReference));
  const got = await withMatmulPath(path, () => onBackend('wasm', run(fusedAttention)));
  const what = `${path} [${c.batch}] Lq=${c.Lq} Lk=${c.Lk} d=${c.d} dv=${c.dv} mask=${c.mask}${c.dropout ? ` dropout=${c.dropout}` : ''}`;
  const tol = { atol: 2e-4, rtol: 2e-4 };
  assert.deepEqual(got.y.shape, os, what);
  assertClose(got.y, ref.y, tol, `${what} value`);
  assertClose(got.dq, ref.dq, tol, `${what} dq`);
  assertClose(got.dk, ref.dk, tol, `${what} dk`);
  assertClose(got.dv, ref.dv, tol, `${what} dv`);
}

describe('fused attention vs the unfused composition on cpu', () => {
  for (const path of MATMUL_PATHS) {
    describe(`${path} path`, () => {
      it('self-attention [B, H, L, d] with causal, padding and combined masks', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 1;
        for (const mask of ['none', 'causal', 'padding', 'causal+padding'] as MaskKind[]) {
          await check(path, { batch: [3, 2], Lq: 11, Lk: 11, d: 8, dv: 8, mask }, seed++);
        }
      });

      it('SASRec-like [B*H, L, d] and a rank-3 mask; a longer sequence', async (t) => {
        if (skipPath(t, path)) return;
        await check(path, { batch: [4], Lq: 50, Lk: 50, d: 32, dv: 32, mask: 'rank3-causal' }, 20);
        await check(path, { batch: [2, 1], Lq: 67, Lk: 67, d: 16, dv: 16, mask: 'causal+padding' }, 21);
      });

      it('attention dropout (a fixed keep multiplier), with and without a mask', async (t) => {
        if (skipPath(t, path)) return;
        await check(path, { batch: [2, 2], Lq: 9, Lk: 9, d: 8, dv: 8, mask: 'causal+padding', dropout: 0.2 }, 25);
        await check(path, { batch: [3], Lq: 5, Lk: 7, d: 4, dv: 6, mask: 'none', dropout: 0.5 }, 26);
      });

      it('edge shapes: no batch dims, L = 1, d = 1, cross attention (Lq != Lk, dv != d), batch 1', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 30;
        for (const c of [
          { batch: [], Lq: 5, Lk: 5, d: 4, dv: 4, mask: 'causal' },
          { batch: [2, 2], Lq: 1, Lk: 1, d: 3, dv: 3, mask: 'causal' },
          { batch: [2], Lq: 6, Lk: 6, d: 1, dv: 1, mask: 'none' },
          { batch: [3, 2], Lq: 4, Lk: 9, d: 5, dv: 7, mask: 'padding' },
          { batch: [1, 1], Lq: 9, Lk: 3, d: 6, dv: 2, mask: 'none' },
        ] as Case[]) {
          await check(path, c, seed++);
        }
      });

      it('a learned additive bias (maskGrad): its gradient summed over broadcast dims, scaled and unscaled', async (t) => {
        if (skipPath(t, path)) return;
        let seed = 40;
        // [1, H, Lq, Lk] (T5's position bias), [Lq, Lk], [B, H, Lq, Lk] (bias + padding mask), rank-2 over 4-D scores.
        for (const [batch, Lq, Lk, mshape, scale] of [
          [[2, 3], 5, 5, [1, 3, 5, 5], 1], [[2, 3], 4, 6, [4, 6], 0.5], [[2, 2], 3, 3, [2, 2, 3, 3], 1], [[3], 1, 1, [1, 1, 1], 1],
        ] as Array<[number[], number, number, number[], number]>) {
          const rng = new Rng(seed++);
          const d = 4;
          const qv = randn(rng, [...batch, Lq, d]);
          const kv = randn(rng, [...batch, Lk, d]);
          const vv = randn(rng, [...batch, Lk, d]);
          const mv = randn(rng, mshape);
          const wv = randn(rng, [...batch, Lq, d]);
          const run = (attn: typeof fusedAttention, maskGrad: boolean) => () => {
            const [q, k, v, m, w] = [tf.tensor(qv, [...batch, Lq, d]), tf.tensor(kv, [...batch, Lk, d]), tf.tensor(vv, [...batch, Lk, d]), tf.tensor(mv, mshape), tf.tensor(wv, [...batch, Lq, d])];
            const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, mm: tf.Tensor) => tf.sum(tf.mul(attn(a, b, c, { mask: mm, scale, maskGrad }), w));
            const y = attn(q, k, v, { mask: m, scale, maskGrad });
            if (!maskGrad) {
              // A constant mask is not an operand of the gradient: tf.grads refuses to differentiate by it.
              assert.throws(() => tf.grads(f)([q, k, v, m]), /Cannot compute gradient/);
              const [dq, dk, dvv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => f(a, b, c, m))([q, k, v]);
              return { y, dq, dk, dv: dvv, dm: undefined };
            }
            const [dq, dk, dvv, dm] = tf.grads(f)([q, k, v, m]);
            return { y, dq, dk, dv: dvv, dm };
          };
          const ref = await onBackend('cpu', run(attentionReference, true));
          const got = await withMatmulPath(path, () => onBackend('wasm', run(fusedAttention, true)));
          const what = `${path} [${batch}] Lq=${Lq} Lk=${Lk} bias [${mshape}] scale ${scale}`;
          for (const k of ['y', 'dq', 'dk', 'dv', 'dm'] as const) assertClose(got[k], ref[k], { atol: 2e-4, rtol: 2e-4 }, `${what} ${k}`);
          // (a softmax over one key has a zero gradient)
          if (Lk > 1) assert.ok(ref.dm.values.some((x) => x !== 0), `${what}: the reference bias gradient is zero`);
          // Without maskGrad the mask is a constant; q, k, v get the same gradients.
          const constant = await withMatmulPath(path, () => onBackend('wasm', run(fusedAttention, false)));
          for (const k of ['y', 'dq', 'dk', 'dv'] as const) assertClose(constant[k], got[k], { atol: 0, rtol: 0 }, `${what} ${k} (constant mask)`);
        }
      });

      it('empty queries or keys give empty or zero outputs and gradients', async (t) => {
        if (skipPath(t, path)) return;
        for (const [Lq, Lk] of [[0, 4], [3, 0]]) {
          const got = await withMatmulPath(path, () => onBackend('wasm', () => {
            const q = tf.ones([2, Lq, 3]);
            const k = tf.ones([2, Lk, 3]);
            const v = tf.ones([2, Lk, 3]);
            const y = fusedAttention(q, k, v);
            const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(fusedAttention(a, b, c)))([q, k, v]);
            return { y, dq, dk, dv };
          }));
          assert.deepEqual(got.y.shape, [2, Lq, 3]);
          for (const p of [got.y, got.dq, got.dk, got.dv]) assert.ok(p.values.every((x) => x === 0));
        }
      });
    });
  }

  it('attentionDropoutKeep gives 0 or 1 / (1 - rate) with about the right rate', async () => {
    const got = await onBackend('wasm', () => ({ k: attentionDropoutKeep([4, 50, 50], 0.25, 3) }));
    const zeros = got.k.values.filter((x) => x === 0).length;
    assert.ok(got.k.values.every((x) => x === 0 || Math.abs(x - 1 / 0.75) < 1e-6));
    assert.ok(Math.abs(zeros / got.k.values.length - 0.25) < 0.03, `drop fraction ${zeros / got.k.values.length}`);
    assert.throws(() => attentionDropoutKeep([2], 1), /rate must be in \[0, 1\)/);
  });

  it('attentionDropoutKeep is a function of its seed (same seed, same mask; another seed, another)', async () => {
    const got = await onBackend('wasm', () => ({
      a: attentionDropoutKeep([3, 7, 7], 0.5, 11), b: attentionDropoutKeep([3, 7, 7], 0.5, 11), c: attentionDropoutKeep([3, 7, 7], 0.5, 12),
    }));
    assert.deepEqual(got.a.shape, [3, 7, 7]);
    assert.deepEqual(got.a.values, got.b.values);
    assert.notDeepEqual(got.a.values, got.c.values);
    // rate 0 keeps everything at multiplier exactly 1; an odd size fills its last element too
    const one = await onBackend('wasm', () => ({ k: attentionDropoutKeep([5], 0, 1) }));
    assert.deepEqual(one.k.values, [1, 1, 1, 1, 1]);
  });

  it('rejects shapes that do not fit, naming them', async () => {
    await onBackend('wasm', () => {
      const q = tf.zeros([2, 4, 8]);
      assert.throws(() => fusedAttention(q, tf.zeros([2, 4, 7]), tf.zeros([2, 4, 8])), /k's last dim 7 != q's 8/);
      assert.throws(() => fusedAttention(q, tf.zeros([3, 4, 8]), tf.zeros([3, 4, 8])), /share their leading dims/);
      assert.throws(() => fusedAttention(q, tf.zeros([2, 4, 8]), tf.zeros([2, 5, 8])), /v has 5 rows, k has 4/);
      assert.throws(() => fusedAttention(q, q, q, { mask: tf.zeros([3, 4]) }), /does not broadcast/);
      assert.throws(() => fusedAttention(q, q, q, { keep: tf.zeros([2, 4, 5]) }), /keep must have the scores' shape/);
      return {};
    });
  });
});
