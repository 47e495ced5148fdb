/**
 * The state of one RecSysLLM run (pipeline.ts): options, run directory,
 * hooks, the report being filled, and what the stages hand each other
 * (tokenizer, segment encoder, item trie, evaluation users).
 */
import { join } from 'node:path';
import type { RawDataset, SplitDataset } from '../../data/types.js';
import { datasetStats } from '../../data/stats.js';
import type { MetricValues } from '../../eval/types.js';
import type { PretrainResult } from '../../lm/pretrain.js';
import type { Tokenizer } from '../../lm/tokenizer/index.js';
import type { TokenTrie } from '../../lm/trie.js';
import type { RecSysRunOptions, Variant } from '../../config/recsysllm.js';
import { type StageHooks, StageTimer, writeJson } from '../../run/index.js';
import { mixSeed } from '../../util/random.js';
import { sampleRows } from '../yesno.js';
import type { FamilyResult } from './evaluate.js';
import type { GlmTokens } from './masking.js';
import { FAMILIES, type Family, familySupport, loadTaskTemplates, ratingsOf, type TaskData, type TaskTemplates } from './tasks.js';
import type { SegmentEncoder } from './text.js';

export interface StageResult extends PretrainResult { peakRssMiB: number }

export interface VariantReport {
  variant: Variant;
  label: string;
  parameters: number;
  pretrain?: StageResult;
  finetune?: StageResult;
  results: FamilyResult[];
}

export interface BaselineRow { model: string; sequential?: MetricValues; direct?: MetricValues; rating?: Record<string, number> }

export interface RecSysReport {
  dataset: string;
  stats: ReturnType<typeof datasetStats>;
  options: RecSysRunOptions;
  evalUsers: number;
  support: Record<Family, string | null>;
  families: Family[];
  variants: VariantReport[];
  baselines: BaselineRow[];
  seconds: Record<string, number>;
  peakRssMiB: number;
  interrupted: boolean;
  /** The stage `--until` stopped the run after (absent: the run went as far as it could). */
  stoppedAfter?: string;
}

/** What the tokenizer stage hands the others. */
export interface RecSysText {
  tok: Tokenizer;
  tokens: GlmTokens;
  enc: SegmentEncoder;
  trie: TokenTrie;
  itemTokens: number[][];
}

export interface RecSysRun {
  raw: RawDataset;
  data: SplitDataset;
  o: RecSysRunOptions;
  dir: string;
  resume: boolean;
  hooks: StageHooks;
  log: (s: string) => void;
  timer: StageTimer;
  report: RecSysReport;
  templates: TaskTemplates;
  tasks: TaskData;
  families: Family[];
  /** Evaluation users: a seeded sample of the test split (the same for every model). */
  evalRows: number[];
  evalUsers: number[];
  text?: RecSysText;
}

/** The run's state before any stage: data.json, the task templates, the families the data supports. */
export function newRecSysRun(raw: RawDataset, data: SplitDataset, o: RecSysRunOptions, dir: string, hooks: StageHooks, resume: boolean): RecSysRun {
  const log = hooks.log ?? (() => {});
  const timer = new StageTimer();
  const stats = datasetStats(data);
  writeJson(join(dir, 'data.json'), { dataset: data.name, protocol: data.config, stats });
  log(`data ${data.name}: ${stats.users} users, ${stats.items} items, ${stats.interactions} interactions, sparsity ${stats.sparsity.toFixed(5)}, mean history ${stats.meanHistory.toFixed(2)}`);
  const templates = loadTaskTemplates(o.templates);
  const tasks: TaskData = { data, ratings: ratingsOf(raw, data) };
  const support = familySupport(tasks);
  const families = (o.families ?? [...FAMILIES]).filter((f) => {
    if (support[f]) { log(`family ${f}: skipped (${support[f]})`); return false; }
    return true;
  });
  if (families.length === 0) throw new Error(`recsysllm: no task family can run on ${data.name}`);
  const report: RecSysReport = {
    dataset: data.name, stats, options: o, evalUsers: 0, support, families, variants: [], baselines: [], seconds: timer.seconds, peakRssMiB: 0, interrupted: false,
  };
  const evalRows = sampleRows(data.test.count, o.eval.users, mixSeed(o.seed, 101));
  report.evalUsers = evalRows.length;
  return { raw, data, o, dir, resume, hooks, log, timer, report, templates, tasks, families, evalRows, evalUsers: evalRows.map((r) => data.test.user[r]) };
}

