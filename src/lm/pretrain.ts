/**
 * From-scratch pre-training of any family: documents are tokenised, joined with
 * an end-of-text token and cut into fixed blocks; blocks are visited in a
 * seeded order (a fresh permutation per epoch, a pure function of the step
 * so a resumed run sees exactly the batches it would have seen); AdamW with
 * warmup + cosine decay and global-norm clipping. Checkpoints (weights,
 * optimizer moments, step) are written atomically every `checkpointEvery`
 * steps and when interrupted; `resume` continues from the last one.
 *
 * What is learned from a batch of blocks is an `Objective`: causal LM for
 * decoders (`causalObjective`), span corruption for T5 and masked LM for
 * BERT (lm/objectives.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/index.js';
import { AdamW } from '../nn/index.js';
import { readSafetensors, type SafeTensor, writeSafetensors } from '../io/safetensors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { Mulberry32, mixSeed } from '../util/random.js';
import { savePretrained } from './checkpoint.js';
import type { CausalLM } from './families/decoder.js';
import type { LanguageModel } from './families/index.js';
import { causalLmLoss } from './loss.js';
import { warmupCosine } from './schedule.js';
import { loadStateDict } from './state_dict.js';

export interface PretrainOptions {
  blockSize: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  maxSteps: number;
  weightDecay?: number;
  clipNorm?: number;
  seed?: number;
  /** Write a resumable checkpoint every this many steps (0: only at the end / on interruption). */
  checkpointEvery?: number;
  /** Measure held-out perplexity every this many steps (0: only at the end). */
  evalEvery?: number;
  signal?: AbortSignal;
  onStep?: (s: StepReport) => void;
  onEval?: (step: number, perplexity: number) => void;
}

/**
 * A pre-training objective: the loss of a batch of token blocks ([B * T],
 * row-major). `step` seeds any corruption so a resumed run repeats it.
 * `training` is false for held-out evaluation (deterministic corruption).
 */
export interface Objective<M extends LanguageModel = LanguageModel> {
  name: string;
  loss(model: M, ids: Int32Array, B: number, T: number, step: number, training: boolean): tf.Scalar;
  /**
   * Tokens the last `loss` call fed to the model, for throughput reports
   * (objectives whose blocks are references, not tokens; default: the block size).
   */
  lastBatchTokens?(): number;
}

/** Next-token prediction on every position (decoder-only families). */
export const causalObjective: Objective<CausalLM> = {
  name: 'causal-lm',
  loss: (model, ids, B, _T, _step, training) => causalLmLoss(model.forward({ inputIds: ids, batch: B, training }).logits, ids),
};

export interface StepReport { step: number; maxSteps: number; loss: number; lr: number; tokensPerSecond: number }

export interface PretrainResult {
  steps: number;
  interrupted: boolean;
  /** Mean training loss over the last 50 steps. */
  trainLoss: number;
  heldOutPerplexity: number;
  tokensPerSecond: number;
  seconds: number;
}

/** Concatenates documents (each followed by `eos`) and cuts the stream into blocks of `blockSize` (the tail is dropped). */
export function packBlocks(docs: readonly number[][], eos: number, blockSize: number): Int32Array[] {
  if (!Number.isInteger(blockSize) || blockSize < 2) throw new Error(`blockSize must be an integer >= 2, got ${blockSize}`);
  const total = docs.reduce((a, d) => a + d.length + 1, 0);
  const stream = new Int32Array(total);
  let p = 0;
  for (const d of docs) { stream.set(d, p); p += d.length; stream[p++] = eos; }
  const n = Math.floor(total / blockSize);
  return Array.from({ length: n }, (_, i) => stream.subarray(i * blockSize, (i + 1) * blockSize));
}

