/**
 * A second core for the pure-wasm path's large GEMMs (docs/PERF.md "Two cores
 * on the pure-wasm path").
 *
 * tfjs-wasm's heap is a non-shared WebAssembly.Memory, and our SIMD GEMM
 * module (native/wasm/gemm.c) imports a non-shared memory, so a worker cannot
 * compute on the heap in place. Instead, one worker thread runs its own
 * instance of the same module on its own memory: for a product of at least
 * `minFlops`, the main thread copies the worker's share of the operands into
 * a SharedArrayBuffer, writes the job into shared control words and wakes
 * the worker (no postMessage per job), computes its own share in place on the
 * heap, then spins briefly and blocks (Atomics.wait) until the worker's share
 * is back and copies it into the output. The split is by batch items when there are two
 * or more, else by rows of C at a multiple of the kernel's 4-row block: every
 * output element is computed by the same micro-kernel over the same K order,
 * so the result is bitwise the same as on one thread.
 *
 * Smaller products stay on one thread (the copies and the hand-off cost more
 * than they save). A worker that fails or does not answer within a minute is
 * dropped and its share computed on the main thread; threads are then off.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { GEMM_WASM_BASE64 } from './gemm_wasm.js';

/**
 * What the worker runs: instantiate the GEMM module on its own memory, then
 * serve jobs in a loop without returning to its event loop. A job is posted
 * by writing its parameters into the control words and bumping the job
 * counter (CTRL_SEQ); the worker spins on that counter for a few
 * microseconds before it sleeps in Atomics.wait, so a GEMM that follows
 * another one soon (a training step) is picked up without a futex round
 * trip, and never through postMessage (whose event-loop wake-up cost more than a
 * 256^3 product). A data buffer grown by the main thread arrives over a
 * MessagePort, read synchronously (receiveMessageOnPort) when CTRL_GEN moves.
 */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const mod = new WebAssembly.Module(Buffer.from(workerData.gemm, 'base64'));
const memory = new WebAssembly.Memory({ initial: 1 });
const g = new WebAssembly.Instance(mod, { env: { memory } }).exports;
const ctrl = new Int32Array(workerData.ctrl);
const port = workerData.port;
const SPIN = workerData.spin;
let shared = null, gen = -1, seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(ctrl, 1) === seen) {
    if (++spins > SPIN) Atomics.wait(ctrl, 1, seen);
  }
  seen = Atomics.load(ctrl, 1);
  if (seen < 0) break;
  try {
    if (Atomics.load(ctrl, 2) !== gen) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) shared = m.message;
      gen = Atomics.load(ctrl, 2);
    }
    const f = new Float32Array(shared);
    const [tA, tB, M, N, K, batch, nA, nB, nC, sA, sB, sC] = ctrl.subarray(4, 16);
    const scratch = g.gemm_scratch_floats(M, N, K);
    const need = (nA + nB + nC + scratch) * 4 + 64;
    if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    const heap = new Float32Array(memory.buffer);
    const a = 0, b = nA, c = nA + nB, s = nA + nB + nC;
    heap.set(f.subarray(0, nA), a);
    heap.set(f.subarray(nA, nA + nB), b);
    g.gemm_batched(tA, tB, M, N, K, batch, a * 4, sA, b * 4, sB, c * 4, sC, s * 4);
    f.set(heap.subarray(c, c + nC), nA + nB);
    Atomics.store(ctrl, 0, 1);
  } catch (e) {
    Atomics.store(ctrl, 0, 2);
  }
  Atomics.notify(ctrl, 0);
}
`;

/**
 * Control words (Int32, a SharedArrayBuffer of their own): 0 status of the
 * current job (0 running, 1 done, 2 failed), 1 job counter (-1: stop),
 * 2 data-buffer generation, 4..15 the job (tA, tB, M, N, K, batch, nA, nB,
 * nC, sA, sB, sC).
 */
const CTRL_STATUS = 0;
const CTRL_SEQ = 1;
const CTRL_GEN = 2;
const CTRL_JOB = 4;
const CTRL_WORDS = 16;
/** Spin iterations (about 1 ns each) before a thread sleeps on a control word. */
const SPIN = 100_000;

export interface GemmThreadPolicy {
  /** Threads for large GEMMs on the wasm path (1 or 2). */
  threads: number;
  /** Products below this many flops (2 M N K per batch item, summed) stay on one thread. */
  minFlops: number;
}

/** The worker, its control words and port, the last job number and the data buffer it holds (generation `gen`). */
interface WorkerHandle { w: Worker; ctrl: Int32Array; port: MessagePort; seq: number; gen: number; sab: SharedArrayBuffer | null }

export const gemmThreads: GemmThreadPolicy & { worker: WorkerHandle | null; sab: SharedArrayBuffer | null; failure: string | null } = {
  threads: 1,
  minFlops: 2 ** 24, // = WASM_MIN_FLOPS_DEFAULT (src/engine/index.ts), until initEngine sets the policy
  worker: null,
  sab: null,
  failure: null,
};

/** Sets the policy (threads clamped to 1..2: one worker beside the main thread). */
export function setGemmThreadPolicy(threads: number, minFlops: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm GEMM threads must be a positive integer, got ${threads}`);
  if (!(minFlops >= 0)) throw new Error(`wasm GEMM min flops must be >= 0, got ${minFlops}`);
  gemmThreads.threads = Math.min(threads, 2);
  gemmThreads.minFlops = minFlops;
}

