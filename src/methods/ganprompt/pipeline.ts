/**
 * `llmrec run ganprompt`: the whole GANPrompt study as one staged,
 * checkpointed, resumable pipeline (spec sections 4-6):
 *
 *   data -> collaborative model -> LM -> stage 1 (diversity encoder,
 *   reconstructed titles) -> TALLRec -> CoLLM -> GANPrompt (+ ablations)
 *   -> robustness evaluation on trained and unseen templates -> report
 *
 * Every stage writes its output into the run directory atomically and is
 * skipped on `resume` when its output exists. The language-model recipes:
 *
 *   tallrec      LoRA on the first training template, original titles, no
 *                collaborative signal (TALLRec).
 *   collm        TALLRec's adapter frozen (CoLLM step 1 = LoRA without
 *                collaborative tokens), then the mapping layer trained with
 *                <UserID>/<ItemID> vectors (step 2).
 *   ganprompt    step 1: LoRA on every training template with original and
 *                reconstructed (diversified) titles and the <Guide> text;
 *                step 2: the mapping layer (= ablation Rec-lora).
 *   rec-ori      mapping layer only (guide + vectors, no LoRA).
 *   rec-col      no collaborative signal: step-1 LoRA on diversified prompts
 *                without guide or vectors.
 *   rec-sm       collaborative item vectors fine-tuned + mapping, no LoRA.
 *   rec-lora&sm  GANPrompt's adapter + mapping + item vectors fine-tuned.
 *   tallrec-multi  control (not run by default): TALLRec trained on every
 *                training template with original titles, to separate the
 *                effect of several templates from that of reconstructed titles.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { SplitDataset } from '../../data/types.js';
import { datasetStats } from '../../data/stats.js';
import { aucOne, MetricAccumulator, rankOfTarget } from '../../eval/metrics.js';
import { evaluateRecommender } from '../../eval/evaluate.js';
import type { MetricValues } from '../../eval/types.js';
import { evaluateRobustness, robustnessFrom, type RobustnessReport } from '../../eval/robustness.js';
import { createRecommender, loadRecommender, modelEntry } from '../../models/registry.js';
import type { Recommender } from '../../models/types.js';
import { loadPretrained, readConfig } from '../../lm/checkpoint.js';
import { familyOf } from '../../lm/families/index.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { applyLora, loadAdapter, parseLoraConfig, saveAdapter } from '../../lm/lora.js';
import { trainSmallLm, type SmallLmOptions } from '../../lm/small_lm.js';
import { Tokenizer } from '../../lm/tokenizer/index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { openRunDir, peakRssMiB, readJson, stageTimer, writeJson } from '../run_dir.js';
import { mixSeed } from '../../util/random.js';
import { parseWith } from '../../util/validate.js';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.js';
import { CollabSignal, type Case, DEFAULT_GUIDE } from '../collab.js';
import { MappingLayer } from '../mapping.js';
import { loadTemplates, type PromptTemplate, type TemplateSet } from '../prompts.js';
import { sampleRows, splitCases, type TitleSource, yesNoExamples, YesNoLlm } from '../yesno.js';
import { readReconstructedTitles, runDiversityStage, type DiversityStageReport } from './diversity.js';

export const RECIPES = ['tallrec', 'collm', 'ganprompt', 'rec-ori', 'rec-col', 'rec-sm', 'rec-lora&sm', 'tallrec-multi'] as const;
export type RecipeName = (typeof RECIPES)[number];
/** The ablation names of spec 6 stage 2.4 (rec-lora is GANPrompt itself). */
export const ABLATION_LABELS: Record<string, string> = { 'rec-ori': 'Rec-ori', 'rec-col': 'Rec-col', ganprompt: 'Rec-lora (GANPrompt)', 'rec-sm': 'Rec-sm', 'rec-lora&sm': 'Rec-lora&sm' };

const Stage = z.strictObject({
  /** Training users (cases); each gives 1 positive + negativesPerPositive negatives. */
  users: z.number().int().min(1),
  negativesPerPositive: z.number().int().min(1),
  /** Passes over the examples (steps = ceil(epochs * examples / batchSize)). */
  epochs: z.number().positive(),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  loss: z.enum(['bce', 'lm']),
});

