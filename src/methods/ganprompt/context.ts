/**
 * The state of one run of the yes/no pipeline (pipeline.ts): options, run
 * directory, hooks, the report being filled, and what the stages hand each
 * other (collaborative model, LM folder and tokenizer, reconstructed titles).
 */
import { join } from 'node:path';
import type { SplitDataset } from '../../data/types.js';
import { subsetSplit } from '../../data/subset.js';
import { datasetStats } from '../../data/stats.js';
import type { MetricValues } from '../../eval/types.js';
import type { RobustnessReport } from '../../eval/robustness.js';
import type { PerUserRanking } from '../../eval/metrics.js';
import type { PairedTest } from '../../eval/significance.js';
import type { Recommender } from '../../models/types.js';
import type { Tokenizer } from '../../lm/tokenizer/index.js';
import { DEFAULT_LORA_STAGE, DEFAULT_MAPPING_STAGE, type GanPromptRunOptions, type LoraStageOptions, type MappingStageOptions, type RecipeName, type TrainStageOptions } from '../../config/ganprompt.js';
import { peakRssMiB, type StageHooks, StageTimer, writeJson } from '../../run/index.js';
import { mixSeed } from '../../util/random.js';
import { type Case, DEFAULT_GUIDE, type GuideOptions } from '../collab.js';
import { loadTemplates, type TemplateSet } from '../prompts.js';
import { heldOutRows, sampleRows, splitCases, trainQuestions } from '../yesno.js';
import type { DiversityStageReport } from './diversity.js';

export interface LlmRow {
  recipe: RecipeName;
  robustness: RobustnessReport;
  training: Record<string, unknown>;
  /** The recipe on its trained templates against each reference row (baselines), paired over the test users (absent for rows made before per-user values were kept). */
  significance?: RecipeSignificance[];
}

/**
 * Paired tests of a recipe against one reference row (Random, Pop, the
 * collaborative source, saved models) on the same test users and candidates
 * (docs/METHODS.md §2.6): per user, the recipe's value is the mean over its
 * trained templates (so their mean is the reported "seen" value). One test
 * per metric: 'auc' and 'ndcg@k' for every k.
 */
export interface RecipeSignificance {
  against: string;
  /** The reference row is the collaborative model the recipe is fed. */
  source: boolean;
  users: number;
  tests: Record<string, PairedTest>;
}

export interface GanPromptReport {
  dataset: string;
  stats: ReturnType<typeof datasetStats>;
  options: GanPromptRunOptions;
  evalUsers: number;
  baselines: Array<{ model: string; metrics: MetricValues }>;
  llm: LlmRow[];
  diversity?: DiversityStageReport;
  lm: { dir: string; parameters: number };
  seconds: Record<string, number>;
  peakRssMiB: number;
  /** Peak RSS of the process so far at the end of each timed stage (MiB; monotone: a stage's own peak shows where it rises). */
  peakRssAfterMiB: Record<string, number>;
  /** The collaborative model's training: epoch cap, patience, best vs last epoch (absent when loaded from a folder). */
  collabFit?: CollabFitSummary;
  interrupted: boolean;
  /** The stage `--until` stopped the run after (absent: the run went as far as it could). */
  stoppedAfter?: string;
  /**
   * The cost of the run directory's earlier openings, oldest first (from the
   * report.json a resume found): `seconds` and the peaks above are this
   * opening's only, so a stage finished before a resume keeps its time here.
   */
  earlierOpenings?: OpeningCost[];
}

/** One opening of a run directory: its stages' seconds and peak RSS, and how it ended. */
export interface OpeningCost {
  seconds: Record<string, number>;
  peakRssMiB: number;
  peakRssAfterMiB: Record<string, number>;
  interrupted: boolean;
  stoppedAfter?: string;
}

/**
 * The earlier openings of a report.json found on resume: its own earlier
 * openings and then the one that wrote it. Throws with the field named on a
 * report that does not hold them (the caller logs and goes on without).
 */
