/**
 * Fused scaled-dot-product attention for the wasm backend, forward and
 * backward (docs/PERF.md "Fused attention"), one kernel each way instead of
 * matMul + mul + add + softmax + matMul and their ~12 gradient ops:
 *   forward   P = softmax(scale * Q Kᵀ + mask), O = (P ⊙ keep) V   (P is saved)
 *   backward  dP = (dO Vᵀ) ⊙ keep, dS = scale * P ⊙ (dP - rowsum(dP ⊙ P)),
 *             dQ = dS K, dK = dSᵀ Q, dV = (P ⊙ keep)ᵀ dO,
 * where the optional `keep` is attention dropout's multiplier (0 or
 * 1 / (1 - rate), the scores' shape; without it keep = 1).
 * Q [..., Lq, d], K [..., Lk, d], V [..., Lk, dv] share their leading
 * (batch) dims; the additive mask broadcasts to [..., Lq, Lk] (e.g. [Lq, Lk]
 * causal, [B, 1, 1, Lk] key padding, [B, 1, Lq, Lk] both). The GEMMs run on
 * OpenBLAS (blas path) or the project's SIMD wasm GEMM (wasm path), in place
 * on the heap; the row softmax runs in C (blas path) or in the SIMD wasm
 * module (native/wasm/gemm.c), JS only when that module is unavailable.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm, heapF32, heapOffset } from '../backend.js';
import { activeAddon } from '../state.js';
import { wasmAttnSoftmax, wasmAttnSoftmaxGrad, wasmGemmBatched } from './wasm_gemm.js';

export const ATTENTION = 'LlmrecAttention';
export const ATTENTION_GRAD = 'LlmrecAttentionGrad';

export interface AttentionAttrs {
  scale: number;
  /**
   * Grad kernel only: 1 to also return dS = scale * dL/dZ (Z = scale * Q Kᵀ + mask,
   * the softmax input), [..., Lq, Lk], from which ops.ts derives the mask's
   * gradient (a learned additive bias: T5's relative position bias).
   */
  scoresGrad?: number;
}

export interface AttentionGeometry {
  batchShape: number[];
  batch: number;
  Lq: number;
  Lk: number;
  d: number;
  dv: number;
}

