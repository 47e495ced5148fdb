/**
 * Zero-copy Identity and same-dtype Cast for the wasm backend.
 *
 * tfjs autodiff clones every tensor it saves for the backward pass
 * (Engine.saveTensorsForBackwardMode -> Identity), and several gradients cast
 * float32 to float32; the stock wasm kernels copy the data each time (278
 * copies, ~31 ms of a SASRec step). tfjs tensor data is immutable (variables
 * swap their dataId on assign), so sharing the buffer with a reference count
 * is safe: it is what the cpu backend's Identity and the wasm Reshape do.
 * Cast to bool is ours too: the stock kernel's TypedArray.set turned int32 3
 * into bool 3 (and 256 into 0) instead of x != 0.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';

export const castState: { stock: KernelFunc | null } = { stock: null };

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function identity(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  return share(args.backend, args.inputs.x);
}

function cast(args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { dtype: string } }): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  if (attrs.dtype === x.dtype && x.dtype !== 'string') return share(backend, x);
  if (attrs.dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) {
    // The stock kernel copies with TypedArray.set, so int32 3 became bool 3 and
    // 256 became 0; tfjs semantics (cpu backend) are x != 0.
    const out = backend.makeOutput(x.shape, 'bool');
    const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
    const dst = backend.typedArrayFromHeap(out) as Uint8Array;
    for (let i = 0; i < src.length; i++) dst[i] = src[i] !== 0 ? 1 : 0;
    return out;
  }
  return castState.stock!(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
}

export const identityConfig: KernelConfig = { kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity as unknown as KernelFunc };
export const castConfig: KernelConfig = { kernelName: 'Cast', backendName: 'wasm', kernelFunc: cast as unknown as KernelFunc };