export function earlierOpenings(found: unknown): OpeningCost[] {
  const r = found as Partial<GanPromptReport> | null;
  const isRecord = (x: unknown): x is Record<string, number> => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.values(x).every((v) => typeof v === 'number' && Number.isFinite(v));
  if (typeof r !== 'object' || r === null) throw new Error('not a JSON object');
  if (!isRecord(r.seconds)) throw new Error('seconds: not an object of numbers');
  if (typeof r.peakRssMiB !== 'number') throw new Error('peakRssMiB: not a number');
  const before = r.earlierOpenings ?? [];
  if (!Array.isArray(before)) throw new Error('earlierOpenings: not an array');
  before.forEach((x, i) => { if (!isRecord(x?.seconds) || typeof x.peakRssMiB !== 'number') throw new Error(`earlierOpenings[${i}]: no seconds and peakRssMiB`); });
  const last: OpeningCost = { seconds: r.seconds, peakRssMiB: r.peakRssMiB, peakRssAfterMiB: isRecord(r.peakRssAfterMiB) ? r.peakRssAfterMiB : {}, interrupted: r.interrupted === true };
  if (typeof r.stoppedAfter === 'string') last.stoppedAfter = r.stoppedAfter;
  return [...before, last];
}

export interface CollabFitSummary {
  model: string;
  epochCap: number;
  patience: number;
  epochsRun: number;
  bestEpoch: number;
  lastEpoch: number;
  stoppedEarly: boolean;
  /** The cap ended training while the last epoch was the best: more epochs might still help (issue 19). */
  capReached: boolean;
  validMetric: string;
  bestValid: Record<string, number>;
  /** Training items withheld from the end of each sequence (collab.holdOut; absent: none). */
  holdOut?: number;
  /** The fit's learning rate (collab.lr or the model's default; absent in folders written before it was recorded). */
  lr?: number;
}

/** run.timer.timed plus the peak RSS so far at the stage's end. */
export async function timed<T>(run: YesNoRun, name: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await run.timer.timed(name, f);
  } finally {
    run.report.peakRssAfterMiB[name] = Math.round(peakRssMiB());
  }
}

export interface YesNoRun {
  data: SplitDataset;
  o: GanPromptRunOptions;
  dir: string;
  resume: boolean;
  hooks: StageHooks;
  log: (s: string) => void;
  timer: StageTimer;
  report: GanPromptReport;
  templates: TemplateSet;
  loraStage: LoraStageOptions;
  mapStage: MappingStageOptions;
  /**
   * On resume, the options the run directory was last opened with (resolved
   * like these): the options of outputs made before stage keys
   * (recipe_stage.ts, src/run/stage_key.ts). Undefined on a new run.
   */
  previous?: StageOptionsView;
  guide: GuideOptions;
  /** Evaluation users: a seeded sample of the test split, the same for every model. */
  evalCases: Case[];
  evalData: SplitDataset;
  collabModel?: Recommender;
  /** Each reference row's rank and AUC per evaluation user (baselines stage, in the rows' order), for the recipes' paired tests. */
  referencePerUser?: Array<{ label: string; values: PerUserRanking; source: boolean }>;
  lmDir?: string;
  tok?: Tokenizer;
  reconstructed?: Map<number, string>;
}

/** The seed of the adapter and mapping steps' training (`stepSeed`, absent: `seed`). */
export function stepSeed(o: GanPromptRunOptions): number {
  return o.stepSeed ?? o.seed;
}

/** The options the recipe stage's outputs depend on, with the defaults filled in. */
export interface StageOptionsView {
  o: GanPromptRunOptions;
  loraStage: LoraStageOptions;
  mapStage: MappingStageOptions;
}

