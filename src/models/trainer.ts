/**
 * The training of every NeuralRecommender (RecBole's Trainer.fit), on the
 * shared step loop (src/train/loop.ts):
 *
 *  for each epoch: the training rows in the order epochPermutation(seed, epoch)
 *  (data/batches.ts; with opts.groupByLength, mega-batches sorted by history length), per batch sampled negatives + seeded dropout, one AdamW
 *  step (lr, weightDecay, optional clipNorm); the epoch loss is the mean of the
 *  rows' batch losses; then (the loop's epoch-end hook) validation with
 *  evaluateRecommender on 'valid' (opts.validProtocol), early stopping on
 *  opts.validMetric after opts.patience epochs without a strict improvement;
 *  at the end the best epoch's weights are restored. With opts.lrDecay the
 *  learning rate is multiplied by it after opts.lrDecayPatience (default 1)
 *  epochs in a row without a strict improvement (ReduceLROnPlateau); the rate
 *  in force is part of the checkpoint, so a resumed run decays identically.
 *
 * Determinism: every random draw of batch b of epoch e comes from
 * mixSeed(mixSeed(seed, 0x20000 + e), b) (negatives, then dropout masks), so
 * the RNG state of a run is just (seed, epoch, batch) and a resumed run replays
 * exactly the same draws. Same seed -> identical losses and weights.
 *
 * Interruption: when opts.signal is aborted the loop stops after the current
 * batch, or within one batch of users of an epoch's validation
 * (evaluateRecommenderInterruptible), writes a checkpoint (when checkpointDir
 * is set) and returns interrupted: true; the model then holds the best
 * weights validated so far, or the current ones if no epoch finished. A run
 * resumed at the end of an epoch whose validation was cut short validates
 * that epoch first.
 *
 * Checkpoints (opts.checkpointDir), written after every epoch and on an
 * interrupt mid-epoch, in the layout of src/train/checkpoint.ts:
 * `<checkpointDir>/checkpoint/` with model.safetensors (parameters by store
 * name), best.safetensors (the best epoch's weights), optimizer.safetensors
 * (AdamW moments) and trainer_state.json (step, epoch, loss window, best
 * metric, rng scheme, the run's identity: model name/config/dims and fit
 * options, and in 'extra' the epoch in progress: batch, partial loss, epoch
 * reports, patience counter). With opts.resume the fit continues from it (same
 * identity required) and ends with the same weights and reports (except
 * timings) as an uninterrupted run. A checkpoint.safetensors of llmrec 0.1 is
 * refused with what to do.
 */
import { tf } from '../engine/index.js';
import { AdamW, type ParamStore } from '../nn/index.js';
import { mixSeed, SeededRng } from '../data/protocol.js';
import { shuffledTrainBatches, type TrainBatch as RawBatch } from '../data/batches.js';
import type { SplitDataset, TrainSamples } from '../data/types.js';
import { evaluateRecommender, evaluateRecommenderInterruptible } from '../eval/evaluate.js';
import type { SafeTensor } from '../io/safetensors.js';
import {
  checkpointTensor, CHECKPOINT_FILES, hasCheckpoint, loadCheckpoint, LossWindow, restoreOptimizer, restoreVariables, runLoop, saveCheckpoint,
  type EpochEnd,
} from '../train/index.js';
import type { EpochReport, FitOptions, FitReport, Recommender } from './types.js';
import type { TrainBatch, TrainerHooks } from './train_types.js';

export { CHECKPOINT_DIR, CHECKPOINT_FORMAT } from '../train/index.js';

/** The epoch in progress and the validation history: trainer_state.json 'extra' of a collaborative checkpoint. */
export interface TrainState {
  /** The epoch in progress (or the next one when batch === 0). */
  epoch: number;
  /** Batches of `epoch` already trained. */
  batch: number;
  /** Sum of loss * rows and rows so far in `epoch`. */
  lossSum: number;
  lossRows: number;
  /** Training seconds spent so far in `epoch` (before an interruption). */
  epochSeconds: number;
  epochs: EpochReport[];
  bestEpoch: number;
  bestValue: number | null;
  bestValid: Record<string, number>;
  badEpochs: number;
  stoppedEarly: boolean;
  finished: boolean;
  /** With lrDecay: the learning rate in force and the epochs without improvement since the last decay. */
  lr?: number;
  decayBad?: number;
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
  if (opts.groupByLength !== undefined) int('groupByLength', opts.groupByLength, 0);
  if (opts.lrDecay !== undefined && !(opts.lrDecay > 0 && opts.lrDecay < 1)) throw new Error(`fit: lrDecay must be in (0, 1), got ${opts.lrDecay}`);
  if (opts.lrDecayPatience !== undefined) {
    int('lrDecayPatience', opts.lrDecayPatience, 1);
    if (opts.lrDecay === undefined) throw new Error('fit: lrDecayPatience is set but lrDecay is not (the factor the learning rate is multiplied by)');
  }
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

// ------------------------------------------------------------------ weights

function snapshot(store: ParamStore): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of store.vars) out.set(name, (v.dataSync() as Float32Array).slice());
  return out;
}

