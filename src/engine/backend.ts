/**
 * Access to the tfjs wasm backend's internals that our kernels need: the heap,
 * the tensor-id -> heap-offset map and output allocation.
 *
 * This file and the rest of src/engine are the only code in llmrec that
 * imports tfjs directly; everything else imports `tf` from the engine.
 */
// The @tensorflow/tfjs union bundle is the one Node build that registers the
// gradients and the chained tensor methods (x.sum()); tfjs-core's Node bundle
// has neither, and its ESM files cannot be loaded by Node. The tfjs engine and
// kernel/gradient registries are process-global, so the wasm backend (which
// requires tfjs-core) shares them.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';

export { tf };
export type { BackendWasm };

/** The live wasm backend instance (throws if it is not registered/initialised). */
export function wasmBackend(): BackendWasm {
  const b = tf.findBackend('wasm');
  if (b == null) throw new Error('llmrec engine: the wasm backend is not initialised; call initEngine() first');
  return b as unknown as BackendWasm;
}

/** Byte offset of a tensor's data on the wasm heap. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/**
 * A Float32Array over the whole wasm heap. Take it only after every
 * makeOutput() of the kernel: allocation can grow the heap and detach views.
 */
export function heapF32(backend: BackendWasm): Float32Array {
  const buf = heapBuffer(backend);
  return new Float32Array(buf, 0, buf.byteLength >>> 2);
}

/** The wasm heap's current ArrayBuffer (replaced whenever the heap grows). */
export function heapBuffer(backend: BackendWasm): ArrayBuffer {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}