/** `o` with the LoRA and mapping steps' defaults filled (questions get the data's number of negatives). */
export function stageOptionsView(o: GanPromptRunOptions, data: SplitDataset): StageOptionsView {
  return {
    o,
    loraStage: { ...DEFAULT_LORA_STAGE, questionNegatives: data.valid.numNegatives, ...o.loraStage },
    mapStage: { ...DEFAULT_MAPPING_STAGE, questionNegatives: data.valid.numNegatives, ...o.mappingStage },
  };
}

/** The run's state before any stage; writes data.json. `previous`: the options of the run directory's last opening (given on resume only). */
export function newYesNoRun(data: SplitDataset, o: GanPromptRunOptions, dir: string, hooks: StageHooks, resume: boolean, previous?: GanPromptRunOptions): YesNoRun {
  const log = hooks.log ?? (() => {});
  const timer = new StageTimer();
  const stats = datasetStats(data);
  writeJson(join(dir, 'data.json'), { dataset: data.name, protocol: data.config, stats });
  log(`data ${data.name}: ${stats.users} users, ${stats.items} items, ${stats.interactions} interactions, sparsity ${stats.sparsity.toFixed(5)}, mean history ${stats.meanHistory.toFixed(2)}`);
  const templates = loadTemplates(o.templates);
  const guide = { ...DEFAULT_GUIDE, ...Object.fromEntries(Object.entries(o.guide).filter(([, v]) => v !== undefined)) };
  const report: GanPromptReport = {
    dataset: data.name, stats, options: o, evalUsers: 0, baselines: [], llm: [], lm: { dir: '', parameters: 0 }, seconds: timer.seconds, peakRssMiB: 0, peakRssAfterMiB: {}, interrupted: false,
  };
  const evalRows = sampleRows(data.test.count, o.eval.users, mixSeed(o.seed, 101));
  report.evalUsers = evalRows.length;
  return {
    data, dir, resume, hooks, log, timer, report, templates, guide, ...stageOptionsView(o, data),
    previous: previous && stageOptionsView(previous, data),
    evalCases: splitCases(data, 'test', evalRows), evalData: subsetSplit(data, 'test', evalRows),
  };
}


/**
 * Training questions of a step: with trainSource 'train' (default) positions
 * of the training part of sampled users' sequences, each with its own seeded
 * negatives (trainQuestions); with 'valid' (llmrec <= issue 18) the sampled
 * users' validation targets vs their stored negatives. No test item is ever used.
 */
export function trainCases(run: YesNoRun, stage: TrainStageOptions, salt: number): Case[] {
  const seed = mixSeed(run.o.seed, salt);
  if (run.o.trainSource === 'valid') return splitCases(run.data, 'valid', sampleRows(run.data.valid.count, stage.users, seed));
  return trainQuestions(run.data, { users: stage.users, perUser: stage.questionsPerUser, negatives: stage.questionNegatives, seed });
}

/**
 * Validation questions for early stopping: a seeded sample of validation
 * users, their validation target vs its stored negatives. None with
 * trainSource 'valid' (the training questions are those) or validUsers 0.
 */
export function validCases(run: YesNoRun, stage: TrainStageOptions, salt: number): Case[] {
  return splitCases(run.data, 'valid', validRows(run, stage, salt));
}

/**
 * The validation split restricted to the users validCases(run, stage, salt)
 * asks (same targets and stored negatives), for reference rows beside a step's
 * validation AUC; null when the step has no validation.
 */
export function stageValidSplit(run: YesNoRun, stage: TrainStageOptions, salt: number): SplitDataset | null {
  const rows = validRows(run, stage, salt);
  return rows.length ? subsetSplit(run.data, 'valid', rows) : null;
}

/** The validation rows validCases uses (none with trainSource 'valid' or validUsers 0): a step's selection sample. */
function validRows(run: YesNoRun, stage: TrainStageOptions, salt: number): number[] {
  if (run.o.trainSource === 'valid' || stage.validUsers === 0) return [];
  return sampleRows(run.data.valid.count, stage.validUsers, mixSeed(run.o.seed, salt));
}