export const GanPromptRunSchema = z.strictObject({
  seed: z.number().int().default(2024),
  /** A pretrained LM folder (HF layout + tokenizer.json); absent: train the small default LM on the data. */
  lm: z.strictObject({ dir: z.string().optional(), small: z.record(z.string(), z.unknown()).default({}) }).prefault({}),
  collab: z.strictObject({
    model: z.string().default('sasrec'),
    /** A saved model folder (from `llmrec benchmark`); absent: train `model` here. */
    dir: z.string().optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    epochs: z.number().int().min(1).default(30),
    patience: z.number().int().min(1).default(3),
  }).prefault({}),
  /** Saved baseline folders evaluated on the same users and candidates as the LLMs. */
  baselines: z.array(z.string()).default([]),
  templates: z.string().optional(),
  /** Where training questions come from: 'valid' = each user's validation target (never a test item) vs stored negatives. */
  trainSource: z.literal('valid').default('valid'),
  lora: z.strictObject({ r: z.number().int().min(1).default(8), alpha: z.number().positive().default(16), /** Module names (PEFT target_modules); default: the family's attention and MLP projections (LORA_TARGETS). */
    targets: z.array(z.string()).min(1).optional() }).prefault({}),
  loraStage: Stage.partial().prefault({}),
  mappingStage: Stage.partial().prefault({}),
  maxTitleTokens: z.number().int().min(1).default(20),
  /** Mapping layer: placeholder embedding + g(e) with g's output layer at zero (true), or CoLLM's plain replacement by g(e). */
  mappingResidual: z.boolean().default(true),
  maxPromptTokens: z.number().int().min(16).default(512),
  guide: z.strictObject({ topK: z.number().int().min(1).optional(), template: z.string().optional(), among: z.string().optional(), notAmong: z.string().optional() }).prefault({}),
  /** Share of training prompts that use reconstructed titles (GANPrompt). */
  reconstructedShare: z.number().min(0).max(1).default(0.5),
  diversity: z.record(z.string(), z.unknown()).default({}),
  eval: z.strictObject({ users: z.number().int().min(1).default(1000), ks: z.array(z.number().int().min(1)).default([1, 3, 5]) }).prefault({}),
  recipes: z.array(z.enum(RECIPES)).default(RECIPES.filter((r) => r !== 'tallrec-multi')),
  /** Templates ablation recipes are evaluated on: their training templates only, or also the unseen ones. */
  ablationTemplates: z.enum(['trained', 'all']).default('all'),
});
export type GanPromptRunOptions = z.output<typeof GanPromptRunSchema>;

/** Default LoRA targets per family: every attention and MLP projection. */
export const LORA_TARGETS: Record<string, string[]> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'],
};

export const DEFAULT_LORA_STAGE = { users: 3000, negativesPerPositive: 1, epochs: 1, batchSize: 16, lr: 2e-3, loss: 'bce' as const };
export const DEFAULT_MAPPING_STAGE = { users: 3000, negativesPerPositive: 1, epochs: 1, batchSize: 16, lr: 1e-3, loss: 'bce' as const };

export function parseGanPromptOptions(raw: unknown, source?: string): GanPromptRunOptions {
  return parseWith(GanPromptRunSchema, raw, 'invalid GANPrompt options', source);
}

export interface PipelineHooks {
  log?: (s: string) => void;
  signal?: AbortSignal;
  progress?: (what: string, done: number, total: number) => void;
}

export interface LlmRow {
  recipe: RecipeName;
  robustness: RobustnessReport;
  training: Record<string, unknown>;
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
  interrupted: boolean;
}

interface RecipePlan {
  /** Adapter: trained under this name (shared between recipes), or none. */
  adapter?: 'tallrec' | 'gp' | 'gp-noguide' | 'multi';
  mapping: boolean;
  itemTable: boolean;
  guide: boolean;
  /** Templates trained on: the first training template or all of them. */
  templates: 'first' | 'all';
  titles: 'original' | 'mixed';
}

