/**
 * The language-model benchmark cases: a LLaMA-style `LlamaForCausalLM`
 * (llmrec's real model class, not a hand-rolled graph) measured on
 *
 *  - training throughput, tokens/s: B=8 sequences of T=128 tokens, one step =
 *    forward, causalLmLoss (position t predicts token t+1), backward and an
 *    AdamW update (lr 1e-3, weight decay 0.01);
 *  - prefix-shared candidate scoring throughput, candidates/s: one 128-token
 *    prompt and 20 candidates of 16 tokens, one call = src/lm/score.ts
 *    `scoreContinuations` (prompt once, its KV cache repeated for the
 *    candidates, sum of log-probabilities per candidate);
 *
 * at two shapes (LM_BENCH_SHAPES):
 *  - d128: hidden 128, 2 layers, 4 heads (head dim 32), FFN 344, vocab 2048
 *    (the engine benchmark's `llama` training workload);
 *  - d512: hidden 512, 4 layers, 8 heads (head dim 64), FFN 1376 (≈ 8/3·d,
 *    rounded as LLaMA does), vocab 8192;
 * both untied, full multi-head attention (no GQA), RoPE theta 10000, weights
 * from llmrec's seeded initialisation (N(0, 0.02)).
 *
 * References, on the SAME weights (llmrec writes config.json,
 * weights.safetensors and the inputs into a temporary directory):
 *  - PyTorch (bench/lm_ref.py): the same training step, and scoring that
 *    shares the prefix the same way (past key/values computed once and
 *    expanded to the candidates);
 *  - onnxruntime (src/lm/interop/onnx.ts): the weights exported by
 *    test/ref/onnx_export.py --with-past, scoring over the prompt's cache;
 *  - llama.cpp: through a `LlamaCppReference` passed in (runLmBench's
 *    `llamaCpp` option). `llamaCppReference()` is the one over
 *    src/lm/interop/gguf.ts (`exportGguf`, F32) and src/lm/interop/llamacpp.ts
 *    (`loadGguf`, `scoreContinuations`, node-llama-cpp): prompt once, then
 *    each candidate over the cached prompt, one sequence at a time.
 * Inference references are timed on scoring only; onnxruntime and llama.cpp
 * have no training path here.
 *
 * PyTorch is every interpreter bench/torch.ts finds that imports torch
 * (Debian's and LLMREC_TORCH_PYTHON's); the fastest is the reference and all
 * are listed in `torch_refs`.
 * Every reference runs with 1 and with 2 threads and the faster is kept (as
 * bench/torch_ref.py does), except llama.cpp, whose thread count is fixed by
 * the first load in the process: it runs once, with the largest count. Records follow src/bench/run.ts: `ours_ms` and
 * `reference_ms` are milliseconds per unit of work (one training step; one
 * scoring call of all candidates) and `ratio = ours_ms / reference_ms`, so
 * ratio > 1 means llmrec is slower than the reference; the same ratio is
 * `reference_per_s / ours_per_s` in throughput terms.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineInfo, initEngine, setMatmulPath, type MatmulPath } from '../engine/index.js';
import { packageRoot } from '../engine/native.js';
import { writeSafetensors } from '../io/safetensors.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../lm/families/llama.js';
import { exportGguf } from '../lm/interop/gguf.js';
import { dispose as disposeGguf, loadGguf, nextTokenLogits, scoreContinuations as llamaCppScore } from '../lm/interop/llamacpp.js';
import { loadOnnxCausalLM, onnxRuntimeAvailable } from '../lm/interop/onnx.js';
import { causalLmLoss } from '../lm/loss.js';
import { scoreContinuations } from '../lm/score.js';
import { exportStateDict } from '../lm/state_dict.js';
import { BPE_DEFAULT_SPECIAL_TOKENS, trainBpe } from '../lm/tokenizer/index.js';
import { AdamW, Rng } from '../nn/index.js';
import type { BenchRecord } from './record.js';
import { median } from './stats.js';
import { TORCH_PYTHON, fastestTorch, torchInstalls, type TorchCheck, type TorchTiming } from './torch.js';

/** A benchmark shape: the model and the two workloads. */
export interface LmBenchShape {
  /** Short name used in record names (`lm_train_<label>`). */
  label: string;
  hidden: number;
  layers: number;
  heads: number;
  /** Key/value heads (default: heads, i.e. no GQA). */
  kvHeads?: number;
  ffn: number;
  vocab: number;
  /** Training batch B and sequence length T. */
  trainBatch: number;
  trainSeq: number;
  /** Scoring: prompt tokens, number of candidates, tokens per candidate. */
  promptLen: number;
  candidates: number;
  candidateLen: number;
  /** Std of the random initialisation (default 0.02). */
  initStd?: number;
}

