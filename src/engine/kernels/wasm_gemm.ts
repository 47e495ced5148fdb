/**
 * The project's SIMD GEMM (and the attention softmax, the GRU cell) for the pure-wasm path (native/wasm/gemm.c, embedded
 * as gemm_wasm.ts by native/wasm/build.mjs; docs/PERF.md "Pure-wasm batched GEMM").
 *
 * The module is instantiated on the tfjs wasm backend's own WebAssembly.Memory,
 * so it reads and writes tensors in place on the heap (no copies). Its packing
 * scratch is one block taken from the backend's malloc and kept for reuse.
 * When the module cannot be used (no wasm SIMD, a shared-memory build),
 * `wasmGemm()` returns null and callers use their JS loop.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm, heapF32, heapOffset } from '../backend.js';
import { GEMM_WASM_BASE64 } from './gemm_wasm.js';
import { gemmThreadsFor, splitGemm } from './wasm_threads.js';

interface GemmExports {
  gemm_scratch_floats(M: number, N: number, K: number): number;
  gemm_batched(
    transA: number, transB: number, M: number, N: number, K: number, batch: number,
    A: number, strideA: number, B: number, strideB: number, C: number, strideC: number, scratch: number,
  ): void;
  attn_softmax_rows(s: number, Lq: number, Lk: number, scale: number, mask: number, rowStride: number, colStride: number): void;
  attn_softmax_grad(p: number, dp: number, rows: number, Lk: number, scale: number): void;
  gru_cell(gx: number, gh: number, h: number, B: number, d: number, hOut: number, gates: number): void;
  gru_cell_grad(dhNew: number, gates: number, gh: number, h: number, B: number, d: number, dgx: number, dgh: number, dh: number): void;
  softmax_xent(x: number, labels: number, N: number, V: number, loss: number, p: number): void;
  softmax_xent_grad(p: number, labels: number, dy: number, N: number, V: number, out: number): void;
  layer_norm(x: number, gamma: number, beta: number, N: number, D: number, eps: number, y: number, mean: number, rstd: number): void;
  layer_norm_grad(dy: number, x: number, mean: number, rstd: number, gamma: number, N: number, D: number,
    dx: number, dgamma: number, dbeta: number, acc: number): void;
  reduce_middle(x: number, outer: number, R: number, inner: number, out: number, scale: number, acc: number): void;
  adamw(p: number, g: number, m: number, v: number, n: number, b1: number, b2: number, c1: number, c2: number, eps: number, decay: number, step: number,
    invBc2: number, gs: number, pOut: number, mOut: number, vOut: number): void;
  copy_rows(dst: number, dstStride: number, src: number, srcStride: number, rows: number, rowBytes: number): void;
  binary_bcast(op: number, swap: number, mode: number, big: number, small: number, out: number, outer: number, inner: number): void;
  dropout_mask(out: number, n: number, seed: number, thr: number, keep: number): void;
  dropout_mask32(out: number, n: number, state: number, thr: number, keep: number): void;
  rms_norm(x: number, gamma: number, N: number, D: number, eps: number, y: number, rstd: number): void;
  rms_norm_grad(dy: number, x: number, rstd: number, gamma: number, N: number, D: number, dx: number, dgamma: number, acc: number): void;
  rope(x: number, cos: number, sin: number, P: number, T: number, D: number, per: number, backward: number, y: number): void;
}

/** The WebAssembly API (Node's global; not in this project's TypeScript libs). */
interface WasmApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface EmscriptenModule {
  asm?: { memory?: object };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

let state: { exports: GemmExports; module: EmscriptenModule } | null | undefined;
let scratchPtr = 0;
let scratchFloats = 0;
/** Why the SIMD GEMM is unavailable (for engineInfo), or null when it runs. */
export let wasmGemmUnavailable: string | null = null;

/** Instantiates the module on the backend's memory once; null when that is impossible. */
export function wasmGemm(backend: BackendWasm): GemmExports | null {
  if (state !== undefined) return state?.exports ?? null;
  const module = backend.wasm as unknown as EmscriptenModule;
  const memory = module.asm?.memory;
  try {
    if (!(memory instanceof WA.Memory)) throw new Error('the tfjs wasm module exposes no memory');
    const bytes = Buffer.from(GEMM_WASM_BASE64, 'base64');
    const inst = new WA.Instance(new WA.Module(bytes), { env: { memory } });
    state = { exports: inst.exports as unknown as GemmExports, module };
  } catch (e) {
    state = null;
    wasmGemmUnavailable = `SIMD GEMM module unusable: ${(e as Error).message}`;
  }
  return state?.exports ?? null;
}

/** Packing scratch (floats) a GEMM of this shape needs; a threaded row split of a transposed A also needs a contiguous copy of its columns (wasm_threads.ts). */
function gemmScratchNeed(g: GemmExports, transA: boolean, M: number, N: number, K: number, batch: number): number {
  const threaded = gemmThreadsFor(2 * M * N * K * batch) > 1;
  return g.gemm_scratch_floats(M, N, K) + (threaded && transA && batch === 1 ? M * K : 0);
}

function reserveGemmScratch(need: number): void {
  if (need <= scratchFloats) return;
  if (scratchPtr) state!.module._free(scratchPtr);
  scratchFloats = Math.max(need, 2 * scratchFloats);
  scratchPtr = state!.module._malloc(scratchFloats * 4);
  if (!scratchPtr) {
    scratchFloats = 0;
    throw new Error(`wasm GEMM: could not allocate ${need * 4} bytes of packing scratch`);
  }
}

/**
 * Takes every scratch block the given GEMMs ([transA, M, N, K, batch]) and a
 * float64 accumulator of `accDoubles` will need, so that a kernel calling them
 * in a loop allocates nothing (an allocation may grow the heap and detach the
 * kernel's views). Take heap views only after it. False when the module is unavailable.
 */
export function wasmReserve(backend: BackendWasm, gemms: ReadonlyArray<readonly [boolean, number, number, number, number]>, accDoubles: number): boolean {
  const g = wasmGemm(backend);
  if (!g || !state) return false;
  reserveGemmScratch(Math.max(0, ...gemms.map(([tA, M, N, K, batch]) => gemmScratchNeed(g, tA, M, N, K, batch))));
  if (accDoubles > 0) accScratch(accDoubles);
  return true;
}

/**
 * C_b = op(A_b) @ op(B_b) for b < batch on the wasm heap. Offsets and strides
 * are in float elements (stride 0 broadcasts); layouts as in gemm.c.
 * Returns false (nothing done) when the module is unavailable.
 */
export function wasmGemmBatched(
  backend: BackendWasm, transA: boolean, transB: boolean, M: number, N: number, K: number, batch: number,
  offA: number, strideA: number, offB: number, strideB: number, offC: number, strideC: number,
): boolean {
  const g = wasmGemm(backend);
  if (!g || !state) return false;
  const threaded = gemmThreadsFor(2 * M * N * K * batch) > 1;
  const gemmNeed = g.gemm_scratch_floats(M, N, K);
  reserveGemmScratch(gemmScratchNeed(g, transA, M, N, K, batch));
  const local = (tA: boolean, tB: boolean, m: number, n: number, k: number, nb: number,
    oA: number, sA: number, oB: number, sB: number, oC: number, sC: number) =>
    g.gemm_batched(tA ? 1 : 0, tB ? 1 : 0, m, n, k, nb, oA * 4, sA, oB * 4, sB, oC * 4, sC, scratchPtr);
  // Large products: half on a worker thread (wasm_threads.ts; same result bit for bit).
  if (threaded) {
    splitGemm(heapF32(backend), local, transA, transB, M, N, K, batch, offA, strideA, offB, strideB, offC, strideC, (scratchPtr >>> 2) + gemmNeed);
  } else {
    local(transA, transB, M, N, K, batch, offA, strideA, offB, strideB, offC, strideC);
  }
  return true;
}

/**
 * Attention row softmax in place on the heap (element offsets): batch item b's
 * [Lq, Lk] scores at sOff + b * Lq * Lk, its mask rows at maskOff + base[b]
 * (maskOff null: no mask). False when the module is unavailable.
 */
export function wasmAttnSoftmax(backend: BackendWasm, sOff: number, batch: number, Lq: number, Lk: number, scale: number,
  mask: { off: number; base: Int32Array; rowStride: number; colStride: number } | null): boolean {
  const g = wasmGemm(backend);
  if (!g) return false;
  for (let b = 0; b < batch; b++) {
    g.attn_softmax_rows((sOff + b * Lq * Lk) * 4, Lq, Lk, scale,
      mask ? (mask.off + mask.base[b]) * 4 : 0, mask ? mask.rowStride : 0, mask ? mask.colStride : 0);
  }
  return true;
}

/** dS = scale * P ⊙ (dP - rowsum(dP ⊙ P)) in place on dP (element offsets). False when the module is unavailable. */
export function wasmAttnSoftmaxGrad(backend: BackendWasm, pOff: number, dpOff: number, rows: number, Lk: number, scale: number): boolean {
  const g = wasmGemm(backend);
  if (!g) return false;
  g.attn_softmax_grad(pOff * 4, dpOff * 4, rows, Lk, scale);
  return true;
}

/** Every array is a view on the backend's heap (the module addresses them by byte offset). */
function onHeap(backend: BackendWasm, arrays: readonly (Float32Array | Int32Array)[]): boolean {
  const buf = heapF32(backend).buffer;
  return arrays.every((a) => a.buffer === buf);
}

/** The fused GRU cell (gru.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmGruCell(backend: BackendWasm, gx: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number,
  hOut: Float32Array, gates: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [gx, gh, h, hOut, gates])) return false;
  g.gru_cell(gx.byteOffset, gh.byteOffset, h.byteOffset, B, d, hOut.byteOffset, gates.byteOffset);
  return true;
}

/** The GRU cell's gradient (gru.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmGruCellGrad(backend: BackendWasm, dhNew: Float32Array, gates: Float32Array, gh: Float32Array, h: Float32Array,
  B: number, d: number, dgx: Float32Array, dgh: Float32Array, dh: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [dhNew, gates, gh, h, dgx, dgh, dh])) return false;
  g.gru_cell_grad(dhNew.byteOffset, gates.byteOffset, gh.byteOffset, h.byteOffset, B, d, dgx.byteOffset, dgh.byteOffset, dh.byteOffset);
  return true;
}

/** out = big (op) small or small (op) big (swap) with small broadcast as binary.ts plans it. False when the module is unavailable. */
export function wasmBinaryBroadcast(backend: BackendWasm, op: number, swap: number, mode: number,
  big: TensorInfo, small: TensorInfo, out: TensorInfo, outer: number, inner: number): boolean {
  const g = wasmGemm(backend);
  if (!g) return false;
  g.binary_bcast(op, swap, mode, heapOffset(backend, big), heapOffset(backend, small), heapOffset(backend, out), outer, inner);
  return true;
}

/** Dropout multipliers (dropout.ts) into a heap view. False when the module is unavailable or the array is off the heap. */
export function wasmDropoutMask(backend: BackendWasm, out: Float32Array, seed: number, thr: number, keep: number): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [out])) return false;
  g.dropout_mask(out.byteOffset, out.length, seed >>> 0, thr, keep);
  return true;
}

