/**
 * Options of the yes/no LLM recommenders (`llmrec run ganprompt|tallrec|collm`,
 * src/methods/ganprompt/, tallrec/, collm/): the "ganprompt" (or "tallrec",
 * "collm") object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';
import { ModelNameSchema } from './models.js';
import { SmallLmOptionsSchema } from './small_lm.js';

/** Every recipe the yes/no pipeline can build (src/methods/<name>/recipe.ts or ganprompt/recipes.ts). */
export const RECIPES = ['tallrec', 'collm', 'ganprompt', 'rec-ori', 'rec-col', 'rec-sm', 'rec-lora&sm', 'tallrec-multi', 'rec-noguide'] as const;
export type RecipeName = (typeof RECIPES)[number];

const StageFields = {
  /** Training users; each gives questionsPerUser questions. */
  users: z.number().int().min(1),
  /**
   * Training questions per user (trainSource 'train'): target positions of the
   * user's training sequence, each with its own sampled negatives
   * (src/methods/yesno/cases.ts trainQuestions); 0 = every position.
   */
  questionsPerUser: z.number().int().min(0),
  /** Sampled negatives per training question (the candidates the guide ranks; default: the protocol's numNegatives). */
  questionNegatives: z.number().int().min(1),
  /** Negatives of a question used as training examples beside its positive. */
  negativesPerPositive: z.number().int().min(1),
  /** Maximum passes over the examples (steps = ceil(epochs * examples / batchSize)); early stopping may end sooner. */
  epochs: z.number().positive(),
  /**
   * Epochs the learning-rate schedule spans (warm-up, then cosine decay to a
   * tenth of lr, constant after it); default: `epochs`, the cap. Setting it
   * fixes every epoch's learning rate whatever the cap, so a longer cap only
   * adds epochs at the floor rate and early stopping is compared on the same
   * curve (issue 19, amazon-beauty TALLRec runs 3 and 4).
   */
  scheduleEpochs: z.number().positive().optional(),
  /** Epochs without a strict improvement of validation AUC before stopping (the best epoch's weights are kept). */
  patience: z.number().int().min(1),
  /** Validation users for early stopping: validation target vs its stored negatives (never a test item); 0 = no validation (all epochs run). */
  validUsers: z.number().int().min(0),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  weightDecay: z.number().min(0),
  loss: z.enum(['bce', 'lm']),
};
const LoraStage = z.strictObject({
  ...StageFields,
  /** Which LM variables the LoRA step trains: LoRA adapters (default; large pretrained checkpoints) or every LM parameter ('full', for the small LM trained from scratch). */
  variables: z.enum(['lora', 'full']),
  /**
   * The adapter's training questions (absent: 'train'): 'train' = positions
   * of the training sequences, where the collaborative model's guide is
   * in-sample (it was fitted on those targets); 'valid-heldout' = validation
   * targets (vs their stored negatives) of `users` users outside both steps'
   * selection samples, where the guide is out of sample as at test time. The
   * mapping step's held-out users (mappingStage.questions 'valid-heldout')
   * are then drawn outside these too (docs/METHODS.md §6, "Where the adapter
   * trains"). Absent rather than defaulted, so that stage keys of runs made
   * before it stay equal. 'train-heldout' = the last collab.holdOut
   * positions of `users` users' training sequences, which the cross-fitted
   * collaborative model never saw, so its guide is out of sample there too
   * (docs/METHODS.md §5, "Cross-fitting").
   */
  questions: z.enum(['train', 'valid-heldout', 'train-heldout']).optional(),
  /**
   * Guide dropout of a guided adapter (GANPrompt's): the share of its
   * training examples rendered without the guide text, so that the LM also
   * learns to answer from the history instead of copying the guide
   * (docs/METHODS.md §6, "Guide dropout"); absent: 0. Absent rather than
   * defaulted, so that stage keys of runs made before it stay equal.
   */
  guideDropout: z.number().min(0).lt(1).optional(),
  /**
   * The collaborative offset of a guided adapter (GANPrompt's; not in the
   * paper): the adapter trains on the score w * z + g * (l(yes) - l(no)),
   * the collaborative model's z-scored score as an offset, so that the LM
   * learns what z lacks rather than what z already says (boosting from a
   * base score; docs/METHODS.md §6, "Collaborative offset"). Needs
   * mappingStage.scoreFeature, the score the LM's answer is used in; absent:
   * false. Absent rather than defaulted, so that stage keys of runs made
   * before it stay equal.
   */
  collabOffset: z.boolean().optional(),
});
const MappingStage = z.strictObject({
  ...StageFields,
  /** Train the mapping layer (CoLLM's g). */
  mapping: z.boolean(),
  /** Fine-tune the collaborative item vectors: 'recipe' = as the recipe says (rec-sm, rec-lora&sm), or always / never. */
  itemVectors: z.enum(['recipe', 'always', 'never']),
  /**
   * The collaborative score feature, a residual hybrid: the recipe's score is
   * w * z + g * (l(yes) - l(no)), z the collaborative model's score z-scored
   * among the candidates, w (initial value scoreWeightInit) and the LM gate g
   * (initial value 0) trained with the mapping. It starts exactly at the
   * collaborative model's ranking, and early stopping keeps that start unless
   * an epoch beats it on validation AUC (docs/METHODS.md §5).
   */
  scoreFeature: z.boolean(),
  /** Initial w (> 0, so that the start ranks as the collaborative model). */
  scoreWeightInit: z.number().positive(),
  /**
   * Where the score feature starts (absent: 'collab'): 'collab' = w =
   * scoreWeightInit, g = 0, the collaborative model's ranking; 'stacked' =
   * (w, g) fitted on the step's training questions by the listwise blend of z
   * and the LM's answer (src/methods/yesno/blend.ts), kept only if it beats
   * the collaborative start on validation AUC (docs/METHODS.md §5, "Stacked
   * start"). Absent rather than defaulted, so that stage keys of runs made
   * before it stay equal.
   */
  scoreStart: z.enum(['collab', 'stacked']).optional(),
  /**
   * The mapping step's training questions: 'train' = positions of the
   * training sequences (as the LoRA step; the collaborative model has seen
   * these targets, so its score is in-sample there); 'valid-heldout' =
   * validation targets (vs their stored negatives) of `users` users outside
   * the step's validUsers selection sample, where the collaborative score is
   * out of sample as at test time (stacking; selection users never train);
   * 'train-heldout' = the last collab.holdOut positions of `users` users'
   * training sequences, which the cross-fitted collaborative model never saw
   * (outside the adapter's users when it trains there too).
   */
  questions: z.enum(['train', 'valid-heldout', 'train-heldout']),
});

