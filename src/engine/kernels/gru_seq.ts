/**
 * A whole GRU layer over a sequence, forward and backward, as two kernels
 * (instead of ~4 forward and ~10 backward tfjs ops per time step: for a
 * 50-step GRU4Rec batch ~700 kernel calls, each with the engine's per-op cost).
 *
 * Time-major: gx = x W_ih + b_ih [T, B, 3H] (computed outside, one GEMM for all
 * steps), W = W_hh [H, 3H], b = b_hh [3H], h0 [B, H], mask [T, B] (1: a real
 * step, 0: padding, the state is carried unchanged). Per step t:
 *   gh_t = h_{t-1} W + b;  h' = gruCell(gx_t, gh_t, h_{t-1})  (gru.ts formulas)
 *   h_t = h' where mask = 1, h_{t-1} where mask = 0.
 * Outputs hs [T, B, H], and for the backward the gates and gh of every step.
 *
 * Backward, from dhs [T, B, H] (the gradient of every output state):
 *   carry = 0; for t = T-1 .. 0:  g = dhs_t + carry;
 *     (dgx_t, dgh_t, dh') = gruCellGrad(g, gates_t, gh_t, h_{t-1}) on mask-1 rows;
 *     mask-0 rows: dgx_t = dgh_t = 0, dh' = g;
 *     carry = dh' + dgh_t W^T
 *   dW = sum_t h_{t-1}^T dgh_t (two GEMMs over all steps), db = column sums of dgh, dh0 = carry.
 *
 * Every product is one GEMM per step (B x 3H x H) on the active path: the
 * addon's sgemm (accumulating with beta = 1), the SIMD wasm GEMM (accumulating
 * through a scratch output), or a JS loop on the cpu backend (tests).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';
import { activeAddon } from '../state.js';
import { fusedKernelConfigs } from './fused.js';
import { gruCellBackward, gruCellForward } from './gru.js';
import { reduceMiddle } from './reduce.js';
import {
  wasmAddInPlace, wasmGemmBatched, wasmGruCell, wasmGruCellGrad, wasmKernelsAvailable, wasmReduceMiddle, wasmReserve,
} from './wasm_gemm.js';
import { heapBuffer } from '../backend.js';

export const GRU_SEQ = 'LlmrecGruSeq';
export const GRU_SEQ_GRAD = 'LlmrecGruSeqGrad';

interface SeqDims { T: number; B: number; H: number }

function seqDims(gx: TensorInfo, w: TensorInfo, b: TensorInfo, h0: TensorInfo, mask: TensorInfo, what: string): SeqDims {
  const [T, B, H3] = gx.shape;
  const H = w.shape[0];
  const ok = gx.shape.length === 3 && H3 === 3 * H && w.shape.length === 2 && w.shape[1] === 3 * H &&
    b.shape.length === 1 && b.shape[0] === 3 * H && h0.shape.length === 2 && h0.shape[0] === B && h0.shape[1] === H &&
    mask.shape.length === 2 && mask.shape[0] === T && mask.shape[1] === B &&
    [gx, w, b, h0, mask].every((t) => t.dtype === 'float32');
  if (!ok) {
    throw new Error(`${what}: expected float32 gx [T, B, 3H], W [H, 3H], b [3H], h0 [B, H], mask [T, B], ` +
      `got [${gx.shape}], [${w.shape}], [${b.shape}], [${h0.shape}], [${mask.shape}]`);
  }
  return { T, B, H };
}

/** The arithmetic the kernels need, on one engine path. */
interface SeqMath {
  /** C = op(A) op(B) (+ C when acc); row-major, lda/ldb/ldc from the shapes. */
  gemm(tA: boolean, tB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, acc: boolean): void;
  /** C[r, :] = bias for r < rows (before a gemm with acc) or C[r, :] += bias (after one), as the path prefers. */
  biasFirst: boolean;
  addBias(C: Float32Array, bias: Float32Array, rows: number): void;
  cell(gx: Float32Array, gh: Float32Array, h: Float32Array, B: number, H: number, hOut: Float32Array, gates: Float32Array): void;
  cellGrad(dh: Float32Array, gates: Float32Array, gh: Float32Array, h: Float32Array, B: number, H: number,
    dgx: Float32Array, dgh: Float32Array, dhOut: Float32Array): void;
  colSums(x: Float32Array, rows: number, n: number, out: Float32Array): void;
}

function jsGemm(tA: boolean, tB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, acc: boolean): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = acc ? C[i * N + j] : 0;
      for (let k = 0; k < K; k++) s += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
      C[i * N + j] = s;
    }
  }
}

function fillRows(C: Float32Array, bias: Float32Array, rows: number): void {
  const n = bias.length;
  if (rows === 0) return;
  C.set(bias, 0);
  let filled = 1;
  while (filled < rows) {
    const k = Math.min(filled, rows - filled);
    C.copyWithin(filled * n, 0, k * n);
    filled += k;
  }
}

