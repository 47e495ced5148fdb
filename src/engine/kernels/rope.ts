/**
 * Rotary position embedding (Hugging Face LLaMA's rotate_half layout), one
 * kernel each way instead of split, negate, concat, two products and a sum
 * forward and about as many ops backward:
 *   forward   y[i] = x[i] cos[i] - x[i + h] sin[i]   (i < h = D / 2)
 *             y[i] = x[i] cos[i] + x[i - h] sin[i]   (i >= h)
 *   backward  dx[j] = dy[j] cos[j] + dy[j + h] sin[j + h]   (j < h)
 *             dx[j] = dy[j] cos[j] - dy[j - h] sin[j - h]   (j >= h)
 * x is [..., T, D] with leading dims P; cos and sin are [T, D] (shared by
 * every row block) or [B, 1, ..., T, D] with B = x's first dim (one table per
 * batch item, e.g. per-sequence position ids). The tables are constants (no
 * gradient). Implementations: the SIMD wasm module (native/wasm/gemm.c
 * `rope`, products and sums in float64 lanes) on both engine paths, else the
 * JS loop below (cpu backend); both round once to float32 from the same
 * float64 value, so they agree bit for bit.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { fusedKernelConfigs } from './fused.js';
import { wasmRope } from './wasm_gemm.js';

export const ROPE = 'LlmrecRope';

/** [P, T, D, blocks of x per table, number of tables], validating the shapes. */
export function ropeGeometry(x: TensorInfo, cos: TensorInfo, sin: TensorInfo, what = ROPE): [number, number, number, number, number] {
  const r = x.shape.length;
  if (x.dtype !== 'float32' || r < 2) throw new Error(`${what}: x must be float32 [..., T, D], got ${x.dtype} [${x.shape}]`);
  const T = x.shape[r - 2];
  const D = x.shape[r - 1];
  if (D % 2 !== 0) throw new Error(`${what}: the head dim D must be even, got ${D}`);
  if (cos.shape.join() !== sin.shape.join() || cos.dtype !== 'float32' || sin.dtype !== 'float32') {
    throw new Error(`${what}: cos and sin must be float32 of one shape, got [${cos.shape}] and [${sin.shape}]`);
  }
  const c = cos.shape;
  const cr = c.length;
  if (cr < 2 || c[cr - 2] !== T || c[cr - 1] !== D) throw new Error(`${what}: cos/sin must end in [${T}, ${D}] like x, got [${c}]`);
  const P = x.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const lead = c.slice(0, -2);
  const tables = lead.reduce((a, b) => a * b, 1);
  if (tables === 1) return [P, T, D, P, 1];
  if (cr !== r || lead[0] !== x.shape[0] || lead.slice(1).some((d) => d !== 1)) {
    throw new Error(`${what}: cos/sin [${c}] must be [${T}, ${D}] or [${x.shape[0]}, 1, ..., ${T}, ${D}] for x [${x.shape}]`);
  }
  return [P, T, D, P / tables, tables];
}

export const ropeConfigs = fusedKernelConfigs<{ backward: boolean }>({
  name: ROPE,
  inputs: ['x', 'cos', 'sin'],
  outputs: ([x, cos, sin]) => {
    ropeGeometry(x, cos, sin);
    return [{ shape: x.shape, dtype: 'float32' }];
  },
  run: ([xa, ca, sa], [ya], [xi, ci, si], { backward }, backend) => {
    const [P, T, D, per] = ropeGeometry(xi, ci, si);
    const x = xa as Float32Array;
    const cos = ca as Float32Array;
    const sin = sa as Float32Array;
    const y = ya as Float32Array;
    if (backend && wasmRope(backend, x, cos, sin, P, T, D, per, backward, y)) return;
    const h = D / 2;
    const TD = T * D;
    for (let p = 0; p < P; p++) {
      const tb = Math.floor(p / per) * TD;
      const xb = p * TD;
      for (let t = 0; t < T; t++) {
        const o = xb + t * D;
        const c = tb + t * D;
        if (!backward) {
          for (let i = 0; i < h; i++) {
            y[o + i] = x[o + i] * cos[c + i] - x[o + i + h] * sin[c + i];
            y[o + i + h] = x[o + i + h] * cos[c + i + h] + x[o + i] * sin[c + i + h];
          }
        } else {
          for (let j = 0; j < h; j++) {
            y[o + j] = x[o + j] * cos[c + j] + x[o + j + h] * sin[c + j + h];
            y[o + j + h] = x[o + j + h] * cos[c + j + h] - x[o + j] * sin[c + j];
          }
        }
      }
    }
  },
});