function restoreSnapshot(store: ParamStore, snap: Map<string, Float32Array>): void {
  for (const [name, v] of store.vars) {
    const d = snap.get(name);
    if (!d) throw new Error(`trainer: snapshot lacks parameter '${name}'`);
    const t = tf.tensor(d, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}

function checkState(x: unknown, path: string): TrainState {
  const s = x as TrainState;
  const num = ['epoch', 'batch', 'lossSum', 'lossRows', 'epochSeconds', 'bestEpoch', 'badEpochs'] as const;
  for (const k of num) if (typeof s?.[k] !== 'number') throw new Error(`${path}: field 'extra.${k}' missing or not a number`);
  if (!Array.isArray(s.epochs)) throw new Error(`${path}: field 'extra.epochs' missing or not an array`);
  return s;
}

// ------------------------------------------------------------------ the loop

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
  const group = opts.groupByLength ?? 0;
  const decay = opts.lrDecay;
  const decayPatience = opts.lrDecayPatience ?? 1;
  const opt = new AdamW({ lr: opts.lr, weightDecay, clipNorm: h.clipNorm });
  const vars = h.store.trainable();
  if (vars.length === 0) throw new Error(`${h.model.name}: the model has no trainable parameters`);
  const optimizers = { adamw: { opt, vars: h.store.vars } };
  const identity: Record<string, unknown> = {
    model: h.model.name,
    config: JSON.parse(JSON.stringify(h.model.config)) as Record<string, unknown>,
    dims: { ...h.dims },
    fit: {
      seed: opts.seed, batchSize: opts.batchSize, lr: opts.lr, weightDecay,
      validMetric: opts.validMetric, validProtocol: opts.validProtocol, numNegatives: h.numNegatives, samples: samples.count,
      ...(group > 1 ? { groupByLength: group } : {}),
      ...(decay !== undefined ? { lrDecay: decay, lrDecayPatience: decayPatience } : {}),
    },
  };
  let state: TrainState = {
    epoch: 0, batch: 0, lossSum: 0, lossRows: 0, epochSeconds: 0,
    epochs: [], bestEpoch: -1, bestValue: null, bestValid: {}, badEpochs: 0,
    stoppedEarly: false, finished: false,
    ...(decay !== undefined ? { lr: opts.lr, decayBad: 0 } : {}),
  };
  let best: Map<string, Float32Array> | null = null;
  let window = new LossWindow(50);
  const ckptDir = opts.checkpointDir;
  const numBatches = Math.ceil(samples.count / opts.batchSize);
  const save = () => {
    if (!ckptDir) return;
    let bestTensors: Map<string, SafeTensor> | undefined;
    if (best) {
      bestTensors = new Map();
      for (const [name, v] of h.store.vars) bestTensors.set(name, { dtype: 'F32', shape: [...v.shape], data: best.get(name)! });
    }
    saveCheckpoint(ckptDir, {
      state: {
        trainer: 'collaborative', step: state.epoch * numBatches + state.batch, epoch: state.epoch, lossWindow: window.toJSON(),
        bestMetric: state.bestValue === null ? null : { name: opts.validMetric, value: state.bestValue, epoch: state.bestEpoch },
        rng: { seed: opts.seed, scheme: RNG_SCHEME }, identity, extra: { ...state },
      },
      model: h.store.vars,
      best: bestTensors,
      optimizers,
    });
  };
  try {
    if (ckptDir && opts.resume && hasCheckpoint(ckptDir)) {
      const ck = loadCheckpoint(ckptDir, { trainer: 'collaborative', identity });
      state = checkState(ck.state.extra, `${ck.dir}/${CHECKPOINT_FILES.state}`);
      restoreVariables(ck, h.store.vars);
      restoreOptimizer(ck, 'adamw', optimizers.adamw);
      window = new LossWindow(50, ck.state.lossWindow);
      if (state.bestEpoch >= 0) {
        if (!ck.best) throw new Error(`${ck.dir}: ${CHECKPOINT_FILES.best} missing (best epoch ${state.bestEpoch})`);
        best = new Map();
        for (const [name, v] of h.store.vars) best.set(name, checkpointTensor(ck, ck.best, name, v, CHECKPOINT_FILES.best).slice());
      }
      state.finished = state.finished && state.epoch >= opts.epochs;
      if (decay !== undefined) {
        const path = `${ck.dir}/${CHECKPOINT_FILES.state}`;
        if (typeof state.lr !== 'number' || !(state.lr > 0) || typeof state.decayBad !== 'number') throw new Error(`${path}: fields 'extra.lr' and 'extra.decayBad' missing (a run with lrDecay writes them)`);
        opt.lr = state.lr;
      }
    }
    const ks = validationKs(opts.validMetric);
    let interrupted = false;
    let t0 = performance.now(); // start of the training time of the epoch in progress (since the run or resume began)

    // Validation after an epoch: keeps the best weights, counts patience, checkpoints. 'interrupt' when the signal
    // aborted the validation: nothing is recorded (the checkpoint keeps the trained epoch), and a resume validates it first.
    const endEpoch = async (epoch: number): Promise<EpochEnd> => {
      const trainSeconds = state.epochSeconds + (performance.now() - t0) / 1000;
      const tv = performance.now();
      h.setTraining(false);
      const valid = await evaluateRecommenderInterruptible(h.model, data, 'valid', { protocol: opts.validProtocol, ks }, opts.signal);
      if (valid === null) return 'interrupt';
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
      const trainedLr = opt.lr;
      if (decay !== undefined) {
        state.decayBad = improved ? 0 : state.decayBad! + 1;
        if (state.decayBad >= decayPatience) {
          state.lr = state.lr! * decay;
          opt.lr = state.lr;
          state.decayBad = 0;
        }
      }
      const rep: EpochReport = {
        epoch,
        loss: state.lossSum / state.lossRows,
        valid: { ...valid },
        seconds: trainSeconds + (performance.now() - tv) / 1000,
        best: improved,
        ...(decay !== undefined ? { lr: trainedLr } : {}),
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
      save();
      return state.stoppedEarly ? 'stop' : undefined;
    };
    // Resumed at the end of an epoch whose validation was interrupted: that validation comes first.
    const pending = !state.finished && !state.stoppedEarly && state.batch === numBatches ? await endEpoch(state.epoch) : undefined;
    if (pending === 'interrupt') interrupted = true;
    else if (!state.finished && !state.stoppedEarly && state.epoch < opts.epochs) {
      // The batches of the epoch in progress (a resumed epoch replays its order and skips the done batches).
      let iter: Iterator<RawBatch> | null = null;
      let iterEpoch = -1;
      t0 = performance.now();
      let lastSize = 0;
      const loop = await runLoop({
        name: h.model.name,
        maxSteps: opts.epochs * numBatches,
        startStep: state.epoch * numBatches + state.batch,
        stepsPerEpoch: numBatches,
        signal: opts.signal,
        yieldAt: 'after',
        window,
        step: (s) => {
          const epoch = Math.floor(s / numBatches);
          const b = s % numBatches;
          if (iterEpoch !== epoch) {
            iter = shuffledTrainBatches(samples, opts.batchSize, opts.seed, epoch, group)[Symbol.iterator]();
            iterEpoch = epoch;
            t0 = performance.now();
            for (let k = 0; k < b; k++) iter.next();
          }
          const next = iter!.next();
          if (next.done) throw new Error(`${h.model.name}: epoch ${epoch} has fewer than ${b + 1} batches`);
          const raw = next.value;
          const rng = new SeededRng(mixSeed(mixSeed(opts.seed, 0x20000 + epoch), b));
          const k = h.numNegatives;
          const batch: TrainBatch = {
            ...raw,
            numNegatives: k,
            negatives: k > 0 ? sampleTrainNegatives(raw.target, k, h.dims.numItems, rng) : new Int32Array(0),
          };
          const dropSeed = rng.uint32();
          lastSize = raw.size;
          try {
            return { loss: opt.minimize(() => h.loss(batch, dropSeed), vars) };
          } finally {
            h.endStep();
          }
        },
        nonFinite: (s, _k, v) => `${h.model.name}: training loss is ${v} at epoch ${Math.floor(s / numBatches)}, batch ${s % numBatches} (lower lr or set clipNorm)`,
        onStep: (r) => {
          state.batch = (r.step - 1) % numBatches + 1;
          state.lossSum += r.losses.loss * lastSize;
          state.lossRows += lastSize;
          opts.onBatch?.(state.batch, numBatches, r.losses.loss);
        },
        onEpochEnd: endEpoch,
        checkpoint: (_s, reason) => {
          // Epoch ends write their own checkpoint; an interrupt mid-epoch writes one here.
          if (reason === 'interrupt' && state.batch > 0) {
            state.epochSeconds += (performance.now() - t0) / 1000;
            save();
          }
        },
      });
      interrupted = loop.interrupted;
    }
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
