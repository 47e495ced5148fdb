/**
 * Fused GRU cell (PyTorch gate order r, z, n), forward and backward: one
 * kernel per time step each way instead of ~17 forward and ~35 backward tfjs
 * ops, which for a 50-step GRU4Rec step were ~2,600 kernel calls.
 *   gx = x W_ih + b_ih, gh = h W_hh + b_hh, both [B, 3d] (the matmuls stay
 *   outside, so autodiff handles W and b);
 *   r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z),
 *   n = tanh(gx_n + r * gh_n), h' = (1 - z) n + z h.
 * The forward also returns the gates [B, 3d] = (r, z, n) for the backward:
 *   dn = dh' (1 - z) (1 - n^2), dz = dh' (h - n) z (1 - z),
 *   dr = dn gh_n r (1 - r);  dgx = (dr, dz, dn), dgh = (dr, dz, dn r),
 *   dh = dh' z  (the path through gh is the caller's matmul).
 * Implementations: the addon's C kernel (native/kernels.c), else the SIMD
 * wasm module's (native/wasm/gemm.c), else the JS loops below (cpu backend).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { fusedKernelConfigs } from './fused.js';
import { activeAddon } from '../state.js';
import { wasmGruCell, wasmGruCellGrad } from './wasm_gemm.js';

export const GRU_CELL = 'LlmrecGruCell';
export const GRU_CELL_GRAD = 'LlmrecGruCellGrad';

function dims(gx: TensorInfo, gh: TensorInfo, h: TensorInfo, what: string): [number, number] {
  const [B, d] = h.shape;
  const ok = h.shape.length === 2 && [gx, gh].every((t) => t.shape.length === 2 && t.shape[0] === B && t.shape[1] === 3 * d) &&
    [gx, gh, h].every((t) => t.dtype === 'float32');
  if (!ok) throw new Error(`${what}: expected float32 gx, gh [B, 3d] and h [B, d], got [${gx.shape}], [${gh.shape}], [${h.shape}]`);
  return [B, d];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function gruCellForward(gx: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number, hOut: Float32Array, gates: Float32Array): void {
  for (let b = 0; b < B; b++) {
    const o3 = b * 3 * d;
    const o = b * d;
    for (let j = 0; j < d; j++) {
      const r = sigmoid(gx[o3 + j] + gh[o3 + j]);
      const z = sigmoid(gx[o3 + d + j] + gh[o3 + d + j]);
      const n = Math.tanh(gx[o3 + 2 * d + j] + r * gh[o3 + 2 * d + j]);
      gates[o3 + j] = r;
      gates[o3 + d + j] = z;
      gates[o3 + 2 * d + j] = n;
      hOut[o + j] = (1 - z) * n + z * h[o + j];
    }
  }
}

export function gruCellBackward(dhNew: Float32Array, gates: Float32Array, gh: Float32Array, h: Float32Array, B: number, d: number,
  dgx: Float32Array, dgh: Float32Array, dh: Float32Array): void {
  for (let b = 0; b < B; b++) {
    const o3 = b * 3 * d;
    const o = b * d;
    for (let j = 0; j < d; j++) {
      const r = gates[o3 + j];
      const z = gates[o3 + d + j];
      const n = gates[o3 + 2 * d + j];
      const g = dhNew[o + j];
      const dn = g * (1 - z) * (1 - n * n);
      const dz = g * (h[o + j] - n) * z * (1 - z);
      const dr = dn * gh[o3 + 2 * d + j] * r * (1 - r);
      dgx[o3 + j] = dr; dgx[o3 + d + j] = dz; dgx[o3 + 2 * d + j] = dn;
      dgh[o3 + j] = dr; dgh[o3 + d + j] = dz; dgh[o3 + 2 * d + j] = dn * r;
      dh[o + j] = g * z;
    }
  }
}

export const gruConfigs = [
  ...fusedKernelConfigs<Record<string, never>>({
    name: GRU_CELL,
    inputs: ['gx', 'gh', 'h'],
    outputs: ([gx, gh, h]) => {
      const [B, d] = dims(gx, gh, h, GRU_CELL);
      return [{ shape: [B, d], dtype: 'float32' }, { shape: [B, 3 * d], dtype: 'float32' }];
    },
    run: (ins, outs, infos, _attrs, backend) => {
      const [B, d] = dims(infos[0], infos[1], infos[2], GRU_CELL);
      const [gx, gh, h] = ins as Float32Array[];
      const [hOut, gates] = outs as Float32Array[];
      const addon = activeAddon();
      if (addon) addon.gruCell(gx, gh, h, B, d, hOut, gates);
      else if (!(backend && wasmGruCell(backend, gx, gh, h, B, d, hOut, gates))) gruCellForward(gx, gh, h, B, d, hOut, gates);
    },
  }),
  ...fusedKernelConfigs<Record<string, never>>({
    name: GRU_CELL_GRAD,
    inputs: ['dh', 'gates', 'gh', 'h'],
    outputs: ([dhNew, gates, gh, h]) => {
      const [B, d] = dims(gates, gh, h, GRU_CELL_GRAD);
      if (dhNew.shape.join() !== h.shape.join()) throw new Error(`${GRU_CELL_GRAD}: dh [${dhNew.shape}] must match h [${h.shape}]`);
      return [{ shape: [B, 3 * d], dtype: 'float32' }, { shape: [B, 3 * d], dtype: 'float32' }, { shape: [B, d], dtype: 'float32' }];
    },
    run: (ins, outs, infos, _attrs, backend) => {
      const [B, d] = dims(infos[1], infos[2], infos[3], GRU_CELL_GRAD);
      const [dhNew, gates, gh, h] = ins as Float32Array[];
      const [dgx, dgh, dh] = outs as Float32Array[];
      const addon = activeAddon();
      if (addon) addon.gruCellGrad(dhNew, gates, gh, h, B, d, dgx, dgh, dh);
      else if (!(backend && wasmGruCellGrad(backend, dhNew, gates, gh, h, B, d, dgx, dgh, dh))) gruCellBackward(dhNew, gates, gh, h, B, d, dgx, dgh, dh);
    },
  }),
];
