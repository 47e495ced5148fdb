/**
 * Sum and Mean for the wasm backend without a transpose.
 *
 * The stock kernels move the reduced axes innermost with a Transpose before
 * reducing; a bias gradient (Sum over axis 0 of [12,800, 64]) thus copied the
 * whole gradient first, and Sum was ~50 ms of a SASRec step. When the reduced
 * axes are one contiguous block (the case of every bias, LayerNorm and
 * broadcast gradient), the input is viewed as [outer, R, inner] and reduced in
 * place with float64 accumulators. Other axis sets, empty reductions and int
 * dtypes go to the stock kernel.
 */
import { util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';
import { activeAddon } from '../state.js';
import { wasmReduceMiddle } from './wasm_gemm.js';

export const reduceState: { stockSum: KernelFunc | null; stockMean: KernelFunc | null } = { stockSum: null, stockMean: null };

/** out[o, j] = sum_r x[o, r, j] (times `scale`), x viewed as [outer, R, inner]. */
export function reduceMiddle(x: Float32Array, outer: number, R: number, inner: number, out: Float32Array, scale: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * R;
      for (let r = 0; r < R; r++) s += x[base + r];
      out[o] = s * scale;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let p = o * R * inner;
    for (let r = 0; r < R; r++) {
      for (let j = 0; j < inner; j++) acc[j] += x[p + j];
      p += inner;
    }
    const ob = o * inner;
    for (let j = 0; j < inner; j++) out[ob + j] = acc[j] * scale;
  }
}

type ReduceArgs = { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { axis: number | number[]; keepDims: boolean } };

function makeReduce(kind: 'sum' | 'mean') {
  return (args: ReduceArgs): TensorInfo => {
    const { inputs: { x }, backend, attrs } = args;
    const stock = kind === 'sum' ? reduceState.stockSum! : reduceState.stockMean!;
    const shape = x.shape;
    const axes = util.parseAxisParam(attrs.axis, shape).sort((a, b) => a - b);
    const total = util.sizeFromShape(shape);
    const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
    if (x.dtype !== 'float32' || axes.length === 0 || total === 0 || !contiguous) {
      return stock(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    }
    const a0 = axes[0];
    const a1 = axes[axes.length - 1];
    const outer = util.sizeFromShape(shape.slice(0, a0));
    const R = util.sizeFromShape(shape.slice(a0, a1 + 1));
    const inner = util.sizeFromShape(shape.slice(a1 + 1));
    const outShape = attrs.keepDims
      ? shape.map((d, i) => (i >= a0 && i <= a1 ? 1 : d))
      : shape.filter((_, i) => i < a0 || i > a1);
    const out = backend.makeOutput(outShape, 'float32');
    const xs = backend.typedArrayFromHeap(x) as Float32Array;
    const os = backend.typedArrayFromHeap(out) as Float32Array;
    const scale = kind === 'mean' ? 1 / R : 1;
    const addon = activeAddon();
    if (addon) addon.reduceMiddle(xs, outer, R, inner, os, scale);
    else if (!wasmReduceMiddle(backend, xs, outer, R, inner, os, scale)) reduceMiddle(xs, outer, R, inner, os, scale);
    return out;
  };
}

export const sumConfig: KernelConfig = { kernelName: 'Sum', backendName: 'wasm', kernelFunc: makeReduce('sum') as unknown as KernelFunc };
export const meanConfig: KernelConfig = { kernelName: 'Mean', backendName: 'wasm', kernelFunc: makeReduce('mean') as unknown as KernelFunc };