export const GanPromptRunSchema = z.strictObject({
  /** Every seeded choice of the run: questions, validation and evaluation users, the models' training (stepSeed apart). */
  seed: z.number().int().default(2024),
  /**
   * The seed of the yes/no steps' training alone (the adapter and mapping
   * steps: example draws, each example's template and titles, the mapping
   * layer's initialisation); absent: `seed`. The questions, the validation
   * and evaluation users and their candidates stay those of `seed`, so runs
   * that differ only here measure the steps' training noise on the same
   * users (docs/METHODS.md §6, "Training noise"). Absent rather than
   * defaulted, so that the options of runs made before it stay equal.
   */
  stepSeed: z.number().int().optional(),
  /** A pretrained LM folder (HF layout + tokenizer.json); absent: train the small default LM on the data. */
  lm: z.strictObject({ dir: z.string().optional(), /** Options of the small LM (small_lm.ts; the same ranges as `lm pretrain`). */ small: SmallLmOptionsSchema.default({}) }).prefault({}),
  collab: z.strictObject({
    /** A model of the models registry (checked before anything is trained). */
    model: ModelNameSchema.default('sasrec'),
    /** A saved model folder (from `llmrec benchmark`); absent: train `model` here. */
    dir: z.string().optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    /** Epoch cap and patience of the collaborative model's early stopping (validation NDCG@5): a cap high enough that patience, not the cap, ends training (issue 19; the report says which did). */
    epochs: z.number().int().min(1).default(100),
    patience: z.number().int().min(1).default(5),
    /** Learning rate of the collaborative model's fit (absent: the model's default, src/models/registry.ts), as a benchmark's per-model `train.lr`. */
    lr: z.number().positive().optional(),
    /**
     * Cross-fitting: the last `holdOut` items of each training sequence are
     * withheld from the collaborative model's fit (withholdTrainTail), so its
     * scores and guide are out of sample at those positions, where steps with
     * questions 'train-heldout' train (docs/METHODS.md §5). Needs the model
     * trained in the run (no `dir`); absent: the whole training part.
     */
    holdOut: z.number().int().min(1).optional(),
  }).prefault({}),
  /** Saved baseline folders evaluated on the same users and candidates as the LLMs. */
  baselines: z.array(z.string()).default([]),
  templates: z.string().optional(),
  /**
   * Where training questions come from: 'train' = positions of the training
   * part of each sequence (trainQuestions; validation questions then drive
   * early stopping), or 'valid' (llmrec <= issue 18) = each user's validation
   * target vs its stored negatives, without early stopping.
   */
  trainSource: z.enum(['train', 'valid']).default('train'),
  lora: z.strictObject({ r: z.number().int().min(1).default(8), alpha: z.number().positive().default(16), /** Module names (PEFT target_modules); default: the family's attention and MLP projections (LORA_TARGETS). */
    targets: z.array(z.string()).min(1).optional() }).prefault({}),
  loraStage: LoraStage.partial().prefault({}),
  mappingStage: MappingStage.partial().prefault({}),
  maxTitleTokens: z.number().int().min(1).default(20),
  /** Mapping layer: placeholder embedding + g(e) with g's output layer at zero (true), or CoLLM's plain replacement by g(e). */
  mappingResidual: z.boolean().default(true),
  maxPromptTokens: z.number().int().min(16).default(512),
  guide: z.strictObject({ topK: z.number().int().min(1).optional(), template: z.string().optional(), among: z.string().optional(), notAmong: z.string().optional() }).prefault({}),
  /** Share of training prompts that use reconstructed titles (GANPrompt). */
  reconstructedShare: z.number().min(0).max(1).default(0.5),
  diversity: z.record(z.string(), z.unknown()).default({}),
  eval: z.strictObject({ users: z.number().int().min(1).default(1000), ks: z.array(z.number().int().min(1)).default([1, 3, 5]) }).prefault({}),
  /** Default: the paper's recipes and ablations (not 'tallrec-multi' and 'rec-noguide', this project's additions). */
  recipes: z.array(z.enum(RECIPES)).default(RECIPES.filter((r) => r !== 'tallrec-multi' && r !== 'rec-noguide')),
  /** Templates ablation recipes are evaluated on: their training templates only, or also the unseen ones. */
  ablationTemplates: z.enum(['trained', 'all']).default('all'),
});
export type GanPromptRunOptions = z.output<typeof GanPromptRunSchema>;
/** A training step's options (LoRA step, mapping step) with the defaults filled in. */
export type TrainStageOptions = z.output<ReturnType<typeof z.strictObject<typeof StageFields>>>;
export type LoraStageOptions = z.output<typeof LoraStage>;
export type MappingStageOptions = z.output<typeof MappingStage>;

