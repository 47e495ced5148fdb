/**
 * Training of GANPrompt stage 1 (methods/ganprompt/diversity.ts) on the shared
 * step loop (src/train/loop.ts): the reconstruction warm-up of the generator
 * and the adversarial training, whose step runs two optimizers (D on the
 * detached z, then G). Both are seeded by (seed, step) and restart from the
 * warm-up checkpoint when interrupted (the stage's sub-step resume).
 */
import { tf } from '../../../engine/index.js';
import { batchIndices } from '../../../lm/pretrain.js';
import { AdamW } from '../../../nn/index.js';
import { LossWindow, runLoop } from '../../../train/index.js';
import { mixSeed } from '../../../util/random.js';
import { DiversityAbortError } from '../attributes.js';
import type { Discriminator } from './discriminator.js';
import { encodeBatch, type EncodedBatch, encodeZ, type Generator, meanPool, seq2seqLoss } from './generator.js';
import { diversityLoss } from './losses.js';
import { type DiversityStageOptions, type DiversityVariant, variantTerms } from './options.js';
import type { DiversitySample } from './samples.js';

/** Steps whose losses make a TrainingSummary's `final` means. */
const FINAL_WINDOW = 20;

export interface TrainerConfig {
  variant: DiversityVariant;
  lambda: number;
  alpha: number;
  beta: number;
  lambdaAdv: number;
  lr: number;
  discriminatorLr: number;
  weightDecay: number;
  clipNorm: number;
}

export interface GeneratorLossParts {
  total: number;
  seq2seq: number;
  /** L_div (negative mean distance; 0 for 'div-all'). */
  div: number;
  /** L_D as seen by G (only computed when lambdaAdv > 0; else 0). */
  adv: number;
}

export interface StepResult extends GeneratorLossParts {
  discriminator: number;
}

/** Alternating optimisation of D (on detached z) and G (see the module doc). */
export class DiversityTrainer {
  readonly optG: AdamW;
  readonly optD: AdamW;
  readonly terms: { alpha: number; beta: number; diversity: boolean };

  constructor(readonly gen: Generator, readonly disc: Discriminator, readonly cfg: TrainerConfig) {
    this.optG = new AdamW({ lr: cfg.lr, weightDecay: cfg.weightDecay, clipNorm: cfg.clipNorm });
    this.optD = new AdamW({ lr: cfg.discriminatorLr, weightDecay: cfg.weightDecay, clipNorm: cfg.clipNorm });
    this.terms = variantTerms(cfg.variant, cfg.alpha, cfg.beta);
  }

  /** One step of D: CE(D(z.detached), class) on D's parameters. */
  stepD(b: EncodedBatch): number {
    const zz = encodeZ(this.gen, b, true);
    try {
      return this.optD.minimize(() => this.disc.loss(zz, b.classes), this.disc.store.trainable());
    } finally {
      zz.dispose();
    }
  }

  /** L_G of a batch as a differentiable scalar; `parts` receives the component values. */
  generatorLoss(b: EncodedBatch, training: boolean, parts?: GeneratorLossParts): tf.Scalar {
    return tf.tidy(() => {
      const hidden = this.gen.model.encode({ inputIds: b.ids, batch: b.B, attentionMask: b.mask, training });
      const seq = seq2seqLoss(this.gen, b, training, hidden);
      let total: tf.Scalar = seq;
      let div: tf.Scalar | null = null;
      let adv: tf.Scalar | null = null;
      const needZ = (this.terms.diversity && this.cfg.lambda > 0) || this.cfg.lambdaAdv > 0;
      const zz = needZ ? meanPool(hidden, b.mask) : null;
      if (zz && this.terms.diversity && this.cfg.lambda > 0) {
        div = diversityLoss(zz, b.classes, this.terms.alpha, this.terms.beta);
        total = tf.add(total, tf.mul(div, this.cfg.lambda));
      }
      if (zz && this.cfg.lambdaAdv > 0) {
        adv = this.disc.loss(zz, b.classes);
        total = tf.sub(total, tf.mul(adv, this.cfg.lambdaAdv));
      }
      if (parts) {
        parts.total = total.dataSync()[0];
        parts.seq2seq = seq.dataSync()[0];
        parts.div = div ? div.dataSync()[0] : 0;
        parts.adv = adv ? adv.dataSync()[0] : 0;
      }
      return total;
    });
  }

