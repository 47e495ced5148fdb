/**
 * Shared helpers for the engine tests: running the same computation on the
 * tfjs 'cpu' reference backend and on 'wasm' (our kernels), seeded inputs and
 * elementwise comparison with a tolerance.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { engineInfo, initEngine, nativeAvailable, setMatmulPath, tf, type MatmulPath } from '../src/engine/index.js';
import { Rng } from '../src/nn/rng.js';

export { Rng };

export type BackendName = 'cpu' | 'wasm';

/** A tensor result read back to plain JS: values, shape and dtype. */
export interface Plain {
  values: number[];
  shape: number[];
  dtype: string;
}

export async function ready(): Promise<void> {
  await initEngine();
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
}

export function toPlain(t: tf.Tensor): Plain {
  return { values: Array.from(t.dataSync() as ArrayLike<number>), shape: [...t.shape], dtype: t.dtype };
}

/**
 * Runs `fn` on `backend` inside a tidy, reads every returned tensor back, and
 * disposes everything (undefined entries are left out). The backend is
 * switched back to 'wasm' afterwards.
 */
export async function onBackend<T extends { [k: string]: tf.Tensor | undefined }>(
  backend: BackendName,
  fn: () => T,
): Promise<{ [P in keyof T]-?: Plain }> {
  await tf.setBackend(backend);
  try {
    const out: Record<string, Plain> = {};
    tf.tidy(() => {
      const res = fn();
      for (const [k, v] of Object.entries(res)) if (v) out[k] = toPlain(v);
    });
    return out as { [P in keyof T]-?: Plain };
  } finally {
    await tf.setBackend('wasm');
  }
}

/** Runs `fn` with BatchMatMul on `path`, restoring the previous path afterwards. */
export async function withMatmulPath<T>(path: MatmulPath, fn: () => T | Promise<T>): Promise<T> {
  const prev = engineInfo().matmulPath;
  setMatmulPath(path);
  try {
    return await fn();
  } finally {
    setMatmulPath(prev);
  }
}

/** The matmul paths to test: 'wasm' always, 'blas' too (tests skip it when the addon is missing). */
export const MATMUL_PATHS: MatmulPath[] = ['wasm', 'blas'];

export function blasSkipReason(): string | null {
  if (nativeAvailable()) return null;
  return `OpenBLAS addon unavailable (${engineInfo().native.reason ?? 'unknown reason'}); blas path not tested`;
}

export interface Tol {
  atol?: number;
  rtol?: number;
}

/** Asserts |a - e| <= atol + rtol * |e| elementwise, with equal shapes; NaN must match NaN. */
export function assertClose(actual: Plain, expected: Plain, tol: Tol = {}, what = ''): void {
  const atol = tol.atol ?? 1e-4;
  const rtol = tol.rtol ?? 1e-4;
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape ${JSON.stringify(actual.shape)} != ${JSON.stringify(expected.shape)}`);
  assertCloseArrays(actual.values, expected.values, { atol, rtol }, what);
}

export function assertCloseArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol = {}, what = ''): void {
  const atol = tol.atol ?? 1e-4;
  const rtol = tol.rtol ?? 1e-4;
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
      assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
    }
    if (a === e) continue; // also covers equal infinities
    const err = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr)) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
      `(atol ${atol}, rtol ${rtol}; ${actual.length} elements)`);
  }
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Seeded normal values as a plain array (created per backend with tf.tensor). */
export function randn(rng: Rng, shape: number[]): Float32Array {
  return rng.normalArray(size(shape), 1);
}

/** Live data buffers of the wasm backend: a kernel that forgets a temporary leaks one. */
export function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

/** Skips the test (with a reason) when `path` is 'blas' and the addon is missing. */
export function skipPath(t: { skip(msg?: string): void }, path: MatmulPath): boolean {
  const reason = path === 'blas' ? blasSkipReason() : null;
  if (reason) t.skip(reason);
  return reason != null;
}

/**
 * A describe() block per engine path (native addon, pure wasm), switching the
 * path around its tests; the blas block is skipped with a reason when the
 * addon is absent. Call after `await ready()` (top-level in the test file).
 */
export function onEachPath(title: string, body: () => void): void {
  for (const path of MATMUL_PATHS) {
    const skip = path === 'blas' ? blasSkipReason() : null;
    describe(`${title} [${path}]`, { skip: skip ?? false }, () => {
      let prev: MatmulPath = 'wasm';
      before(() => { prev = engineInfo().matmulPath; setMatmulPath(path); });
      after(() => setMatmulPath(prev));
      body();
    });
  }
}
