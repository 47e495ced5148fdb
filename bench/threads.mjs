/* global process, performance, console */
// Pure-wasm GEMMs on one and two threads (docs/PERF.md "Two cores on the pure-wasm path").
// Usage: npm run build && LLMREC_BLAS_THREADS=1 node bench/threads.mjs [reps]
// Prints the minimum of `reps` runs (default 15) after 3 warm-ups, in GFLOPS.
import { initEngine, setGemmThreadPolicy, setMatmulPath, stopGemmWorker, tf } from '../dist/engine/index.js';

await initEngine({ native: 'off' });
setMatmulPath('wasm');
const reps = Number(process.argv[2] ?? 15);
const cases = [
  { name: 'plain 256^3', a: [256, 256], b: [256, 256], tA: false, tB: false },
  { name: 'plain 512^3', a: [512, 512], b: [512, 512], tA: false, tB: false },
  { name: 'transB 512^3', a: [512, 512], b: [512, 512], tA: false, tB: true },
  { name: 'transA 512^3', a: [512, 512], b: [512, 512], tA: true, tB: false },
  { name: 'plain 1024^3', a: [1024, 1024], b: [1024, 1024], tA: false, tB: false },
  { name: 'batched 16x256^3', a: [16, 256, 256], b: [16, 256, 256], tA: false, tB: false },
  { name: 'attn QK^T [256,50,64]', a: [256, 50, 64], b: [256, 50, 64], tA: false, tB: true },
  { name: 'attn QK^T [16,200,64]', a: [16, 200, 64], b: [16, 200, 64], tA: false, tB: true },
  // the bench's LLaMA step (B 8 x T 128 tokens, d 128, MLP 344): projections and their input gradients
  { name: 'proj [256,128]x[128,128]', a: [256, 128], b: [128, 128], tA: false, tB: false },
  { name: 'proj [512,128]x[128,128]', a: [512, 128], b: [128, 128], tA: false, tB: false },
  { name: 'proj [1024,128]x[128,128]', a: [1024, 128], b: [128, 128], tA: false, tB: false },
  { name: 'proj dX [1024,128]x[128,128]^T', a: [1024, 128], b: [128, 128], tA: false, tB: true },
  { name: 'mlp [1024,128]x[128,344]', a: [1024, 128], b: [128, 344], tA: false, tB: false },
  { name: 'mlp [1024,344]x[344,128]', a: [1024, 344], b: [344, 128], tA: false, tB: false },
  { name: 'dW [128,1024]^Tx[1024,344]', a: [1024, 128], b: [1024, 344], tA: true, tB: false },
  { name: 'attn [32,128,32]x[32,128,32]^T', a: [32, 128, 32], b: [32, 128, 32], tA: false, tB: true },
];
function time(c) {
  const a = tf.randomNormal(c.a);
  const b = tf.randomNormal(c.b);
  const M = c.tA ? c.a.at(-1) : c.a.at(-2);
  const K = c.tA ? c.a.at(-2) : c.a.at(-1);
  const N = c.tB ? c.b.at(-2) : c.b.at(-1);
  const batch = c.a.length === 3 ? c.a[0] : 1;
  const flops = 2 * M * N * K * batch;
  let best = Infinity;
  for (let i = 0; i < reps + 3; i++) {
    const t0 = performance.now();
    const y = tf.matMul(a, b, c.tA, c.tB);
    y.dataSync();
    const dt = performance.now() - t0;
    y.dispose();
    if (i >= 3) best = Math.min(best, dt);
  }
  tf.dispose([a, b]);
  return { ms: best, gflops: flops / best / 1e6 };
}
for (const c of cases) {
  setGemmThreadPolicy(1, 2 * 256 ** 3);
  const one = time(c);
  setGemmThreadPolicy(2, 0);
  const two = time(c);
  console.log(`${c.name.padEnd(24)} 1 thread ${one.gflops.toFixed(1).padStart(6)} GFLOPS (${one.ms.toFixed(2)} ms)   2 threads ${two.gflops.toFixed(1).padStart(6)} GFLOPS (${two.ms.toFixed(2)} ms)   x${(one.ms / two.ms).toFixed(2)}`);
}
await stopGemmWorker();