/** Threads a product of `flops` would use now. */
export function gemmThreadsFor(flops: number): number {
  return gemmThreads.threads > 1 && gemmThreads.failure == null && flops >= gemmThreads.minFlops ? 2 : 1;
}

function worker(): WorkerHandle | null {
  if (gemmThreads.worker) return gemmThreads.worker;
  try {
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
    const { port1, port2 } = new MessageChannel();
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { gemm: GEMM_WASM_BASE64, ctrl: ctrl.buffer, port: port2, spin: SPIN }, transferList: [port2] });
    w.unref();
    port1.unref();
    w.on('error', (e) => { gemmThreads.failure = `worker error: ${e.message}`; });
    gemmThreads.worker = { w, ctrl, port: port1, seq: 0, gen: 0, sab: null };
    return gemmThreads.worker;
  } catch (e) {
    gemmThreads.failure = `worker_threads unavailable: ${(e as Error).message}`;
    return null;
  }
}

function sharedFloats(n: number): Float32Array {
  const bytes = n * 4;
  if (!gemmThreads.sab || gemmThreads.sab.byteLength < bytes) {
    gemmThreads.sab = new SharedArrayBuffer(Math.max(bytes, 2 * (gemmThreads.sab?.byteLength ?? 0)));
  }
  return new Float32Array(gemmThreads.sab);
}

/** One GEMM call on the heap, as wasm_gemm.ts's gemm_batched (element offsets and strides). */
export type LocalGemm = (tA: boolean, tB: boolean, M: number, N: number, K: number, batch: number,
  offA: number, sA: number, offB: number, sB: number, offC: number, sC: number) => void;

/**
 * C_b = op(A_b) op(B_b) on `heap` with the work split between this thread
 * (`local`, in place) and the worker (on copies). The caller has checked
 * gemmThreadsFor(flops) === 2. `tempOff`: a free heap region of M K floats,
 * used when a transposed A is split by rows (this thread's columns of A are
 * strided, and gemm.c takes no leading dimension).
 */