const PLANS: Record<RecipeName, RecipePlan> = {
  tallrec: { adapter: 'tallrec', mapping: false, itemTable: false, guide: false, templates: 'first', titles: 'original' },
  collm: { adapter: 'tallrec', mapping: true, itemTable: false, guide: false, templates: 'first', titles: 'original' },
  ganprompt: { adapter: 'gp', mapping: true, itemTable: false, guide: true, templates: 'all', titles: 'mixed' },
  'rec-ori': { mapping: true, itemTable: false, guide: true, templates: 'all', titles: 'mixed' },
  'rec-col': { adapter: 'gp-noguide', mapping: false, itemTable: false, guide: false, templates: 'all', titles: 'mixed' },
  'rec-sm': { mapping: true, itemTable: true, guide: true, templates: 'all', titles: 'mixed' },
  'rec-lora&sm': { adapter: 'gp', mapping: true, itemTable: true, guide: true, templates: 'all', titles: 'mixed' },
  'tallrec-multi': { adapter: 'multi', mapping: false, itemTable: false, guide: false, templates: 'all', titles: 'original' },
};

/** LoRA steps. `idTokens`: the prompts keep <UserID>/<ItemID> as plain tokens (a mapping step follows; TALLRec's and CoLLM's step 1 has none). */
const ADAPTERS: Record<NonNullable<RecipePlan['adapter']>, { guide: boolean; idTokens: boolean; templates: 'first' | 'all'; titles: 'original' | 'mixed' }> = {
  tallrec: { guide: false, idTokens: false, templates: 'first', titles: 'original' },
  gp: { guide: true, idTokens: true, templates: 'all', titles: 'mixed' },
  'gp-noguide': { guide: false, idTokens: false, templates: 'all', titles: 'mixed' },
  multi: { guide: false, idTokens: false, templates: 'all', titles: 'original' },
};

/** The split with only the given rows of `which` (same candidates). */
export function subsetSplit(data: SplitDataset, which: 'valid' | 'test', rows: readonly number[]): SplitDataset {
  const s = data[which];
  const n = rows.length;
  const user = new Int32Array(n);
  const target = new Int32Array(n);
  const history = new Int32Array(n * s.L);
  const negatives = new Int32Array(n * s.numNegatives);
  rows.forEach((r, i) => {
    user[i] = s.user[r];
    target[i] = s.target[r];
    history.set(s.history.subarray(r * s.L, (r + 1) * s.L), i * s.L);
    negatives.set(s.negatives.subarray(r * s.numNegatives, (r + 1) * s.numNegatives), i * s.numNegatives);
  });
  return { ...data, [which]: { ...s, count: n, user, target, history, negatives } };
}

/** Ranking metrics of scores [cases * C] with the target at candidate 0 (pessimistic ties). */
export function rankingMetrics(scores: Float32Array, C: number, ks: readonly number[]): MetricValues {
  const acc = new MetricAccumulator(ks);
  for (let u = 0; u < scores.length / C; u++) {
    const s = scores.subarray(u * C, (u + 1) * C);
    acc.add(rankOfTarget(s, 0), aucOne(s, 0));
  }
  return acc.result();
}

/**
 * Runs (or resumes) the pipeline into `dir`. Returns the report (also written
 * as report.json / report.md in `dir`).
 */