function seqMath(backend: BackendWasm | null, scratch: Float32Array | null): SeqMath {
  const addon = activeAddon();
  if (addon) {
    return {
      gemm: (tA, tB, M, N, K, A, B, C, acc) => addon.sgemmBatched(tA, tB, M, N, K, 1, A, 0, 0, B, 0, 0, C, 0, 0, 1, acc ? 1 : 0),
      biasFirst: true,
      addBias: fillRows,
      cell: (...a) => addon.gruCell(...a),
      cellGrad: (...a) => addon.gruCellGrad(...a),
      colSums: (x, rows, n, out) => addon.reduceMiddle(x, 1, rows, n, out, 1),
    };
  }
  if (backend && wasmKernelsAvailable(backend)) {
    const off = (a: Float32Array) => a.byteOffset >>> 2;
    const gemmTo = (tA: boolean, tB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array) => {
      if (!wasmGemmBatched(backend, tA, tB, M, N, K, 1, off(A), 0, off(B), 0, off(C), 0)) throw new Error(`${GRU_SEQ}: the wasm GEMM module went away`);
    };
    return {
      gemm: (tA, tB, M, N, K, A, B, C, acc) => {
        if (!acc) return gemmTo(tA, tB, M, N, K, A, B, C);
        if (!scratch || scratch.length < M * N) throw new Error(`${GRU_SEQ}: no scratch for an accumulating product of ${M} x ${N}`);
        const tmp = scratch.subarray(0, M * N);
        gemmTo(tA, tB, M, N, K, A, B, tmp);
        wasmAddInPlace(backend, C, tmp, 0, 1, M * N);
      },
      biasFirst: false,
      addBias: (C, bias, rows) => {
        if (!wasmAddInPlace(backend, C, bias, 0, rows, bias.length)) throw new Error(`${GRU_SEQ}: the wasm module went away`);
      },
      cell: (gx, gh, h, B, H, hOut, gates) => {
        if (!wasmGruCell(backend, gx, gh, h, B, H, hOut, gates)) gruCellForward(gx, gh, h, B, H, hOut, gates);
      },
      cellGrad: (dh, gates, gh, h, B, H, dgx, dgh, dhOut) => {
        if (!wasmGruCellGrad(backend, dh, gates, gh, h, B, H, dgx, dgh, dhOut)) gruCellBackward(dh, gates, gh, h, B, H, dgx, dgh, dhOut);
      },
      colSums: (x, rows, n, out) => {
        if (!wasmReduceMiddle(backend, x, 1, rows, n, out, 1)) reduceMiddle(x, 1, rows, n, out, 1);
      },
    };
  }
  return {
    gemm: jsGemm,
    biasFirst: false,
    addBias: (C, bias, rows) => {
      const n = bias.length;
      for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) C[r * n + j] += bias[j];
    },
    cell: gruCellForward,
    cellGrad: gruCellBackward,
    colSums: (x, rows, n, out) => reduceMiddle(x, 1, rows, n, out, 1),
  };
}

export function gruSeqForward(math: SeqMath, d: SeqDims, gx: Float32Array, w: Float32Array, b: Float32Array, h0: Float32Array, mask: Float32Array,
  hs: Float32Array, gates: Float32Array, gh: Float32Array): void {
  const { T, B, H } = d;
  const BH = B * H;
  const B3 = B * 3 * H;
  for (let t = 0; t < T; t++) {
    const hPrev = t === 0 ? h0 : hs.subarray((t - 1) * BH, t * BH);
    const ghT = gh.subarray(t * B3, (t + 1) * B3);
    if (math.biasFirst) {
      math.addBias(ghT, b, B);
      math.gemm(false, false, B, 3 * H, H, hPrev, w, ghT, true);
    } else {
      math.gemm(false, false, B, 3 * H, H, hPrev, w, ghT, false);
      math.addBias(ghT, b, B);
    }
    const hT = hs.subarray(t * BH, (t + 1) * BH);
    math.cell(gx.subarray(t * B3, (t + 1) * B3), ghT, hPrev, B, H, hT, gates.subarray(t * B3, (t + 1) * B3));
    for (let r = 0; r < B; r++) {
      const m = mask[t * B + r];
      if (m === 0) hT.set(hPrev.subarray(r * H, (r + 1) * H), r * H);
      else if (m !== 1) throw new Error(`${GRU_SEQ}: mask values must be 0 or 1, got ${m} at step ${t}, row ${r}`);
    }
  }
}