export const LM_BENCH_SHAPES: readonly LmBenchShape[] = [
  { label: 'd128', hidden: 128, layers: 2, heads: 4, ffn: 344, vocab: 2048, trainBatch: 8, trainSeq: 128, promptLen: 128, candidates: 20, candidateLen: 16 },
  { label: 'd512', hidden: 512, layers: 4, heads: 8, ffn: 1376, vocab: 8192, trainBatch: 8, trainSeq: 128, promptLen: 128, candidates: 20, candidateLen: 16 },
];

/**
 * A seconds-long shape for tests: GQA and a larger init std so that scores
 * differ between candidates and a mismatch cannot hide in uniform logits;
 * the vocabulary holds the byte-level tokenizer llamaCppReference writes.
 */
export const LM_BENCH_TINY: LmBenchShape = {
  label: 'tiny', hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 48, vocab: 300,
  trainBatch: 2, trainSeq: 16, promptLen: 12, candidates: 5, candidateLen: 4, initStd: 0.2,
};

export type LmReference = 'pytorch' | 'onnxruntime' | 'llama.cpp';
export const LM_REFERENCES: readonly LmReference[] = ['pytorch', 'onnxruntime', 'llama.cpp'];

/** One record, shaped as BenchRecord (record.ts) with LM kinds and throughputs. */
export interface LmBenchRecord extends Omit<BenchRecord, 'kind'> {
  kind: 'lm_train' | 'lm_score';
  /** The shape, spelled out (model; workload). */
  shape: string;
  unit: 'tokens/s' | 'candidates/s';
  ours_per_s: number;
  reference_per_s: number | null;
  /** The reference's name and version, e.g. "pytorch 1.13.0" (`reference` is the bare key: pytorch, onnxruntime, llama.cpp). */
  reference_version?: string;
  /** Thread count of the reference's faster run. */
  reference_threads?: string;
  /** Why reference_ms is null (unavailable, failed, not wired). */
  reference_note?: string;
  /** Scoring: max |llmrec − reference| over the candidates' log-probabilities (same weights). */
  max_abs_score_diff?: number | null;
  /** Training: the reference's loss on the first step (same weights and batch as loss_first). */
  reference_loss_first?: number;
}

/** A loaded llama.cpp model that scores continuations (e.g. an adapter over src/lm/interop/llamacpp.ts). */
export interface LlamaCppScorer {
  /** Sum of log-probabilities of each candidate after the prompt. */
  scoreContinuations(promptIds: Int32Array, candidates: number[][]): Promise<Float64Array>;
  /**
   * Called before every timed call, untimed: forget cached state that a
   * previous call left (e.g. llama.cpp's prompt prefix), so every call pays
   * for its prompt as the other engines do.
   */
  reset?(): Promise<void>;
  dispose(): Promise<void> | void;
}

/**
 * The llama.cpp reference, injected: llama.cpp comes from an optional native
 * binding and needs a GGUF export (with a tokenizer), both outside this
 * module. `open` receives the untrained benchmark model, a scratch directory
 * and a thread count, and returns a scorer on the same weights.
 */
export interface LlamaCppReference {
  /** What to record as the reference's version, e.g. "llama.cpp b5000 (node-llama-cpp 3.22)". */
  label?: string;
  open(model: LlamaForCausalLM, dir: string, opts: { threads: number }): Promise<LlamaCppScorer>;
}

