/**
 * Fused kernels defined once over plain typed arrays and registered for both
 * the wasm backend (arrays are views on the wasm heap, no copies) and the cpu
 * backend (the reference backend of the tests: inputs read with readSync,
 * outputs copied in with makeTensorInfo).
 */
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '../backend.js';

export type F32orI32 = Float32Array | Int32Array;

export interface FusedKernelSpec<A> {
  name: string;
  /** Input names in the order `run` receives them. */
  inputs: readonly string[];
  /** Validates inputs (throwing a clear error) and returns the output shapes and dtypes. */
  outputs(inputs: TensorInfo[], attrs: A): Array<{ shape: number[]; dtype: DataType }>;
  /**
   * Computes outputs from inputs; output arrays arrive uninitialised (wasm) or zeroed (cpu).
   * `backend` is the wasm backend (the arrays are views on its heap) or null (cpu backend).
   */
  run(ins: F32orI32[], outs: F32orI32[], inputs: TensorInfo[], attrs: A, backend: BackendWasm | null): void;
}

interface CpuLike {
  readSync(dataId: object): F32orI32;
  makeTensorInfo(shape: number[], dtype: DataType, values: F32orI32): TensorInfo;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function fusedKernelConfigs<A>(spec: FusedKernelSpec<A>): KernelConfig[] {
  const collect = (inputs: Record<string, TensorInfo>): TensorInfo[] => spec.inputs.map((n) => {
    const t = inputs[n];
    if (t == null) throw new Error(`${spec.name}: missing input '${n}'`);
    return t;
  });
  const one = (outs: TensorInfo[]) => (outs.length === 1 ? outs[0] : outs);

  const wasm = (args: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: NamedAttrMap }) => {
    const ins = collect(args.inputs);
    const attrs = args.attrs as unknown as A;
    const outInfo = spec.outputs(ins, attrs);
    const outs = outInfo.map((o) => args.backend.makeOutput(o.shape, o.dtype));
    // Views only after every makeOutput: allocation may grow (and detach) the heap.
    const inArr = ins.map((t) => args.backend.typedArrayFromHeap(t) as F32orI32);
    const outArr = outs.map((t) => args.backend.typedArrayFromHeap(t) as F32orI32);
    spec.run(inArr, outArr, ins, attrs, args.backend);
    return one(outs);
  };
  const cpu = (args: { inputs: Record<string, TensorInfo>; backend: CpuLike; attrs: NamedAttrMap }) => {
    const ins = collect(args.inputs);
    const attrs = args.attrs as unknown as A;
    const outInfo = spec.outputs(ins, attrs);
    const outArr = outInfo.map((o) => (o.dtype === 'int32' ? new Int32Array(size(o.shape)) : new Float32Array(size(o.shape))));
    spec.run(ins.map((t) => args.backend.readSync(t.dataId)), outArr, ins, attrs, null);
    return one(outInfo.map((o, i) => args.backend.makeTensorInfo(o.shape, o.dtype, outArr[i])));
  };
  return [
    { kernelName: spec.name, backendName: 'wasm', kernelFunc: wasm as unknown as KernelFunc },
    { kernelName: spec.name, backendName: 'cpu', kernelFunc: cpu as unknown as KernelFunc },
  ];
}
