/**
 * The engine benchmark (`npm run bench`, `llmrec bench`): training-step time
 * of SASRec, GRU4Rec and a LLaMA-style LM with and without LoRA, and SASRec
 * top-10 inference, on each matmul path, against every PyTorch that can be
 * imported (bench/torch.ts; the ratio is to the fastest) on the same shapes
 * measured in the same run; GEMM throughput (square, transposed, batched and
 * attention shapes) beside OpenBLAS called directly and PyTorch. Writes one record per
 * case to bench/results.json (atomically).
 */
import os from 'node:os';
import { join } from 'node:path';
import { engineInfo, initEngine, nativeAvailable, setMatmulPath, type MatmulPath } from '../engine/index.js';
import { packageRoot } from '../engine/native.js';
import { writeFileAtomic } from '../util/fs.js';
import { ATTENTION_GEMM_SHAPES, attentionGemmShape, gemmFlops, gemmShape, timeDirectBlas, timeEngineGemm, type GemmShape, type GemmVariant } from './gemm.js';
import { runLmBench, type LmBenchRecord } from './lm.js';
import type { BenchRecord } from './record.js';

export type { BenchRecord } from './record.js';
import { median } from './stats.js';
import { fastestTorch, runTorch, torchInstalls, type TorchCheck, type TorchTiming } from './torch.js';
import { gru4recWorkload, llamaWorkload, sasrecTopKWorkload, sasrecWorkload, type InferenceWorkload, type Workload } from './workloads.js';

export const TRAIN_CASES = ['sasrec', 'gru4rec', 'llama', 'llama_lora'] as const;
export type TrainCase = (typeof TRAIN_CASES)[number];
/** Inference cases (time of one call): SASRec top-10 for 256 users over 12k items. */
export const INFERENCE_CASES = ['sasrec_top10'] as const;
export type InferenceCase = (typeof INFERENCE_CASES)[number];


export interface BenchOptions {
  cases?: TrainCase[];
  steps?: number;
  warmup?: number;
  torch?: boolean;
  gemm?: boolean;
  gemmSizes?: number[];
  /** LM cases: training tokens/s and prefix-shared scoring against PyTorch, onnxruntime and llama.cpp (default on). */
  lm?: boolean;
  /** Inference cases (INFERENCE_CASES; default on). */
  inference?: boolean;
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

export function makeInferenceWorkload(c: InferenceCase): InferenceWorkload {
  switch (c) {
    case 'sasrec_top10': return sasrecTopKWorkload();
  }
}

function timeInference(c: InferenceCase, warmup: number, steps: number): number {
  const w = makeInferenceWorkload(c);
  for (let i = 0; i < warmup; i++) w.run();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    w.run();
    times.push(performance.now() - t0);
  }
  w.dispose();
  return median(times);
}

