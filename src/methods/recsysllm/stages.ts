/**
 * The stages of a RecSysLLM run (pipeline.ts): the tokenizer, then per
 * variant (recsysllm = entity-aware, plain = GLM without the entity-aware
 * mechanisms) pre-training -> multi-task fine-tuning -> evaluation per family
 * and template. Outputs (reused on resume):
 *   tokenizer.json
 *   <variant>/pretrain/, <variant>/finetune/   model + result.json
 *   <variant>/eval/<family>.<seen|unseen>.<i>.json
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { reviewKey } from '../../data/reviews.js';
import { hasCheckpoint, pretrain, type PretrainResult } from '../../lm/pretrain.js';
import { Tokenizer, trainBpe } from '../../lm/tokenizer/index.js';
import { DEFAULT_FINETUNE, DEFAULT_PRETRAIN, type RecSysRunOptions, type Variant } from '../../config/recsysllm.js';
import { peakRssMiB, readJson, type Stage, type StageOutcome, writeJson } from '../../run/index.js';
import { mixSeed } from '../../util/random.js';
import { buildCorpus } from '../text_lm/corpus.js';
import type { RecSysRun, RecSysText, StageResult, VariantReport } from './context.js';
import { evaluateTemplate, type FamilyResult, itemTrie } from './evaluate.js';
import { glmTokens, RecSysLM } from './model.js';
import { FINETUNE_BLOCK, finetuneObjective, pretrainBlocks, pretrainObjective } from './objective.js';
import { FAMILIES, testInstances, trainingRefs } from './tasks.js';
import { SegmentEncoder } from './text.js';

export const VARIANT_LABELS: Record<Variant, string> = {
  recsysllm: 'RecSysLLM (entity-aware)',
  plain: 'plain GLM LM (no entity-aware mechanisms)',
};

/** Intra-positions the model needs: a predicted span (up to a whole document or answer) plus its [S], and entities. */
export function intraPositionsFor(o: RecSysRunOptions): number {
  return Math.max(o.text.maxDocTokens, o.prompt.maxAnswerTokens, o.text.maxEntityTokens) + 2;
}

/** Byte-level BPE on train-split text (titles, histories, training reviews) and the templates' wording. */
function trainTokenizer(run: RecSysRun): Tokenizer {
  const { data, templates, o } = run;
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
  t.save(run.dir);
  return t;
}

/** 1. Tokenizer (tokenizer.json, reused on resume), segment encoder and item trie. */
export const tokenizerStage: Stage<RecSysRun> = {
  name: 'tokenizer',
  async run(r) {
    let tok: Tokenizer;
    if (existsSync(join(r.dir, 'tokenizer.json')) && r.resume) {
      tok = Tokenizer.fromFile(r.dir);
    } else {
      tok = await r.timer.timed('tokenizer', () => trainTokenizer(r));
      r.log(`tokenizer: ${tok.vocabSize} tokens`);
    }
    const tokens = glmTokens(tok);
    const enc = new SegmentEncoder((s) => tok.encode(s, { addSpecialTokens: false }), r.o.text.maxEntityTokens);
    const { trie, tokens: itemTokens } = itemTrie(r.data, enc);
    r.log(`item trie: ${trie.size} distinct titles of ${r.data.numItems} items`);
    r.text = { tok, tokens, enc, trie, itemTokens };
    return 'done';
  },
};

