/**
 * The training loop shared by every NeuralRecommender (RecBole's Trainer.fit):
 *
 *  for each epoch: the training rows in the order epochPermutation(seed, epoch)
 *  (data/batches.ts), per batch sampled negatives + seeded dropout, one AdamW
 *  step (lr, weightDecay, optional clipNorm); the epoch loss is the mean of the
 *  rows' batch losses; then validation with evaluateRecommender on 'valid'
 *  (opts.validProtocol), early stopping on opts.validMetric after
 *  opts.patience epochs without a strict improvement; at the end the best
 *  epoch's weights are restored.
 *
 * Determinism: every random draw of batch b of epoch e comes from
 * mixSeed(mixSeed(seed, 0x20000 + e), b) (negatives, then dropout masks), so
 * the RNG state of a run is just (seed, epoch, batch) and a resumed run replays
 * exactly the same draws. Same seed -> identical losses and weights.
 *
 * Interruption: when opts.signal is aborted the loop stops after the current
 * batch, writes a checkpoint (when checkpointDir is set) and returns
 * interrupted: true; the model then holds the best weights validated so far,
 * or the current ones if no epoch finished.
 *
 * Checkpoints (opts.checkpointDir), written after every epoch and on interrupt:
 *   config.json             { format: 'llmrec-checkpoint', name, config, dims } (for humans and tools)
 *   checkpoint.safetensors  param/<name>, adam_m/<name>, adam_v/<name>, best/<name> (F32), and in its
 *                           metadata 'state' = JSON of TrainState (epoch, batch within the epoch, partial
 *                           loss, optimizer step, epoch reports, best epoch/metric, patience counter, RNG scheme).
 * The safetensors file is the single source of truth and is written atomically,
 * so a crash never leaves a half checkpoint. With opts.resume the fit continues
 * from it (same model/config/dims/seed/batchSize/lr/weightDecay/validMetric required)
 * and ends with the same weights and reports (except timings) as an uninterrupted run.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { tf } from '../engine/index.js';
import { AdamW, type ParamStore } from '../nn/index.js';
import { mixSeed, SeededRng } from '../data/protocol.js';
import { shuffledTrainBatches } from '../data/batches.js';
import type { SplitDataset, TrainSamples } from '../data/types.js';
import { evaluateRecommender } from '../eval/evaluate.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { EpochReport, FitOptions, FitReport, Recommender } from './types.js';
import type { ModelDims, TrainBatch, TrainerHooks } from './neural.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_FORMAT = 'llmrec-checkpoint';

/** Everything besides tensors that a resumed run needs. */
export interface TrainState {
  version: 1;
  name: string;
  config: Record<string, unknown>;
  dims: ModelDims;
  fit: { seed: number; batchSize: number; lr: number; weightDecay: number; validMetric: string; validProtocol: string; numNegatives: number; samples: number };
  /** The epoch in progress (or the next one when batch === 0). */
  epoch: number;
  /** Batches of `epoch` already trained. */
  batch: number;
  /** Sum of loss * rows and rows so far in `epoch`. */
  lossSum: number;
  lossRows: number;
  /** Training seconds spent so far in `epoch` (before an interruption). */
  epochSeconds: number;
  optimizerStep: number;
  epochs: EpochReport[];
  bestEpoch: number;
  bestValue: number | null;
  bestValid: Record<string, number>;
  badEpochs: number;
  stoppedEarly: boolean;
  finished: boolean;
  /** How every random draw is derived (documentation; the state is (seed, epoch, batch)). */
  rng: string;
}

const RNG_SCHEME = 'negatives and dropout of batch b in epoch e: mulberry32(mixSeed(mixSeed(seed, 0x20000 + e), b))';
const METRIC_RE = /^(auc|(hr|ndcg|mrr)@[1-9]\d*)$/;

/** Ranking cut-offs for validation: 1, 5, 10 and the metric's own k. */
export function validationKs(metric: string): number[] {
  const m = /@(\d+)$/.exec(metric);
  const ks = new Set([1, 5, 10]);
  if (m) ks.add(Number(m[1]));
  return [...ks].sort((a, b) => a - b);
}