export function splitGemm(heap: Float32Array, local: LocalGemm, tA: boolean, tB: boolean, M: number, N: number, K: number, batch: number,
  offA: number, sA: number, offB: number, sB: number, offC: number, sC: number, tempOff: number): void {
  const w = worker();
  if (!w) { local(tA, tB, M, N, K, batch, offA, sA, offB, sB, offC, sC); return; }
  // The worker's share, as contiguous operands: a = op(A) part, b = op(B) part, c = its C.
  let job: { M: number; batch: number; nA: number; nB: number; nC: number; sA: number; sB: number; sC: number };
  let copyIn: (f: Float32Array, base: number) => void;
  let copyOut: (f: Float32Array, base: number) => void;
  let localPart: () => void;
  if (batch >= 2) {
    const b0 = Math.ceil(batch / 2);
    const nb = batch - b0;
    const aItems = sA === 0 ? 1 : nb;
    const bItems = sB === 0 ? 1 : nb;
    job = { M, batch: nb, nA: aItems * M * K, nB: bItems * K * N, nC: nb * M * N, sA: sA === 0 ? 0 : M * K, sB: sB === 0 ? 0 : K * N, sC: M * N };
    copyIn = (f, base) => {
      for (let i = 0; i < aItems; i++) f.set(heap.subarray(offA + (b0 + i) * sA, offA + (b0 + i) * sA + M * K), base + i * M * K);
      const bb = base + job.nA;
      for (let i = 0; i < bItems; i++) f.set(heap.subarray(offB + (b0 + i) * sB, offB + (b0 + i) * sB + K * N), bb + i * K * N);
    };
    copyOut = (f, base) => {
      const cb = base + job.nA + job.nB;
      for (let i = 0; i < nb; i++) heap.set(f.subarray(cb + i * M * N, cb + (i + 1) * M * N), offC + (b0 + i) * sC);
    };
    localPart = () => local(tA, tB, M, N, K, b0, offA, sA, offB, sB, offC, sC);
  } else {
    // Rows [m0, M) to the worker; m0 a multiple of the 4-row block.
    const m0 = Math.min(M, 4 * Math.ceil(M / 8));
    const m2 = M - m0;
    job = { M: m2, batch: 1, nA: m2 * K, nB: K * N, nC: m2 * N, sA: 0, sB: 0, sC: 0 };
    copyIn = (f, base) => {
      if (!tA) f.set(heap.subarray(offA + m0 * K, offA + M * K), base);
      else for (let k = 0; k < K; k++) f.set(heap.subarray(offA + k * M + m0, offA + k * M + M), base + k * m2);
      f.set(heap.subarray(offB, offB + K * N), base + job.nA);
    };
    copyOut = (f, base) => heap.set(f.subarray(base + job.nA + job.nB, base + job.nA + job.nB + m2 * N), offC + m0 * N);
    localPart = () => {
      if (!tA) { local(tA, tB, m0, N, K, 1, offA, 0, offB, 0, offC, 0); return; }
      // This thread's part of a transposed A, [K, m0], made contiguous (the worker's is [K, m2]).
      for (let k = 0; k < K; k++) heap.copyWithin(tempOff + k * m0, offA + k * M, offA + k * M + m0);
      local(tA, tB, m0, N, K, 1, tempOff, 0, offB, 0, offC, 0);
    };
    if (m2 === 0) { local(tA, tB, M, N, K, batch, offA, sA, offB, sB, offC, sC); return; }
  }
  const f = sharedFloats(job.nA + job.nB + job.nC);
  const { ctrl } = w;
  copyIn(f, 0);
  if (w.sab !== gemmThreads.sab) {
    w.sab = gemmThreads.sab;
    w.port.postMessage(w.sab);
    Atomics.store(ctrl, CTRL_GEN, ++w.gen);
  }
  ctrl.set([tA ? 1 : 0, tB ? 1 : 0, job.M, N, K, job.batch, job.nA, job.nB, job.nC, job.sA, job.sB, job.sC], CTRL_JOB);
  Atomics.store(ctrl, CTRL_STATUS, 0);
  w.seq = (w.seq % 0x3fffffff) + 1;
  Atomics.store(ctrl, CTRL_SEQ, w.seq);
  Atomics.notify(ctrl, CTRL_SEQ);
  localPart();
  let spins = 0;
  while (Atomics.load(ctrl, CTRL_STATUS) === 0 && ++spins <= SPIN) { /* the worker's share is usually done by now */ }
  const r = Atomics.wait(ctrl, CTRL_STATUS, 0, 60_000);
  const status = Atomics.load(ctrl, CTRL_STATUS);
  if (r === 'timed-out' || status !== 1) {
    // Compute the worker's share here and stop using threads.
    gemmThreads.failure = r === 'timed-out' ? 'worker did not answer within 60 s' : 'worker failed a GEMM';
    void w.w.terminate();
    gemmThreads.worker = null;
    if (batch >= 2) {
      const b0 = Math.ceil(batch / 2);
      local(tA, tB, M, N, K, batch - b0, offA + b0 * sA, sA, offB + b0 * sB, sB, offC + b0 * sC, sC);
    } else {
      local(tA, tB, M, N, K, 1, offA, 0, offB, 0, offC, 0); // all rows again (the scratch is free now)
    }
    return;
  }
  copyOut(f, 0);
}

/** Stops the worker (tests; the worker is unref'd, so a process exits without this). */
export async function stopGemmWorker(): Promise<void> {
  const w = gemmThreads.worker;
  gemmThreads.worker = null;
  gemmThreads.sab = null;
  if (w) {
    Atomics.store(w.ctrl, CTRL_SEQ, -1);
    Atomics.notify(w.ctrl, CTRL_SEQ);
    w.port.close();
    await w.w.terminate();
  }
}
