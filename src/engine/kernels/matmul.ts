/**
 * BatchMatMul for the wasm backend that never takes tfjs-wasm's slow path.
 *
 * Stock tfjs-wasm is fast (XNNPACK) only for a single plain A@B; with a
 * transpose or a batch it runs a naive loop at about 1 GFLOPS, and a backward
 * pass is mostly transposed matmuls. This kernel:
 *  - 'blas' path: calls OpenBLAS sgemm (native addon) directly on the wasm
 *    heap, transposes and batch strides handled by BLAS, zero copies;
 *  - 'wasm' path: a plain untransposed 2-D product (a shared right operand's
 *    batch folded into rows) goes to XNNPACK; a transposed, batched or
 *    broadcast product (attention, backward passes) runs the project's SIMD GEMM
 *    (native/wasm/gemm.c via wasm_gemm.ts) in place on the heap, transposes
 *    done by its packing. The JS loop remains only for a runtime that cannot
 *    instantiate that module.
 */
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm, heapF32, heapOffset } from '../backend.js';
import { activeAddon, type EnginePath } from '../state.js';
import { wasmGemmBatched } from './wasm_gemm.js';
import { gemmThreadsFor } from './wasm_threads.js';

export type MatmulPath = EnginePath;

interface MatmulState {
  stockBatchMatMul: KernelFunc | null;
  stockTranspose: KernelFunc | null;
  stockReshape: KernelFunc | null;
}

export const matmulState: MatmulState = {
  stockBatchMatMul: null,
  stockTranspose: null,
  stockReshape: null,
};

interface MatmulGeometry {
  M: number; N: number; K: number;
  batchA: number; batchB: number;
  outOuter: number[];
  /** Per output batch, the index of the A and B matrices (general broadcasting). */
  aIndex: (b: number) => number;
  bIndex: (b: number) => number;
  simpleBroadcast: boolean;
}