/** Block indices of step `step` (deterministic in seed and step). */
export function batchIndices(numBlocks: number, batchSize: number, step: number, seed: number): number[] {
  const out: number[] = [];
  let cachedEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  for (let j = 0; j < batchSize; j++) {
    const i = step * batchSize + j;
    const epoch = Math.floor(i / numBlocks);
    if (epoch !== cachedEpoch) {
      perm = Int32Array.from({ length: numBlocks }, (_, k) => k);
      const rng = new Mulberry32(mixSeed(seed, 1000 + epoch));
      for (let k = numBlocks - 1; k > 0; k--) {
        const r = Math.floor(rng.next() * (k + 1));
        const t = perm[k]; perm[k] = perm[r]; perm[r] = t;
      }
      cachedEpoch = epoch;
    }
    out.push(perm[i % numBlocks]);
  }
  return out;
}

/** exp(mean next-token NLL) over blocks, `batch` blocks per forward pass (causal LM). */
export function perplexity(model: CausalLM, blocks: readonly Int32Array[], batch = 8): number {
  return Math.exp(heldOutLoss(model, blocks, causalObjective, batch));
}

/** Mean objective loss over held-out blocks (each batch weighted by its block count). */
export function heldOutLoss<M extends LanguageModel>(model: M, blocks: readonly Int32Array[], objective: Objective<M>, batch = 8): number {
  if (blocks.length === 0) throw new Error('perplexity: no held-out blocks (corpus too small for the block size?)');
  let sum = 0;
  let count = 0;
  for (let s = 0; s < blocks.length; s += batch) {
    const group = blocks.slice(s, s + batch);
    const T = group[0].length;
    const ids = new Int32Array(group.length * T);
    group.forEach((b, i) => ids.set(b, i * T));
    const loss = tf.tidy(() => objective.loss(model, ids, group.length, T, s, false).dataSync()[0]);
    sum += loss * group.length;
    count += group.length;
  }
  return sum / count;
}

const CKPT = 'checkpoint';

function saveCheckpoint(dir: string, model: LanguageModel, opt: AdamW, step: number, seed: number): void {
  writeDirAtomic(join(dir, CKPT), (tmp) => {
    savePretrained(model, tmp);
    const moments = new Map<string, SafeTensor>();
    for (const [name, v] of model.store.vars) {
      const m = opt.moments(v);
      if (!m) continue;
      moments.set(`m.${name}`, { dtype: 'F32', shape: [...v.shape], data: m.m });
      moments.set(`v.${name}`, { dtype: 'F32', shape: [...v.shape], data: m.v });
    }
    writeSafetensors(join(tmp, 'optimizer.safetensors'), moments);
    writeFileAtomic(join(tmp, 'trainer_state.json'), JSON.stringify({ step, seed }) + '\n');
  });
}

function loadCheckpoint(dir: string, model: LanguageModel, opt: AdamW, seed: number): number {
  const ck = join(dir, CKPT);
  const state = JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')) as { step: number; seed: number };
  if (state.seed !== seed) throw new Error(`resume: checkpoint ${ck} was trained with seed ${state.seed}, this run uses ${seed}`);
  loadStateDict(model.store, readSafetensors(join(ck, 'model.safetensors')).tensors, { source: ck, ignore: (n) => model.stateDictIgnore(n) });
  const mom = readSafetensors(join(ck, 'optimizer.safetensors')).tensors;
  const map = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
  for (const [name, v] of model.store.vars) {
    const m = mom.get(`m.${name}`);
    const s = mom.get(`v.${name}`);
    if (m && s) map.set(v, { m: m.data as Float32Array, v: s.data as Float32Array });
  }
  opt.loadState(state.step, map);
  return state.step;
}

/** Whether `dir` holds a resumable pre-training checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CKPT, 'trainer_state.json'));
}

/** Causal-LM pre-training of a decoder (see `pretrain`). */
export function pretrainCausalLM(model: CausalLM, train: readonly Int32Array[], heldOut: readonly Int32Array[], o: PretrainOptions, dir?: string, resume = false): Promise<PretrainResult> {
  return pretrain(model, causalObjective, train, heldOut, o, dir, resume);
}

