/**
 * From-scratch pre-training of any family: documents are tokenised, joined with
 * an end-of-text token and cut into fixed blocks; blocks are visited in a
 * seeded order (a fresh permutation per epoch, a pure function of the step
 * so a resumed run sees exactly the batches it would have seen); AdamW with
 * warmup + cosine decay and global-norm clipping, on the shared step loop
 * (src/train/loop.ts). Checkpoints (`dir/checkpoint/`, the layout of
 * src/train/checkpoint.ts: HF model folder, optimizer moments, trainer state)
 * are written atomically every `checkpointEvery` steps, when interrupted and
 * at the end; `resume` continues from the last one.
 *
 * What is learned from a batch of blocks is an `Objective`: causal LM for
 * decoders (`causalObjective`), span corruption for T5 and masked LM for
 * BERT (lm/objectives.ts).
 */
import { tf } from '../engine/index.js';
import { AdamW } from '../nn/index.js';
import { hasCheckpoint as hasTrainCheckpoint, loadCheckpoint, LossWindow, restoreOptimizer, runLoop, saveCheckpoint, warmupCosineSchedule } from '../train/index.js';
import { Mulberry32, mixSeed } from '../util/random.js';
import { savePretrained } from './checkpoint.js';
import type { CausalLM } from './families/decoder.js';
import type { LanguageModel } from './families/index.js';
import { causalLmLoss } from './loss.js';
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

const RNG_SCHEME = 'blocks of step s: batchIndices(numBlocks, batchSize, s, seed); dropout stream s + 1; the objective seeds its corruption with s';

/** The identity a resumed pre-training must match. */
function identityOf(objective: Objective<LanguageModel>, o: PretrainOptions, seed: number, numBlocks: number): Record<string, unknown> {
  return { objective: objective.name, seed, blockSize: o.blockSize, batchSize: o.batchSize, blocks: numBlocks };
}

/**
 * Whether `dir` holds a pre-training checkpoint (`dir/checkpoint/`, src/train/checkpoint.ts);
 * also true for an llmrec 0.1 one, which a resume then refuses with what to do.
 */
export function hasCheckpoint(dir: string): boolean {
  return hasTrainCheckpoint(dir);
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
  const optimizers = { adamw: { opt, vars: model.store.vars } };
  const identity = identityOf(objective as Objective<LanguageModel>, o, seed, train.length);
  const t0 = performance.now();
  let step = 0;
  let window = new LossWindow(50);
  try {
    if (resume) {
      if (!dir || !hasCheckpoint(dir)) throw new Error(`resume: no checkpoint in ${dir ?? '(no directory)'}`);
      const ck = loadCheckpoint(dir, { trainer: 'pretrain', identity });
      loadStateDict(model.store, ck.model, { source: ck.dir, ignore: (n) => model.stateDictIgnore(n) });
      restoreOptimizer(ck, 'adamw', optimizers.adamw);
      step = ck.state.step;
      window = new LossWindow(50, ck.state.lossWindow);
    }
    const vars = model.store.trainable();
    const T = o.blockSize;
    let tokens = 0;
    const tStart = performance.now();
    const save = (s: number) => saveCheckpoint(dir!, {
      state: {
        trainer: 'pretrain', step: s, epoch: Math.floor((s * o.batchSize) / train.length), lossWindow: window.toJSON(), bestMetric: null,
        rng: { seed, scheme: RNG_SCHEME }, identity, extra: { maxSteps: o.maxSteps, warmupSteps: o.warmupSteps, lr: o.lr },
      },
      model: (tmp) => savePretrained(model, tmp),
      optimizers,
    });
    model.store.training = true;
    let loop;
    try {
      loop = await runLoop({
        name: 'pretrain',
        maxSteps: o.maxSteps,
        startStep: step,
        signal: o.signal,
        yieldAt: 'before', // so a SIGINT handler (Ctrl-C -> abort) can run before each step
        lr: { optimizers: [opt], schedule: warmupCosineSchedule(o.lr, o.warmupSteps, o.maxSteps) },
        window,
        step: (s) => {
          const idx = batchIndices(train.length, o.batchSize, s, seed);
          const ids = new Int32Array(idx.length * T);
          idx.forEach((b, i) => {
            if (train[b].length !== T) throw new Error(`pretrain: block ${b} has ${train[b].length} tokens, blockSize is ${T}`);
            ids.set(train[b], i * T);
          });
          model.store.dropoutStream = s + 1;
          const loss = opt.minimize(() => objective.loss(model, ids, idx.length, T, s, true), vars);
          tokens += objective.lastBatchTokens?.() ?? ids.length;
          return { loss };
        },
        onStep: (r) => o.onStep?.({ step: r.step, maxSteps: o.maxSteps, loss: r.losses.loss, lr: opt.lr, tokensPerSecond: tokens / ((performance.now() - tStart) / 1000) }),
        checkpointEvery: dir ? o.checkpointEvery : 0,
        checkpoint: (s, reason) => {
          if (dir && (reason !== 'end' || s > 0)) save(s);
        },
        afterStep: (s) => {
          if (o.evalEvery && s % o.evalEvery === 0 && heldOut.length > 0 && s < o.maxSteps) {
            model.store.training = false;
            o.onEval?.(s, Math.exp(heldOutLoss(model, heldOut, objective)));
            model.store.training = true;
          }
        },
      });
    } finally {
      model.store.training = false;
    }
    step = loop.step;
    const interrupted = loop.interrupted;
    const ppl = heldOut.length > 0 && !interrupted ? Math.exp(heldOutLoss(model, heldOut, objective)) : NaN;
    if (!interrupted) o.onEval?.(step, ppl);
    const seconds = (performance.now() - t0) / 1000;
    return {
      steps: step, interrupted, trainLoss: loop.window.mean('loss'),
      heldOutPerplexity: ppl, tokensPerSecond: tokens / Math.max(1e-9, (performance.now() - tStart) / 1000), seconds,
    };
  } finally {
    opt.dispose();
  }
}
