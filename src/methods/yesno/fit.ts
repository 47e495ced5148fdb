/**
 * Training of the yes/no recommender (YesNoLlm.fit, methods/yesno.ts) on the
 * shared step loop (src/train/loop.ts) with the shared checkpoint layout
 * (src/train/checkpoint.ts, `<checkpointDir>/checkpoint/`).
 *
 * Step s: the examples of epoch floor(s / perEpoch) in the seeded order
 * shuffled(n, mixSeed(seed, epoch)), the batch at (s mod perEpoch) * batchSize;
 * template and title source of each example drawn from
 * mulberry32(mixSeed(seed ^ 0x5bd1e995, s)); dropout stream s + 1; AdamW
 * (clipNorm 1) with warmup + cosine over scheduleSteps (default: steps). So the state of a run is its step and a
 * resumed run repeats exactly the draws of an uninterrupted one.
 *
 * With `o.validation`: the initial variables are validated first (dropout
 * off) and are the best so far; after every epoch the loop's onEpochEnd
 * validates, keeps a copy of the best variables (written as best.safetensors
 * of the checkpoint, with the epoch history in trainer_state.json 'extra'),
 * stops after `patience` epochs without a strict improvement (a last epoch
 * shorter than stepsPerEpoch, when the step budget is not a whole number of
 * epochs, is validated too, at the last step), and the
 * variables end at the best values: the best epoch's, or the initial ones
 * when no epoch beat them (bestEpoch -1), so training never returns weights
 * worse on validation than those it started from (docs/METHODS.md §5).
 */
import { tf } from '../../engine/index.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { AdamW } from '../../nn/index.js';
import { checkpointTensor, CHECKPOINT_FILES, hasCheckpoint, loadCheckpoint, LossWindow, restoreOptimizer, restoreVariables, runLoop, saveCheckpoint, warmupCosineSchedule } from '../../train/index.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import type { Case } from '../collab.js';
import type { PromptTemplate } from '../prompts.js';
import type { Encoded } from './batch.js';
import { shuffled } from './cases.js';
import type { TitleSource, YesNoEpoch, YesNoExample, YesNoFitOptions, YesNoFitResult, YesNoLoss } from './types.js';
import type { SafeTensor } from '../../io/safetensors.js';

/** What the training needs of a YesNoLlm. */
export interface YesNoFitTarget {
  lm: CausalLM;
  /** The prompt's token ids; `noGuide`: rendered without the guide text (guide dropout). */
  encode(t: PromptTemplate, c: Case, cand: number, titles: TitleSource, noGuide?: boolean): Encoded;
  answers(t: PromptTemplate): { yes: number; no: number };
  /** Computes what the prompts of these cases need once (the guidance's top candidates). */
  prepare(cases: readonly Case[]): void;
  loss(enc: readonly Encoded[], cases: readonly Case[], cands: readonly number[], labels: readonly number[], answers: readonly { yes: number; no: number }[], kind: YesNoLoss): tf.Scalar;
}

/** Epoch history of a validated training: trainer_state.json 'extra.validation'. */
interface ValidState {
  /** The metric of the initial variables (before any step; undefined in checkpoints of llmrec before issue 19's residual hybrid). */
  initial?: number;
  epochs: YesNoEpoch[];
  /** Index into epochs of the best one; -1: none, or the initial variables when `initial` is set. */
  bestEpoch: number;
  bad: number;
  stopped: boolean;
  lossSum: number;
  lossSteps: number;
}

function snapshot(vars: ReadonlyMap<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
}

