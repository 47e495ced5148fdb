#!/usr/bin/env node
/* global console, process, performance */
// Attention micro-benchmark for docs/PERF.md: batched GEMMs of the attention
// shapes and fused vs unfused attention (forward, forward + backward), on each
// engine path. Needs `npm run build` first. Usage:
//   LLMREC_BLAS_THREADS=1 node bench/attention.mjs [reps]
// (Nothing is returned from tf.tidy: it would walk a returned typed array.)
// Prints the minimum over `reps` runs (default 15) after 3 warm-ups: on a
// shared machine the minimum is the least disturbed run, still an upper bound.
import { attentionReference, causalMask, fusedAttention, initEngine, nativeAvailable, setMatmulPath, tf } from '../dist/engine/index.js';

const reps = Number(process.argv[2] ?? 15);
const info = await initEngine();
console.log(`engine ${info.backend}, SIMD ${info.simd}, OpenBLAS ${info.native.loaded ? `core ${info.native.blas?.core}` : `off (${info.native.reason})`}`);

function minMs(fn) {
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const shapes = [[256, 50, 64], [32, 128, 32], [16, 200, 64]];
for (const path of nativeAvailable() ? ['blas', 'wasm'] : ['wasm']) {
  setMatmulPath(path);
  for (const [BH, L, d] of shapes) {
    const q = tf.randomNormal([BH, L, d], 0, 1, 'float32', 1);
    const k = tf.randomNormal([BH, L, d], 0, 1, 'float32', 2);
    const v = tf.randomNormal([BH, L, d], 0, 1, 'float32', 3);
    const p = tf.randomUniform([BH, L, L], 0, 1, 'float32', 4);
    const mask = causalMask(L);
    const flops = 2 * BH * L * L * d;
    const sc = minMs(() => tf.tidy(() => { tf.matMul(q, k, false, true).dataSync(); }));
    const cx = minMs(() => tf.tidy(() => { tf.matMul(p, v).dataSync(); }));
    const line = [`${path} [${BH},${L},${d}]`, `QKt ${(flops / sc / 1e6).toFixed(1)} GFLOPS`, `PV ${(flops / cx / 1e6).toFixed(1)} GFLOPS`];
    for (const [name, attn] of [['fused', fusedAttention], ['unfused', attentionReference]]) {
      const fwd = minMs(() => tf.tidy(() => { attn(q, k, v, { mask }).dataSync(); }));
      const both = minMs(() => tf.tidy(() => {
        for (const g of tf.grads((a, b, c) => tf.sum(attn(a, b, c, { mask })))([q, k, v])) g.dataSync();
      }));
      line.push(`${name} fwd ${fwd.toFixed(2)} ms, fwd+bwd ${both.toFixed(2)} ms`);
    }
    console.log(line.join(' | '));
    tf.dispose([q, k, v, p, mask]);
  }
}