/** One-draw-per-element dropout multipliers (dropout.ts, draw 'single32'). False when the module is unavailable or the array is off the heap. */
export function wasmDropoutMask32(backend: BackendWasm, out: Float32Array, state: number, thr: number, keep: number): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [out])) return false;
  g.dropout_mask32(out.byteOffset, out.length, state >>> 0, thr >>> 0, keep);
  return true;
}

/** Softmax cross-entropy rows (xent.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmSoftmaxXent(backend: BackendWasm, x: Float32Array, labels: Int32Array, N: number, V: number, loss: Float32Array, p: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [x, labels, loss, p])) return false;
  g.softmax_xent(x.byteOffset, labels.byteOffset, N, V, loss.byteOffset, p.byteOffset);
  return true;
}

/** Its gradient dy * (p - onehot) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmSoftmaxXentGrad(backend: BackendWasm, p: Float32Array, labels: Int32Array, dy: Float32Array, N: number, V: number, out: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [p, labels, dy, out])) return false;
  g.softmax_xent_grad(p.byteOffset, labels.byteOffset, dy.byteOffset, N, V, out.byteOffset);
  return true;
}

let accPtr = 0;
let accDoubles = 0;
/**
 * A block of at least `doubles` float64 from the backend's malloc, kept for reuse
 * (accumulators of the row reductions). Take byte offsets of heap views before
 * calling it: a malloc may grow the heap and detach existing views.
 */