function restore(vars: ReadonlyMap<string, tf.Variable>, snap: ReadonlyMap<string, Float32Array>): void {
  for (const [n, v] of vars) {
    const d = snap.get(n);
    if (!d) throw new Error(`yes/no training: best weights lack '${n}'`);
    const t = tf.tensor(d, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}

const RNG_SCHEME = 'step s: example order shuffled(n, mixSeed(seed, epoch)); template/title(/guide when guideDropout > 0) draws mulberry32(mixSeed(seed ^ 0x5bd1e995, s)); dropout stream s + 1';

/** Trains `o.vars` on yes/no examples (seeded, checkpointed, interruptible; see the file comment). */
export async function fitYesNo(m: YesNoFitTarget, cases: readonly Case[], examples: readonly YesNoExample[], o: YesNoFitOptions): Promise<YesNoFitResult> {
  if (examples.length === 0) throw new Error('yes/no training: no examples');
  if (o.templates.length === 0) throw new Error('yes/no training: no templates');
  if (o.scheduleSteps !== undefined && !(Number.isInteger(o.scheduleSteps) && o.scheduleSteps >= 1)) throw new Error(`yes/no training: scheduleSteps must be a positive integer, got ${o.scheduleSteps}`);
  const guideDropout = o.guideDropout ?? 0;
  if (!(guideDropout >= 0 && guideDropout < 1)) throw new Error(`yes/no training: guideDropout must be in [0, 1), got ${o.guideDropout}`);
  const scheduleSteps = o.scheduleSteps ?? o.steps;
  const vars = [...o.vars.values()];
  if (vars.length === 0) throw new Error('yes/no training: nothing to train');
  const opt = new AdamW({ lr: o.lr, weightDecay: o.weightDecay, clipNorm: 1 });
  const optimizers = { adamw: { opt, vars: o.vars } };
  const val = o.validation;
  if (val) {
    if (!Number.isInteger(val.patience) || val.patience < 1) throw new Error(`yes/no training: patience must be an integer >= 1, got ${val.patience}`);
    if (!Number.isInteger(val.stepsPerEpoch) || val.stepsPerEpoch < 1) throw new Error(`yes/no training: stepsPerEpoch must be an integer >= 1, got ${val.stepsPerEpoch}`);
  }
  const identity = {
    seed: o.seed, batchSize: o.batchSize, examples: examples.length, loss: o.loss, vars: [...o.vars.keys()],
    ...(guideDropout > 0 ? { guideDropout } : {}),
    ...(val ? { validMetric: val.metric, patience: val.patience, stepsPerEpoch: val.stepsPerEpoch } : {}),
  };
  const dir = o.checkpointDir;
  let vs: ValidState = { epochs: [], bestEpoch: -1, bad: 0, stopped: false, lossSum: 0, lossSteps: 0 };
  let best: Map<string, Float32Array> | null = null;
  try {
    let step = 0;
    let window = new LossWindow(50);
    if (o.resume && dir && hasCheckpoint(dir)) {
      const ck = loadCheckpoint(dir, { trainer: 'yesno', identity });
      restoreVariables(ck, o.vars);
      restoreOptimizer(ck, 'adamw', optimizers.adamw);
      step = ck.state.step;
      window = new LossWindow(50, ck.state.lossWindow);
      const saved = ck.state.extra.validation as ValidState | undefined;
      if (val && saved) {
        vs = saved;
        if (vs.bestEpoch >= 0 || vs.initial !== undefined) {
          if (!ck.best) throw new Error(`${ck.dir}: ${CHECKPOINT_FILES.best} missing (best epoch ${vs.bestEpoch})`);
          best = new Map([...o.vars].map(([n, v]) => [n, checkpointTensor(ck, ck.best!, n, v, CHECKPOINT_FILES.best).slice()]));
        }
      }
    }
    m.prepare(cases);
    const perEpoch = Math.ceil(examples.length / o.batchSize);
    const t0 = performance.now();
    const startStep = step;
    const save = (s: number) => {
      let bestTensors: Map<string, SafeTensor> | undefined;
      if (best) bestTensors = new Map([...o.vars].map(([n, v]) => [n, { dtype: 'F32' as const, shape: [...v.shape], data: best!.get(n)! }]));
      const b = vs.epochs[vs.bestEpoch];
      saveCheckpoint(dir!, {
        state: {
          trainer: 'yesno', step: s, epoch: Math.floor(s / perEpoch), lossWindow: window.toJSON(),
          bestMetric: val && b ? { name: val.metric, value: b.valid, epoch: b.epoch } : val && vs.initial !== undefined ? { name: val.metric, value: vs.initial, epoch: -1 } : null,
          rng: { seed: o.seed, scheme: RNG_SCHEME }, identity, extra: { steps: o.steps, scheduleSteps, warmupSteps: o.warmupSteps, lr: o.lr, ...(val ? { validation: vs } : {}) },
        },
        model: o.vars,
        best: bestTensors,
        optimizers,
      });
    };
    // The validation metric, or null when the signal aborted the validation.
    const validate = async (when: string): Promise<number | null> => {
      m.lm.store.training = false;
      let value: number | null;
      try { value = await val!.validate(o.signal); } finally { m.lm.store.training = true; }
      if (value === null) {
        if (!o.signal?.aborted) throw new Error(`yes/no training: validation gave no ${val!.metric} ${when} (null is for an aborted validation)`);
        return null;
      }
      if (!Number.isFinite(value)) throw new Error(`yes/no training: validation ${val!.metric} is ${value} ${when}`);
      return value;
    };
    // Validation after an epoch (ending at step endStep): keeps the best weights, counts patience, checkpoints.
    // 'interrupt' when the signal aborted the validation: nothing is recorded, and a resume at endStep validates again.
    const endEpoch = async (epoch: number, endStep: number): Promise<'stop' | 'interrupt' | undefined> => {
      const value = await validate(`after epoch ${epoch}`);
      if (value === null) return 'interrupt';
      const prev = vs.epochs[vs.bestEpoch]?.valid ?? vs.initial;
      const improved = prev === undefined || value > prev;
      const e: YesNoEpoch = { epoch, loss: vs.lossSum / Math.max(1, vs.lossSteps), valid: value, best: improved, seconds: (performance.now() - tEpoch) / 1000 };
      vs.epochs.push(e);
      vs.lossSum = 0; vs.lossSteps = 0;
      tEpoch = performance.now();
      if (improved) { vs.bestEpoch = vs.epochs.length - 1; vs.bad = 0; best = snapshot(o.vars); } else vs.bad++;
      if (vs.bad >= val!.patience) vs.stopped = true;
      val!.onEpoch?.(e);
      if (dir) save(endStep);
      return vs.stopped ? 'stop' : undefined;
    };
    const wasTraining = m.lm.store.training;
    m.lm.store.training = true;
    let loop;
    let interrupted = false;
    let tEpoch = performance.now();
    try {
      if (vs.stopped) step = o.steps; // a resumed run that had stopped early: nothing left to train
      // The starting point is a candidate too: an epoch must beat it to be kept (an aborted validation leaves it
      // undefined: the loop below then ends at once, and a resume validates it).
      if (val && step === 0 && vs.initial === undefined) {
        if (val.initial !== undefined && !Number.isFinite(val.initial)) throw new Error(`yes/no training: the given initial validation ${val.metric} is ${val.initial}`);
        const initial = val.initial ?? await validate('before training');
        if (initial !== null) {
          vs.initial = initial;
          best = snapshot(o.vars);
          val.onInitial?.(initial);
        }
        tEpoch = performance.now();
      }
      // Resumed at the end of an epoch the checkpoint has not validated (its validation was interrupted, or the process
      // ended after the periodic checkpoint of that step): that epoch end comes first.
      let pending: 'stop' | 'interrupt' | undefined;
      if (val && !vs.stopped && step > 0 && (step % val.stepsPerEpoch === 0 || step === o.steps)) {
        const epoch = Math.ceil(step / val.stepsPerEpoch) - 1;
        if ((vs.epochs.at(-1)?.epoch ?? -1) < epoch) pending = await endEpoch(epoch, step);
        if (pending === 'stop') step = o.steps;
      }
      loop = await runLoop({
        name: 'yes/no training',
        maxSteps: o.steps,
        startStep: step,
        signal: o.signal,
        yieldAt: 'before',
        lr: { optimizers: [opt], schedule: warmupCosineSchedule(o.lr, o.warmupSteps, scheduleSteps) },
        window,
        step: (s) => {
          const epoch = Math.floor(s / perEpoch);
          const order = shuffled(examples.length, mixSeed(o.seed, epoch));
          const pos = (s % perEpoch) * o.batchSize;
          const idx = order.slice(pos, pos + o.batchSize);
          const rng = new Mulberry32(mixSeed(o.seed ^ 0x5bd1e995, s));
          const enc: Encoded[] = [];
          const bc: Case[] = [];
          const cands: number[] = [];
          const labels: number[] = [];
          const answers: { yes: number; no: number }[] = [];
          for (const k of idx) {
            const ex = examples[k];
            const t = o.templates[Math.floor(rng.next() * o.templates.length)];
            const alt = o.alternativeTitles && rng.next() < (o.alternativeShare ?? 0.5);
            // Drawn only when on, so runs without guide dropout keep their draws.
            const noGuide = guideDropout > 0 && rng.next() < guideDropout;
            const c = cases[ex.caseIndex];
            enc.push(m.encode(t, c, ex.cand, alt ? o.alternativeTitles! : o.titles, noGuide));
            bc.push(c);
            cands.push(ex.cand);
            labels.push(ex.label);
            answers.push(m.answers(t));
          }
          m.lm.store.dropoutStream = s + 1;
          return { loss: opt.minimize(() => m.loss(enc, bc, cands, labels, answers, o.loss), vars) };
        },
        onStep: (r) => { vs.lossSum += r.losses.loss; vs.lossSteps++; o.onStep?.(r.step, o.steps, r.losses.loss); },
        stepsPerEpoch: val?.stepsPerEpoch,
        onEpochEnd: val ? (epoch) => endEpoch(epoch, (epoch + 1) * val.stepsPerEpoch) : undefined,
        checkpointEvery: dir ? o.checkpointEvery : 0,
        // Periodic and on interruption; the finished variables are saved by the caller (adapter, mapping layer).
        checkpoint: (s, reason) => { if (dir && reason !== 'end') save(s); },
      });
      interrupted = loop.interrupted || pending === 'interrupt';
      // Aborted again in the pending validation at the last step: the loop ran no step and wrote nothing.
      if (pending === 'interrupt' && !loop.interrupted && dir) save(loop.step);
      // The last epoch is shorter when o.steps is not a multiple of stepsPerEpoch: validated too, so its training can be kept
      // (once: a run resumed from the checkpoint written here has it in vs.epochs already).
      if (val && !interrupted && !vs.stopped && loop.step === o.steps && o.steps % val.stepsPerEpoch !== 0) {
        const last = Math.floor(o.steps / val.stepsPerEpoch);
        if ((vs.epochs.at(-1)?.epoch ?? -1) < last && await endEpoch(last, o.steps) === 'interrupt') {
          interrupted = true;
          if (dir) save(o.steps);
        }
      }
    } finally {
      m.lm.store.training = wasTraining;
    }
    const seconds = (performance.now() - t0) / 1000;
    // The result is the validation-best weights, an epoch's or the initial ones (not on an interruption: the checkpoint resumes from the current ones).
    if (best && !interrupted) restore(o.vars, best);
    const bestE = vs.epochs[vs.bestEpoch];
    return {
      steps: loop.step, interrupted, loss: loop.window.mean('loss'), seconds,
      examplesPerSecond: ((loop.step - startStep) * o.batchSize) / Math.max(1e-9, seconds),
      ...(val ? {
        epochs: vs.epochs.map((e) => ({ ...e })), bestEpoch: bestE?.epoch ?? -1, lastEpoch: vs.epochs.at(-1)?.epoch ?? -1,
        bestValid: bestE?.valid ?? vs.initial, initialValid: vs.initial, validMetric: val.metric, stoppedEarly: vs.stopped,
      } : {}),
    };
  } finally {
    opt.dispose();
  }
}

/**
 * Steps of a training stage (LoRA or full fine-tuning, mapping) over
 * `examples` examples: per epoch, at most (the cap `epochs`), the span of the
 * learning-rate schedule (`scheduleEpochs`, default the cap) and its warm-up
 * (a tenth of the span, at most 50 steps).
 */
export function stageSteps(examples: number, o: { epochs: number; scheduleEpochs?: number; batchSize: number }): { perEpoch: number; steps: number; scheduleSteps: number; warmupSteps: number } {
  const perEpoch = Math.ceil(examples / o.batchSize);
  const steps = Math.ceil((o.epochs * examples) / o.batchSize);
  const scheduleSteps = o.scheduleEpochs === undefined ? steps : Math.ceil((o.scheduleEpochs * examples) / o.batchSize);
  return { perEpoch, steps, scheduleSteps, warmupSteps: Math.min(50, Math.ceil(scheduleSteps / 10)) };
}
