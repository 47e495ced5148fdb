/**
 * Which compute path the engine's kernels take: 'blas' uses the native addon
 * (OpenBLAS sgemm and the C kernels of native/kernels.c), 'wasm' uses only
 * wasm and JS. Set by initEngine and setMatmulPath.
 */
import type { BlasAddon } from './native.js';

export type EnginePath = 'blas' | 'wasm';

export const engineState: { path: EnginePath; addon: BlasAddon | null } = { path: 'wasm', addon: null };

/** The native addon when the active path uses it, else null (kernels then run their JS/wasm twin). */
export function activeAddon(): BlasAddon | null {
  return engineState.path === 'blas' ? engineState.addon : null;
}

/**
 * 'fused': `fusedAttention` runs the one-kernel attention on the wasm backend;
 * 'reference': it runs the unfused tfjs composition (attentionReference) the
 * models used before (tests compare the two; docs/PERF.md "Fused attention").
 */
export type AttentionImpl = 'fused' | 'reference';

export const attentionState: { impl: AttentionImpl } = { impl: 'fused' };