/** A training stage of a variant: reused when its result.json and weights exist, else trained (resuming its checkpoint) and saved. */
async function trainingStage(r: RecSysRun, name: string, variant: Variant, out: string, model: RecSysLM, train: (resumeStage: boolean) => Promise<PretrainResult>): Promise<StageResult | 'interrupted'> {
  const done = join(out, 'result.json');
  if (existsSync(done) && existsSync(join(out, 'model.safetensors'))) {
    r.log(`${variant} ${name}: reused ${out}`);
    return readJson<StageResult>(done);
  }
  mkdirSync(out, { recursive: true });
  const res = await r.timer.timed(`${variant}.${name}`, () => train(r.resume && hasCheckpoint(out)));
  if (res.interrupted) return 'interrupted';
  model.save(out);
  const result: StageResult = { ...res, peakRssMiB: peakRssMiB() };
  writeJson(done, result);
  r.log(`${variant} ${name}: ${res.steps} steps in ${res.seconds.toFixed(0)} s, ${res.tokensPerSecond.toFixed(0)} tokens/s, final loss ${res.trainLoss.toFixed(3)}, held-out ${Number.isNaN(res.heldOutPerplexity) ? '-' : Math.log(res.heldOutPerplexity).toFixed(3)}`);
  return result;
}

/** 2. Pre-training of a variant (its model is created, or loaded when the stage finished before). */
async function pretrainVariant(r: RecSysRun, t: RecSysText, variant: Variant, vr: VariantReport): Promise<RecSysLM | 'interrupted'> {
  const { o, data } = r;
  const entityAware = variant === 'recsysllm';
  const preDir = join(r.dir, variant, 'pretrain');
  const model = existsSync(join(preDir, 'result.json')) ? RecSysLM.load(preDir) : RecSysLM.create({
    vocabSize: t.tok.vocabSize, ...o.model, intraPositions: intraPositionsFor(o), entityAware, seed: o.seed,
  }, { eos: t.tok.specialTokens.eos?.id, pad: t.tokens.pad });
  vr.parameters = model.store.count();
  const pre = { ...DEFAULT_PRETRAIN, ...o.pretrain };
  const blocks = pretrainBlocks(data);
  const heldN = Math.min(256, Math.max(1, Math.floor(blocks.length * 0.02)));
  const held = blocks.filter((_, i) => i % Math.max(1, Math.floor(blocks.length / heldN)) === 0).slice(0, heldN);
  const ctx = { data, enc: t.enc, tokens: t.tokens, masking: { ...o.masking, entityAware }, sampling: o.sampling, textualise: { itemAttributes: o.text.itemAttributes }, maxDocTokens: o.text.maxDocTokens, userFeatures: data.userFeatures, seed: o.seed };
  r.log(`${variant}: ${(vr.parameters / 1e6).toFixed(2)}M parameters; pre-training on ${blocks.length} user documents`);
  const p = await trainingStage(r, 'pretrain', variant, preDir, model, (res) => pretrain(model.lm, pretrainObjective(model, ctx), blocks, held, {
    blockSize: 1, batchSize: pre.batchSize, lr: pre.lr, warmupSteps: pre.warmupSteps, maxSteps: pre.steps, seed: o.seed,
    checkpointEvery: pre.checkpointEvery, signal: r.hooks.signal, onStep: (s) => r.hooks.progress?.(`${variant} pretrain (loss ${s.loss.toFixed(3)})`, s.step, s.maxSteps),
  }, preDir, res));
  if (p === 'interrupted') { model.dispose(); return 'interrupted'; }
  vr.pretrain = p;
  return model;
}

