/**
 * `llmrec run recsysllm`: RecSysLLM end to end (spec section 7) as one
 * staged, checkpointed, resumable pipeline:
 *
 *   data -> tokenizer -> for each variant (recsysllm = entity-aware, plain =
 *   GLM without the entity-aware mechanisms): pre-training -> multi-task
 *   fine-tuning -> evaluation per family and template (seen / unseen)
 *   -> collaborative baselines on the same users -> report
 *
 * Layout of the run directory:
 *   options.json, data.json, tokenizer.json
 *   <variant>/pretrain/   checkpoint/ while training, then config.json + model.safetensors + result.json
 *   <variant>/finetune/   same
 *   <variant>/eval/<family>.<seen|unseen>.<i>.json   one file per template (resume skips finished ones)
 *   baselines.json, report.json, report.md
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { RawDataset, SplitDataset } from '../../data/types.js';
import { reviewKey } from '../../data/reviews.js';
import { datasetStats } from '../../data/stats.js';
import { evaluateRecommender } from '../../eval/evaluate.js';
import type { MetricValues } from '../../eval/types.js';
import { createRecommender, loadRecommender, modelEntry } from '../../models/registry.js';
import { buildCorpus } from '../../lm/corpus.js';
import { hasCheckpoint, pretrain, type PretrainResult } from '../../lm/pretrain.js';
import { Tokenizer, trainBpe } from '../../lm/tokenizer/index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { openRunDir, peakRssMiB, readJson, stageTimer, writeJson } from '../run_dir.js';
import { mixSeed } from '../../util/random.js';
import { parseWith } from '../../util/validate.js';
import { subsetSplit } from '../ganprompt/pipeline.js';
import { sampleRows } from '../yesno.js';
import { DEFAULT_EVAL, evaluateTemplate, type FamilyResult, itemTrie } from './evaluate.js';
import { DEFAULT_MASKING, checkMasking } from './masking.js';
import { glmTokens, RecSysLM } from './model.js';
import { FINETUNE_BLOCK, finetuneObjective, pretrainBlocks, pretrainObjective } from './objective.js';
import { DEFAULT_PROMPT, FAMILIES, type Family, FAMILY_LABELS, familySupport, loadTaskTemplates, ratingsOf, type TaskData, testInstances, trainingRefs } from './tasks.js';
import { checkBehaviourSampling, DEFAULT_BEHAVIOUR_SAMPLING, SegmentEncoder } from './text.js';

export const VARIANTS = ['recsysllm', 'plain'] as const;
export type Variant = (typeof VARIANTS)[number];
export const VARIANT_LABELS: Record<Variant, string> = {
  recsysllm: 'RecSysLLM (entity-aware)',
  plain: 'plain GLM LM (no entity-aware mechanisms)',
};

export const DEFAULT_TEMPLATES_FILE = 'templates/recsysllm.json';

const Train = z.strictObject({
  steps: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  warmupSteps: z.number().int().min(0),
  checkpointEvery: z.number().int().min(0),
});

export const RecSysRunSchema = z.strictObject({
  seed: z.number().int().default(2024),
  templates: z.string().default(DEFAULT_TEMPLATES_FILE),
  variants: z.array(z.enum(VARIANTS)).min(1).default([...VARIANTS]),
  /** Families to train and evaluate (default: every one the data supports). */
  families: z.array(z.enum(FAMILIES)).optional(),
  tokenizer: z.strictObject({ vocabSize: z.number().int().min(300).default(4096) }).prefault({}),
  model: z.strictObject({
    hiddenSize: z.number().int().min(8).default(128),
    layers: z.number().int().min(1).default(4),
    heads: z.number().int().min(1).default(4),
    dropout: z.number().min(0).max(0.9).default(0.1),
    maxPositions: z.number().int().min(64).default(512),
  }).prefault({}),
  text: z.strictObject({
    maxEntityTokens: z.number().int().min(1).default(24),
    maxDocTokens: z.number().int().min(16).default(192),
    itemAttributes: z.array(z.string()).default([]),
  }).prefault({}),
  sampling: z.strictObject({
    size: z.number().int().min(1).default(DEFAULT_BEHAVIOUR_SAMPLING.size),
    shares: z.tuple([z.number(), z.number(), z.number()]).default(DEFAULT_BEHAVIOUR_SAMPLING.shares),
    splits: z.tuple([z.number(), z.number()]).default(DEFAULT_BEHAVIOUR_SAMPLING.splits),
  }).prefault({}),
  masking: z.strictObject({
    ratio: z.number().default(DEFAULT_MASKING.ratio),
    poissonLambda: z.number().default(DEFAULT_MASKING.poissonLambda),
    documentRange: z.tuple([z.number(), z.number()]).default(DEFAULT_MASKING.documentRange),
    levelWeights: z.tuple([z.number(), z.number(), z.number()]).default(DEFAULT_MASKING.levelWeights),
  }).prefault({}),
  pretrain: Train.partial().default({}),
  finetune: Train.extend({ maxPerFamily: z.number().int().min(1) }).partial().default({}),
  prompt: z.strictObject({
    historyItems: z.number().int().min(1).default(DEFAULT_PROMPT.historyItems),
    maxPromptTokens: z.number().int().min(16).default(DEFAULT_PROMPT.maxPromptTokens),
    maxAnswerTokens: z.number().int().min(1).default(DEFAULT_PROMPT.maxAnswerTokens),
    maxReviewChars: z.number().int().min(1).default(DEFAULT_PROMPT.maxReviewChars),
  }).prefault({}),
  eval: z.strictObject({
    users: z.number().int().min(1).default(500),
    beams: z.number().int().min(10).default(DEFAULT_EVAL.beams),
    unconstrained: z.boolean().default(DEFAULT_EVAL.unconstrained),
    chunk: z.number().int().min(1).default(DEFAULT_EVAL.chunk),
  }).prefault({}),
  baselines: z.strictObject({
    /** Collaborative models trained here (Random and Pop are always added). */
    models: z.array(z.string()).default(['sasrec']),
    /** Saved model folders evaluated on the same users. */
    dirs: z.array(z.string()).default([]),
    epochs: z.number().int().min(1).default(30),
    patience: z.number().int().min(1).default(5),
  }).prefault({}),
});
export type RecSysRunOptions = z.output<typeof RecSysRunSchema>;

