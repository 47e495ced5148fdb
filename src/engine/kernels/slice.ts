/**
 * Slice, SplitV, Unpack, Concat and Pack for the wasm backend. The stock Slice copies the
 * whole input out of the heap (readSync) on every call, so splitting a
 * [50, 256, 192] tensor into 50 steps copied it 50 times (~170 ms); SplitV
 * and Unpack are built on it. These copy only the selected blocks, in place
 * on the heap.
 */
import { backend_util, slice_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm, heapBuffer } from '../backend.js';
import { wasmCopyRows } from './wasm_gemm.js';

export const sliceState: { stock: KernelFunc | null } = { stock: null };

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Copies x[begin : begin + size] into a new output tensor by contiguous runs. */
export function sliceInfo(backend: BackendWasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = util.sizeFromShape(size);
  if (total === 0) return out;
  const bpe = BYTES[x.dtype];
  const heap = new Uint8Array(heapBuffer(backend));
  const xOff = backend.dataIdMap.get(x.dataId)!.memoryOffset;
  let dst = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  const rank = x.shape.length;
  // Innermost contiguous run: trailing axes taken whole, times the first partial axis.
  let inner = 1;
  let d = rank - 1;
  while (d >= 0 && size[d] === x.shape[d] && begin[d] === 0) inner *= x.shape[d--];
  if (d < 0) {
    heap.copyWithin(dst, xOff, xOff + total * bpe);
    return out;
  }
  const run = inner * size[d];
  const strides = util.computeStrides(x.shape).concat([1]);
  const runBytes = run * bpe;
  // Odometer over the axes 0..d-1 (and the begin offset of axis d).
  const idx = new Array<number>(d).fill(0);
  const nRuns = total / run;
  for (let r = 0; r < nRuns; r++) {
    let src = begin[d] * strides[d];
    for (let a = 0; a < d; a++) src += (begin[a] + idx[a]) * strides[a];
    const s = xOff + src * bpe;
    heap.copyWithin(dst, s, s + runBytes);
    dst += runBytes;
    for (let a = d - 1; a >= 0; a--) {
      if (++idx[a] < size[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

function supported(x: TensorInfo): boolean {
  return x.dtype in BYTES;
}

function slice(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { begin: number | number[]; size: number | number[] } }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  if (!supported(x)) return sliceState.stock!(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  const [b, s] = slice_util.parseSliceParams(x as unknown as Parameters<typeof slice_util.parseSliceParams>[0], attrs.begin, attrs.size);
  return sliceInfo(backend, x, b, s);
}

function splitV(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { numOrSizeSplits: number | number[]; axis: number } }): TensorInfo[] {
  const { inputs: { x }, backend, attrs } = args;
  const axis = util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as unknown as Parameters<typeof backend_util.prepareSplitSize>[0], attrs.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const outs: TensorInfo[] = [];
  for (const n of sizes) {
    const size = x.shape.slice();
    size[axis] = n;
    outs.push(sliceInfo(backend, x, begin.slice(), size));
    begin[axis] += n;
  }
  return outs;
}

function unpack(args: { inputs: { value: TensorInfo }; backend: BackendWasm; attrs: { axis: number } }): TensorInfo[] {
  const { inputs: { value }, backend } = args;
  const rank = value.shape.length;
  const axis = args.attrs.axis < 0 ? args.attrs.axis + rank : args.attrs.axis;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(rank).fill(0);
  const size = value.shape.slice();
  size[axis] = 1;
  const outs: TensorInfo[] = [];
  for (let i = 0; i < value.shape[axis]; i++) {
    begin[axis] = i;
    const o = sliceInfo(backend, value, begin.slice(), size);
    outs.push({ ...o, shape: outShape });
  }
  return outs;
}

export const sliceConfig: KernelConfig = { kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice as unknown as KernelFunc };
export const splitVConfig: KernelConfig = { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitV as unknown as KernelFunc };
export const unpackConfig: KernelConfig = { kernelName: 'Unpack', backendName: 'wasm', kernelFunc: unpack as unknown as KernelFunc };

/**
 * Concat and Pack (stack) as block copies in place on the heap. The stock
 * Concat reads every input out of the heap (readSync), joins them on the JS
 * side and writes the result back; GRU4Rec's stack of 50 hidden states
 * [256, 64] took 5-18 ms that way. Dtypes other than float32, int32 and bool
 * go to the stock kernels.
 */
export const concatState: { stockConcat: KernelFunc | null; stockPack: KernelFunc | null } = { stockConcat: null, stockPack: null };

/** Joins `inputs` along `axis` of the output shape; innerSizes[i]: elements of input i from `axis` on. */
function joinBlocks(backend: BackendWasm, inputs: TensorInfo[], innerSizes: number[], outShape: number[], axis: number): TensorInfo {
  const dtype = inputs[0].dtype;
  const out = backend.makeOutput(outShape, dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  const bpe = BYTES[dtype];
  const heap = new Uint8Array(heapBuffer(backend));
  const outer = util.sizeFromShape(outShape.slice(0, axis));
  const outRow = util.sizeFromShape(outShape.slice(axis)) * bpe;
  const dst0 = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  let col = 0;
  inputs.forEach((t, i) => {
    const row = innerSizes[i] * bpe;
    if (row === 0) return;
    const src0 = backend.dataIdMap.get(t.dataId)!.memoryOffset;
    if (outer === 1) heap.copyWithin(dst0 + col, src0, src0 + row);
    else if (outer < 16 || !wasmCopyRows(backend, dst0 + col, outRow, src0, row, outer, row)) {
      // Many small blocks: one call into the wasm module instead of a copyWithin each.
      for (let o = 0; o < outer; o++) heap.copyWithin(dst0 + o * outRow + col, src0 + o * row, src0 + (o + 1) * row);
    }
    col += row;
  });
  return out;
}

function concat(args: { inputs: TensorInfo[]; backend: BackendWasm; attrs: { axis: number } }): TensorInfo {
  const { inputs, backend } = args;
  const list = Object.values(inputs);
  const dtype = list[0]?.dtype;
  if (list.length === 0 || !(dtype in BYTES) || list.some((t) => t.dtype !== dtype)) {
    return concatState.stockConcat!(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const axis = util.parseAxisParam(args.attrs.axis, list[0].shape)[0];
  const outShape = backend_util.computeOutShape(list.map((t) => t.shape), axis);
  return joinBlocks(backend, list, list.map((t) => util.sizeFromShape(t.shape.slice(axis))), outShape, axis);
}

function pack(args: { inputs: TensorInfo[]; backend: BackendWasm; attrs: { axis: number } }): TensorInfo {
  const { inputs, backend } = args;
  const list = Object.values(inputs);
  const dtype = list[0]?.dtype;
  if (list.length === 0 || !(dtype in BYTES) || list.some((t) => t.dtype !== dtype)) {
    return concatState.stockPack!(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const shape = list[0].shape;
  for (const t of list) util.assertShapesMatch(shape, t.shape, 'All tensors passed to stack must have matching shapes');
  const rank = shape.length;
  const axis = args.attrs.axis < 0 ? args.attrs.axis + rank + 1 : args.attrs.axis;
  if (!(axis >= 0 && axis <= rank)) throw new Error(`stack: axis ${args.attrs.axis} is outside [-${rank + 1}, ${rank}]`);
  const outShape = [...shape.slice(0, axis), list.length, ...shape.slice(axis)];
  const inner = util.sizeFromShape(shape.slice(axis));
  return joinBlocks(backend, list, list.map(() => inner), outShape, axis);
}

export const concatConfig: KernelConfig = { kernelName: 'Concat', backendName: 'wasm', kernelFunc: concat as unknown as KernelFunc };
export const packConfig: KernelConfig = { kernelName: 'Pack', backendName: 'wasm', kernelFunc: pack as unknown as KernelFunc };