const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Checks Q, K, V (and the mask's broadcastability) and returns the sizes; errors name the offending shape. */
export function attentionGeometry(q: number[], k: number[], v: number[], mask: number[] | null): AttentionGeometry {
  if (q.length < 2 || k.length !== q.length || v.length !== q.length) {
    throw new Error(`attention: q, k, v must have the same rank >= 2, got [${q}], [${k}], [${v}]`);
  }
  const r = q.length;
  const batchShape = q.slice(0, -2);
  if (k.slice(0, -2).join() !== batchShape.join() || v.slice(0, -2).join() !== batchShape.join()) {
    throw new Error(`attention: q, k, v must share their leading dims, got [${q}], [${k}], [${v}]`);
  }
  const [Lq, d] = [q[r - 2], q[r - 1]];
  const Lk = k[r - 2];
  if (k[r - 1] !== d) throw new Error(`attention: k's last dim ${k[r - 1]} != q's ${d}`);
  if (v[r - 2] !== Lk) throw new Error(`attention: v has ${v[r - 2]} rows, k has ${Lk}`);
  const full = [...batchShape, Lq, Lk];
  if (mask) {
    if (mask.length > full.length) throw new Error(`attention: mask [${mask}] has a higher rank than the scores [${full}]`);
    for (let i = 1; i <= mask.length; i++) {
      const m = mask[mask.length - i];
      if (m !== 1 && m !== full[full.length - i]) throw new Error(`attention: mask [${mask}] does not broadcast to the scores [${full}]`);
    }
  }
  return { batchShape, batch: sizeOf(batchShape), Lq, Lk, d, dv: v[r - 1] };
}

/**
 * Mask addressing: for batch bh, row i, column j the mask element is
 * base[bh] + i * rowStride + j * colStride (strides 0 along broadcast dims).
 */
export function maskStrides(mask: number[], g: AttentionGeometry): { base: Int32Array; rowStride: number; colStride: number } {
  const full = [...g.batchShape, g.Lq, g.Lk];
  const padded = [...new Array<number>(full.length - mask.length).fill(1), ...mask];
  const strides = new Array<number>(padded.length);
  let s = 1;
  for (let i = padded.length - 1; i >= 0; i--) {
    strides[i] = padded[i] === 1 ? 0 : s;
    s *= padded[i];
  }
  const nb = g.batchShape.length;
  const base = new Int32Array(g.batch);
  for (let bh = 0; bh < g.batch; bh++) {
    let rem = bh;
    let off = 0;
    for (let dIdx = nb - 1; dIdx >= 0; dIdx--) {
      const c = rem % g.batchShape[dIdx];
      rem = (rem - c) / g.batchShape[dIdx];
      off += c * strides[dIdx];
    }
    base[bh] = off;
  }
  return { base, rowStride: strides[nb], colStride: strides[nb + 1] };
}

/** In place on s (the [batch, Lq, Lk] scores on the heap at offset sOff): s = softmax(scale * s + mask) by rows. */
export function maskedSoftmaxRows(heap: Float32Array, sOff: number, g: AttentionGeometry, scale: number,
  mask: { data: Float32Array; off: number; base: Int32Array; rowStride: number; colStride: number } | null): void {
  const { Lq, Lk } = g;
  for (let bh = 0; bh < g.batch; bh++) {
    for (let i = 0; i < Lq; i++) {
      const o = sOff + (bh * Lq + i) * Lk;
      let mx = Number.NEGATIVE_INFINITY;
      if (mask) {
        const mo = mask.off + mask.base[bh] + i * mask.rowStride;
        const cs = mask.colStride;
        for (let j = 0; j < Lk; j++) {
          const x = scale * heap[o + j] + mask.data[mo + j * cs];
          heap[o + j] = x;
          if (x > mx) mx = x;
        }
      } else {
        for (let j = 0; j < Lk; j++) {
          const x = scale * heap[o + j];
          heap[o + j] = x;
          if (x > mx) mx = x;
        }
      }
      let sum = 0;
      for (let j = 0; j < Lk; j++) {
        const e = Math.exp(heap[o + j] - mx);
        heap[o + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < Lk; j++) heap[o + j] *= inv;
    }
  }
}

/** In place on dp: dS = scale * P ⊙ (dP - rowsum(dP ⊙ P)), rows of Lk (sums in float64). */
export function softmaxGradRows(heap: Float32Array, pOff: number, dpOff: number, rows: number, Lk: number, scale: number): void {
  for (let r = 0; r < rows; r++) {
    const po = pOff + r * Lk;
    const go = dpOff + r * Lk;
    let dot = 0;
    for (let j = 0; j < Lk; j++) dot += heap[po + j] * heap[go + j];
    for (let j = 0; j < Lk; j++) heap[go + j] = scale * heap[po + j] * (heap[go + j] - dot);
  }
}

/** C_b = op(A_b) op(B_b) on the heap (element offsets), on OpenBLAS when the blas path is active, else the SIMD wasm GEMM. */
function heapGemm(backend: BackendWasm, tA: boolean, tB: boolean, M: number, N: number, K: number, batch: number,
  offA: number, sA: number, offB: number, sB: number, offC: number, sC: number): void {
  const blas = activeAddon();
  if (blas) {
    const heap = heapF32(backend);
    blas.sgemmBatched(tA, tB, M, N, K, batch, heap, offA, sA, heap, offB, sB, heap, offC, sC, 1, 0);
    return;
  }
  if (!wasmGemmBatched(backend, tA, tB, M, N, K, batch, offA, sA, offB, sB, offC, sC)) {
    throw new Error('attention: the SIMD wasm GEMM module is unavailable (use the unfused composition)');
  }
}

const off = (backend: BackendWasm, t: TensorInfo) => heapOffset(backend, t) >>> 2;

function checkFloat(ts: TensorInfo[], what: string): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${what}: inputs must be float32, got ${t.dtype}`);
}

/** out[i] = a[i] * b[i] over n elements of the heap (element offsets). */
function mulInto(heap: Float32Array, aOff: number, bOff: number, outOff: number, n: number): void {
  for (let i = 0; i < n; i++) heap[outOff + i] = heap[aOff + i] * heap[bOff + i];
}

function checkKeep(keep: TensorInfo | undefined, g: AttentionGeometry, what: string): void {
  if (keep && keep.shape.join() !== [...g.batchShape, g.Lq, g.Lk].join()) {
    throw new Error(`${what}: the dropout multiplier must have the scores' shape [${[...g.batchShape, g.Lq, g.Lk]}], got [${keep.shape}]`);
  }
}

