/**
 * Dropout multipliers as a tensor, made where the tensor lives: on the wasm
 * backend the SIMD module fills the output in place on the heap
 * (native/wasm/gemm.c `dropout_mask`), with no JS-side array, no copy into
 * the heap and four mulberry32 draws per step; elsewhere (cpu backend, no
 * module) the reference loop `fillDropoutMultipliers` (src/util/random.ts).
 * Both give the same bits (tested), so a run's masks do not depend on the
 * path. Attrs: the output `shape`, the `rate` and the `seed`.
 */
import { fusedKernelConfigs } from './fused.js';
import { wasmDropoutMask } from './wasm_gemm.js';
import { dropoutThreshold, fillDropoutMultipliers } from '../../util/random.js';

export const DROPOUT_MASK = 'LlmrecDropoutMask';

export interface DropoutMaskAttrs { shape: number[]; rate: number; seed: number }

export const dropoutMaskConfigs = fusedKernelConfigs<DropoutMaskAttrs>({
  name: DROPOUT_MASK,
  inputs: [],
  outputs: (_ins, a) => {
    if (!Array.isArray(a.shape) || !a.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${DROPOUT_MASK}: shape must be a list of non-negative integers, got ${JSON.stringify(a.shape)}`);
    }
    dropoutThreshold(a.rate); // validates the rate
    if (!Number.isInteger(a.seed)) throw new Error(`${DROPOUT_MASK}: seed must be an integer, got ${a.seed}`);
    return [{ shape: a.shape, dtype: 'float32' }];
  },
  run: (_ins, [out], _infos, a, backend) => {
    const mask = out as Float32Array;
    if (mask.length === 0) return;
    const { thr, keep } = dropoutThreshold(a.rate);
    if (backend && wasmDropoutMask(backend, mask, a.seed, thr, keep)) return;
    fillDropoutMultipliers(mask, a.rate, a.seed);
  },
});
