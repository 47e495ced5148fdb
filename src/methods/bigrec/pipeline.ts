/**
 * A BIGRec run (docs/LLM.md "BIGRec"), stage by stage into its run
 * directory (src/run), each output reused on resume:
 *
 *   lm/ (unless lm.dir)   the small LM trained on the data's train-split text
 *   collab/               the collaborative model (unless collab.dir or collab.none)
 *   finetune/             fine-tuning checkpoint (src/train layout); finetuned/ the model + tokenizer
 *   generations.json      per evaluated user: the greedy generation and the trie beams' items
 *   report.json/.md       metrics of every row on the same users (full ranking and sampled protocols)
 *
 * Rows: BIGRec grounded by LM embeddings and by TF-IDF (plain, + popularity,
 * + collaborative, + both; gammas picked on validation users), trie-constrained
 * beams, and Random, Pop and the collaborative model on the same users.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BigRecRunOptions } from '../../config/bigrec.js';
import type { SplitDataset, UserBatch } from '../../data/types.js';
import { subsetSplit } from '../../data/subset.js';
import { evaluateRecommender, sliceSplit } from '../../eval/evaluate.js';
import type { MetricValues, Scorer } from '../../eval/types.js';
import { loadPretrained, savePretrained } from '../../lm/checkpoint.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { generate } from '../../lm/generate.js';
import { applyLora, parseLoraConfig, removeLora } from '../../lm/lora.js';
import { hasCheckpoint, pretrain, type PretrainResult } from '../../lm/pretrain.js';
import { Tokenizer } from '../../lm/tokenizer/index.js';
import { TokenTrie } from '../../lm/trie.js';
import { createRecommender, loadRecommender, modelEntry } from '../../models/registry.js';
import type { Recommender } from '../../models/types.js';
import { cachedJson, openRunDir, peakRssMiB, portablePath, readJson, type StageHooks, StageTimer, writeJson, writeRunReport } from '../../run/index.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { LORA_TARGETS } from '../ganprompt/recipe_stage.js';
import { itemTitle } from '../text_lm/corpus.js';
import { trainSmallLm } from '../text_lm/small_lm.js';
import { type Example, examplesLoss, nextTitleObjective, type PromptCodec, promptIds, TITLE_SEPARATOR, titleIds, trainingExamples } from './finetune.js';
import { groundedScores, l2Distances, lmEmbeddings, TfIdf, type Vectors } from './grounding.js';

/** One evaluated case: a row of the valid or test split. */
interface Generation {
  row: number;
  user: string;
  text: string;
  /** Items of the trie beams, best first (test cases only). */
  beams: number[];
}

export interface BigRecReport {
  dataset: string;
  lm: { dir: string; parameters: number };
  finetune: (PretrainResult & { examples: number; heldOutLossBefore: number; heldOutLossAfter: number; method: string }) | null;
  gammas: Record<string, { pop: number; collab: number; valid: number }>;
  /** Rows by name: full-ranking and sampled metrics on the same test users. */
  rows: Array<{ model: string; full: MetricValues; sampled: MetricValues }>;
  /** Generated titles that are exactly a catalogue title (case-insensitive), of the test users. */
  exactTitleShare: number;
  samples: Array<{ user: string; history: string[]; generated: string; grounded: string; trie: string; target: string }>;
  options: BigRecRunOptions;
  users: { test: number; tune: number };
  seconds: Record<string, number>;
  peakRssMiB: number;
  interrupted: boolean;
}

/** A scorer of precomputed score vectors over all items, by user index. */
class FixedScorer implements Scorer {
  constructor(readonly name: string, private readonly byUser: Map<number, Float32Array>) {}
  private row(u: number): Float32Array {
    const s = this.byUser.get(u);
    if (!s) throw new Error(`BIGRec scorer ${this.name}: no scores for user index ${u}`);
    return s;
  }
  scoreAll(batch: UserBatch): Float32Array {
    const first = this.row(batch.user[0]);
    const out = new Float32Array(batch.size * first.length);
    for (let b = 0; b < batch.size; b++) out.set(this.row(batch.user[b]), b * first.length);
    return out;
  }
  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const out = new Float32Array(batch.size * C);
    for (let b = 0; b < batch.size; b++) {
      const s = this.row(batch.user[b]);
      for (let c = 0; c < C; c++) out[b * C + c] = s[candidates[b * C + c]];
    }
    return out;
  }
}

function seededRows(count: number, n: number, seed: number): number[] {
  const idx = Array.from({ length: count }, (_, i) => i);
  const rng = new Mulberry32(seed);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, n).sort((a, b) => a - b);
}