function attention(args: { inputs: { q: TensorInfo; k: TensorInfo; v: TensorInfo; mask?: TensorInfo; keep?: TensorInfo }; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo[] {
  const { q, k, v, mask, keep } = args.inputs;
  const backend = args.backend;
  const { scale } = args.attrs as unknown as AttentionAttrs;
  checkFloat([q, k, v, ...(mask ? [mask] : []), ...(keep ? [keep] : [])], ATTENTION);
  const g = attentionGeometry(q.shape, k.shape, v.shape, mask ? mask.shape : null);
  checkKeep(keep, g, ATTENTION);
  const out = backend.makeOutput([...g.batchShape, g.Lq, g.dv], 'float32');
  const probs = backend.makeOutput([...g.batchShape, g.Lq, g.Lk], 'float32');
  if (g.batch * g.Lq === 0) return [out, probs];
  const { batch, Lq, Lk, d, dv } = g;
  if (Lk === 0) {
    // Softmax over no keys: nothing to weigh; the output is empty-sum zero.
    backend.typedArrayFromHeap(out).fill(0);
    return [out, probs];
  }
  const pOff = off(backend, probs);
  if (d === 0) backend.typedArrayFromHeap(probs).fill(0);
  else heapGemm(backend, false, true, Lq, Lk, d, batch, off(backend, q), Lq * d, off(backend, k), Lk * d, pOff, Lq * Lk);
  const ms = mask ? maskStrides(mask.shape, g) : null;
  const blas = activeAddon();
  const mOff = mask ? off(backend, mask) : 0;
  if (blas && ms) {
    const heap = heapF32(backend);
    blas.attnSoftmax(heap, pOff, batch, Lq, Lk, scale, heap, mOff, ms.base, ms.rowStride, ms.colStride, 1);
  } else if (blas) {
    const heap = heapF32(backend);
    blas.attnSoftmax(heap, pOff, batch, Lq, Lk, scale, heap, 0, new Int32Array(batch), 0, 0, 0);
  } else if (!wasmAttnSoftmax(backend, pOff, batch, Lq, Lk, scale, ms ? { off: mOff, ...ms } : null)) {
    const heap = heapF32(backend);
    maskedSoftmaxRows(heap, pOff, g, scale, ms ? { data: heap, off: mOff, ...ms } : null);
  }
  if (dv === 0) return [out, probs];
  if (!keep) {
    heapGemm(backend, false, false, Lq, dv, Lk, batch, pOff, Lq * Lk, off(backend, v), Lk * dv, off(backend, out), Lq * dv);
    return [out, probs];
  }
  // Dropout on the probabilities: O = (P ⊙ keep) V, P itself is saved.
  const pd = backend.makeOutput([batch, Lq, Lk], 'float32');
  try {
    mulInto(heapF32(backend), off(backend, probs), off(backend, keep), off(backend, pd), batch * Lq * Lk);
    heapGemm(backend, false, false, Lq, dv, Lk, batch, off(backend, pd), Lq * Lk, off(backend, v), Lk * dv, off(backend, out), Lq * dv);
  } finally {
    backend.disposeData(pd.dataId);
  }
  return [out, probs];
}

function attentionGrad(args: { inputs: { dy: TensorInfo; q: TensorInfo; k: TensorInfo; v: TensorInfo; probs: TensorInfo; keep?: TensorInfo }; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo[] {
  const { dy, q, k, v, probs, keep } = args.inputs;
  const backend = args.backend;
  const { scale, scoresGrad } = args.attrs as unknown as AttentionAttrs;
  checkFloat([dy, q, k, v, probs, ...(keep ? [keep] : [])], ATTENTION_GRAD);
  const g = attentionGeometry(q.shape, k.shape, v.shape, null);
  checkKeep(keep, g, ATTENTION_GRAD);
  const { batch, Lq, Lk, d, dv } = g;
  if (dy.shape.join() !== [...g.batchShape, Lq, dv].join() || probs.shape.join() !== [...g.batchShape, Lq, Lk].join()) {
    throw new Error(`${ATTENTION_GRAD}: dy [${dy.shape}] or probs [${probs.shape}] do not match q [${q.shape}], v [${v.shape}]`);
  }
  const dq = backend.makeOutput(q.shape, 'float32');
  const dk = backend.makeOutput(k.shape, 'float32');
  const dvT = backend.makeOutput(v.shape, 'float32');
  const dp = backend.makeOutput([...g.batchShape, Lq, Lk], 'float32');
  // dS is returned (and then owned by the caller) only when asked for.
  const outs = scoresGrad ? [dq, dk, dvT, dp] : [dq, dk, dvT];
  let done = false;
  try {
    for (const t of [dq, dk, dvT]) backend.typedArrayFromHeap(t).fill(0);
    if (batch * Lq * Lk === 0) { done = true; return outs; }
    const pOff = off(backend, probs);
    const dpOff = off(backend, dp);
    const dyOff = off(backend, dy);
    // dP = dO Vᵀ; dV = Pᵀ dO (with dropout: P ⊙ keep in both places of P)
    if (dv > 0) {
      heapGemm(backend, false, true, Lq, Lk, dv, batch, dyOff, Lq * dv, off(backend, v), Lk * dv, dpOff, Lq * Lk);
      if (keep) {
        const pd = backend.makeOutput([batch, Lq, Lk], 'float32');
        try {
          const heap = heapF32(backend);
          mulInto(heap, pOff, off(backend, keep), off(backend, pd), batch * Lq * Lk);
          mulInto(heap, dpOff, off(backend, keep), dpOff, batch * Lq * Lk);
          heapGemm(backend, true, false, Lk, dv, Lq, batch, off(backend, pd), Lq * Lk, dyOff, Lq * dv, off(backend, dvT), Lk * dv);
        } finally {
          backend.disposeData(pd.dataId);
        }
      } else {
        heapGemm(backend, true, false, Lk, dv, Lq, batch, pOff, Lq * Lk, dyOff, Lq * dv, off(backend, dvT), Lk * dv);
      }
    } else {
      backend.typedArrayFromHeap(dp).fill(0);
    }
    const blas = activeAddon();
    if (blas) blas.attnSoftmaxGrad(heapF32(backend), pOff, dpOff, batch * Lq, Lk, scale);
    else if (!wasmAttnSoftmaxGrad(backend, pOff, dpOff, batch * Lq, Lk, scale)) softmaxGradRows(heapF32(backend), pOff, dpOff, batch * Lq, Lk, scale);
    if (d > 0) {
      // dQ = dS K; dK = dSᵀ Q
      heapGemm(backend, false, false, Lq, d, Lk, batch, dpOff, Lq * Lk, off(backend, k), Lk * d, off(backend, dq), Lq * d);
      heapGemm(backend, true, false, Lk, d, Lq, batch, dpOff, Lq * Lk, off(backend, q), Lq * d, off(backend, dk), Lk * d);
    }
    done = true;
    return outs;
  } finally {
    if (!scoresGrad || !done) backend.disposeData(dp.dataId);
  }
}

export const attentionConfigs: KernelConfig[] = [
  { kernelName: ATTENTION, backendName: 'wasm', kernelFunc: attention as unknown as KernelFunc },
  { kernelName: ATTENTION_GRAD, backendName: 'wasm', kernelFunc: attentionGrad as unknown as KernelFunc },
];