export const DEFAULT_PRETRAIN = { steps: 3000, batchSize: 16, lr: 1e-3, warmupSteps: 150, checkpointEvery: 250 };
export const DEFAULT_FINETUNE = { steps: 3000, batchSize: 16, lr: 5e-4, warmupSteps: 100, checkpointEvery: 250, maxPerFamily: 30000 };

export function parseRecSysOptions(raw: unknown, source = 'recsysllm options'): RecSysRunOptions {
  const o = parseWith(RecSysRunSchema, raw ?? {}, 'invalid RecSysLLM options', source);
  try {
    checkMasking({ ...o.masking, entityAware: true });
    checkBehaviourSampling(o.sampling);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`, { cause: e });
  }
  if (o.model.hiddenSize % o.model.heads !== 0) throw new Error(`${source}: field 'model.hiddenSize' (${o.model.hiddenSize}) must be divisible by model.heads (${o.model.heads})`);
  if (o.model.maxPositions < Math.max(o.text.maxDocTokens, o.prompt.maxPromptTokens) + 2) throw new Error(`${source}: field 'model.maxPositions' must exceed text.maxDocTokens and prompt.maxPromptTokens`);
  return o;
}

/** Intra-positions the model needs: a predicted span (up to a whole document or answer) plus its [S], and entities. */
export function intraPositionsFor(o: RecSysRunOptions): number {
  return Math.max(o.text.maxDocTokens, o.prompt.maxAnswerTokens, o.text.maxEntityTokens) + 2;
}

export interface RecSysHooks {
  signal?: AbortSignal;
  log?: (s: string) => void;
  progress?: (what: string, done: number, total: number) => void;
}

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

/**
 * Constant rating predictors on the evaluation instances, the rating family's
 * Random/Pop: the mean and the most frequent rating of the training part of
 * every sequence.
 */
export function ratingBaselines(tasks: TaskData, users: readonly number[]): BaselineRow[] {
  const train: number[] = [];
  tasks.data.trainSeqs.forEach((seq, u) => {
    for (const i of seq) { const r = tasks.ratings.get(reviewKey(u, i)); if (r !== undefined) train.push(r); }
  });
  const inst = testInstances(tasks, 'rating', users);
  if (train.length === 0 || inst.length === 0) return [];
  const mean = train.reduce((a, b) => a + b, 0) / train.length;
  const counts = new Map<number, number>();
  for (const r of train) counts.set(Math.round(r), (counts.get(Math.round(r)) ?? 0) + 1);
  const mode = [...counts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
  const score = (p: number) => {
    let se = 0;
    let ae = 0;
    for (const x of inst) { const e = p - x.rating!; se += e * e; ae += Math.abs(e); }
    return { rmse: Math.sqrt(se / inst.length), mae: ae / inst.length };
  };
  return [{ model: `training mean (${mean.toFixed(2)})`, rating: score(mean) }, { model: `training mode (${mode})`, rating: score(mode) }];
}

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
}

/** Runs (or resumes) the pipeline into `dir`; writes and returns the report. */
export async function runRecSysLLM(raw: RawDataset, data: SplitDataset, rawOpts: unknown, dir: string, hooks: RecSysHooks = {}, resume = false): Promise<RecSysReport> {
  const o = parseRecSysOptions(rawOpts);
  const log = hooks.log ?? (() => {});
  // Evaluation size, baselines and variants may change on resume; training options must match.
  openRunDir(dir, o, ['eval', 'baselines', 'variants'], resume);
  const { seconds, timed } = stageTimer();
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
    dataset: data.name, stats, options: o, evalUsers: 0, support, families, variants: [], baselines: [], seconds, peakRssMiB: 0, interrupted: false,
  };
  const finish = (): RecSysReport => {
    report.peakRssMiB = peakRssMiB();
    writeJson(join(dir, 'report.json'), report);
    writeFileAtomic(join(dir, 'report.md'), renderRecSysReport(report));
    return report;
  };

  // 1. Tokenizer: byte-level BPE on train-split text (titles, histories, training reviews) and the templates' wording.
  let tok: Tokenizer;
  if (existsSync(join(dir, 'tokenizer.json')) && resume) {
    tok = Tokenizer.fromFile(dir);
  } else {
    tok = await timed('tokenizer', () => {
      const docs = buildCorpus(data);
      if (data.reviews) {
        data.trainSeqs.forEach((seq, u) => {
          for (const it of seq) { const r = data.reviews!.get(reviewKey(u, it)); if (r) docs.push(`${r.text} ${r.summary}`); }
        });
      }
      const wording = FAMILIES.flatMap((f) => [...templates.families[f].seen, ...templates.families[f].unseen]).join('\n').replace(/\{\w+\}/g, '');
      for (let i = 0; i < 20; i++) docs.push(wording, 'Bought Then bought User profile 1 2 3 4 5');
      const t = trainBpe(docs, { vocabSize: o.tokenizer.vocabSize });
      glmTokens(t);
      t.save(dir);
      return t;
    });
    log(`tokenizer: ${tok.vocabSize} tokens`);
  }
  const tokens = glmTokens(tok);
  const enc = new SegmentEncoder((s) => tok.encode(s, { addSpecialTokens: false }), o.text.maxEntityTokens);
  const { trie, tokens: itemTokens } = itemTrie(data, enc);
  log(`item trie: ${trie.size} distinct titles of ${data.numItems} items`);

  // Evaluation users: a seeded sample of the test split (the same for every model).
  const evalRows = sampleRows(data.test.count, o.eval.users, mixSeed(o.seed, 101));
  report.evalUsers = evalRows.length;
  const evalUsers = evalRows.map((r) => data.test.user[r]);

  const pre = { ...DEFAULT_PRETRAIN, ...o.pretrain };
  const fin = { ...DEFAULT_FINETUNE, ...o.finetune };
  const stage = async (name: string, variant: Variant, out: string, model: RecSysLM, run: (resumeStage: boolean) => Promise<PretrainResult>): Promise<StageResult | 'interrupted'> => {
    const done = join(out, 'result.json');
    if (existsSync(done) && existsSync(join(out, 'model.safetensors'))) {
      log(`${variant} ${name}: reused ${out}`);
      return readJson<StageResult>(done);
    }
    mkdirSync(out, { recursive: true });
    const r = await timed(`${variant}.${name}`, () => run(resume && hasCheckpoint(out)));
    if (r.interrupted) return 'interrupted';
    model.save(out);
    const res: StageResult = { ...r, peakRssMiB: peakRssMiB() };
    writeJson(done, res);
    log(`${variant} ${name}: ${r.steps} steps in ${r.seconds.toFixed(0)} s, ${r.tokensPerSecond.toFixed(0)} tokens/s, final loss ${r.trainLoss.toFixed(3)}, held-out ${Number.isNaN(r.heldOutPerplexity) ? '-' : Math.log(r.heldOutPerplexity).toFixed(3)}`);
    return res;
  };

  for (const variant of o.variants) {
    const entityAware = variant === 'recsysllm';
    const vdir = join(dir, variant);
    const vr: VariantReport = { variant, label: VARIANT_LABELS[variant], parameters: 0, results: [] };
    report.variants.push(vr);
    const masking = { ...o.masking, entityAware };
    // 2. Pre-training.
    const preDir = join(vdir, 'pretrain');
    let model = existsSync(join(preDir, 'result.json')) ? RecSysLM.load(preDir) : RecSysLM.create({
      vocabSize: tok.vocabSize, ...o.model, intraPositions: intraPositionsFor(o), entityAware, seed: o.seed,
    }, { eos: tok.specialTokens.eos?.id, pad: tokens.pad });
    vr.parameters = model.store.count();
    const blocks = pretrainBlocks(data);
    const heldN = Math.min(256, Math.max(1, Math.floor(blocks.length * 0.02)));
    const held = blocks.filter((_, i) => i % Math.max(1, Math.floor(blocks.length / heldN)) === 0).slice(0, heldN);
    const ctx = { data, enc, tokens, masking, sampling: o.sampling, textualise: { itemAttributes: o.text.itemAttributes }, maxDocTokens: o.text.maxDocTokens, userFeatures: data.userFeatures, seed: o.seed };
    log(`${variant}: ${(vr.parameters / 1e6).toFixed(2)}M parameters; pre-training on ${blocks.length} user documents`);
    const p = await stage('pretrain', variant, preDir, model, (res) => pretrain(model.lm, pretrainObjective(model, ctx), blocks, held, {
      blockSize: 1, batchSize: pre.batchSize, lr: pre.lr, warmupSteps: pre.warmupSteps, maxSteps: pre.steps, seed: o.seed,
      checkpointEvery: pre.checkpointEvery, signal: hooks.signal, onStep: (s) => hooks.progress?.(`${variant} pretrain (loss ${s.loss.toFixed(3)})`, s.step, s.maxSteps),
    }, preDir, res));
    if (p === 'interrupted') { report.interrupted = true; model.dispose(); return finish(); }
    vr.pretrain = p;
    // 3. Multi-task fine-tuning from the pre-trained weights.
    const finDir = join(vdir, 'finetune');
    if (existsSync(join(finDir, 'result.json'))) { model.dispose(); model = RecSysLM.load(finDir); }
    const refs = trainingRefs(tasks, families, fin.maxPerFamily, o.seed);
    const fctx = { tasks, templates, enc, tokens, prompt: o.prompt, entityAware, seed: o.seed };
    log(`${variant}: fine-tuning on ${refs.length} task instances (${families.join(', ')})`);
    const heldRefs = refs.filter((_, i) => i % Math.max(1, Math.floor(refs.length / 256)) === 0).slice(0, 256);
    const f = await stage('finetune', variant, finDir, model, (res) => pretrain(model.lm, finetuneObjective(model, fctx), refs, heldRefs, {
      blockSize: FINETUNE_BLOCK, batchSize: fin.batchSize, lr: fin.lr, warmupSteps: fin.warmupSteps, maxSteps: fin.steps, seed: mixSeed(o.seed, 7),
      checkpointEvery: fin.checkpointEvery, signal: hooks.signal, onStep: (s) => hooks.progress?.(`${variant} finetune (loss ${s.loss.toFixed(3)})`, s.step, s.maxSteps),
    }, finDir, res));
    if (f === 'interrupted') { report.interrupted = true; model.dispose(); return finish(); }
    vr.finetune = f;
    // 4. Evaluation per family and template.
    try {
      const edir = join(vdir, 'eval');
      mkdirSync(edir, { recursive: true });
      for (const fam of families) {
        const inst = testInstances(tasks, fam, evalUsers);
        const sets: Array<[boolean, string[]]> = [[true, templates.families[fam].seen], [false, templates.families[fam].unseen]];
        for (const [seen, list] of sets) {
          for (let i = 0; i < list.length; i++) {
            const file = join(edir, `${fam}.${seen ? 'seen' : 'unseen'}.${i}.json`);
            const prev = existsSync(file) ? readJson<FamilyResult & { users: number }>(file) : undefined;
            if (prev && prev.template === list[i] && prev.users === evalUsers.length) { vr.results.push(prev); continue; }
            if (hooks.signal?.aborted) { report.interrupted = true; return finish(); }
            const r = await timed(`${variant}.eval`, () => evaluateTemplate({
              model, tasks, enc, tok, tokens, prompt: o.prompt, trie, itemTokens, entityAware, o: o.eval,
              onProgress: (d, t) => hooks.progress?.(`${variant} ${fam} ${seen ? 'seen' : 'unseen'} ${i}`, d, t),
            }, fam, list[i], seen, inst));
            writeJson(file, { ...r, users: evalUsers.length });
            vr.results.push(r);
            log(`${variant} ${fam} ${seen ? 'seen' : 'unseen'} #${i}: ${Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')} (${r.instances} cases, ${r.seconds.toFixed(0)} s)`);
          }
        }
      }
    } finally {
      model.dispose();
    }
  }

  // 5. Constant predictors beside rating prediction; baselines for the ranking families on the same users: Random, Pop and collaborative models.
  const ratingRows = families.includes('rating') ? ratingBaselines(tasks, evalUsers) : [];
  const rankingFams = families.filter((f) => f === 'sequential' || f === 'direct');
  if (rankingFams.length > 0) {
    const baseFile = join(dir, 'baselines.json');
    const key = JSON.stringify({ ...o.baselines, users: evalUsers.length });
    const prev = existsSync(baseFile) ? readJson<{ key: string; rows: BaselineRow[] }>(baseFile) : undefined;
    if (prev && prev.key === key) {
      report.baselines = prev.rows;
    } else {
      report.baselines = await timed('baselines', async () => {
        const evalData = subsetSplit(data, 'test', evalRows);
        const rows: BaselineRow[] = [];
        const evalOne = (m: Parameters<typeof evaluateRecommender>[0], name: string): BaselineRow => {
          const row: BaselineRow = { model: name };
          if (rankingFams.includes('sequential')) { const { count: _c, ...x } = evaluateRecommender(m, evalData, 'test', { protocol: 'full', ks: [5, 10] }); row.sequential = x; }
          if (rankingFams.includes('direct')) { const { count: _c, ...x } = evaluateRecommender(m, evalData, 'test', { protocol: 'sampled', ks: [1, 5, 10] }); row.direct = x; }
          return row;
        };
        for (const name of ['random', 'pop', ...o.baselines.models.filter((m) => m !== 'random' && m !== 'pop')]) {
          const m = createRecommender(name);
          const d = modelEntry(name).fit;
          log(`baseline ${name}: training`);
          await m.fit(data, { ...d, ...(name === 'random' || name === 'pop' ? {} : { epochs: o.baselines.epochs, patience: o.baselines.patience, validMetric: 'ndcg@10', validProtocol: 'sampled' }), seed: o.seed, signal: hooks.signal });
          rows.push(evalOne(m, name));
          m.dispose();
        }
        for (const b of o.baselines.dirs) {
          const m = await loadRecommender(b);
          rows.push(evalOne(m, `${m.name} (${b})`));
          m.dispose();
        }
        writeJson(baseFile, { key, rows });
        return rows;
      });
    }
  }
  report.baselines = [...ratingRows, ...report.baselines];
  return finish();
}