function checkOptions(opts: FitOptions): void {
  const int = (k: string, x: number, min: number) => {
    if (!Number.isInteger(x) || x < min) throw new Error(`fit: ${k} must be an integer >= ${min}, got ${x}`);
  };
  int('epochs', opts.epochs, 1);
  int('batchSize', opts.batchSize, 1);
  int('patience', opts.patience, 1);
  if (!Number.isInteger(opts.seed)) throw new Error(`fit: seed must be an integer, got ${opts.seed}`);
  if (!(opts.lr > 0)) throw new Error(`fit: lr must be > 0, got ${opts.lr}`);
  if (opts.weightDecay !== undefined && !(opts.weightDecay >= 0)) throw new Error(`fit: weightDecay must be >= 0, got ${opts.weightDecay}`);
  if (!METRIC_RE.test(opts.validMetric)) throw new Error(`fit: validMetric must be 'auc', 'hr@k', 'ndcg@k' or 'mrr@k', got '${opts.validMetric}'`);
  if (opts.validProtocol !== 'full' && opts.validProtocol !== 'sampled') throw new Error(`fit: validProtocol must be 'full' or 'sampled', got '${String(opts.validProtocol)}'`);
}

/** Uniform negatives from 1..numItems, never equal to the row's target. */
export function sampleTrainNegatives(target: Int32Array, k: number, numItems: number, rng: SeededRng): Int32Array {
  const out = new Int32Array(target.length * k);
  for (let r = 0; r < target.length; r++) {
    const t = target[r];
    for (let j = 0; j < k; j++) {
      let x = 1 + rng.below(numItems - 1);
      if (x >= t) x++;
      out[r * k + j] = x;
    }
  }
  return out;
}

// ----------------------------------------------------------- optimizer state

function readVar(v: tf.Variable): Float32Array {
  return (v.dataSync() as Float32Array).slice();
}

function assignVar(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

function snapshot(store: ParamStore): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of store.vars) out.set(name, readVar(v));
  return out;
}

function restoreSnapshot(store: ParamStore, snap: Map<string, Float32Array>): void {
  for (const [name, v] of store.vars) {
    const d = snap.get(name);
    if (!d) throw new Error(`trainer: snapshot lacks parameter '${name}'`);
    assignVar(v, d);
  }
}

function writeCheckpoint(dir: string, state: TrainState, store: ParamStore, opt: AdamW, best: Map<string, Float32Array> | null): void {
  const tensors = new Map<string, SafeTensor>();
  for (const [name, v] of store.vars) {
    const shape = [...v.shape];
    tensors.set(`param/${name}`, { dtype: 'F32', shape, data: readVar(v) });
    const mom = opt.moments(v);
    if (mom) {
      tensors.set(`adam_m/${name}`, { dtype: 'F32', shape, data: mom.m });
      tensors.set(`adam_v/${name}`, { dtype: 'F32', shape, data: mom.v });
    }
    const b = best?.get(name);
    if (b) tensors.set(`best/${name}`, { dtype: 'F32', shape, data: b });
  }
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify({ format: CHECKPOINT_FORMAT, name: state.name, config: state.config, dims: state.dims }, null, 2) + '\n');
  writeSafetensors(join(dir, CHECKPOINT_FILE), tensors, { format: CHECKPOINT_FORMAT, state: JSON.stringify(state) });
}

interface Loaded {
  state: TrainState;
  best: Map<string, Float32Array> | null;
}