/** Ids whose decoded text contains the separator: generation stops after one. */
function separatorTokens(tok: Tokenizer, sep: string): number[] {
  const out: number[] = [];
  for (let id = 0; id < tok.vocabSize; id++) if (tok.decode([id], { skipSpecialTokens: true }).includes(sep)) out.push(id);
  return out;
}

function itemPopularity(data: SplitDataset): Float64Array {
  const p = new Float64Array(data.numItems + 1);
  for (const seq of data.trainSeqs) for (const it of seq) p[it]++;
  return p;
}

/** Runs (or resumes) BIGRec into `dir`. */
export async function runBigRec(data: SplitDataset, o: BigRecRunOptions, dir: string, hooks: StageHooks = {}, resume = false): Promise<BigRecReport> {
  const log = hooks.log ?? (() => {});
  const timer = new StageTimer();
  openRunDir(dir, o as unknown as Record<string, unknown>, { resume, mutable: [] });
  const report: BigRecReport = {
    dataset: data.name, lm: { dir: '', parameters: 0 }, finetune: null, gammas: {}, rows: [], exactTitleShare: 0, samples: [], options: o,
    users: { test: 0, tune: 0 }, seconds: timer.seconds, peakRssMiB: 0, interrupted: false,
  };

  // 1. The LM.
  let lmDir = o.lm.dir;
  if (!lmDir) {
    lmDir = join(dir, 'lm');
    const small = lmDir;
    if (!(resume && existsSync(join(small, 'report.json')))) {
      log('lm: training the small LM on the train-split text');
      const r = await timer.timed('lm', () => trainSmallLm(data, { evalUsers: 0, ...o.lm.small }, small, { log, signal: hooks.signal, onStep: (s) => hooks.progress?.('lm', s.step, s.maxSteps) }, resume));
      if (r.training.interrupted) return { ...report, interrupted: true };
    }
  }
  report.lm.dir = portablePath(lmDir, dir);

  // 2. The collaborative model.
  let collab: Recommender | null = null;
  if (!o.collab.none) {
    if (o.collab.dir) collab = await loadRecommender(o.collab.dir);
    else {
      const cdir = join(dir, 'collab');
      if (resume && existsSync(join(cdir, 'config.json'))) collab = await loadRecommender(cdir);
      else {
        log(`collab: training ${o.collab.model}`);
        const m = createRecommender(o.collab.model);
        const fit = await timer.timed('collab', () => m.fit(data, { ...modelEntry(o.collab.model).fit, epochs: o.collab.epochs, seed: o.seed, signal: hooks.signal }));
        if (fit.interrupted) { m.dispose(); return { ...report, interrupted: true }; }
        await m.save(cdir);
        collab = m;
      }
    }
  }

  const ftDir = join(dir, 'finetuned');
  const finetuned = o.finetune.steps > 0;
  let model: CausalLM | undefined;
  try {
    // 3. Fine-tuning (step 1 of BIGRec).
    const tok = Tokenizer.fromFile(lmDir);
    const eos = tok.specialTokens.eos?.id;
    const pad = tok.specialTokens.pad?.id ?? eos ?? 0;
    const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
    const bos = tok.specialTokens.bos?.id;
    const codec: PromptCodec = { encode: enc, startIds: bos !== undefined ? [bos] : [], sepIds: enc(TITLE_SEPARATOR), titleChars: o.titleChars, maxPromptTokens: o.maxPromptTokens };
    const titles = new Map<number, number[]>();
    const title = (i: number) => { let t = titles.get(i); if (!t) { t = titleIds(data, i, codec); titles.set(i, t); } return t; };
    const ftReport = join(dir, 'finetune.json');
    if (finetuned && resume && existsSync(join(ftDir, 'config.json')) && existsSync(ftReport)) {
      model = loadPretrained(ftDir).model as CausalLM;
      report.finetune = readJson(ftReport);
    } else {
      model = loadPretrained(lmDir).model as CausalLM;
      if (finetuned) {
        const examples = trainingExamples(data, o.historyLength, o.finetune.examples, o.seed, title, codec);
        // Held out: validation targets of a seeded sample of users (never used for training).
        const v = data.valid;
        const held: Example[] = seededRows(v.count, 256, mixSeed(o.seed, 41)).map((r) => ({
          prompt: promptIds(v.history.subarray(r * v.L, (r + 1) * v.L).slice(-o.historyLength), title, codec), target: [...title(v.target[r]), ...codec.sepIds],
        }));
        const before = examplesLoss(model, held, pad);
        log(`finetune: ${examples.length} examples, ${o.finetune.steps} steps (${o.finetune.method}); held-out target loss before ${before.toFixed(3)}`);
        if (o.finetune.method === 'lora') {
          const family = model.family;
          applyLora(model, parseLoraConfig({ r: o.finetune.lora.r, lora_alpha: o.finetune.lora.alpha, target_modules: LORA_TARGETS[family] ?? ['q_proj', 'v_proj'] }));
        }
        const refs = examples.map((_, i) => Int32Array.of(i));
        const obj = nextTitleObjective(examples, pad);
        const m = model;
        const res = await timer.timed('finetune', () => pretrain(m, obj, refs, [], {
          blockSize: 1, batchSize: o.finetune.batchSize, lr: o.finetune.lr, warmupSteps: o.finetune.warmupSteps, maxSteps: o.finetune.steps, seed: mixSeed(o.seed, 5),
          checkpointEvery: o.finetune.checkpointEvery, signal: hooks.signal, onStep: (s) => hooks.progress?.(`finetune (loss ${s.loss.toFixed(3)})`, s.step, s.maxSteps),
        }, join(dir, 'finetune'), resume && hasCheckpoint(join(dir, 'finetune'))));
        if (res.interrupted) return { ...report, interrupted: true };
        if (o.finetune.method === 'lora') removeLora(model, true);
        const after = examplesLoss(model, held, pad);
        log(`finetune: held-out target loss after ${after.toFixed(3)}`);
        savePretrained(model, ftDir);
        tok.save(ftDir);
        report.finetune = { ...res, examples: examples.length, heldOutLossBefore: before, heldOutLossAfter: after, method: o.finetune.method };
        writeJson(ftReport, report.finetune);
      }
    }
    report.lm.parameters = model.store.count();
    const lm = model;

    // 4. Generations of the tuning (validation) and test users.
    const testRows = seededRows(data.test.count, o.eval.users, mixSeed(o.seed, 1));
    const tuneRows = o.grounding.tuneUsers > 0 ? seededRows(data.valid.count, o.grounding.tuneUsers, mixSeed(o.seed, 2)) : [];
    report.users = { test: testRows.length, tune: tuneRows.length };
    const stops = [...new Set([...separatorTokens(tok, TITLE_SEPARATOR), ...(eos !== undefined ? [eos] : [])])];
    let trie: TokenTrie | undefined;
    if (o.trie.enabled) {
      trie = new TokenTrie();
      for (let i = 1; i <= data.numItems; i++) trie.add([...title(i), ...codec.sepIds], i);
    }
    const genOf = (which: 'valid' | 'test', rows: number[], beams: boolean) => async (): Promise<Generation[]> => {
      const s = data[which];
      const out: Generation[] = [];
      for (const [k, r] of rows.entries()) {
        if (hooks.signal?.aborted) return [];
        const ids = Int32Array.from(promptIds(s.history.subarray(r * s.L, (r + 1) * s.L).slice(-o.historyLength), title, codec));
        const [g] = generate(lm, { ids }, { maxNewTokens: o.maxNewTokens, strategy: 'greedy', eosTokenId: stops });
        const text = tok.decode(g.tokens, { skipSpecialTokens: true }).split(TITLE_SEPARATOR)[0].trim();
        let items: number[] = [];
        if (beams && trie) {
          const maxLen = Math.max(...[...titles.values()].map((t) => t.length)) + codec.sepIds.length;
          const bs = generate(lm, { ids }, { maxNewTokens: maxLen, strategy: 'beam', numBeams: o.trie.beams, numReturn: o.trie.beams, trie });
          items = [...new Set(bs.map((b) => trie!.valueOf(b.tokens)).filter((v): v is number => v !== undefined))];
        }
        out.push({ row: r, user: data.userIds[s.user[r]], text, beams: items });
        hooks.progress?.(`generate ${which}`, k + 1, rows.length);
      }
      return out;
    };
    const tuneGen = await timer.timed('generate', () => cachedJson(join(dir, 'generations-valid.json'), resume, async () => {
      const g = await genOf('valid', tuneRows, false)();
      return hooks.signal?.aborted ? undefined : g;
    }));
    const testGen = await timer.timed('generate', () => cachedJson(join(dir, 'generations.json'), resume, async () => {
      const g = await genOf('test', testRows, true)();
      return hooks.signal?.aborted ? undefined : g;
    }));
    if (!tuneGen || !testGen) return { ...report, interrupted: true };

    // 5. Grounding and evaluation (step 2 of BIGRec).
    await timer.timed('ground', () => {
      const allTitles = Array.from({ length: data.numItems }, (_, i) => itemTitle(data, i + 1, o.titleChars));
      const itemVecs: Vectors | null = o.grounding.embeddings.includes('lm') ? lmEmbeddings(lm, allTitles.map((_, i) => title(i + 1)), pad) : null;
      const tfidf = o.grounding.embeddings.includes('tfidf') ? new TfIdf(allTitles) : null;
      const pop = itemPopularity(data);
      const distancesOf = (kind: 'lm' | 'tfidf', texts: string[]): Float64Array[] => {
        if (kind === 'tfidf') return texts.map((t) => Float64Array.of(0, ...tfidf!.distances(t)));
        const q = lmEmbeddings(lm, texts.map((t) => enc(t)), pad);
        return texts.map((_, j) => Float64Array.of(0, ...l2Distances(q.data.subarray(j * q.d, (j + 1) * q.d), itemVecs!)));
      };
      const collabScores = (which: 'valid' | 'test', rows: number[]): Float32Array[] => rows.map((r) => {
        if (!collab) return new Float32Array(data.numItems + 1);
        const s = data[which];
        return collab.scoreAll(sliceSplit(s, r, r + 1));
      });
      const subTest = subsetSplit(data, 'test', testRows);
      const subValid = tuneRows.length ? subsetSplit(data, 'valid', tuneRows) : null;
      const cTest = collabScores('test', testRows);
      const cValid = collabScores('valid', tuneRows);
      const evalRow = (model: Scorer) => {
        const { count: _c, ...full } = evaluateRecommender(model, subTest, 'test', { protocol: 'full', ks: o.eval.fullKs });
        const { count: _d, ...sampled } = evaluateRecommender(model, subTest, 'test', { protocol: 'sampled', ks: o.eval.ks });
        return { model: model.name, full, sampled };
      };
      const scorer = (name: string, which: 'valid' | 'test', gen: Generation[], dist: Float64Array[], c: Float32Array[], gp: number, gc: number) => {
        const m = new Map<number, Float32Array>();
        gen.forEach((g, j) => m.set(data[which].user[g.row], groundedScores(dist[j], { popularity: pop, popGamma: gp, collab: c[j], collabGamma: gc })));
        return new FixedScorer(name, m);
      };
      for (const kind of o.grounding.embeddings) {
        const dTest = distancesOf(kind, testGen.map((g) => g.text));
        const dValid = distancesOf(kind, tuneGen.map((g) => g.text));
        const variants: Array<{ label: string; pops: number[]; collabs: number[] }> = [
          { label: 'grounded', pops: [0], collabs: [0] },
          { label: 'grounded + pop', pops: o.grounding.popGammas, collabs: [0] },
          ...(collab ? [{ label: 'grounded + collab', pops: [0], collabs: o.grounding.collabGammas }, { label: 'grounded + pop + collab', pops: o.grounding.popGammas, collabs: o.grounding.collabGammas }] : []),
        ];
        for (const v of variants) {
          // Pick the gammas on the validation users (the first of each list without tuning users).
          let best = { pop: v.pops[0], collab: v.collabs[0], valid: NaN };
          if (subValid && (v.pops.length > 1 || v.collabs.length > 1)) {
            for (const gp of v.pops) for (const gc of v.collabs) {
              const r = evaluateRecommender(scorer('tune', 'valid', tuneGen, dValid, cValid, gp, gc), subValid, 'valid', { protocol: 'full', ks: o.eval.fullKs });
              const val = r[o.grounding.tuneMetric];
              if (val === undefined) throw new Error(`BIGRec: tuneMetric '${o.grounding.tuneMetric}' is not a full-ranking metric (fullKs ${o.eval.fullKs.join(', ')})`);
              if (!(val <= best.valid)) best = { pop: gp, collab: gc, valid: val };
            }
          }
          const name = `BIGRec ${v.label} (${kind === 'lm' ? 'LM embeddings' : 'TF-IDF'})`;
          report.gammas[name] = best;
          report.rows.push(evalRow(scorer(name, 'test', testGen, dTest, cTest, best.pop, best.collab)));
        }
        if (kind === o.grounding.embeddings[0]) {
          const d = dTest;
          report.samples = testGen.slice(0, 5).map((g, j) => {
            const s = data.test;
            let arg = 1;
            for (let i = 2; i <= data.numItems; i++) if (d[j][i] < d[j][arg]) arg = i;
            return {
              user: g.user, history: Array.from(s.history.subarray(g.row * s.L, (g.row + 1) * s.L)).filter((x) => x > 0).slice(-o.historyLength).map((i) => itemTitle(data, i, o.titleChars)),
              generated: g.text, grounded: itemTitle(data, arg, o.titleChars), trie: g.beams.length ? itemTitle(data, g.beams[0], o.titleChars) : '', target: itemTitle(data, s.target[g.row], o.titleChars),
            };
          });
        }
      }
      if (o.trie.enabled) {
        const m = new Map<number, Float32Array>();
        for (const g of testGen) {
          const s = new Float32Array(data.numItems + 1).fill(-Infinity);
          g.beams.forEach((it, k) => { s[it] = g.beams.length - k; });
          m.set(data.test.user[g.row], s);
        }
        report.rows.push(evalRow(new FixedScorer(`BIGRec trie beams (${o.trie.beams})`, m)));
      }
      const known = new Set(allTitles.map((t) => t.toLowerCase()));
      report.exactTitleShare = testGen.filter((g) => known.has(g.text.toLowerCase())).length / Math.max(1, testGen.length);
    });
    // Reference rows on the same users.
    const subTest = subsetSplit(data, 'test', testRows);
    for (const name of ['random', 'pop']) {
      const m = createRecommender(name);
      await m.fit(data, { ...modelEntry(name).fit, seed: o.seed });
      const { count: _c, ...full } = evaluateRecommender(m, subTest, 'test', { protocol: 'full', ks: o.eval.fullKs });
      const { count: _d, ...sampled } = evaluateRecommender(m, subTest, 'test', { protocol: 'sampled', ks: o.eval.ks });
      report.rows.push({ model: name === 'random' ? 'Random' : 'Pop', full, sampled });
      m.dispose();
    }
    if (collab) {
      const { count: _c, ...full } = evaluateRecommender(collab, subTest, 'test', { protocol: 'full', ks: o.eval.fullKs });
      const { count: _d, ...sampled } = evaluateRecommender(collab, subTest, 'test', { protocol: 'sampled', ks: o.eval.ks });
      report.rows.push({ model: `${collab.name} (collaborative model)`, full, sampled });
    }
  } finally {
    model?.dispose();
    collab?.dispose();
  }
  report.peakRssMiB = peakRssMiB();
  return writeRunReport(dir, report, renderBigRecReport);
}