/**
 * The validation rows a step with questions 'valid-heldout' trains on: the
 * validation targets (vs their stored negatives; splitCases) of `stage.users`
 * users outside `exclude` (validation rows: the selection samples, validRows,
 * and for the mapping step the adapter's held-out rows), so the step trains
 * where the collaborative score is out of sample and still selects on users
 * it never trained on.
 */
function heldOutValidRows(run: YesNoRun, stage: TrainStageOptions, field: string, salt: number, exclude: readonly number[]): number[] {
  if (run.o.trainSource === 'valid') throw new Error(`${field} 'valid-heldout' needs trainSource 'train' (with 'valid' every validation user trains)`);
  return heldOutRows(run.data.valid.count, exclude, stage.users, mixSeed(run.o.seed, salt));
}

/**
 * The questions of a step with questions 'train-heldout': the last
 * collab.holdOut positions of `stage.users` users' training sequences (users
 * outside `exclude`), the targets the cross-fitted collaborative model was
 * not fitted on (withholdTrainTail), so its score and guide are out of sample
 * there as at test time.
 */
function withheldCases(run: YesNoRun, stage: TrainStageOptions, field: string, salt: number, exclude?: ReadonlySet<number>): Case[] {
  const k = run.o.collab.holdOut;
  if (k === undefined) throw new Error(`${field} 'train-heldout' needs collab.holdOut`);
  return trainQuestions(run.data, { users: stage.users, perUser: k, negatives: stage.questionNegatives, seed: mixSeed(run.o.seed, salt), tail: true, excludeUsers: exclude });
}

/** Seed salts of the steps' questions: the training (or held-out) questions and the selection samples of the LoRA and mapping steps. */
export const QUESTION_SALTS = { loraTrain: 201, mapTrain: 202, loraValid: 203, mapValid: 204 } as const;

/** The training and selection questions of the LoRA (adapter) step and the mapping step. */
export interface StepQuestions { loraCases: Case[]; mapCases: Case[]; loraValid: Case[]; mapValid: Case[] }

/**
 * Both steps' questions (docs/METHODS.md §5-6). A step with questions
 * 'valid-heldout' trains on validation targets of users outside both
 * selection samples (the adapter step) or outside its own selection sample
 * and the adapter's held-out users (the mapping step), so neither step
 * trains on a question the other trained or selects on; with
 * 'train-heldout' on the training positions withheld from the collaborative
 * model (withheldCases; the mapping step's users outside the adapter's when
 * both train there); otherwise on training positions (trainCases). No test
 * item is used.
 */
export function stepQuestions(run: YesNoRun): StepQuestions {
  const S = QUESTION_SALTS;
  const { loraStage: ls, mapStage: ms } = run;
  const loraRows = ls.questions === 'valid-heldout'
    ? heldOutValidRows(run, ls, 'loraStage.questions', S.loraTrain, [...validRows(run, ls, S.loraValid), ...validRows(run, ms, S.mapValid)])
    : null;
  const loraCases = loraRows ? splitCases(run.data, 'valid', loraRows)
    : ls.questions === 'train-heldout' ? withheldCases(run, ls, 'loraStage.questions', S.loraTrain)
    : trainCases(run, ls, S.loraTrain);
  return {
    loraCases,
    mapCases: ms.questions === 'valid-heldout'
      ? splitCases(run.data, 'valid', heldOutValidRows(run, ms, 'mappingStage.questions', S.mapTrain, [...validRows(run, ms, S.mapValid), ...(loraRows ?? [])]))
      : ms.questions === 'train-heldout'
        ? withheldCases(run, ms, 'mappingStage.questions', S.mapTrain, ls.questions === 'train-heldout' ? new Set(loraCases.map((c) => c.user)) : undefined)
        : trainCases(run, ms, S.mapTrain),
    loraValid: validCases(run, run.loraStage, S.loraValid),
    mapValid: validCases(run, run.mapStage, S.mapValid),
  };
}