/** Defaults of both steps; questionNegatives defaults to the protocol's numNegatives (newYesNoRun). */
const STAGE_DEFAULTS: Omit<TrainStageOptions, 'questionNegatives'> = {
  users: 3000, questionsPerUser: 4, negativesPerPositive: 1, epochs: 8, patience: 2, validUsers: 300, batchSize: 16, lr: 2e-3, weightDecay: 0, loss: 'bce',
};
export const DEFAULT_LORA_STAGE: Omit<LoraStageOptions, 'questionNegatives'> = { ...STAGE_DEFAULTS, variables: 'lora' };
export const DEFAULT_MAPPING_STAGE: Omit<MappingStageOptions, 'questionNegatives'> = { ...STAGE_DEFAULTS, lr: 1e-3, mapping: true, itemVectors: 'recipe', scoreFeature: false, scoreWeightInit: 1, questions: 'train' };

export function parseGanPromptOptions(raw: unknown, source?: string): GanPromptRunOptions {
  const o = parseWith(GanPromptRunSchema, raw, 'invalid GANPrompt options', source);
  const fail = (why: string): never => { throw new Error(`invalid GANPrompt options${source ? ` in ${source}` : ''}: ${why}`); };
  if (o.mappingStage.scoreStart === 'stacked' && !(o.mappingStage.scoreFeature ?? DEFAULT_MAPPING_STAGE.scoreFeature)) {
    fail("mappingStage.scoreStart 'stacked' needs mappingStage.scoreFeature true (it starts the score feature's w and g)");
  }
  if (o.loraStage.collabOffset) {
    if (!(o.mappingStage.scoreFeature ?? DEFAULT_MAPPING_STAGE.scoreFeature)) fail('loraStage.collabOffset needs mappingStage.scoreFeature true (the adapter learns a residual around the collaborative score, which only that score adds back)');
    if ((o.loraStage.loss ?? DEFAULT_LORA_STAGE.loss) !== 'bce') fail("loraStage.collabOffset needs loraStage.loss 'bce' (the offset is added to l(yes) - l(no))");
  }
  if (o.collab.holdOut !== undefined && o.collab.dir !== undefined) fail('collab.holdOut needs the collaborative model trained in the run (no collab.dir: a saved model was fitted on the whole training part)');
  for (const [field, q] of [['loraStage.questions', o.loraStage.questions], ['mappingStage.questions', o.mappingStage.questions]] as const) {
    if (q === 'train-heldout' && o.collab.holdOut === undefined) fail(`${field} 'train-heldout' needs collab.holdOut (the positions withheld from the collaborative model)`);
    if (q === 'train-heldout' && o.trainSource === 'valid') fail(`${field} 'train-heldout' needs trainSource 'train'`);
  }
  return o;
}