export interface LmBenchOptions {
  /** Fewer repetitions (3 timed, 1 warm-up), as `llmrec bench --quick`. */
  quick?: boolean;
  /** Shapes to run (default LM_BENCH_SHAPES). */
  shapes?: readonly LmBenchShape[];
  /** Timed repetitions per measurement (default 10, quick 3). */
  steps?: number;
  /** Untimed warm-up repetitions (default 3, quick 1). */
  warmup?: number;
  /** References to run (default all three). */
  references?: readonly LmReference[];
  /** llmrec matmul paths to time (default: the engine's current path). */
  paths?: readonly MatmulPath[];
  /** The llama.cpp reference (default llamaCppReference(), over src/lm/interop). */
  llamaCpp?: LlamaCppReference;
  /** Thread counts tried for each reference, the fastest kept (default [1, 2]; PyTorch takes 1 and 2 only, llama.cpp the largest). */
  referenceThreads?: readonly number[];
  /** Keep the scratch directory (weights, inputs, ONNX files) and log where it is. */
  keepDir?: boolean;
  /** Seed of the weights and inputs (default 0). */
  seed?: number;
  log?: (line: string) => void;
}

/** The Hugging Face config of a shape. */
export function lmBenchConfig(s: LmBenchShape): Record<string, unknown> {
  return {
    model_type: 'llama', vocab_size: s.vocab, hidden_size: s.hidden, intermediate_size: s.ffn,
    num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads ?? s.heads,
    max_position_embeddings: Math.max(2048, s.trainSeq, s.promptLen + s.candidateLen),
    rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, initializer_range: s.initStd ?? 0.02,
  };
}

export function buildLmBenchModel(s: LmBenchShape, seed = 0): LlamaForCausalLM {
  return new LlamaForCausalLM(parseLlamaConfig(lmBenchConfig(s), `bench shape ${s.label}`), { seed });
}

export interface LmBenchInputs {
  /** Training batch [B*T]; labels are the ids (shifted by causalLmLoss). */
  trainIds: Int32Array;
  prompt: Int32Array;
  candidates: number[][];
}

export function lmBenchInputs(s: LmBenchShape, seed = 0): LmBenchInputs {
  const rng = new Rng(seed + 101);
  return {
    trainIds: rng.intArray(s.trainBatch * s.trainSeq, 0, s.vocab),
    prompt: rng.intArray(s.promptLen, 0, s.vocab),
    candidates: Array.from({ length: s.candidates }, () => Array.from(rng.intArray(s.candidateLen, 0, s.vocab))),
  };
}

/** Writes config.json and weights.safetensors (Hugging Face names) of `model` into `dir`. */
export function writeCheckpoint(model: LlamaForCausalLM, dir: string): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(model.configJSON(), null, 2));
  writeSafetensors(join(dir, 'weights.safetensors'), exportStateDict(model.store));
}

/** Writes inputs.safetensors for bench/lm_ref.py. */
export function writeLmInputs(dir: string, s: LmBenchShape, x: LmBenchInputs): void {
  const N = x.candidates.length;
  const L = Math.max(1, ...x.candidates.map((c) => c.length));
  const cands = new Int32Array(N * L);
  x.candidates.forEach((c, i) => cands.set(c, i * L));
  writeSafetensors(join(dir, 'inputs.safetensors'), {
    train_ids: { dtype: 'I32', shape: [s.trainBatch, s.trainSeq], data: x.trainIds },
    prompt: { dtype: 'I32', shape: [x.prompt.length], data: x.prompt },
    candidates: { dtype: 'I32', shape: [N, L], data: cands },
    cand_len: { dtype: 'I32', shape: [N], data: Int32Array.from(x.candidates, (c) => c.length) },
  });
}

/** test/ref/onnx_export.py (in the repository; not part of the published package). */
export const ONNX_EXPORT_SCRIPT = join(packageRoot, 'test', 'ref', 'onnx_export.py');
/** bench/lm_ref.py. */
export const LM_REF_SCRIPT = join(packageRoot, 'bench', 'lm_ref.py');