/**
 * Trains `model` with `objective` on `train` blocks; `heldOut` blocks give
 * the held-out loss (reported as its exponential, a perplexity). With `dir`,
 * checkpoints go to `dir/checkpoint`; `resume` continues from it. The loop
 * yields to the event loop every step, so an AbortSignal fired from a signal
 * handler (Ctrl-C) stops it after the current step with a checkpoint.
 */
export async function pretrain<M extends LanguageModel>(model: M, objective: Objective<M>, train: readonly Int32Array[], heldOut: readonly Int32Array[], o: PretrainOptions, dir?: string, resume = false): Promise<PretrainResult> {
  if (train.length === 0) throw new Error('pretrain: no training blocks (corpus smaller than one block?)');
  const seed = o.seed ?? 0;
  const opt = new AdamW({ lr: o.lr, weightDecay: o.weightDecay ?? 0.01, clipNorm: o.clipNorm ?? 1 });
  const t0 = performance.now();
  let step = 0;
  if (resume) {
    if (!dir || !hasCheckpoint(dir)) throw new Error(`resume: no checkpoint in ${dir ?? '(no directory)'}`);
    step = loadCheckpoint(dir, model, opt, seed);
  }
  const vars = model.store.trainable();
  const T = o.blockSize;
  const recent: number[] = [];
  let tokens = 0;
  let interrupted = false;
  const tStart = performance.now();
  model.store.training = true;
  try {
    while (step < o.maxSteps) {
      // Yield to the event loop so a SIGINT handler (Ctrl-C -> abort) can run.
      await new Promise<void>((r) => setImmediate(r));
      if (o.signal?.aborted) { interrupted = true; break; }
      const idx = batchIndices(train.length, o.batchSize, step, seed);
      const ids = new Int32Array(idx.length * T);
      idx.forEach((b, i) => {
        if (train[b].length !== T) throw new Error(`pretrain: block ${b} has ${train[b].length} tokens, blockSize is ${T}`);
        ids.set(train[b], i * T);
      });
      opt.lr = warmupCosine(step, o.lr, o.warmupSteps, o.maxSteps);
      model.store.dropoutStream = step + 1;
      const loss = opt.minimize(() => objective.loss(model, ids, idx.length, T, step, true), vars);
      if (!Number.isFinite(loss)) throw new Error(`pretrain: loss became ${loss} at step ${step} (lower the learning rate?)`);
      step++;
      tokens += objective.lastBatchTokens?.() ?? ids.length;
      recent.push(loss);
      if (recent.length > 50) recent.shift();
      o.onStep?.({ step, maxSteps: o.maxSteps, loss, lr: opt.lr, tokensPerSecond: tokens / ((performance.now() - tStart) / 1000) });
      if (dir && o.checkpointEvery && step % o.checkpointEvery === 0 && step < o.maxSteps) saveCheckpoint(dir, model, opt, step, seed);
      if (o.evalEvery && step % o.evalEvery === 0 && heldOut.length > 0 && step < o.maxSteps) {
        model.store.training = false;
        o.onEval?.(step, Math.exp(heldOutLoss(model, heldOut, objective)));
        model.store.training = true;
      }
    }
  } finally {
    model.store.training = false;
  }
  if (dir && (interrupted || step > 0)) saveCheckpoint(dir, model, opt, step, seed);
  opt.dispose();
  const ppl = heldOut.length > 0 && !interrupted ? Math.exp(heldOutLoss(model, heldOut, objective)) : NaN;
  if (!interrupted) o.onEval?.(step, ppl);
  const seconds = (performance.now() - t0) / 1000;
  return {
    steps: step, interrupted, trainLoss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length),
    heldOutPerplexity: ppl, tokensPerSecond: tokens / Math.max(1e-9, (performance.now() - tStart) / 1000), seconds,
  };
}