export function matmulGeometry(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatmulGeometry {
  const aRank = aShape.length;
  const bRank = bShape.length;
  if (aRank < 2 || bRank < 2) throw new Error(`BatchMatMul needs rank >= 2 operands, got ${aShape} and ${bShape}`);
  const K = transposeA ? aShape[aRank - 2] : aShape[aRank - 1];
  const Kb = transposeB ? bShape[bRank - 1] : bShape[bRank - 2];
  const M = transposeA ? aShape[aRank - 1] : aShape[aRank - 2];
  const N = transposeB ? bShape[bRank - 2] : bShape[bRank - 1];
  util.assert(K === Kb, () => `Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${aShape} and ` +
    `${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const outOuter = backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  const batch = util.sizeFromShape(outOuter);
  const simpleBroadcast = (batchA === batch || batchA === 1) && (batchB === batch || batchB === 1) &&
    (batchA === batchB || batchA === 1 || batchB === 1);
  // General broadcasting (e.g. [2,1,M,K] x [3,K,N]): map each output batch index
  // to operand indices through the broadcast rule, right-aligned.
  const outStrides = util.computeStrides(outOuter);
  const indexer = (outer: number[]) => {
    const strides = util.computeStrides(outer); // rank-1 entries; the last axis has stride 1
    const offset = outOuter.length - outer.length;
    return (b: number) => {
      let idx = 0;
      let rem = b;
      for (let d = 0; d < outOuter.length; d++) {
        const s = d < outOuter.length - 1 ? outStrides[d] : 1;
        const coord = Math.floor(rem / s);
        rem -= coord * s;
        const od = d - offset;
        if (od >= 0 && outer[od] !== 1) idx += coord * (od < outer.length - 1 ? strides[od] : 1);
      }
      return idx;
    };
  };
  return {
    M, N, K, batchA, batchB, outOuter, simpleBroadcast,
    aIndex: batchA === 1 ? () => 0 : indexer(outerA),
    bIndex: batchB === 1 ? () => 0 : indexer(outerB),
  };
}

function blasMatmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean, g: MatmulGeometry, out: TensorInfo): void {
  const blas = activeAddon()!;
  const { M, N, K } = g;
  const batch = util.sizeFromShape(g.outOuter);
  const heap = heapF32(backend);
  const offA = heapOffset(backend, a) >>> 2;
  const offB = heapOffset(backend, b) >>> 2;
  const offC = heapOffset(backend, out) >>> 2;
  if (g.simpleBroadcast) {
    if (g.batchB === 1 && g.batchA > 1 && !tA) {
      // Shared right operand: fold the batch into rows, one big GEMM.
      blas.sgemmBatched(false, tB, g.batchA * M, N, K, 1, heap, offA, 0, heap, offB, 0, heap, offC, 0, 1, 0);
      return;
    }
    blas.sgemmBatched(tA, tB, M, N, K, batch,
      heap, offA, g.batchA === 1 ? 0 : M * K,
      heap, offB, g.batchB === 1 ? 0 : K * N,
      heap, offC, M * N, 1, 0);
    return;
  }
  for (let i = 0; i < batch; i++) {
    blas.sgemmBatched(tA, tB, M, N, K, 1,
      heap, offA + g.aIndex(i) * M * K, 0,
      heap, offB + g.bIndex(i) * K * N, 0,
      heap, offC + i * M * N, 0, 1, 0);
  }
}

function reshapeInfo(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return matmulState.stockReshape!({ inputs: { x }, backend, attrs: { shape } as unknown as NamedAttrMap }) as TensorInfo;
}

/** Materialises the last-two-axes transpose of x viewed as [batch, r, c]. */
function transposeLast2(backend: BackendWasm, x: TensorInfo, batch: number, r: number, c: number): TensorInfo {
  const x3 = reshapeInfo(backend, x, [batch, r, c]);
  const t = matmulState.stockTranspose!({ inputs: { x: x3 }, backend, attrs: { perm: [0, 2, 1] } as unknown as NamedAttrMap }) as TensorInfo;
  backend.disposeData(x3.dataId);
  return t;
}

/** C_b = A_b @ B_b for contiguous row-major [M,K] and [K,N] blocks on the heap. */
function jsBatchedMatmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, g: MatmulGeometry, out: TensorInfo): void {
  const { M, N, K } = g;
  const batch = util.sizeFromShape(g.outOuter);
  const heap = heapF32(backend);
  const offA = heapOffset(backend, a) >>> 2;
  const offB = heapOffset(backend, b) >>> 2;
  const offC = heapOffset(backend, out) >>> 2;
  heap.fill(0, offC, offC + batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const pa = offA + g.aIndex(bi) * M * K;
    const pb = offB + g.bIndex(bi) * K * N;
    const pc = offC + bi * M * N;
    for (let i = 0; i < M; i++) {
      const crow = pc + i * N;
      const arow = pa + i * K;
      for (let k = 0; k < K; k++) {
        const aik = heap[arow + k];
        const brow = pb + k * N;
        for (let j = 0; j < N; j++) heap[crow + j] += aik * heap[brow + j];
      }
    }
  }
}

/**
 * Batched (or broadcast) products on the project's SIMD GEMM, transposes
 * handled by its packing: no Transpose copies. False when the module is unavailable.
 */
function simdBatchedMatmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean, g: MatmulGeometry, out: TensorInfo): boolean {
  const { M, N, K } = g;
  const batch = util.sizeFromShape(g.outOuter);
  const offA = heapOffset(backend, a) >>> 2;
  const offB = heapOffset(backend, b) >>> 2;
  const offC = heapOffset(backend, out) >>> 2;
  if (g.simpleBroadcast) {
    return wasmGemmBatched(backend, tA, tB, M, N, K, batch,
      offA, g.batchA === 1 ? 0 : M * K, offB, g.batchB === 1 ? 0 : K * N, offC, M * N);
  }
  for (let i = 0; i < batch; i++) {
    if (!wasmGemmBatched(backend, tA, tB, M, N, K, 1, offA + g.aIndex(i) * M * K, 0, offB + g.bIndex(i) * K * N, 0, offC + i * M * N, 0)) {
      return false;
    }
  }
  return true;
}

function wasmMatmul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, tA: boolean, tB: boolean, g: MatmulGeometry, outShape: number[]): TensorInfo {
  const { M, N, K } = g;
  const batch = util.sizeFromShape(g.outOuter);
  const plain = batch === 1 || (g.batchB === 1 && g.batchA === batch);
  // XNNPACK stays for plain untransposed products; anything else would need
  // Transpose copies first (and measured slower: docs/PERF.md). A product
  // large enough for two threads goes to the SIMD GEMM too (XNNPACK here is
  // single-threaded).
  if (!plain || tA || tB || gemmThreadsFor(2 * M * N * K * batch) > 1) {
    const out = backend.makeOutput(outShape, 'float32');
    if (simdBatchedMatmul(backend, a, b, tA, tB, g, out)) return out;
    backend.disposeData(out.dataId);
  }
  const temps: TensorInfo[] = [];
  let a2 = a;
  let b2 = b;
  if (tA) { a2 = transposeLast2(backend, a, g.batchA, K, M); temps.push(a2); }
  if (tB) { b2 = transposeLast2(backend, b, g.batchB, N, K); temps.push(b2); }
  let out: TensorInfo;
  if (plain) {
    // One plain 2-D product: the XNNPACK path of the stock kernel.
    const a3 = reshapeInfo(backend, a2, [1, g.batchA * M, K]);
    const b3 = reshapeInfo(backend, b2, [1, K, N]);
    out = matmulState.stockBatchMatMul!({
      inputs: { a: a3, b: b3 }, backend, attrs: { transposeA: false, transposeB: false } as unknown as NamedAttrMap,
    }) as TensorInfo;
    backend.disposeData(a3.dataId);
    backend.disposeData(b3.dataId);
    out = { ...out, shape: outShape };
  } else {
    // Only when the SIMD module cannot be instantiated (see wasm_gemm.ts).
    out = backend.makeOutput(outShape, 'float32');
    jsBatchedMatmul(backend, a2, b2, g, out);
  }
  for (const t of temps) backend.disposeData(t.dataId);
  return out;
}

function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm; attrs: { transposeA: boolean; transposeB: boolean } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const tA = !!attrs.transposeA;
  const tB = !!attrs.transposeB;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`BatchMatMul supports float32 only, got ${a.dtype} and ${b.dtype}`);
  }
  const g = matmulGeometry(a.shape, b.shape, tA, tB);
  const outShape = [...g.outOuter, g.M, g.N];
  if (util.sizeFromShape(outShape) === 0) return backend.makeOutput(outShape, 'float32');
  if (g.K === 0) {
    const out = backend.makeOutput(outShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  if (activeAddon()) {
    const out = backend.makeOutput(outShape, 'float32');
    blasMatmul(backend, a, b, tA, tB, g, out);
    return out;
  }
  return wasmMatmul(backend, a, b, tA, tB, g, outShape);
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