function pythonError(what: string, r: ReturnType<typeof spawnSync>): Error {
  const err = String(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return new Error(`${what} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${err}`);
}

/**
 * Exports the checkpoint in `dir` (writeCheckpoint) to ONNX with
 * test/ref/onnx_export.py under PyTorch; returns the written files.
 */
export function exportOnnx(dir: string, opts: { plain?: boolean; withPast?: boolean; opset?: number } = {}): { plain?: string; withPast?: string } {
  if (!existsSync(ONNX_EXPORT_SCRIPT)) throw new Error(`${ONNX_EXPORT_SCRIPT} not found (the ONNX export script ships with the repository, not the package)`);
  const plain = opts.plain ?? true;
  const withPast = opts.withPast ?? false;
  if (!plain && !withPast) throw new Error('exportOnnx: nothing to export (plain and withPast both false)');
  const args = [ONNX_EXPORT_SCRIPT, dir, '--opset', String(opts.opset ?? 14)];
  if (withPast) args.push('--with-past');
  if (!plain) args.push('--no-plain');
  const r = spawnSync(TORCH_PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw pythonError('onnx_export.py', r);
  return { plain: plain ? join(dir, 'model.onnx') : undefined, withPast: withPast ? join(dir, 'model_with_past.onnx') : undefined };
}

interface Timed { ms: number; times: number[] }

function timeSync(fn: () => void, warmup: number, steps: number): Timed {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), times };
}

async function timeAsync(fn: () => Promise<unknown>, warmup: number, steps: number, before?: () => Promise<void>): Promise<Timed> {
  for (let i = 0; i < warmup; i++) {
    await before?.();
    await fn();
  }
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    await before?.();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), times };
}

/** llmrec training steps on `model` (mutated); losses of every step, warm-up included. */
export function timeOursTrain(model: LlamaForCausalLM, s: LmBenchShape, x: LmBenchInputs, warmup: number, steps: number): Timed & { losses: number[] } {
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
  const vars = model.store.trainable();
  const losses: number[] = [];
  try {
    const t = timeSync(() => {
      losses.push(opt.minimize(() => causalLmLoss(model.forward({ inputIds: x.trainIds, batch: s.trainBatch, training: true }).logits, x.trainIds), vars));
    }, warmup, steps);
    return { ...t, losses };
  } finally {
    opt.dispose();
  }
}

/** llmrec scoring calls; the scores of the last call. */
export function timeOursScore(model: LlamaForCausalLM, x: LmBenchInputs, warmup: number, steps: number): Timed & { scores: Float64Array } {
  let scores: Float64Array = new Float64Array(0);
  const t = timeSync(() => { scores = scoreContinuations(model, { ids: x.prompt }, x.candidates).logProb; }, warmup, steps);
  return { ...t, scores };
}

export interface TorchLmPart { ms_median: number; ms_min: number; ms_all: number[]; auto_ms_median?: Record<string, number> }
export interface TorchLmResult {
  torch: string;
  threads: string;
  score_threads: string;
  train?: TorchLmPart & { loss_first: number; loss_last: number };
  score?: TorchLmPart & { scores: number[] };
}

