/**
 * The engine benchmark (`npm run bench`, `llmrec bench`): training-step time
 * of SASRec, GRU4Rec and a LLaMA-style LM with and without LoRA, on each
 * matmul path, against PyTorch on the same shapes measured in the same run;
 * and GEMM throughput beside OpenBLAS called directly. Writes one record per
 * case to bench/results.json (atomically).
 */
import os from 'node:os';
import { join } from 'node:path';
import { engineInfo, initEngine, nativeAvailable, setMatmulPath, type MatmulPath } from '../engine/index.js';
import { packageRoot } from '../engine/native.js';
import { writeFileAtomic } from '../util/fs.js';
import { gemmFlops, gemmShape, timeDirectBlas, timeEngineGemm, type GemmVariant } from './gemm.js';
import { runLmBench, type LmBenchRecord } from './lm.js';
import { median } from './stats.js';
import { runTorch, torchAvailable } from './torch.js';
import { gru4recWorkload, llamaWorkload, sasrecWorkload, type Workload } from './workloads.js';

export const TRAIN_CASES = ['sasrec', 'gru4rec', 'llama', 'llama_lora'] as const;
export type TrainCase = (typeof TRAIN_CASES)[number];

export interface BenchRecord {
  name: string;
  kind: 'train_step' | 'gemm';
  engine_path: MatmulPath;
  ours_ms: number;
  /** PyTorch for training steps; OpenBLAS called directly for GEMMs. null when unavailable. */
  reference: string;
  reference_ms: number | null;
  ratio: number | null;
  gflops?: number;
  reference_gflops?: number | null;
  torch_ms?: number | null;
  torch_threads?: string;
  loss_first?: number;
  loss_last?: number;
  trainable_params?: number;
}

export interface BenchOptions {
  cases?: TrainCase[];
  steps?: number;
  warmup?: number;
  torch?: boolean;
  gemm?: boolean;
  gemmSizes?: number[];
  /** LM cases: training tokens/s and prefix-shared scoring against PyTorch, onnxruntime and llama.cpp (default on). */
  lm?: boolean;
  out?: string;
  log?: (line: string) => void;
}

export function makeWorkload(c: TrainCase): Workload {
  switch (c) {
    case 'sasrec': return sasrecWorkload();
    case 'gru4rec': return gru4recWorkload();
    case 'llama': return llamaWorkload();
    case 'llama_lora': return llamaWorkload(undefined, { r: 8, alpha: 16 });
  }
}

function timeWorkload(c: TrainCase, warmup: number, steps: number) {
  const w = makeWorkload(c);
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(w.step());
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    losses.push(w.step());
    times.push(performance.now() - t0);
  }
  const trainable = w.trainable;
  w.dispose();
  return { ms: median(times), losses, trainable };
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function runBench(opts: BenchOptions = {}) {
  const log = opts.log ?? ((l: string) => console.log(l));
  const steps = opts.steps ?? 10;
  const warmup = opts.warmup ?? 3;
  const cases = opts.cases ?? [...TRAIN_CASES];
  const info = await initEngine();
  const paths: MatmulPath[] = nativeAvailable() ? ['blas', 'wasm'] : ['wasm'];
  const torch = opts.torch === false ? { ok: false, reason: 'disabled (--no-torch)' } : torchAvailable();
  log(`engine: ${info.backend} (simd ${info.simd}), native addon: ${info.native.loaded ? info.native.openblas : `unavailable (${info.native.reason})`}`);
  log(`reference: ${torch.ok ? `PyTorch ${torch.version}` : `PyTorch unavailable: ${torch.reason}`}`);
  const records: Array<BenchRecord | LmBenchRecord> = [];

  for (const c of cases) {
    let ref: { ms: number; threads: string } | null = null;
    if (torch.ok) {
      const r = runTorch(['--case', c, '--steps', String(steps), '--warmup', String(warmup)]);
      ref = { ms: r.ms_median, threads: r.threads };
    }
    for (const path of paths) {
      setMatmulPath(path);
      const r = timeWorkload(c, warmup, steps);
      const rec: BenchRecord = {
        name: c, kind: 'train_step', engine_path: path, ours_ms: round(r.ms),
        reference: 'pytorch', reference_ms: ref ? round(ref.ms) : null,
        ratio: ref ? round(r.ms / ref.ms, 3) : null, torch_threads: ref?.threads,
        loss_first: round(r.losses[0], 4), loss_last: round(r.losses[r.losses.length - 1], 4),
        trainable_params: r.trainable,
      };
      records.push(rec);
      log(`${c.padEnd(11)} ${path.padEnd(5)} ours ${rec.ours_ms.toFixed(1).padStart(8)} ms  torch ${ref ? ref.ms.toFixed(1).padStart(7) : '    n/a'} ms  ratio ${rec.ratio ?? 'n/a'}`);
    }
  }

  if (opts.gemm !== false) {
    const variants: Array<[number, GemmVariant]> = [];
    for (const size of opts.gemmSizes ?? [512, 1024]) {
      for (const v of ['plain', 'transA', 'transB', 'batched'] as GemmVariant[]) variants.push([size, v]);
    }
    variants.push([0, 'batched']);
    for (const [size, v] of variants) {
      const shape = gemmShape(size, v);
      const flops = gemmFlops(shape);
      const direct = timeDirectBlas(shape);
      let torchMs: number | null = null;
      if (torch.ok) torchMs = runTorch(['--case', 'gemm', '--size', String(size), '--variant', v]).ms_median;
      const label = size === 0 ? 'gemm_attn_256x50x64x50' : `gemm_${v}_${size}${v === 'batched' ? 'x8' : ''}`;
      for (const path of paths) {
        const ms = timeEngineGemm(shape, path);
        const rec: BenchRecord = {
          name: label, kind: 'gemm', engine_path: path, ours_ms: round(ms, 3),
          reference: 'openblas-direct', reference_ms: direct != null ? round(direct, 3) : null,
          ratio: direct != null ? round(ms / direct, 3) : null,
          gflops: round(flops / ms / 1e6, 1),
          reference_gflops: direct != null ? round(flops / direct / 1e6, 1) : null,
          torch_ms: torchMs != null ? round(torchMs, 3) : null,
        };
        records.push(rec);
        log(`${label.padEnd(24)} ${path.padEnd(5)} ${rec.gflops!.toFixed(1).padStart(6)} GFLOPS  openblas ${rec.reference_gflops ?? 'n/a'}  torch ${torchMs != null ? round(flops / torchMs / 1e6, 1) : 'n/a'}`);
      }
    }
    setMatmulPath(paths[0]);
  }

  if (opts.lm !== false) records.push(...await runLmBench({ steps, warmup, log }));

  const result = {
    generated_at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', mem_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version },
    engine: engineInfo(),
    torch: torch.ok ? torch.version : null,
    settings: { steps, warmup },
    records,
  };
  const out = opts.out ?? join(packageRoot, 'bench', 'results.json');
  writeFileAtomic(out, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${out}`);
  return result;
}