export function renderBigRecReport(r: BigRecReport): string {
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(4));
  const fullCols = r.options.eval.fullKs.flatMap((k) => [`hr@${k}`, `ndcg@${k}`]);
  const sCols = ['auc', ...r.options.eval.ks.flatMap((k) => [`hr@${k}`, `ndcg@${k}`])];
  const lines = [
    `# BIGRec on ${r.dataset}`, '',
    `LM \`${r.lm.dir}\` (${(r.lm.parameters / 1e6).toFixed(2)}M parameters); ${r.users.test} test users (seeded sample), gammas picked on ${r.users.tune} validation users by full-ranking ${r.options.grounding.tuneMetric}.`, '',
  ];
  if (r.finetune) {
    lines.push(`Fine-tuning (${r.finetune.method}): ${r.finetune.examples} examples, ${r.finetune.steps} steps, training loss ${f(r.finetune.trainLoss)}; held-out target-token loss ${f(r.finetune.heldOutLossBefore)} -> ${f(r.finetune.heldOutLossAfter)}.`, '');
  } else lines.push('No fine-tuning (finetune.steps 0): the LM as it is.', '');
  lines.push(`Generated titles that are exactly a catalogue title: ${(100 * r.exactTitleShare).toFixed(1)} %.`, '',
    '## Full ranking (every item, history excluded)', '', `| model | ${fullCols.join(' | ')} | gammas (pop, collab) |`, `|---|${fullCols.map(() => '---').join('|')}|---|`,
    ...r.rows.map((row) => `| ${row.model} | ${fullCols.map((c) => f(row.full[c])).join(' | ')} | ${r.gammas[row.model] ? `${r.gammas[row.model].pop}, ${r.gammas[row.model].collab}` : ''} |`), '',
    '## Sampled (the split\'s stored negatives)', '', `| model | ${sCols.join(' | ')} |`, `|---|${sCols.map(() => '---').join('|')}|`,
    ...r.rows.map((row) => `| ${row.model} | ${sCols.map((c) => f(row.sampled[c])).join(' | ')} |`), '',
    '## Samples', '', ...r.samples.flatMap((s) => [`- user ${s.user}: history ... ${s.history.slice(-3).map((t) => JSON.stringify(t)).join(', ')}; generated ${JSON.stringify(s.generated)} -> grounded ${JSON.stringify(s.grounded)}; trie ${JSON.stringify(s.trie)}; target ${JSON.stringify(s.target)}`]), '',
    `Stage seconds: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; peak RSS ${r.peakRssMiB.toFixed(0)} MiB.`, '');
  return lines.join('\n');
}