/** Runs a torch_ref.py case with every available PyTorch; failures are logged and left out. */
function torchTimings(torches: TorchCheck[], args: string[], log: (l: string) => void): TorchTiming[] {
  const out: TorchTiming[] = [];
  for (const t of torches) {
    try {
      const r = runTorch(args, t.python);
      out.push({ python: t.python!, version: r.torch, ms: r.ms_median, threads: r.threads });
    } catch (e) {
      log(`  ${t.python}: ${(e as Error).message}`);
    }
  }
  return out;
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
  const installs = opts.torch === false ? [] : torchInstalls();
  const torches = installs.filter((t) => t.ok);
  log(`engine: ${info.backend} (simd ${info.simd}), native addon: ${info.native.loaded ? `${info.native.openblas}, core ${info.native.blas?.core ?? '?'}` : `unavailable (${info.native.reason})`}`);
  if (opts.torch === false) log('reference: PyTorch disabled (--no-torch)');
  for (const t of installs) log(`reference: ${t.python}: ${t.ok ? `PyTorch ${t.version}` : `unavailable (${t.reason})`}`);
  const records: Array<BenchRecord | LmBenchRecord> = [];
  const refFields = (refs: TorchTiming[], oursMs: number) => {
    const best = fastestTorch(refs);
    return {
      reference: best ? `pytorch ${best.version}` : 'pytorch', reference_ms: best ? round(best.ms) : null,
      ratio: best ? round(oursMs / best.ms, 3) : null, torch_threads: best?.threads,
      torch_refs: refs.map((r) => ({ ...r, ms: round(r.ms) })),
    };
  };
  const refLog = (refs: TorchTiming[]) => (refs.length ? refs.map((r) => `torch ${r.version} ${r.ms.toFixed(1)} ms`).join(', ') : 'torch n/a');

  for (const c of cases) {
    const refs = torchTimings(torches, ['--case', c, '--steps', String(steps), '--warmup', String(warmup)], log);
    for (const path of paths) {
      setMatmulPath(path);
      const r = timeWorkload(c, warmup, steps);
      const rec: BenchRecord = {
        name: c, kind: 'train_step', engine_path: path, ours_ms: round(r.ms),
        ...refFields(refs, r.ms),
        loss_first: round(r.losses[0], 4), loss_last: round(r.losses[r.losses.length - 1], 4),
        trainable_params: r.trainable,
      };
      records.push(rec);
      log(`${c.padEnd(11)} ${path.padEnd(5)} ours ${rec.ours_ms.toFixed(1).padStart(8)} ms  ${refLog(refs)}  ratio to fastest ${rec.ratio ?? 'n/a'}`);
    }
  }

  if (opts.inference !== false) {
    for (const c of INFERENCE_CASES) {
      const refs = torchTimings(torches, ['--case', c, '--steps', String(steps), '--warmup', String(warmup)], log);
      for (const path of paths) {
        setMatmulPath(path);
        const ms = timeInference(c, warmup, steps);
        const rec: BenchRecord = { name: c, kind: 'inference', engine_path: path, ours_ms: round(ms), ...refFields(refs, ms) };
        records.push(rec);
        log(`${c.padEnd(11)} ${path.padEnd(5)} ours ${rec.ours_ms.toFixed(1).padStart(8)} ms  ${refLog(refs)}  ratio to fastest ${rec.ratio ?? 'n/a'}`);
      }
    }
  }

  if (opts.gemm !== false) {
    const variants: Array<{ label: string; shape: GemmShape; torchArgs: string[] }> = [];
    for (const size of opts.gemmSizes ?? [512, 1024]) {
      for (const v of ['plain', 'transA', 'transB', 'batched'] as GemmVariant[]) {
        variants.push({ label: `gemm_${v}_${size}${v === 'batched' ? 'x8' : ''}`, shape: gemmShape(size, v), torchArgs: ['--size', String(size), '--variant', v] });
      }
    }
    for (const a of ATTENTION_GEMM_SHAPES) {
      for (const v of ['attn_scores', 'attn_context'] as const) {
        variants.push({
          label: `gemm_${v}_${a.batch}x${a.L}x${a.d}`, shape: attentionGemmShape(v, a.batch, a.L, a.d),
          torchArgs: ['--size', String(a.L), '--variant', v, '--batch', String(a.batch), '--dim', String(a.d)],
        });
      }
    }
    for (const { label, shape, torchArgs } of variants) {
      const flops = gemmFlops(shape);
      const direct = timeDirectBlas(shape);
      const refs = torchTimings(torches, ['--case', 'gemm', ...torchArgs], log);
      const best = fastestTorch(refs);
      for (const path of paths) {
        const ms = timeEngineGemm(shape, path);
        const rec: BenchRecord = {
          name: label, kind: 'gemm', engine_path: path, ours_ms: round(ms, 3),
          reference: 'openblas-direct', reference_ms: direct != null ? round(direct, 3) : null,
          ratio: direct != null ? round(ms / direct, 3) : null,
          gflops: round(flops / ms / 1e6, 1),
          reference_gflops: direct != null ? round(flops / direct / 1e6, 1) : null,
          torch_ms: best ? round(best.ms, 3) : null,
          torch_refs: refs.map((r) => ({ ...r, ms: round(r.ms, 3) })),
        };
        records.push(rec);
        log(`${label.padEnd(28)} ${path.padEnd(5)} ${rec.gflops!.toFixed(1).padStart(6)} GFLOPS  openblas ${rec.reference_gflops ?? 'n/a'}  torch ${best ? `${round(flops / best.ms / 1e6, 1)} (${best.version})` : 'n/a'}`);
      }
    }
    setMatmulPath(paths[0]);
  }

  if (opts.lm !== false) records.push(...await runLmBench({ steps, warmup, log }));

  const result = {
    generated_at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', mem_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version },
    // Paths relative to the package (a results file names no machine's directories).
    engine: JSON.parse(JSON.stringify(engineInfo()).split(JSON.stringify(packageRoot).slice(1, -1)).join('.')) as ReturnType<typeof engineInfo>,
    torch: torches.length ? torches.map((t) => t.version).join(', ') : null,
    torch_installs: installs,
    settings: { steps, warmup },
    records,
  };
  const out = opts.out ?? join(packageRoot, 'bench', 'results.json');
  writeFileAtomic(out, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${out}`);
  return result;
}