export async function runGanPrompt(data: SplitDataset, raw: unknown, dir: string, hooks: PipelineHooks = {}, resume = false): Promise<GanPromptReport> {
  const o = parseGanPromptOptions(raw);
  const log = hooks.log ?? (() => {});
  // Recipes, baselines and the ablations' templates may change on resume (they add rows); everything else must match.
  openRunDir(dir, o, ['recipes', 'baselines', 'ablationTemplates'], resume);
  const { seconds, timed } = stageTimer();
  const aborted = () => hooks.signal?.aborted === true;
  const stats = datasetStats(data);
  writeJson(join(dir, 'data.json'), { dataset: data.name, protocol: data.config, stats });
  log(`data ${data.name}: ${stats.users} users, ${stats.items} items, ${stats.interactions} interactions, sparsity ${stats.sparsity.toFixed(5)}, mean history ${stats.meanHistory.toFixed(2)}`);
  const templates: TemplateSet = loadTemplates(o.templates);
  const loraStage = { ...DEFAULT_LORA_STAGE, ...o.loraStage };
  const mapStage = { ...DEFAULT_MAPPING_STAGE, ...o.mappingStage };
  const guide = { ...DEFAULT_GUIDE, ...Object.fromEntries(Object.entries(o.guide).filter(([, v]) => v !== undefined)) };
  const report: GanPromptReport = {
    dataset: data.name, stats, options: o, evalUsers: 0, baselines: [], llm: [], lm: { dir: '', parameters: 0 }, seconds, peakRssMiB: 0, interrupted: false,
  };
  const finish = (): GanPromptReport => {
    report.peakRssMiB = peakRssMiB();
    writeJson(join(dir, 'report.json'), report);
    writeFileAtomic(join(dir, 'report.md'), renderGanPromptReport(report));
    return report;
  };

  // Evaluation users: a seeded sample of the test split, the same for every model.
  const evalRows = sampleRows(data.test.count, o.eval.users, mixSeed(o.seed, 101));
  report.evalUsers = evalRows.length;
  const evalCases = splitCases(data, 'test', evalRows);
  const evalData = subsetSplit(data, 'test', evalRows);

  // 1. Collaborative model (trained here or loaded).
  const collabDir = o.collab.dir ?? join(dir, 'collab');
  let collabModel: Recommender;
  if (o.collab.dir || (resume && existsSync(join(collabDir, 'config.json')))) {
    collabModel = await loadRecommender(collabDir);
    log(`collaborative model: ${collabModel.name} loaded from ${collabDir}`);
  } else {
    collabModel = await timed('collab', async () => {
      const m = createRecommender(o.collab.model, o.collab.config);
      const d = modelEntry(o.collab.model).fit;
      log(`collaborative model: training ${o.collab.model}`);
      await m.fit(data, {
        ...d, epochs: o.collab.epochs, patience: o.collab.patience, validMetric: 'ndcg@5', validProtocol: 'sampled', seed: o.seed, signal: hooks.signal,
        onEpoch: (e) => log(`  ${o.collab.model} epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, valid ${Object.entries(e.valid).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`),
      });
      await m.save(collabDir);
      return m;
    });
    if (aborted()) { report.interrupted = true; collabModel.dispose(); return finish(); }
  }

  try {
    // 2. Baselines on the evaluation users: Random, Pop, the collaborative model, and any saved ones.
    await timed('baselines', async () => {
      const rows: Array<{ model: string; metrics: MetricValues }> = [];
      for (const name of ['random', 'pop']) {
        const m = createRecommender(name);
        await m.fit(data, { ...modelEntry(name).fit, seed: o.seed });
        const { count: _c, ...metrics } = evaluateRecommender(m, evalData, 'test', { protocol: 'sampled', ks: o.eval.ks });
        rows.push({ model: name, metrics });
        m.dispose();
      }
      const { count: _c, ...cm } = evaluateRecommender(collabModel, evalData, 'test', { protocol: 'sampled', ks: o.eval.ks });
      rows.push({ model: `${collabModel.name} (collaborative source)`, metrics: cm });
      for (const b of o.baselines) {
        const m = await loadRecommender(b);
        const { count: _c2, ...metrics } = evaluateRecommender(m, evalData, 'test', { protocol: 'sampled', ks: o.eval.ks });
        rows.push({ model: m.name, metrics });
        m.dispose();
      }
      report.baselines = rows;
      writeJson(join(dir, 'baselines.json'), rows);
    });

    // 3. The language model.
    const extraDocs = [...templates.seen, ...templates.unseen].flatMap((t) => [t.instruction, `Answer: ${t.answers.yes}`, `Answer: ${t.answers.no}`]);
    const lmDir = o.lm.dir ?? join(dir, 'lm');
    if (!o.lm.dir && !(resume && existsSync(join(lmDir, 'report.json')))) {
      const r = await timed('lm', () => trainSmallLm(data, { ...(o.lm.small as Partial<SmallLmOptions>), seed: o.seed, evalUsers: 0, extraDocuments: extraDocs.concat(Array(50).fill(extraDocs.join('\n'))) }, lmDir, {
        signal: hooks.signal, log,
        onStep: (s) => hooks.progress?.('lm', s.step, s.maxSteps),
      }, resume && existsSync(join(lmDir, 'checkpoint'))));
      if (r.training.interrupted) { report.interrupted = true; return finish(); }
      log(`LM: ${r.parameters} parameters, held-out perplexity ${r.training.heldOutPerplexity.toFixed(2)}`);
    }
    report.lm.dir = lmDir;
    const tok = Tokenizer.fromFile(lmDir);
    const loadLm = (): CausalLM => {
      const m = loadPretrained(lmDir).model as unknown as CausalLM;
      if (typeof m.forward !== 'function' || !('hiddenSize' in m)) throw new Error(`${lmDir}: not a causal LM`);
      return m;
    };

    // 4. Stage 1: the diversity encoder and reconstructed titles.
    const needsDiversity = o.recipes.some((r) => PLANS[r].titles === 'mixed');
    let reconstructed: Map<number, string> | undefined;
    if (needsDiversity) {
      const divDir = join(dir, 'diversity');
      const div = await timed('diversity', () => runDiversityStage(data, { seed: o.seed, ...o.diversity }, divDir, {
        signal: hooks.signal, onProgress: (s, d, t) => hooks.progress?.(`diversity ${s}`, d, t),
      }, resume));
      report.diversity = div;
      if (div.interrupted) { report.interrupted = true; return finish(); }
      reconstructed = readReconstructedTitles(divDir);
      log(`stage 1: attributes ${div.attributes.attributes.join(', ')}; ${reconstructed.size} reconstructed titles`);
    }

    // Training questions: validation targets vs their stored negatives (no test item is ever used).
    const trainCases = (users: number, salt: number): Case[] => splitCases(data, 'valid', sampleRows(data.valid.count, users, mixSeed(o.seed, salt)));
    const loraCases = trainCases(loraStage.users, 201);
    const mapCases = trainCases(mapStage.users, 202);
    const trainedTemplates = (which: 'first' | 'all'): PromptTemplate[] => (which === 'first' ? [templates.seen[0]] : templates.seen);

    const makeModel = (lm: CausalLM, plan: { guide: boolean; ids: boolean; idTokens?: boolean }): YesNoLlm => {
      const m = new YesNoLlm(lm, tok, data, { maxTitleTokens: o.maxTitleTokens, maxPromptTokens: o.maxPromptTokens, idVectors: plan.ids, idTokens: plan.idTokens ?? false, guide: plan.guide ? guide : null });
      m.collab = new CollabSignal(collabModel, data);
      return m;
    };
    const titleSources = (m: YesNoLlm, titles: 'original' | 'mixed'): { titles: TitleSource; alternativeTitles?: TitleSource; alternativeShare?: number } => {
      if (titles === 'original') return { titles: m.originalTitles };
      if (!reconstructed) throw new Error('mixed titles need the diversity stage');
      const rec = reconstructed;
      return { titles: m.originalTitles, alternativeTitles: (i) => rec.get(i) || m.originalTitles(i), alternativeShare: o.reconstructedShare };
    };
    const family = familyOf(readConfig(lmDir), lmDir).family;
    const targets = o.lora.targets ?? LORA_TARGETS[family];
    if (!targets) throw new Error(`LoRA: no default target modules for the '${family}' family; set lora.targets`);
    // Dropout 0 keeps training reproducible (the adapter dropout is not seeded).
    const loraCfg = parseLoraConfig({ r: o.lora.r, lora_alpha: o.lora.alpha, target_modules: targets, lora_dropout: 0 });

    // 5. Adapters (LoRA step), each trained once and shared by the recipes that use it.
    const adapterDir = (name: string) => join(dir, 'adapters', name);
    // Outputs on disk are reused only on resume, or when this run made them (an adapter shared by recipes).
    const madeHere = new Set<string>();
    const ensureAdapter = async (name: NonNullable<RecipePlan['adapter']>): Promise<Record<string, unknown>> => {
      const out = adapterDir(name);
      if ((resume || madeHere.has(name)) && existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'training.json'))) return readJson(join(out, 'training.json'));
      mkdirSync(out, { recursive: true });
      const spec = ADAPTERS[name];
      const lm = loadLm();
      try {
        applyLora(lm, loraCfg);
        const m = makeModel(lm, { guide: spec.guide, ids: false, idTokens: spec.idTokens });
        const ex = yesNoExamples(loraCases, loraStage.negativesPerPositive, o.seed);
        const steps = Math.ceil((loraStage.epochs * ex.length) / loraStage.batchSize);
        log(`LoRA '${name}': ${ex.length} examples, ${steps} steps`);
        const r = await timed(`lora:${name}`, () => m.fit(loraCases, ex, {
          steps, batchSize: loraStage.batchSize, lr: loraStage.lr, weightDecay: 0, warmupSteps: Math.min(50, Math.ceil(steps / 10)), loss: loraStage.loss, seed: o.seed,
          templates: trainedTemplates(spec.templates), ...titleSources(m, spec.titles), vars: m.trainables({ lora: true }),
          checkpointDir: out, checkpointEvery: 100, resume, signal: hooks.signal,
          onStep: (s, n, l) => { hooks.progress?.(`lora ${name}`, s, n); if (s % 100 === 0 || s === n) log(`  lora ${name} step ${s}/${n}: loss ${l.toFixed(4)}`); },
        }));
        if (r.interrupted) return { interrupted: true };
        saveAdapter(lm, loraCfg, out);
        const info = { ...r, examples: ex.length, templates: trainedTemplates(spec.templates).map((t) => t.id), guide: spec.guide, idTokens: spec.idTokens, titles: spec.titles };
        writeJson(join(out, 'training.json'), info);
        madeHere.add(name);
        return info;
      } finally {
        lm.dispose();
      }
    };

    // 6. Each recipe: adapter + (mapping step) + robustness evaluation.
    for (const recipe of o.recipes) {
      if (aborted()) { report.interrupted = true; break; }
      const plan = PLANS[recipe];
      const rdir = join(dir, 'models', recipe);
      mkdirSync(rdir, { recursive: true });
      const training: Record<string, unknown> = {};
      if (plan.adapter) {
        training.lora = await ensureAdapter(plan.adapter);
        if ((training.lora as { interrupted?: boolean }).interrupted) { report.interrupted = true; break; }
      }
      const lm = loadLm();
      let m: YesNoLlm | undefined;
      try {
        if (plan.adapter) loadAdapter(lm, adapterDir(plan.adapter));
        lm.store.setTrainable(() => false, false);
        m = makeModel(lm, { guide: plan.guide, ids: plan.mapping });
        if (plan.mapping) {
          const mdir = join(rdir, 'mapping');
          const tableFile = join(rdir, 'item_vectors.safetensors');
          const done = resume && MappingLayer.exists(mdir) && existsSync(join(rdir, 'mapping-training.json')) && (!plan.itemTable || existsSync(tableFile));
          if (done) {
            m.mapping = MappingLayer.load(mdir);
            if (plan.itemTable) m.initItemTable(readSafetensors(tableFile).tensors.get('item_vectors')!.data as Float32Array);
            training.mapping = readJson(join(rdir, 'mapping-training.json'));
          } else {
            m.mapping = new MappingLayer({ inputDim: m.collab!.itemVectors().dim, outputDim: lm.hiddenSize, residual: o.mappingResidual }, mixSeed(o.seed, 303));
            const ex = yesNoExamples(mapCases, mapStage.negativesPerPositive, mixSeed(o.seed, 1));
            const steps = Math.ceil((mapStage.epochs * ex.length) / mapStage.batchSize);
            log(`${recipe}: mapping layer${plan.itemTable ? ' + item vectors' : ''}, ${ex.length} examples, ${steps} steps`);
            const r = await timed(`mapping:${recipe}`, () => m!.fit(mapCases, ex, {
              steps, batchSize: mapStage.batchSize, lr: mapStage.lr, weightDecay: 0, warmupSteps: Math.min(50, Math.ceil(steps / 10)), loss: mapStage.loss, seed: mixSeed(o.seed, 2),
              templates: trainedTemplates(plan.templates), ...titleSources(m!, plan.titles), vars: m!.trainables({ mapping: true, itemTable: plan.itemTable }),
              checkpointDir: rdir, checkpointEvery: 100, resume, signal: hooks.signal,
              onStep: (s, n, l) => { hooks.progress?.(`${recipe} mapping`, s, n); if (s % 100 === 0 || s === n) log(`  ${recipe} mapping step ${s}/${n}: loss ${l.toFixed(4)}`); },
            }));
            if (r.interrupted) { report.interrupted = true; break; }
            m.mapping.save(mdir);
            if (plan.itemTable) writeSafetensors(tableFile, { item_vectors: { dtype: 'F32', shape: [...m.itemTable!.shape], data: (m.itemTable!.dataSync() as Float32Array).slice() } });
            training.mapping = { ...r, examples: ex.length };
            writeJson(join(rdir, 'mapping-training.json'), training.mapping);
          }
        }
        // Robustness evaluation: each template's metrics (cached per template for resume).
        const trained = trainedTemplates(plan.templates).map((t) => t.id);
        const isAblation = !['tallrec', 'collm', 'ganprompt', 'tallrec-multi'].includes(recipe);
        const unseen = isAblation && o.ablationTemplates === 'trained' ? [] : templates.unseen.map((t) => t.id);
        const other = isAblation && o.ablationTemplates === 'trained' ? [] : templates.seen.map((t) => t.id).filter((id) => !trained.includes(id));
        const all = new Map([...templates.seen, ...templates.unseen].map((t) => [t.id, t]));
        const evalOne = async (id: string): Promise<MetricValues> => {
          const f = join(rdir, 'eval', `${id}.json`);
          if (resume && existsSync(f)) return readJson<MetricValues>(f);
          const t = all.get(id)!;
          const scores = await timed(`eval:${recipe}`, () => m!.score(evalCases, t, m!.originalTitles, (d, n) => hooks.progress?.(`${recipe} eval ${id}`, d, n)));
          const metrics = rankingMetrics(scores, evalCases[0].candidates.length, o.eval.ks);
          mkdirSync(join(rdir, 'eval'), { recursive: true });
          writeJson(f, metrics);
          log(`  ${recipe} on ${id}: AUC ${metrics.auc.toFixed(4)}, HR@1 ${metrics['hr@1'].toFixed(4)}, NDCG@5 ${metrics['ndcg@5']?.toFixed(4) ?? '-'}`);
          return metrics;
        };
        let robustness: RobustnessReport;
        if (unseen.length) robustness = await evaluateRobustness({ trained, unseen, other }, evalOne);
        else {
          const per = [];
          for (const id of trained) per.push({ template: id, group: 'trained' as const, metrics: await evalOne(id) });
          robustness = robustnessFrom(per);
        }
        report.llm = report.llm.filter((r) => r.recipe !== recipe).concat([{ recipe, robustness, training }]);
        writeJson(join(rdir, 'robustness.json'), robustness);
        finish();
      } finally {
        m?.mapping?.dispose();
        m?.dispose();
        lm.dispose();
      }
    }
  } finally {
    collabModel.dispose();
  }
  return finish();
}

