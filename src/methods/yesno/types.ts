/** Options and results of the yes/no LLM recommender (methods/yesno.ts). */
import type { tf } from '../../engine/index.js';
import type { GuideOptions } from '../collab.js';
import type { PromptTemplate } from '../prompts.js';

/** Item id -> title text (original titles, or GANPrompt's reconstructed ones). */
export type TitleSource = (item: number) => string;

export interface YesNoPromptOptions {
  /** Titles are cut to this many tokens (default 20, docs/METHODS.md §6, stage 2 step 1). */
  maxTitleTokens: number;
  /** Prompts longer than this drop their oldest history titles (default 512). */
  maxPromptTokens: number;
  /** Render and fill <UserID>/<ItemID> with mapped collaborative vectors (needs mapping + collab). */
  idVectors: boolean;
  /**
   * Render <UserID>/<ItemID> as plain placeholder tokens even without vectors
   * (a LoRA step that a mapping step will follow: the prompt keeps its shape).
   */
  idTokens: boolean;
  /** Expert guidance from the collaborative model (null: no <Guide> text). */
  guide: GuideOptions | null;
}

export const DEFAULT_PROMPT_OPTIONS: YesNoPromptOptions = { maxTitleTokens: 20, maxPromptTokens: 512, idVectors: false, idTokens: false, guide: null };

export type YesNoLoss = 'bce' | 'lm';

/** One training question: candidate `cand` of case `caseIndex`, liked or not. */
export interface YesNoExample {
  caseIndex: number;
  cand: number;
  label: 0 | 1;
}

export interface YesNoFitOptions {
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  /** Steps the warm-up + cosine schedule spans (default `steps`); past it the rate stays at its floor (a tenth of lr). */
  scheduleSteps?: number;
  /** 'bce': cross-entropy over the two answer logits (BCE on P(Yes)); 'lm': next-token loss over the vocabulary. */
  loss: YesNoLoss;
  seed: number;
  /** Training templates; each example draws one (seeded). */
  templates: PromptTemplate[];
  /** Title sources; each example draws `alternative` with probability `alternativeShare`. */
  titles: TitleSource;
  alternativeTitles?: TitleSource;
  alternativeShare?: number;
  /**
   * Guide dropout: the share of examples, drawn per example (seeded), whose
   * prompt is rendered without the guide text, so that the LM also learns to
   * answer from the history (docs/METHODS.md §6); absent or 0: every prompt
   * of a guided model has it. Ignored by a model without a guide.
   */
  guideDropout?: number;
  /** Parameters to train. */
  vars: Map<string, tf.Variable>;
  /** Checkpoint directory (periodic trainer checkpoints; resume continues from it). */
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  signal?: AbortSignal;
  onStep?: (step: number, steps: number, loss: number) => void;
  /**
   * Early stopping on validation (docs/METHODS.md §5): before the first
   * step and after every epoch (stepsPerEpoch steps; a shorter last epoch,
   * when `steps` is not a multiple, at the last step) `validate(signal)` gives
   * the validation metric (higher is better, e.g. AUC on validation
   * questions), or null when `signal` aborted it: the training then ends
   * interrupted, and a resume validates that epoch first; training stops
   * after `patience` epochs without a strict improvement and the variables
   * end at the best values, the initial ones when no epoch beat them.
   * Absent: `steps` steps, the last weights kept.
   */
  validation?: {
    metric: string;
    validate: YesNoValidate;
    patience: number;
    stepsPerEpoch: number;
    onEpoch?: (e: YesNoEpoch) => void;
    /** The metric of the initial variables (before the first step). */
    onInitial?: (valid: number) => void;
    /** The initial variables' metric when the caller has just measured it with `validate` (that validation is then not repeated). */
    initial?: number;
  };
}

/** A validation metric (higher is better), or null when `signal` aborted the validation. */
export type YesNoValidate = (signal?: AbortSignal) => number | null | Promise<number | null>;

/** One epoch of a yes/no training with validation. */
export interface YesNoEpoch {
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** The validation metric after the epoch. */
  valid: number;
  best: boolean;
  seconds: number;
}

export interface YesNoFitResult {
  steps: number;
  interrupted: boolean;
  /** Mean loss over the last 50 steps. */
  loss: number;
  seconds: number;
  examplesPerSecond: number;
  /**
   * With validation: every epoch, the best one (0-based; its weights are the
   * result; -1: no epoch beat the initial weights, which are the result), the
   * last one, and whether patience ran out.
   */
  epochs?: YesNoEpoch[];
  bestEpoch?: number;
  lastEpoch?: number;
  bestValid?: number;
  /** The metric of the initial weights (absent on a resume of a checkpoint that did not record it). */
  initialValid?: number;
  validMetric?: string;
  stoppedEarly?: boolean;
}
