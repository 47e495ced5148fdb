/**
 * Dropout multipliers as a tensor, made where the tensor lives: on the wasm
 * backend the SIMD module fills the output in place on the heap
 * (native/wasm/gemm.c `dropout_mask`), with no JS-side array, no copy into
 * the heap and four mulberry32 draws per step; elsewhere (cpu backend, no
 * module) the reference loop `fillDropoutMultipliers` (src/util/random.ts).
 * Both give the same bits (tested), so a run's masks do not depend on the
 * path. Attrs: the output `shape`, the `rate`, the `seed` and the `draw`:
 *   - 'pair16' (default): two 16-bit draws per mulberry32 step from `seed`
 *     (`dropoutMultipliers`; the recommenders, attention, the workloads);
 *   - 'single32': one 32-bit draw per element, `seed` being the generator
 *     state before the first draw (`fillDropoutMultipliers32`; the LM
 *     families' seeded streams, src/nn/dropout.ts).
 */
import { fusedKernelConfigs } from './fused.js';
import { wasmDropoutMask, wasmDropoutMask32 } from './wasm_gemm.js';
import { dropoutThreshold, dropoutThreshold32, fillDropoutMultipliers, fillDropoutMultipliers32 } from '../../util/random.js';

export const DROPOUT_MASK = 'LlmrecDropoutMask';

export type DropoutDraw = 'pair16' | 'single32';

export interface DropoutMaskAttrs { shape: number[]; rate: number; seed: number; draw?: DropoutDraw }

export const dropoutMaskConfigs = fusedKernelConfigs<DropoutMaskAttrs>({
  name: DROPOUT_MASK,
  inputs: [],
  outputs: (_ins, a) => {
    if (!Array.isArray(a.shape) || !a.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${DROPOUT_MASK}: shape must be a list of non-negative integers, got ${JSON.stringify(a.shape)}`);
    }
    if (a.draw !== undefined && a.draw !== 'pair16' && a.draw !== 'single32') throw new Error(`${DROPOUT_MASK}: draw must be 'pair16' or 'single32', got ${JSON.stringify(a.draw)}`);
    if (a.draw === 'single32') dropoutThreshold32(a.rate); // validates the rate
    else dropoutThreshold(a.rate);
    if (!Number.isInteger(a.seed)) throw new Error(`${DROPOUT_MASK}: seed must be an integer, got ${a.seed}`);
    return [{ shape: a.shape, dtype: 'float32' }];
  },
  run: (_ins, [out], _infos, a, backend) => {
    const mask = out as Float32Array;
    if (mask.length === 0) return;
    if (a.draw === 'single32') {
      const t = dropoutThreshold32(a.rate);
      if (backend && wasmDropoutMask32(backend, mask, a.seed, t.thr, t.keep)) return;
      fillDropoutMultipliers32(mask, a.rate, a.seed);
      return;
    }
    const { thr, keep } = dropoutThreshold(a.rate);
    if (backend && wasmDropoutMask(backend, mask, a.seed, thr, keep)) return;
    fillDropoutMultipliers(mask, a.rate, a.seed);
  },
});