export function gruSeqBackward(math: SeqMath, d: SeqDims, dhs: Float32Array, gates: Float32Array, gh: Float32Array, hs: Float32Array,
  h0: Float32Array, w: Float32Array, mask: Float32Array,
  dgx: Float32Array, dw: Float32Array, db: Float32Array, dh0: Float32Array, dgh: Float32Array, g: Float32Array): void {
  const { T, B, H } = d;
  const BH = B * H;
  const B3 = B * 3 * H;
  const carry = dh0;
  carry.fill(0);
  for (let t = T - 1; t >= 0; t--) {
    const dT = dhs.subarray(t * BH, (t + 1) * BH);
    for (let i = 0; i < BH; i++) g[i] = dT[i] + carry[i];
    const hPrev = t === 0 ? h0 : hs.subarray((t - 1) * BH, t * BH);
    const dgxT = dgx.subarray(t * B3, (t + 1) * B3);
    const dghT = dgh.subarray(t * B3, (t + 1) * B3);
    math.cellGrad(g, gates.subarray(t * B3, (t + 1) * B3), gh.subarray(t * B3, (t + 1) * B3), hPrev, B, H, dgxT, dghT, carry);
    for (let r = 0; r < B; r++) {
      if (mask[t * B + r] !== 0) continue;
      dgxT.fill(0, r * 3 * H, (r + 1) * 3 * H);
      dghT.fill(0, r * 3 * H, (r + 1) * 3 * H);
      carry.set(g.subarray(r * H, (r + 1) * H), r * H);
    }
    math.gemm(false, true, B, H, 3 * H, dghT, w, carry, true);
  }
  math.gemm(true, false, H, 3 * H, B, h0, dgh.subarray(0, B3), dw, false);
  if (T > 1) math.gemm(true, false, H, 3 * H, (T - 1) * B, hs.subarray(0, (T - 1) * BH), dgh.subarray(B3, T * B3), dw, true);
  math.colSums(dgh, T * B, 3 * H, db);
}

/**
 * On the wasm path: takes the GEMM and accumulator scratch the kernel will use
 * first (an allocation may grow the heap and detach views), then views the
 * arrays afresh at their offsets. Elsewhere the arrays as given.
 */
function reserved(backend: BackendWasm | null, groups: Float32Array[][],
  gemms: ReadonlyArray<readonly [boolean, number, number, number, number]>, accDoubles: number): Float32Array[][] {
  if (!backend || activeAddon()) return groups;
  const where = groups.map((arrs) => arrs.map((a) => [a.byteOffset, a.length] as const));
  if (!wasmReserve(backend, gemms, accDoubles)) return groups;
  const buf = heapBuffer(backend);
  return where.map((arrs) => arrs.map(([off, len]) => new Float32Array(buf, off, len)));
}

export const gruSeqConfigs = [
  ...fusedKernelConfigs<Record<string, never>>({
    name: GRU_SEQ,
    inputs: ['gx', 'w', 'b', 'h0', 'mask'],
    outputs: ([gx, w, b, h0, mask]) => {
      const { T, B, H } = seqDims(gx, w, b, h0, mask, GRU_SEQ);
      return [{ shape: [T, B, H], dtype: 'float32' }, { shape: [T, B, 3 * H], dtype: 'float32' }, { shape: [T, B, 3 * H], dtype: 'float32' }];
    },
    run: (ins0, outs0, infos, _attrs, backend) => {
      const d = seqDims(infos[0], infos[1], infos[2], infos[3], infos[4], GRU_SEQ);
      const { B, H } = d;
      const [[gx, w, b, h0, mask], [hs, gates, gh]] = reserved(backend, [ins0 as Float32Array[], outs0 as Float32Array[]],
        [[false, B, 3 * H, H, 1]], 0);
      // The forward never accumulates on the wasm path: no scratch.
      gruSeqForward(seqMath(backend, null), d, gx, w, b, h0, mask, hs, gates, gh);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: GRU_SEQ_GRAD,
    inputs: ['dhs', 'gates', 'gh', 'hs', 'h0', 'w', 'mask'],
    outputs: ([dhs, gates, gh, hs, h0, w, mask]) => {
      const B = h0.shape[0];
      const H = w.shape[0];
      const T = hs.shape[0];
      seqDims(gates, w, { ...w, shape: [3 * H] } as TensorInfo, h0, mask, GRU_SEQ_GRAD);
      for (const [name, t, shape] of [['dhs', dhs, [T, B, H]], ['hs', hs, [T, B, H]], ['gh', gh, [T, B, 3 * H]]] as const) {
        if (t.shape.join() !== shape.join()) throw new Error(`${GRU_SEQ_GRAD}: ${name} must be [${shape}], got [${t.shape}]`);
      }
      return [
        { shape: [T, B, 3 * H], dtype: 'float32' }, { shape: [H, 3 * H], dtype: 'float32' }, { shape: [3 * H], dtype: 'float32' },
        { shape: [B, H], dtype: 'float32' }, { shape: [T, B, 3 * H], dtype: 'float32' }, { shape: [B, H], dtype: 'float32' },
        { shape: [Math.max(B * H, 3 * H * H)], dtype: 'float32' },
      ];
    },
    run: (ins0, outs0, infos, _attrs, backend) => {
      const H = infos[5].shape[0];
      const d = { T: infos[3].shape[0], B: infos[4].shape[0], H };
      const { T, B } = d;
      const [[dhs, gates, gh, hs, h0, w, mask], [dgx, dw, db, dh0, dgh, g, scratch]] = reserved(backend,
        [ins0 as Float32Array[], outs0 as Float32Array[]],
        [[false, B, H, 3 * H, 1], [true, H, 3 * H, B, 1], [true, H, 3 * H, Math.max(1, T - 1) * B, 1]], 3 * H);
      gruSeqBackward(seqMath(backend, scratch), d, dhs, gates, gh, hs, h0, w, mask, dgx, dw, db, dh0, dgh, g);
    },
  }),
];