  /** One step of G: L_G on G's parameters (D unchanged). */
  stepG(b: EncodedBatch): GeneratorLossParts {
    const parts: GeneratorLossParts = { total: 0, seq2seq: 0, div: 0, adv: 0 };
    this.optG.minimize(() => this.generatorLoss(b, true, parts), this.gen.model.store.trainable());
    return parts;
  }

  /** D step then G step. */
  step(b: EncodedBatch): StepResult {
    const d = this.stepD(b);
    return { discriminator: d, ...this.stepG(b) };
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
  }
}


export interface TrainHooks {
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface TrainingSummary {
  steps: number;
  /** Means over the last FINAL_WINDOW (20) steps. */
  final: Record<string, number>;
  seconds: number;
}

/** The reconstruction warm-up: L_seq2seq only, seeded batches of `texts`, AdamW with a constant rate (the shared step loop). */
export async function warmupGenerator(gen: Generator, texts: readonly string[], o: DiversityStageOptions, hooks: TrainHooks = {}): Promise<TrainingSummary> {
  const t0 = performance.now();
  const opt = new AdamW({ lr: o.warmupLr, weightDecay: o.weightDecay, clipNorm: o.clipNorm });
  const vars = gen.model.store.trainable();
  try {
    const loop = await runLoop({
      name: 'diversity warm-up',
      maxSteps: o.warmupSteps,
      signal: hooks.signal,
      yieldAt: 'before',
      window: new LossWindow(FINAL_WINDOW),
      step: (step) => {
        const idx = batchIndices(texts.length, Math.min(o.warmupBatchSize, texts.length), step, mixSeed(o.seed, 21));
        const b = encodeBatch(gen, idx.map((i) => texts[i]), o.maxTextTokens);
        gen.model.store.dropoutStream = step + 1;
        return { seq2seq: opt.minimize(() => seq2seqLoss(gen, b, true), vars) };
      },
      nonFinite: (step, _k, v) => `diversity warm-up: loss became ${v} at step ${step} (lower warmupLr?)`,
      onStep: (r) => hooks.onProgress?.('warmup', r.step, o.warmupSteps),
    });
    if (loop.interrupted) throw new DiversityAbortError();
    return { steps: o.warmupSteps, final: loop.window.means(), seconds: (performance.now() - t0) / 1000 };
  } finally {
    opt.dispose();
  }
}

/** Adversarial diversity training of `gen` and `disc` on labelled samples (seeded batches; D then G each step, the shared step loop). */
export async function trainDiversity(gen: Generator, disc: Discriminator, samples: readonly DiversitySample[], o: DiversityStageOptions, v: DiversityVariant, hooks: TrainHooks = {}): Promise<TrainingSummary> {
  const t0 = performance.now();
  const trainer = new DiversityTrainer(gen, disc, { ...o, variant: v });
  try {
    const loop = await runLoop({
      name: `diversity training (${v})`,
      maxSteps: o.steps,
      signal: hooks.signal,
      yieldAt: 'before',
      window: new LossWindow(FINAL_WINDOW),
      step: (step) => {
        const idx = batchIndices(samples.length, Math.min(o.batchSize, samples.length), step, mixSeed(o.seed, 22));
        const b = encodeBatch(gen, idx.map((i) => samples[i].text), o.maxTextTokens, idx.map((i) => samples[i].cls));
        gen.model.store.dropoutStream = step + 1;
        return { ...trainer.step(b) };
      },
      nonFinite: (step) => `diversity training (${v}): loss became non-finite at step ${step}`,
      onStep: (r) => hooks.onProgress?.(`train:${v}`, r.step, o.steps),
    });
    if (loop.interrupted) throw new DiversityAbortError();
    return { steps: o.steps, final: loop.window.means(), seconds: (performance.now() - t0) / 1000 };
  } finally {
    trainer.dispose();
  }
}
