/**
 * Training of the yes/no recommender (YesNoLlm.fit, methods/yesno.ts) on the
 * shared step loop (src/train/loop.ts) with the shared checkpoint layout
 * (src/train/checkpoint.ts, `<checkpointDir>/checkpoint/`).
 *
 * Step s: the examples of epoch floor(s / perEpoch) in the seeded order
 * shuffled(n, mixSeed(seed, epoch)), the batch at (s mod perEpoch) * batchSize;
 * template and title source of each example drawn from
 * mulberry32(mixSeed(seed ^ 0x5bd1e995, s)); dropout stream s + 1; AdamW
 * (clipNorm 1) with warmup + cosine. So the state of a run is its step and a
 * resumed run repeats exactly the draws of an uninterrupted one.
 */
import { tf } from '../../engine/index.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { AdamW } from '../../nn/index.js';
import { hasCheckpoint, loadCheckpoint, LossWindow, restoreOptimizer, restoreVariables, runLoop, saveCheckpoint, warmupCosineSchedule } from '../../train/index.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import type { Case } from '../collab.js';
import type { PromptTemplate } from '../prompts.js';
import type { Encoded } from './batch.js';
import { shuffled } from './cases.js';
import type { TitleSource, YesNoExample, YesNoFitOptions, YesNoFitResult, YesNoLoss } from './types.js';

/** What the training needs of a YesNoLlm. */
export interface YesNoFitTarget {
  lm: CausalLM;
  encode(t: PromptTemplate, c: Case, cand: number, titles: TitleSource): Encoded;
  answers(t: PromptTemplate): { yes: number; no: number };
  /** Computes what the prompts of these cases need once (the guidance's top candidates). */
  prepare(cases: readonly Case[]): void;
  loss(enc: readonly Encoded[], cases: readonly Case[], cands: readonly number[], labels: readonly number[], answers: readonly { yes: number; no: number }[], kind: YesNoLoss): tf.Scalar;
}

const RNG_SCHEME = 'step s: example order shuffled(n, mixSeed(seed, epoch)); template/title draws mulberry32(mixSeed(seed ^ 0x5bd1e995, s)); dropout stream s + 1';

/** Trains `o.vars` on yes/no examples (seeded, checkpointed, interruptible; see the file comment). */
export async function fitYesNo(m: YesNoFitTarget, cases: readonly Case[], examples: readonly YesNoExample[], o: YesNoFitOptions): Promise<YesNoFitResult> {
  if (examples.length === 0) throw new Error('yes/no training: no examples');
  if (o.templates.length === 0) throw new Error('yes/no training: no templates');
  const vars = [...o.vars.values()];
  if (vars.length === 0) throw new Error('yes/no training: nothing to train');
  const opt = new AdamW({ lr: o.lr, weightDecay: o.weightDecay, clipNorm: 1 });
  const optimizers = { adamw: { opt, vars: o.vars } };
  const identity = { seed: o.seed, batchSize: o.batchSize, examples: examples.length, loss: o.loss, vars: [...o.vars.keys()] };
  const dir = o.checkpointDir;
  try {
    let step = 0;
    let window = new LossWindow(50);
    if (o.resume && dir && hasCheckpoint(dir)) {
      const ck = loadCheckpoint(dir, { trainer: 'yesno', identity });
      restoreVariables(ck, o.vars);
      restoreOptimizer(ck, 'adamw', optimizers.adamw);
      step = ck.state.step;
      window = new LossWindow(50, ck.state.lossWindow);
    }
    m.prepare(cases);
    const perEpoch = Math.ceil(examples.length / o.batchSize);
    const t0 = performance.now();
    const startStep = step;
    const save = (s: number) => saveCheckpoint(dir!, {
      state: {
        trainer: 'yesno', step: s, epoch: Math.floor(s / perEpoch), lossWindow: window.toJSON(), bestMetric: null,
        rng: { seed: o.seed, scheme: RNG_SCHEME }, identity, extra: { steps: o.steps, warmupSteps: o.warmupSteps, lr: o.lr },
      },
      model: o.vars,
      optimizers,
    });
    const wasTraining = m.lm.store.training;
    m.lm.store.training = true;
    let loop;
    try {
      loop = await runLoop({
        name: 'yes/no training',
        maxSteps: o.steps,
        startStep: step,
        signal: o.signal,
        yieldAt: 'before',
        lr: { optimizers: [opt], schedule: warmupCosineSchedule(o.lr, o.warmupSteps, o.steps) },
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
            const c = cases[ex.caseIndex];
            enc.push(m.encode(t, c, ex.cand, alt ? o.alternativeTitles! : o.titles));
            bc.push(c);
            cands.push(ex.cand);
            labels.push(ex.label);
            answers.push(m.answers(t));
          }
          m.lm.store.dropoutStream = s + 1;
          return { loss: opt.minimize(() => m.loss(enc, bc, cands, labels, answers, o.loss), vars) };
        },
        onStep: (r) => o.onStep?.(r.step, o.steps, r.losses.loss),
        checkpointEvery: dir ? o.checkpointEvery : 0,
        // Periodic and on interruption; the finished variables are saved by the caller (adapter, mapping layer).
        checkpoint: (s, reason) => { if (dir && reason !== 'end') save(s); },
      });
    } finally {
      m.lm.store.training = wasTraining;
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      steps: loop.step, interrupted: loop.interrupted, loss: loop.window.mean('loss'), seconds,
      examplesPerSecond: ((loop.step - startStep) * o.batchSize) / Math.max(1e-9, seconds),
    };
  } finally {
    opt.dispose();
  }
}
