/**
 * UnsortedSegmentSum for the wasm backend (missing from tfjs-wasm; it is the
 * gradient of gather, so without it no embedding can train).
 *
 * out[s, ...] = sum of x[i, ...] over i with segmentIds[i] == s. Ids outside
 * [0, numSegments) are dropped, as the tfjs cpu kernel does. Linear in the
 * size of x (the cpu kernel is O(numSegments * size(x))).
 */
import { util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';
import { activeAddon } from '../state.js';

function unsortedSegmentSum(args: {
  inputs: { x: TensorInfo; segmentIds: TensorInfo };
  backend: BackendWasm;
  attrs: { numSegments: number };
}): TensorInfo {
  const { inputs: { x, segmentIds }, backend, attrs: { numSegments } } = args;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum supports float32 and int32, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  const idRank = segmentIds.shape.length;
  util.assert(
    segmentIds.shape.every((d, i) => d === x.shape[i]),
    () => `UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} must be a prefix of x shape ${x.shape}`);
  const innerShape = x.shape.slice(idRank);
  const inner = util.sizeFromShape(innerShape);
  const n = util.sizeFromShape(segmentIds.shape);
  const out = backend.makeOutput([numSegments, ...innerShape], x.dtype);
  // Views only after makeOutput: allocation may grow (and detach) the heap.
  const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xs = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const addon = activeAddon();
  if (addon && x.dtype === 'float32') {
    addon.segmentSum(xs as Float32Array, ids, n, inner, numSegments, o as Float32Array);
    return out;
  }
  o.fill(0);
  if (n === 0 || inner === 0) return out;
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
  }
  return out;
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
};