/** 3. Multi-task fine-tuning from the pre-trained weights (or the fine-tuned model when the stage finished before). */
async function finetuneVariant(r: RecSysRun, t: RecSysText, variant: Variant, vr: VariantReport, pretrained: RecSysLM): Promise<RecSysLM | 'interrupted'> {
  const { o } = r;
  const finDir = join(r.dir, variant, 'finetune');
  let model = pretrained;
  if (existsSync(join(finDir, 'result.json'))) { model.dispose(); model = RecSysLM.load(finDir); }
  const fin = { ...DEFAULT_FINETUNE, ...o.finetune };
  const refs = trainingRefs(r.tasks, r.families, fin.maxPerFamily, o.seed);
  const fctx = { tasks: r.tasks, templates: r.templates, enc: t.enc, tokens: t.tokens, prompt: o.prompt, entityAware: variant === 'recsysllm', seed: o.seed };
  r.log(`${variant}: fine-tuning on ${refs.length} task instances (${r.families.join(', ')})`);
  const heldRefs = refs.filter((_, i) => i % Math.max(1, Math.floor(refs.length / 256)) === 0).slice(0, 256);
  const m = model;
  const f = await trainingStage(r, 'finetune', variant, finDir, m, (res) => pretrain(m.lm, finetuneObjective(m, fctx), refs, heldRefs, {
    blockSize: FINETUNE_BLOCK, batchSize: fin.batchSize, lr: fin.lr, warmupSteps: fin.warmupSteps, maxSteps: fin.steps, seed: mixSeed(o.seed, 7),
    checkpointEvery: fin.checkpointEvery, signal: r.hooks.signal, onStep: (s) => r.hooks.progress?.(`${variant} finetune (loss ${s.loss.toFixed(3)})`, s.step, s.maxSteps),
  }, finDir, res));
  if (f === 'interrupted') { m.dispose(); return 'interrupted'; }
  vr.finetune = f;
  return m;
}

/** 4. Evaluation per family and template; one file per template (finished ones are reused). */
async function evaluateVariant(r: RecSysRun, t: RecSysText, variant: Variant, vr: VariantReport, model: RecSysLM): Promise<StageOutcome> {
  const edir = join(r.dir, variant, 'eval');
  mkdirSync(edir, { recursive: true });
  for (const fam of r.families) {
    const inst = testInstances(r.tasks, fam, r.evalUsers);
    const sets: Array<[boolean, string[]]> = [[true, r.templates.families[fam].seen], [false, r.templates.families[fam].unseen]];
    for (const [seen, list] of sets) {
      for (let i = 0; i < list.length; i++) {
        const file = join(edir, `${fam}.${seen ? 'seen' : 'unseen'}.${i}.json`);
        const prev = existsSync(file) ? readJson<FamilyResult & { users: number }>(file) : undefined;
        if (prev && prev.template === list[i] && prev.users === r.evalUsers.length) { vr.results.push(prev); continue; }
        if (r.hooks.signal?.aborted) return 'interrupted';
        const res = await r.timer.timed(`${variant}.eval`, () => evaluateTemplate({
          model, tasks: r.tasks, enc: t.enc, tok: t.tok, tokens: t.tokens, prompt: r.o.prompt, trie: t.trie, itemTokens: t.itemTokens, entityAware: variant === 'recsysllm', o: r.o.eval,
          onProgress: (d, n) => r.hooks.progress?.(`${variant} ${fam} ${seen ? 'seen' : 'unseen'} ${i}`, d, n),
        }, fam, list[i], seen, inst));
        writeJson(file, { ...res, users: r.evalUsers.length });
        vr.results.push(res);
        r.log(`${variant} ${fam} ${seen ? 'seen' : 'unseen'} #${i}: ${Object.entries(res.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')} (${res.instances} cases, ${res.seconds.toFixed(0)} s)`);
      }
    }
  }
  return 'done';
}

/** 2.-4. Every variant in order: pre-training, fine-tuning, evaluation. */
export const variantsStage: Stage<RecSysRun> = {
  name: 'variants',
  async run(r) {
    const t = r.text;
    if (!t) throw new Error('variants: the tokenizer stage did not run');
    for (const variant of r.o.variants) {
      const vr: VariantReport = { variant, label: VARIANT_LABELS[variant], parameters: 0, results: [] };
      r.report.variants.push(vr);
      const pre = await pretrainVariant(r, t, variant, vr);
      if (pre === 'interrupted') return 'interrupted';
      const model = await finetuneVariant(r, t, variant, vr, pre);
      if (model === 'interrupted') return 'interrupted';
      try {
        if ((await evaluateVariant(r, t, variant, vr, model)) === 'interrupted') return 'interrupted';
      } finally {
        model.dispose();
      }
    }
    return 'done';
  },
};