const f4 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(4));
const METRIC_COLS = ['auc', 'hr@1', 'hr@3', 'hr@5', 'ndcg@3', 'ndcg@5', 'mrr@3', 'mrr@5'];
const LABEL: Record<string, string> = { tallrec: 'TALLRec', collm: 'CoLLM', ganprompt: 'GANPrompt', 'tallrec-multi': 'TALLRec (all training templates)' };

export function renderGanPromptReport(r: GanPromptReport): string {
  const cols = METRIC_COLS;
  const head = `| model | ${cols.map((c) => c.toUpperCase()).join(' | ')} |\n|---|${cols.map(() => '---').join('|')}|`;
  const row = (name: string, m: MetricValues) => `| ${name} | ${cols.map((c) => f4(m[c])).join(' | ')} |`;
  const lines: string[] = [];
  lines.push(`# GANPrompt pipeline: ${r.dataset}`, '');
  lines.push(`${r.stats.users} users, ${r.stats.items} items, ${r.stats.interactions} interactions (sparsity ${r.stats.sparsity.toFixed(5)}, mean history ${r.stats.meanHistory.toFixed(2)}). Evaluation: ${r.evalUsers} test users (seeded sample), target + 9 stored negatives each, the same for every row.`, '');
  lines.push('## Accuracy (LLM rows: mean over the templates each model was trained on)', '', head);
  for (const b of r.baselines) lines.push(row(b.model, b.metrics));
  for (const l of r.llm.filter((x) => LABEL[x.recipe])) lines.push(row(`${LABEL[l.recipe]} (trained templates)`, l.robustness.trained.mean));
  for (const l of r.llm.filter((x) => LABEL[x.recipe] && x.robustness.unseen.templates.length)) lines.push(row(`${LABEL[l.recipe]} (unseen templates)`, l.robustness.unseen.mean));
  lines.push('', '## Robustness: trained vs unseen templates (mean ± std over templates; drop = trained - unseen)', '');
  lines.push('| model | trained templates | AUC trained | AUC unseen | AUC drop | HR@1 trained | HR@1 unseen | HR@1 drop | NDCG@5 drop |', '|---|---|---|---|---|---|---|---|---|');
  for (const l of r.llm.filter((x) => x.robustness.unseen.templates.length)) {
    const R = l.robustness;
    const pm = (k: string, g: typeof R.trained) => `${f4(g.mean[k])} ± ${f4(g.std[k])}`;
    lines.push(`| ${LABEL[l.recipe] ?? l.recipe} | ${R.trained.templates.join(', ')} | ${pm('auc', R.trained)} | ${pm('auc', R.unseen)} | ${f4(R.drop.auc)} | ${pm('hr@1', R.trained)} | ${pm('hr@1', R.unseen)} | ${f4(R.drop['hr@1'])} | ${f4(R.drop['ndcg@5'])} |`);
  }
  lines.push('', '### Per template', '', `| model | template | group | ${cols.map((c) => c.toUpperCase()).join(' | ')} |`, `|---|---|---|${cols.map(() => '---').join('|')}|`);
  for (const l of r.llm) for (const t of l.robustness.perTemplate) lines.push(`| ${LABEL[l.recipe] ?? l.recipe} | ${t.template} | ${t.group} | ${cols.map((c) => f4(t.metrics[c])).join(' | ')} |`);
  const abl = r.llm.filter((l) => ABLATION_LABELS[l.recipe]);
  if (abl.length) {
    lines.push('', '## Recommendation ablations (mean over trained templates; unseen in brackets)', '', '| variant | AUC | HR@1 | HR@3 | NDCG@5 | MRR@5 | AUC unseen |', '|---|---|---|---|---|---|---|');
    for (const l of abl) {
      const m = l.robustness.trained.mean;
      lines.push(`| ${ABLATION_LABELS[l.recipe]} | ${f4(m.auc)} | ${f4(m['hr@1'])} | ${f4(m['hr@3'])} | ${f4(m['ndcg@5'])} | ${f4(m['mrr@5'])} | ${l.robustness.unseen.templates.length ? f4(l.robustness.unseen.mean.auc) : '-'} |`);
    }
  }
  if (r.diversity) {
    const d = r.diversity;
    lines.push('', '## Stage 1: diversity encoder', '', `Attributes (top ${d.attributes.counts.length} masked-LM words): ${d.attributes.counts.map((a) => `${a.word} (${a.count})`).join(', ')}.`, '');
    lines.push('| variant | KL before | KL after | TV before | TV after | JS before | JS after | cos before | cos after |', '|---|---|---|---|---|---|---|---|---|');
    for (const [v, m] of Object.entries(d.measures)) {
      if (!m) continue;
      lines.push(`| ${v} | ${f4(m.before.kl)} | ${f4(m.after.kl)} | ${f4(m.before.tv)} | ${f4(m.after.tv)} | ${f4(m.before.js)} | ${f4(m.after.js)} | ${f4(m.before.cos)} | ${f4(m.after.cos)} |`);
    }
    const plots = Object.entries(d.files).filter(([, f]) => f.endsWith('.svg'));
    if (plots.length) lines.push('', `Plots: ${plots.map(([k, f]) => `${k}: \`${f}\``).join(', ')}.`);
  }
  lines.push('', '## Cost', '', `Peak RSS ${r.peakRssMiB.toFixed(0)} MiB. Seconds per stage: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}.`, '');
  return lines.join('\n');
}