function loadCheckpoint(dir: string, expect: TrainState, store: ParamStore, opt: AdamW): Loaded {
  const path = join(dir, CHECKPOINT_FILE);
  const file = readSafetensors(path);
  if (file.metadata.format !== CHECKPOINT_FORMAT || typeof file.metadata.state !== 'string') throw new Error(`${path} is not an llmrec training checkpoint`);
  let state: TrainState;
  try {
    state = JSON.parse(file.metadata.state) as TrainState;
  } catch (e) {
    throw new Error(`${path}: unreadable training state (${(e as Error).message})`, { cause: e });
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const mismatch: string[] = [];
  if (state.version !== 1) mismatch.push(`version ${state.version}`);
  if (state.name !== expect.name) mismatch.push(`model '${state.name}' vs '${expect.name}'`);
  if (!same(state.config, expect.config)) mismatch.push(`config ${JSON.stringify(state.config)} vs ${JSON.stringify(expect.config)}`);
  if (!same(state.dims, expect.dims)) mismatch.push(`dims ${JSON.stringify(state.dims)} vs ${JSON.stringify(expect.dims)}`);
  if (!same(state.fit, expect.fit)) mismatch.push(`fit options ${JSON.stringify(state.fit)} vs ${JSON.stringify(expect.fit)}`);
  if (mismatch.length) throw new Error(`cannot resume from ${path}: it was written by a different run (${mismatch.join('; ')})`);

  const get = (key: string, v: tf.Variable): Float32Array => {
    const t = file.tensors.get(key);
    if (!t || t.dtype !== 'F32' || t.shape.length !== v.shape.length || t.shape.some((s, i) => s !== v.shape[i])) {
      throw new Error(`${path}: tensor '${key}' missing or not F32 ${JSON.stringify(v.shape)}`);
    }
    return t.data as Float32Array;
  };
  for (const [name, v] of store.vars) assignVar(v, get(`param/${name}`, v));
  const moments = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
  for (const [name, v] of store.vars) {
    if (!file.tensors.has(`adam_m/${name}`)) continue; // never updated (frozen) or step 0
    moments.set(v, { m: get(`adam_m/${name}`, v), v: get(`adam_v/${name}`, v) });
  }
  opt.loadState(state.optimizerStep, moments);
  let best: Map<string, Float32Array> | null = null;
  if (state.bestEpoch >= 0) {
    best = new Map();
    for (const [name, v] of store.vars) best.set(name, get(`best/${name}`, v).slice());
  }
  return { state, best };
}

// ------------------------------------------------------------------ the loop

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function report(state: TrainState, interrupted: boolean): FitReport {
  const secs = state.epochs.map((e) => e.seconds);
  return {
    epochs: state.epochs.map((e) => ({ ...e, valid: { ...e.valid } })),
    bestEpoch: state.bestEpoch,
    bestValid: { ...state.bestValid },
    stoppedEarly: state.stoppedEarly,
    interrupted,
    secondsPerEpoch: secs.length ? secs.reduce((a, b) => a + b, 0) / secs.length : 0,
  };
}

/** Runs (or resumes) the training of one model; see the file comment. */
export async function runTraining(h: TrainerHooks, data: SplitDataset, opts: FitOptions): Promise<FitReport> {
  checkOptions(opts);
  const samples: TrainSamples = h.samples;
  if (samples.count === 0) throw new Error(`${h.model.name}: no training samples`);
  const weightDecay = opts.weightDecay ?? 0;
  const opt = new AdamW({ lr: opts.lr, weightDecay, clipNorm: h.clipNorm });
  const vars = h.store.trainable();
  if (vars.length === 0) throw new Error(`${h.model.name}: the model has no trainable parameters`);
  let state: TrainState = {
    version: 1,
    name: h.model.name,
    config: JSON.parse(JSON.stringify(h.model.config)) as Record<string, unknown>,
    dims: { ...h.dims },
    fit: {
      seed: opts.seed, batchSize: opts.batchSize, lr: opts.lr, weightDecay,
      validMetric: opts.validMetric, validProtocol: opts.validProtocol, numNegatives: h.numNegatives, samples: samples.count,
    },
    epoch: 0, batch: 0, lossSum: 0, lossRows: 0, epochSeconds: 0, optimizerStep: 0,
    epochs: [], bestEpoch: -1, bestValue: null, bestValid: {}, badEpochs: 0,
    stoppedEarly: false, finished: false, rng: RNG_SCHEME,
  };
  let best: Map<string, Float32Array> | null = null;
  const ckptDir = opts.checkpointDir;
  try {
    if (ckptDir && opts.resume && existsSync(join(ckptDir, CHECKPOINT_FILE))) {
      const loaded = loadCheckpoint(ckptDir, state, h.store, opt);
      state = loaded.state;
      best = loaded.best;
      state.finished = state.finished && state.epoch >= opts.epochs;
    }
    const ks = validationKs(opts.validMetric);
    const numBatches = Math.ceil(samples.count / opts.batchSize);
    let interrupted = false;
    let midEpoch = false;

    while (!state.finished && !state.stoppedEarly && state.epoch < opts.epochs) {
      const epoch = state.epoch;
      const epochSeed = mixSeed(opts.seed, 0x20000 + epoch);
      let t0 = performance.now();
      let b = 0;
      for (const raw of shuffledTrainBatches(samples, opts.batchSize, opts.seed, epoch)) {
        if (b < state.batch) { b++; continue; } // resumed mid-epoch: replay the order, skip done batches
        const rng = new SeededRng(mixSeed(epochSeed, b));
        const k = h.numNegatives;
        const batch: TrainBatch = {
          ...raw,
          numNegatives: k,
          negatives: k > 0 ? sampleTrainNegatives(raw.target, k, h.dims.numItems, rng) : new Int32Array(0),
        };
        const dropSeed = rng.uint32();
        let loss: number;
        try {
          loss = opt.minimize(() => h.loss(batch, dropSeed), vars);
        } finally {
          h.endStep();
        }
        if (!Number.isFinite(loss)) throw new Error(`${h.model.name}: training loss is ${loss} at epoch ${epoch}, batch ${b} (lower lr or set clipNorm)`);
        b++;
        state.batch = b;
        state.lossSum += loss * raw.size;
        state.lossRows += raw.size;
        state.optimizerStep = opt.step;
        opts.onBatch?.(b, numBatches, loss);
        if (opts.signal?.aborted) { interrupted = true; break; }
        await yieldToEventLoop();
        if (opts.signal?.aborted) { interrupted = true; break; }
      }
      if (interrupted && state.batch < numBatches) {
        state.epochSeconds += (performance.now() - t0) / 1000;
        midEpoch = true;
        break;
      }
      const trainSeconds = state.epochSeconds + (performance.now() - t0) / 1000;
      t0 = performance.now();
      h.setTraining(false);
      const valid = evaluateRecommender(h.model, data, 'valid', { protocol: opts.validProtocol, ks });
      const value = valid[opts.validMetric];
      if (typeof value !== 'number') {
        throw new Error(`${h.model.name}: validMetric '${opts.validMetric}' is not among the validation metrics (${Object.keys(valid).join(', ')})`);
      }
      const improved = state.bestValue === null || value > state.bestValue;
      if (improved) {
        state.bestEpoch = epoch;
        state.bestValue = value;
        state.bestValid = { ...valid };
        state.badEpochs = 0;
        best = snapshot(h.store);
      } else {
        state.badEpochs++;
      }
      const rep: EpochReport = {
        epoch,
        loss: state.lossSum / state.lossRows,
        valid: { ...valid },
        seconds: trainSeconds + (performance.now() - t0) / 1000,
        best: improved,
      };
      state.epochs.push(rep);
      state.epoch = epoch + 1;
      state.batch = 0;
      state.lossSum = 0;
      state.lossRows = 0;
      state.epochSeconds = 0;
      if (state.badEpochs >= opts.patience) state.stoppedEarly = true;
      if (state.epoch >= opts.epochs || state.stoppedEarly) state.finished = true;
      opts.onEpoch?.({ ...rep, valid: { ...rep.valid } });
      if (ckptDir) writeCheckpoint(ckptDir, state, h.store, opt, best);
      if (interrupted || opts.signal?.aborted) { interrupted = !state.finished; break; }
    }
    if (midEpoch && ckptDir) writeCheckpoint(ckptDir, state, h.store, opt, best);
    if (best) restoreSnapshot(h.store, best);
    return report(state, interrupted);
  } finally {
    h.setTraining(false);
    opt.dispose();
  }
}

/**
 * The FitReport of a model without gradient training (Pop, Random): one
 * "epoch" 0 with loss 0 and the validation metrics of the fitted model.
 */
export function validateOnce(model: Recommender, data: SplitDataset, opts: FitOptions, seconds: number): FitReport {
  checkOptions(opts);
  const t0 = performance.now();
  const valid = evaluateRecommender(model, data, 'valid', { protocol: opts.validProtocol, ks: validationKs(opts.validMetric) });
  const rep: EpochReport = { epoch: 0, loss: 0, valid: { ...valid }, seconds: seconds + (performance.now() - t0) / 1000, best: true };
  opts.onEpoch?.({ ...rep, valid: { ...valid } });
  return { epochs: [rep], bestEpoch: 0, bestValid: { ...valid }, stoppedEarly: false, interrupted: false, secondsPerEpoch: rep.seconds };
}
