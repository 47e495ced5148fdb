/**
 * Per-kernel profile of one training step (`llmrec bench --profile CASE`):
 * tf.profile's kernel list aggregated by kernel name, sorted by total time.
 * Kernel times are wall-clock around each kernel call (the wasm backend is
 * synchronous), so they include our overrides' JS but not autodiff plumbing;
 * the gap to the step's wall time is that plumbing.
 */
import { tf } from '../engine/index.js';
import type { Workload } from './workloads.js';

export interface KernelRow { kernel: string; calls: number; ms: number }

export async function profileStep(w: Workload, warmup = 2): Promise<{ stepMs: number; kernelMs: number; rows: KernelRow[] }> {
  for (let i = 0; i < warmup; i++) w.step();
  const t0 = performance.now();
  const info = await tf.profile(() => { w.step(); });
  const stepMs = performance.now() - t0;
  const by = new Map<string, KernelRow>();
  for (const k of info.kernels) {
    const row = by.get(k.name) ?? { kernel: k.name, calls: 0, ms: 0 };
    row.calls += 1;
    row.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    by.set(k.name, row);
  }
  const rows = [...by.values()].sort((a, b) => b.ms - a.ms);
  return { stepMs, kernelMs: rows.reduce((s, r) => s + r.ms, 0), rows };
}