function accScratch(doubles: number): number {
  if (!state) throw new Error('wasm kernels: module not instantiated');
  if (doubles > accDoubles) {
    if (accPtr) state.module._free(accPtr);
    accDoubles = Math.max(doubles, 2 * accDoubles, 1024);
    accPtr = state.module._malloc(accDoubles * 8);
    if (!accPtr) {
      accDoubles = 0;
      throw new Error(`wasm kernels: could not allocate ${doubles * 8} bytes of accumulator scratch`);
    }
  }
  return accPtr;
}

/** LayerNorm forward (layernorm.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmLayerNorm(backend: BackendWasm, x: Float32Array, gamma: Float32Array, beta: Float32Array, N: number, D: number, eps: number,
  y: Float32Array, mean: Float32Array, rstd: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [x, gamma, beta, y, mean, rstd])) return false;
  g.layer_norm(x.byteOffset, gamma.byteOffset, beta.byteOffset, N, D, eps, y.byteOffset, mean.byteOffset, rstd.byteOffset);
  return true;
}

/** LayerNorm gradient (layernorm.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmLayerNormGrad(backend: BackendWasm, dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, gamma: Float32Array,
  N: number, D: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [dy, x, mean, rstd, gamma, dx, dgamma, dbeta])) return false;
  const offs = [dy, x, mean, rstd, gamma, dx, dgamma, dbeta].map((a) => a.byteOffset);
  const acc = accScratch(2 * D);
  g.layer_norm_grad(offs[0], offs[1], offs[2], offs[3], offs[4], N, D, offs[5], offs[6], offs[7], acc);
  return true;
}

/** RMSNorm (rmsnorm.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmRmsNorm(backend: BackendWasm, x: Float32Array, gamma: Float32Array, N: number, D: number, eps: number,
  y: Float32Array, rstd: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [x, gamma, y, rstd])) return false;
  g.rms_norm(x.byteOffset, gamma.byteOffset, N, D, eps, y.byteOffset, rstd.byteOffset);
  return true;
}

/** RMSNorm gradient (rmsnorm.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmRmsNormGrad(backend: BackendWasm, dy: Float32Array, x: Float32Array, rstd: Float32Array, gamma: Float32Array,
  N: number, D: number, dx: Float32Array, dgamma: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [dy, x, rstd, gamma, dx, dgamma])) return false;
  const offs = [dy, x, rstd, gamma, dx, dgamma].map((a) => a.byteOffset);
  const acc = accScratch(D);
  g.rms_norm_grad(offs[0], offs[1], offs[2], offs[3], N, D, offs[4], offs[5], acc);
  return true;
}

/** Rotary embedding either way (rope.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmRope(backend: BackendWasm, x: Float32Array, cos: Float32Array, sin: Float32Array, P: number, T: number, D: number,
  per: number, backward: boolean, y: Float32Array): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [x, cos, sin, y])) return false;
  g.rope(x.byteOffset, cos.byteOffset, sin.byteOffset, P, T, D, per, backward ? 1 : 0, y.byteOffset);
  return true;
}

/** out[o, j] = scale * sum_r x[o, r, j] (reduce.ts) on heap views. False when the module is unavailable or an array is off the heap. */
export function wasmReduceMiddle(backend: BackendWasm, x: Float32Array, outer: number, R: number, inner: number, out: Float32Array, scale: number): boolean {
  const g = wasmGemm(backend);
  if (!g || !onHeap(backend, [x, out])) return false;
  const xo = x.byteOffset;
  const oo = out.byteOffset;
  const acc = accScratch(inner);
  g.reduce_middle(xo, outer, R, inner, oo, scale, acc);
  return true;
}

