/**
 * Slice, SplitV and Unpack for the wasm backend. The stock Slice copies the
 * whole input out of the heap (readSync) on every call, so splitting a
 * [50, 256, 192] tensor into 50 steps copied it 50 times (~170 ms); SplitV
 * and Unpack are built on it. These copy only the selected blocks, in place
 * on the heap.
 */
import { backend_util, slice_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type BackendWasm, heapBuffer } from '../backend.js';

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