/** Runs bench/lm_ref.py on a directory holding writeCheckpoint + writeLmInputs output. */
export function runTorchLm(dir: string, opts: { task?: 'train' | 'score' | 'both'; steps: number; warmup: number; threads?: 'auto' | '1' | '2'; python?: string }): TorchLmResult {
  const args = [LM_REF_SCRIPT, dir, '--task', opts.task ?? 'both', '--steps', String(opts.steps), '--warmup', String(opts.warmup), '--threads', opts.threads ?? 'auto'];
  const r = spawnSync(opts.python ?? TORCH_PYTHON, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw pythonError('bench/lm_ref.py', r);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as TorchLmResult;
}

export interface ReferenceScoreTiming extends Timed { threads: number; scores: Float64Array }

/** Times onnxruntime scoring of an .onnx file with each thread count; returns the fastest. */
export async function timeOnnxScore(path: string, x: LmBenchInputs, opts: { warmup: number; steps: number; threads?: readonly number[] }): Promise<ReferenceScoreTiming> {
  let best: ReferenceScoreTiming | null = null;
  for (const threads of opts.threads ?? [1, 2]) {
    const m = await loadOnnxCausalLM(path, { threads });
    try {
      let scores: Float64Array = new Float64Array(0);
      const t = await timeAsync(async () => { scores = await m.scoreContinuations(x.prompt, x.candidates); }, opts.warmup, opts.steps);
      if (!best || t.ms < best.ms) best = { ...t, threads, scores };
    } finally {
      await m.dispose();
    }
  }
  return best!;
}

/**
 * Times llama.cpp scoring through a LlamaCppReference with the largest of
 * the thread counts (llama.cpp fixes its threads at the first load in a process).
 */
export async function timeLlamaCppScore(ref: LlamaCppReference, model: LlamaForCausalLM, dir: string, x: LmBenchInputs, opts: { warmup: number; steps: number; threads?: readonly number[] }): Promise<ReferenceScoreTiming> {
  const threads = Math.max(...(opts.threads ?? [2]));
  const scorer = await ref.open(model, dir, { threads });
  try {
    let scores: Float64Array = new Float64Array(0);
    const reset = scorer.reset ? () => scorer.reset!() : undefined;
    const t = await timeAsync(async () => { scores = await scorer.scoreContinuations(x.prompt, x.candidates); }, opts.warmup, opts.steps, reset);
    return { ...t, threads, scores };
  } finally {
    await scorer.dispose();
  }
}

/**
 * The llama.cpp reference over src/lm/interop: the model is written as an
 * F32 GGUF (`exportGguf`) with a byte-level BPE of only its 256 byte symbols
 * plus the default special tokens (benchmark ids are synthetic; ids beyond
 * the tokenizer become unused `[PAD<id>]` entries, which llama.cpp evaluates
 * like any other), loaded with `loadGguf` (F32 KV cache) and scored with its
 * `scoreContinuations`. Needs a vocabulary of at least 256 + specials ids and
 * the optional node-llama-cpp package. `label` names node-llama-cpp's
 * llama.cpp release once a model is open.
 */
export function llamaCppReference(): LlamaCppReference {
  const ref: LlamaCppReference = {
    label: 'llama.cpp',
    async open(model, dir, { threads }) {
      const path = join(dir, 'model.gguf');
      if (!existsSync(path)) {
        const tokenizer = trainBpe(['llmrec benchmark'], { vocabSize: 256 + BPE_DEFAULT_SPECIAL_TOKENS.length });
        exportGguf(model, tokenizer, path, { dtype: 'f32' });
      }
      const h = await loadGguf(path, { threads, kvCache: 'f32' });
      ref.label = `llama.cpp ${h.llamaCpp}`;
      let lastFirst = 0;
      return {
        scoreContinuations: (prompt, cands) => {
          lastFirst = prompt[0];
          return llamaCppScore(h, Array.from(prompt), cands);
        },
        // One token unlike the prompt's first: the prefix cached for the next call becomes empty.
        reset: async () => { await nextTokenLogits(h, [(lastFirst + 1) % h.vocabSize]); },
        dispose: () => disposeGguf(h),
      };
    },
  };
  return ref;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function describeShape(s: LmBenchShape, kind: 'lm_train' | 'lm_score'): string {
  const model = `d=${s.hidden} L=${s.layers} H=${s.heads}${s.kvHeads && s.kvHeads !== s.heads ? ` G=${s.kvHeads}` : ''} ffn=${s.ffn} V=${s.vocab}`;
  return kind === 'lm_train'
    ? `${model}; B=${s.trainBatch} T=${s.trainSeq}, AdamW`
    : `${model}; prompt ${s.promptLen}, ${s.candidates} candidates x ${s.candidateLen} tokens, prefix shared`;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A reference's outcome for one shape: a timing with optional scores / loss, or why there is none. */
interface RefOutcome {
  ms: number | null; threads?: string; note?: string; scores?: ArrayLike<number>; lossFirst?: number; version?: string;
  /** PyTorch only: every interpreter's timing (ms is the fastest's). */
  all?: TorchTiming[];
}

/**
 * Runs the LM benchmark cases and returns their records (it writes nothing
 * but a scratch directory, removed at the end unless keepDir).
 */
export async function runLmBench(opts: LmBenchOptions = {}): Promise<LmBenchRecord[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const steps = opts.steps ?? (opts.quick ? 3 : 10);
  const warmup = opts.warmup ?? (opts.quick ? 1 : 3);
  const shapes = opts.shapes ?? LM_BENCH_SHAPES;
  const refs = new Set(opts.references ?? LM_REFERENCES);
  const threads = opts.referenceThreads ?? [1, 2];
  const seed = opts.seed ?? 0;
  const llamaCpp = opts.llamaCpp ?? llamaCppReference();
  await initEngine();
  const paths = opts.paths ?? [engineInfo().matmulPath];
  const prevPath = engineInfo().matmulPath;
  // Every PyTorch that imports (bench/torch.ts); the fastest is the reference.
  const torchChecks = refs.has('pytorch') ? torchInstalls() : [];
  const torches = torchChecks.filter((t) => t.ok);
  const torch: TorchCheck = torches[0] ?? (refs.has('pytorch')
    ? { ok: false, reason: torchChecks.map((t) => t.reason).join('; ') }
    : { ok: false, reason: 'not requested' });
  const ort: { ok: boolean; reason?: string; version?: string } = refs.has('onnxruntime') ? await onnxRuntimeAvailable() : { ok: false, reason: 'not requested' };
  log(`lm bench: steps ${steps}, warm-up ${warmup}; pytorch ${torch.ok ? torches.map((t) => t.version).join(', ') : `unavailable (${torch.reason})`}; onnxruntime ${ort.ok ? ort.version : `unavailable (${ort.reason})`}; llama.cpp ${refs.has('llama.cpp') ? (opts.llamaCpp ? `injected (${opts.llamaCpp.label ?? 'unnamed'})` : 'via node-llama-cpp') : 'not requested'}`);
  const records: LmBenchRecord[] = [];

  for (const s of shapes) {
    const dir = mkdtempSync(join(tmpdir(), `llmrec-lmbench-${s.label}-`));
    const scoringModel = buildLmBenchModel(s, seed);
    try {
      const x = lmBenchInputs(s, seed);
      writeCheckpoint(scoringModel, dir);
      writeLmInputs(dir, s, x);

      // References first (they read the untrained weights from dir / scoringModel).
      const trainRef: RefOutcome = { ms: null, note: torch.ok ? undefined : `pytorch unavailable: ${torch.reason}` };
      const scoreRefs = new Map<LmReference, RefOutcome>();
      if (refs.has('pytorch')) {
        if (torch.ok) {
          const runs: Array<{ python: string; r: TorchLmResult }> = [];
          const errors: string[] = [];
          for (const t of torches) {
            try {
              runs.push({ python: t.python!, r: runTorchLm(dir, { steps, warmup, threads: threads.length === 1 ? (String(threads[0]) as '1' | '2') : 'auto', python: t.python }) });
            } catch (e) {
              errors.push(`${t.python}: ${message(e)}`);
            }
          }
          const trainAll = runs.map(({ python, r }) => ({ python, version: r.torch, ms: r.train!.ms_median, threads: r.threads }));
          const scoreAll = runs.map(({ python, r }) => ({ python, version: r.torch, ms: r.score!.ms_median, threads: r.score_threads }));
          const bt = fastestTorch(trainAll);
          const bs = fastestTorch(scoreAll);
          if (bt && bs) {
            const rt = runs[trainAll.indexOf(bt)].r;
            const rs = runs[scoreAll.indexOf(bs)].r;
            Object.assign(trainRef, { ms: bt.ms, threads: bt.threads, lossFirst: rt.train!.loss_first, version: `pytorch ${bt.version}`, all: trainAll });
            scoreRefs.set('pytorch', { ms: bs.ms, threads: bs.threads, scores: rs.score!.scores, version: `pytorch ${bs.version}`, all: scoreAll });
          } else {
            trainRef.note = errors.join('; ');
            scoreRefs.set('pytorch', { ms: null, note: errors.join('; ') });
          }
        } else {
          scoreRefs.set('pytorch', { ms: null, note: `pytorch unavailable: ${torch.reason}` });
        }
      }
      if (refs.has('onnxruntime')) {
        if (!ort.ok) scoreRefs.set('onnxruntime', { ms: null, note: ort.reason });
        else if (!torch.ok) scoreRefs.set('onnxruntime', { ms: null, note: `the ONNX export needs PyTorch: ${torch.reason}` });
        else {
          try {
            const { withPast } = exportOnnx(dir, { plain: false, withPast: true });
            const r = await timeOnnxScore(withPast!, x, { warmup, steps, threads });
            scoreRefs.set('onnxruntime', { ms: r.ms, threads: String(r.threads), scores: r.scores, version: `onnxruntime-node ${ort.version} (KV-cache graph)` });
          } catch (e) {
            scoreRefs.set('onnxruntime', { ms: null, note: message(e) });
          }
        }
      }
      if (refs.has('llama.cpp')) {
        try {
          const r = await timeLlamaCppScore(llamaCpp, scoringModel, dir, x, { warmup, steps, threads });
          scoreRefs.set('llama.cpp', { ms: r.ms, threads: String(r.threads), scores: r.scores, version: llamaCpp.label });
        } catch (e) {
          scoreRefs.set('llama.cpp', { ms: null, note: `llama.cpp: ${message(e)}` });
        }
      }

      for (const path of paths) {
        setMatmulPath(path);
        const sc = timeOursScore(scoringModel, x, warmup, steps);
        if (refs.has('pytorch')) {
          const trainModel = buildLmBenchModel(s, seed);
          let tr: ReturnType<typeof timeOursTrain>;
          try {
            tr = timeOursTrain(trainModel, s, x, warmup, steps);
          } finally {
            trainModel.dispose();
          }
          const tokens = s.trainBatch * s.trainSeq;
          const rec: LmBenchRecord = {
            name: `lm_train_${s.label}`, kind: 'lm_train', engine_path: path, shape: describeShape(s, 'lm_train'), unit: 'tokens/s',
            ours_ms: round(tr.ms), ours_per_s: round((tokens * 1000) / tr.ms, 1),
            reference: 'pytorch', reference_ms: trainRef.ms != null ? round(trainRef.ms) : null,
            reference_per_s: trainRef.ms != null ? round((tokens * 1000) / trainRef.ms, 1) : null,
            ratio: trainRef.ms != null ? round(tr.ms / trainRef.ms, 3) : null,
            loss_first: round(tr.losses[0], 4), loss_last: round(tr.losses[tr.losses.length - 1], 4),
            trainable_params: scoringModel.store.count(true),
          };
          if (trainRef.version) rec.reference_version = trainRef.version;
          if (trainRef.threads) rec.reference_threads = trainRef.threads;
          if (trainRef.lossFirst !== undefined) rec.reference_loss_first = round(trainRef.lossFirst, 4);
          if (trainRef.note) rec.reference_note = trainRef.note;
          if (trainRef.all) rec.torch_refs = trainRef.all.map((r) => ({ ...r, ms: round(r.ms) }));
          records.push(rec);
          log(`${rec.name.padEnd(14)} ${path.padEnd(5)} ours ${rec.ours_per_s.toFixed(0).padStart(8)} tokens/s  pytorch ${rec.reference_per_s?.toFixed(0) ?? `n/a (${rec.reference_note})`}  ratio ${rec.ratio ?? 'n/a'}`);
        }
        for (const [ref, o] of scoreRefs) {
          const rec: LmBenchRecord = {
            name: `lm_score_${s.label}`, kind: 'lm_score', engine_path: path, shape: describeShape(s, 'lm_score'), unit: 'candidates/s',
            ours_ms: round(sc.ms, 3), ours_per_s: round((s.candidates * 1000) / sc.ms, 1),
            reference: ref, reference_ms: o.ms != null ? round(o.ms, 3) : null,
            reference_per_s: o.ms != null ? round((s.candidates * 1000) / o.ms, 1) : null,
            ratio: o.ms != null ? round(sc.ms / o.ms, 3) : null,
            max_abs_score_diff: o.scores ? maxAbsDiff(sc.scores, o.scores) : null,
          };
          if (o.version) rec.reference_version = o.version;
          if (o.threads) rec.reference_threads = o.threads;
          if (o.note) rec.reference_note = o.note;
          if (o.all) rec.torch_refs = o.all.map((r) => ({ ...r, ms: round(r.ms, 3) }));
          records.push(rec);
          log(`${rec.name.padEnd(14)} ${path.padEnd(5)} ours ${rec.ours_per_s.toFixed(1).padStart(8)} cand/s  ${ref} ${rec.reference_per_s?.toFixed(1) ?? `n/a (${o.note})`}  ratio ${rec.ratio ?? 'n/a'}  max|Δscore| ${rec.max_abs_score_diff ?? 'n/a'}`);
        }
      }
    } finally {
      scoringModel.dispose();
      setMatmulPath(prevPath);
      if (opts.keepDir) log(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  }
  return records;
}