/** The fused AdamW update (adamw.ts) on heap views, float32 arithmetic as the addon's. False when the module is unavailable or an array is off the heap. */
export function wasmAdamW(backend: BackendWasm, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  a: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; bc1: number; bc2: number; gradScale: number },
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array): boolean {
  const k = wasmGemm(backend);
  if (!k || !onHeap(backend, [p, g, m, v, pOut, mOut, vOut])) return false;
  k.adamw(p.byteOffset, g.byteOffset, m.byteOffset, v.byteOffset, p.length, a.beta1, a.beta2, 1 - a.beta1, 1 - a.beta2, a.eps,
    1 - a.lr * a.weightDecay, a.lr / a.bc1, 1 / a.bc2, a.gradScale, pOut.byteOffset, mOut.byteOffset, vOut.byteOffset);
  return true;
}

/** `rows` blocks of `rowBytes` from src + r * srcStride to dst + r * dstStride (heap byte offsets). False when the module is unavailable. */
export function wasmCopyRows(backend: BackendWasm, dst: number, dstStride: number, src: number, srcStride: number, rows: number, rowBytes: number): boolean {
  const g = wasmGemm(backend);
  if (!g) return false;
  g.copy_rows(dst, dstStride, src, srcStride, rows, rowBytes);
  return true;
}

/** True when the SIMD module runs on this backend (instantiating it on first use). */
export function wasmKernelsAvailable(backend: BackendWasm): boolean {
  return wasmGemm(backend) !== null;
}

/** In place on heap views: C (+)= small broadcast as binary.ts plans it (mode 0: small[j], 1: small[r]). False when the module is unavailable. */
export function wasmAddInPlace(backend: BackendWasm, C: Float32Array, small: Float32Array, mode: number, outer: number, inner: number): boolean {
  const g = wasmGemm(backend);
  if (!g) return false;
  g.binary_bcast(0, 0, mode, C.byteOffset, small.byteOffset, C.byteOffset, outer, inner);
  return true;
}
