/**
 * One record of bench/results.json (the training-step, inference and GEMM
 * cases of run.ts; the LM cases of lm.ts extend it), in a module of its own so
 * run.ts and lm.ts do not import each other's types in a cycle.
 */
import type { MatmulPath } from '../engine/index.js';
import type { TorchTiming } from './torch.js';

export interface BenchRecord {
  name: string;
  kind: 'train_step' | 'inference' | 'gemm';
  engine_path: MatmulPath;
  ours_ms: number;
  /**
   * Training steps and inference: the fastest PyTorch of `torch_refs`
   * ('pytorch <version>'); GEMMs: OpenBLAS called directly. reference_ms is null when unavailable.
   */
  reference: string;
  reference_ms: number | null;
  ratio: number | null;
  gflops?: number;
  reference_gflops?: number | null;
  torch_ms?: number | null;
  torch_threads?: string;
  /** Every PyTorch that ran the case (one per interpreter that imports torch); ratio is against the fastest. */
  torch_refs?: TorchTiming[];
  loss_first?: number;
  loss_last?: number;
  trainable_params?: number;
}
