/**
 * Add, Sub and Multiply for the wasm backend when one float32 operand has the
 * output's shape and the other broadcasts in one of two simple ways:
 *  - trailing: the small operand is the output's trailing axes (a bias row
 *    [N] on [M, N], a positional table [T, d] on [B, T, d], a same-shape
 *    operand, a scalar);
 *  - row: the small operand is the output's leading axes with trailing 1s (a
 *    per-row mask [B, T, 1] on [B, T, d]).
 * Stock tfjs-wasm computes a broadcasting binary op by a generic index loop:
 * a [256, 192] + [192] bias add took ~0.5-0.7 ms against ~35 us for the same
 * shapes without broadcasting (docs/PERF.md, "Broadcast element-wise ops"),
 * and a GRU4Rec step does 50 of them. These run the SIMD loop
 * `binary_bcast` of the project's wasm module (native/wasm/gemm.c) in place on
 * the heap; any other case (int32, both operands broadcasting, no module)
 * goes to the stock kernel. Gradients are unchanged (they are defined on the
 * ops, not the kernels).
 */
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm } from '../backend.js';
import { wasmBinaryBroadcast } from './wasm_gemm.js';

export const binaryState: { stock: Map<string, KernelFunc> } = { stock: new Map() };

const OPS = { Add: 0, Sub: 1, Multiply: 2 } as const;
type OpName = keyof typeof OPS;

/** How `small` broadcasts onto the output shape `out`, or null for a case left to the stock kernel. */
export function broadcastPlan(out: number[], small: number[]): { mode: 0 | 1; outer: number; inner: number } | null {
  const rank = out.length;
  if (small.length > rank) return null;
  const s = [...new Array<number>(rank - small.length).fill(1), ...small];
  const total = util.sizeFromShape(out);
  if (util.sizeFromShape(s) === 1) return { mode: 1, outer: 1, inner: total }; // a scalar
  // trailing: 1s, then the output's own extents
  let p = 0;
  while (p < rank && s[p] === 1) p++;
  if (s.slice(p).every((d, i) => d === out[p + i])) {
    const inner = util.sizeFromShape(out.slice(p));
    return { mode: 0, outer: total / inner, inner };
  }
  // row: the output's extents then 1s
  let q = rank;
  while (q > 0 && s[q - 1] === 1) q--;
  if (s.slice(0, q).every((d, i) => d === out[i])) {
    const outer = util.sizeFromShape(out.slice(0, q));
    return { mode: 1, outer, inner: total / outer };
  }
  return null;
}

function makeBinary(name: OpName) {
  return (args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm; attrs: object }): TensorInfo => {
    const { inputs: { a, b }, backend } = args;
    const stock = () => binaryState.stock.get(name)!(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock();
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const total = util.sizeFromShape(outShape);
    if (total === 0) return stock();
    const same = (x: number[]) => x.length === outShape.length && x.every((d, i) => d === outShape[i]);
    // The operand with the output's shape is `big`; swap when it is b (result = small op big).
    const bigIsA = same(a.shape);
    if (!bigIsA && !same(b.shape)) return stock();
    const big = bigIsA ? a : b;
    const small = bigIsA ? b : a;
    const plan = broadcastPlan(outShape, small.shape);
    if (!plan) return stock();
    const out = backend.makeOutput(outShape, 'float32');
    if (!wasmBinaryBroadcast(backend, OPS[name], bigIsA ? 0 : 1, plan.mode, big, small, out, plan.outer, plan.inner)) {
      backend.disposeData(out.dataId);
      return stock();
    }
    return out;
  };
}

export const binaryConfigs: KernelConfig[] = (Object.keys(OPS) as OpName[]).map((name) => ({
  kernelName: name,
  backendName: 'wasm',
  kernelFunc: makeBinary(name) as unknown as KernelFunc,
}));
