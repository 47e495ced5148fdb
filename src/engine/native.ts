/**
 * Loader for the optional OpenBLAS GEMM addon (native/blas.c, built by
 * scripts/build-native.mjs on `npm install`). When it is missing or fails to
 * load, the engine runs on pure wasm kernels; `status()` says why.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BlasAddon {
  sgemmBatched(
    transA: boolean, transB: boolean, M: number, N: number, K: number, batch: number,
    A: Float32Array, offA: number, strideA: number,
    B: Float32Array, offB: number, strideB: number,
    C: Float32Array, offC: number, strideC: number,
    alpha: number, beta: number,
  ): void;
  softmaxXent(logits: Float32Array, labels: Int32Array, N: number, V: number, loss: Float32Array, probs: Float32Array): void;
  softmaxXentGrad(probs: Float32Array, labels: Int32Array, dy: Float32Array, N: number, V: number, out: Float32Array): void;
  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, N: number, D: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array): void;
  layerNormGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, gamma: Float32Array,
    N: number, D: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  reduceMiddle(x: Float32Array, outer: number, R: number, inner: number, out: Float32Array, scale: number): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, bc1: number, bc2: number, gradScale: number,
    pOut: Float32Array, mOut: Float32Array, vOut: Float32Array): void;
  gruCell(gx: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number, hOut: Float32Array, gates: Float32Array): void;
  gruCellGrad(dhNew: Float32Array, gates: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number,
    dgx: Float32Array, dgh: Float32Array, dh: Float32Array): void;
  segmentSum(x: Float32Array, ids: Int32Array, n: number, inner: number, numSegments: number, out: Float32Array): void;
  gatherRows(x: Float32Array, ids: Int32Array, n: number, inner: number, out: Float32Array): void;
  setThreadPolicy(maxThreads: number, minFlopsForMaxThreads: number): void;
  info(): { config: string; corename: string; maxThreads: number; minFlopsForMaxThreads: number };
}

const ADDON_FUNCTIONS = [
  'sgemmBatched', 'softmaxXent', 'softmaxXentGrad', 'layerNorm', 'layerNormGrad', 'reduceMiddle', 'adamw', 'gruCell', 'gruCellGrad', 'segmentSum', 'gatherRows', 'setThreadPolicy', 'info',
] as const satisfies ReadonlyArray<keyof BlasAddon>;

export interface NativeStatus {
  loaded: boolean;
  path: string;
  reason?: string;
  buildCommand?: string;
}

/** Package root: src/engine and dist/engine are both two levels below it. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = join(packageRoot, 'build', 'llmrec_blas.node');

let cached: { addon: BlasAddon | null; status: NativeStatus } | undefined;

function buildRecord(): { built?: boolean; reason?: string; command?: string } {
  const f = join(packageRoot, 'build', 'native-status.json');
  if (!existsSync(f)) return {};
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as { built?: boolean; reason?: string; command?: string };
  } catch {
    return {};
  }
}

/** Loads the addon once. `LLMREC_NATIVE=off` disables it. */
export function loadBlas(): { addon: BlasAddon | null; status: NativeStatus } {
  if (cached) return cached;
  const rec = buildRecord();
  if (process.env.LLMREC_NATIVE === 'off') {
    cached = { addon: null, status: { loaded: false, path: addonPath, reason: 'disabled by LLMREC_NATIVE=off' } };
  } else if (!existsSync(addonPath)) {
    cached = {
      addon: null,
      status: {
        loaded: false, path: addonPath,
        reason: rec.reason ?? 'addon not built (run `node scripts/build-native.mjs`; needs a C compiler and libopenblas-dev)',
      },
    };
  } else {
    try {
      const addon = createRequire(import.meta.url)(addonPath) as BlasAddon;
      const missing = ADDON_FUNCTIONS.filter((f) => typeof (addon as unknown as Record<string, unknown>)[f] !== 'function');
      cached = missing.length > 0
        ? { addon: null, status: { loaded: false, path: addonPath, reason: `stale build lacks ${missing.join(', ')} (run \`node scripts/build-native.mjs\`)` } }
        : { addon, status: { loaded: true, path: addonPath, buildCommand: rec.command } };
    } catch (e) {
      cached = { addon: null, status: { loaded: false, path: addonPath, reason: `load failed: ${(e as Error).message}` } };
    }
  }
  return cached;
}