function fmt(x: number | undefined, d = 4): string {
  return x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d);
}

const FAMILY_METRICS: Record<Family, string[]> = {
  rating: ['rmse', 'mae'],
  sequential: ['hr@5', 'ndcg@5', 'hr@10', 'ndcg@10', 'realShareTrie', 'realShareFree', 'hr@10Free'],
  direct: ['hr@1', 'hr@5', 'ndcg@5', 'hr@10', 'ndcg@10'],
  explanation: ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l'],
  review: ['bleu-2', 'rouge-1', 'rouge-2', 'rouge-l'],
};

/** Mean of each metric over a variant's templates of one family, seen or unseen. */
export function meanMetrics(results: readonly FamilyResult[], family: Family, seen: boolean): Record<string, number> | undefined {
  const rs = results.filter((r) => r.family === family && r.seen === seen);
  if (rs.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const k of FAMILY_METRICS[family]) {
    const v = rs.map((r) => r.metrics[k]).filter((x) => x !== undefined && !Number.isNaN(x));
    if (v.length) out[k] = v.reduce((a, b) => a + b, 0) / v.length;
  }
  return out;
}

export function renderRecSysReport(r: RecSysReport): string {
  const L: string[] = [`# RecSysLLM on ${r.dataset}`, ''];
  L.push(`${r.stats.users} users, ${r.stats.items} items, ${r.stats.interactions} interactions; evaluation on ${r.evalUsers} sampled test users (the same for every model).`, '');
  L.push('| family | runs here? |', '|---|---|');
  for (const f of FAMILIES) L.push(`| ${FAMILY_LABELS[f]} | ${r.support[f] ? `no: ${r.support[f]}` : r.families.includes(f) ? 'yes' : 'not selected'} |`);
  L.push('');
  L.push('| model | parameters | pre-training s | tokens/s | peak RSS MiB | fine-tuning s |', '|---|---|---|---|---|---|');
  for (const v of r.variants) L.push(`| ${v.label} | ${(v.parameters / 1e6).toFixed(2)}M | ${fmt(v.pretrain?.seconds, 0)} | ${fmt(v.pretrain?.tokensPerSecond, 0)} | ${fmt(v.pretrain?.peakRssMiB, 0)} | ${fmt(v.finetune?.seconds, 0)} |`);
  L.push('');
  for (const f of r.families) {
    const keys = FAMILY_METRICS[f].filter((k) => r.variants.some((v) => v.results.some((x) => x.family === f && x.metrics[k] !== undefined)));
    L.push(`## ${FAMILY_LABELS[f]}`, '', `Mean over templates. ${f === 'explanation' || f === 'review' ? 'BLEU and ROUGE (F1) in percent.' : ''}`, '');
    L.push(`| model | templates | ${keys.join(' | ')} |`, `|---|---|${keys.map(() => '---').join('|')}|`);
    if (f === 'rating') {
      for (const b of r.baselines) if (b.rating) L.push(`| ${b.model} | - | ${keys.map((k) => fmt(b.rating![k])).join(' | ')} |`);
    }
    if (f === 'sequential' || f === 'direct') {
      for (const b of r.baselines) {
        const m = f === 'sequential' ? b.sequential : b.direct;
        if (m) L.push(`| ${b.model} | - | ${keys.map((k) => fmt(m[k])).join(' | ')} |`);
      }
    }
    for (const v of r.variants) {
      for (const seen of [true, false]) {
        const m = meanMetrics(v.results, f, seen);
        if (m) L.push(`| ${v.label} | ${seen ? 'seen' : 'unseen'} | ${keys.map((k) => fmt(m[k])).join(' | ')} |`);
      }
    }
    L.push('');
  }
  if (r.families.includes('sequential')) {
    L.push('Baselines rank all items with the history excluded (full ranking); the LMs generate 20 beams over the item trie and drop history items. realShareTrie / realShareFree: share of generated answers that are real items with / without the trie; hr@10Free: HR@10 of the unconstrained search.', '');
  }
  L.push(`Stage seconds: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; peak RSS ${r.peakRssMiB.toFixed(0)} MiB.`, '');
  return L.join('\n');
}
