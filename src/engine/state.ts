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
