/**
 * Evaluation of a RecSysLLM model per task family and template (metrics of
 * docs/METHODS.md §7):
 *
 *   rating       the five ratings scored as answers, the most likely one predicted: RMSE, MAE
 *   sequential   beam search over the item trie (history items dropped): HR@5/10, NDCG@5/10
 *                over every item; the same beam search without the trie gives the share
 *                of generated answers that are real items
 *   direct       target + the split's sampled negatives scored as answers: HR@1/5/10, NDCG@5/10
 *   explanation  greedy generation: BLEU-4, ROUGE-1/2/L (F1), in percent
 *   review       greedy generation: BLEU-2, ROUGE-1/2/L (F1), in percent
 */
import { corpusBleu, hitAt, ndcgAt, rankOfTarget, rouge } from '../../eval/metrics.js';
import type { Generated } from '../../lm/generate.js';
import { TokenTrie } from '../../lm/trie.js';
import type { Tokenizer } from '../../lm/tokenizer/index.js';
import { decodePrompt, generateAnswer, scoreAnswers } from './decode.js';
import type { GlmTokens } from './masking.js';
import type { RecSysLM } from './model.js';
import { answerSegment, type Family, type PromptOptions, renderTask, type TaskData, type TaskInstance } from './tasks.js';
import { itemTitle, type SegmentEncoder } from './text.js';
import type { EvalOptions } from '../../config/recsysllm.js';

export { DEFAULT_EVAL, type EvalOptions } from '../../config/recsysllm.js';

export interface FamilyResult {
  family: Family;
  template: string;
  seen: boolean;
  instances: number;
  metrics: Record<string, number>;
  /** A few (prompt answer -> output) pairs for the report. */
  samples: Array<{ target: string; output: string }>;
  seconds: number;
}

/** The item trie: every item's entity tokens, valued by item index. */
export function itemTrie(data: TaskData['data'], enc: SegmentEncoder): { trie: TokenTrie; tokens: number[][] } {
  const trie = new TokenTrie();
  const tokens: number[][] = [[]];
  for (let i = 1; i <= data.numItems; i++) {
    const ids = enc.tokens({ text: itemTitle(data.itemMeta.get(i), i), entity: true });
    tokens.push(ids);
    if (ids.length > 0 && trie.valueOf(ids) === undefined) trie.add(ids, i);
  }
  return { trie, tokens };
}

/**
 * Intra-positions while generating: dynamic (entity trie) for the
 * entity-aware model's item answers; span counting otherwise. Free text is
 * counted within the span, as in training: taken literally, the dynamic rule
 * restarts at 1 after every token that continues no entity, and the model,
 * which saw intra-position 1 only at [S], repeats its first word (measured on
 * the shop: explanations 'IIII...', ROUGE 0).
 */
export function intraModeFor(family: Family, entityAware: boolean): 'dynamic' | 'span' {
  return entityAware && (family === 'sequential' || family === 'direct') ? 'dynamic' : 'span';
}

/** The generated tokens without a final [E]. */
function withoutEnd(tokens: readonly number[], end: number): readonly number[] {
  return tokens[tokens.length - 1] === end ? tokens.slice(0, -1) : tokens;
}

/**
 * Items of generated beams in beam order: how many beams are real items, and
 * the distinct real items outside the history (the ranked list).
 */
export function beamItems(beams: readonly Generated[], end: number, trie: TokenTrie, history: ReadonlySet<number>): { ranked: number[]; real: number } {
  const ranked: number[] = [];
  let real = 0;
  for (const b of beams) {
    const item = trie.valueOf(withoutEnd(b.tokens, end));
    if (item === undefined) continue;
    real++;
    if (!history.has(item) && !ranked.includes(item)) ranked.push(item);
  }
  return { ranked, real };
}

/** Lower-cased word tokens for the text metrics. */
export function words(s: string): string[] {
  return s.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

export interface EvalContext {
  model: RecSysLM;
  tasks: TaskData;
  enc: SegmentEncoder;
  tok: Tokenizer;
  tokens: GlmTokens;
  prompt: PromptOptions;
  trie: TokenTrie;
  itemTokens: number[][];
  /** Entity-aware inference (dynamic intra-positions). */
  entityAware: boolean;
  o: EvalOptions;
  onProgress?: (done: number, total: number) => void;
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function evaluateTemplate(c: EvalContext, family: Family, template: string, seen: boolean, instances: readonly TaskInstance[]): FamilyResult {
  const t0 = performance.now();
  const meta = c.tasks.data.itemMeta;
  const prompt = (inst: TaskInstance) => decodePrompt(renderTask(inst, template, c.enc, meta, c.tokens, c.prompt, c.entityAware, false));
  const mode = intraModeFor(family, c.entityAware);
  const samples: FamilyResult['samples'] = [];
  const metrics: Record<string, number> = {};
  const n = instances.length;
  if (family === 'rating') {
    const answers = [1, 2, 3, 4, 5].map((r) => c.enc.tokens({ text: String(r), entity: false }));
    let se = 0;
    let ae = 0;
    instances.forEach((inst, k) => {
      const s = scoreAnswers(c.model, prompt(inst), answers, c.tokens.end, c.o.chunk);
      let best = 0;
      for (let j = 1; j < 5; j++) if (s[j] > s[best]) best = j;
      const err = best + 1 - inst.rating!;
      se += err * err;
      ae += Math.abs(err);
      if (samples.length < 3) samples.push({ target: String(inst.rating), output: String(best + 1) });
      c.onProgress?.(k + 1, n);
    });
    metrics.rmse = Math.sqrt(se / n);
    metrics.mae = ae / n;
  } else if (family === 'sequential') {
    const acc = { hr5: [] as number[], hr10: [] as number[], ndcg5: [] as number[], ndcg10: [] as number[] };
    let real = 0;
    let generated = 0;
    let realC = 0;
    let generatedC = 0;
    const uacc = { hr10: [] as number[] };
    instances.forEach((inst, k) => {
      const p = prompt(inst);
      const hist = new Set(inst.history);
      const beams = generateAnswer(c.model, p, {
        strategy: 'beam', numBeams: c.o.beams, numReturn: c.o.beams, maxNewTokens: c.enc.maxEntityTokens + 1,
        eosTokenId: c.tokens.end, trie: c.trie, intraMode: mode,
      });
      const con = beamItems(beams, c.tokens.end, c.trie, hist);
      const ranked = con.ranked;
      generatedC += beams.length;
      realC += con.real;
      const rank = ranked.indexOf(inst.item) + 1 || Infinity;
      acc.hr5.push(hitAt(rank, 5)); acc.hr10.push(hitAt(rank, 10));
      acc.ndcg5.push(ndcgAt(rank, 5)); acc.ndcg10.push(ndcgAt(rank, 10));
      if (samples.length < 3) samples.push({ target: itemTitle(meta.get(inst.item), inst.item), output: ranked.length ? itemTitle(meta.get(ranked[0]), ranked[0]) : '' });
      if (c.o.unconstrained) {
        const free = generateAnswer(c.model, p, {
          strategy: 'beam', numBeams: 10, numReturn: 10, maxNewTokens: c.enc.maxEntityTokens + 1,
          eosTokenId: c.tokens.end, intraMode: mode, entityTrie: c.trie,
        });
        const fr = beamItems(free, c.tokens.end, c.trie, hist);
        generated += free.length;
        real += fr.real;
        const r2 = fr.ranked.indexOf(inst.item) + 1 || Infinity;
        uacc.hr10.push(hitAt(r2, 10));
      }
      c.onProgress?.(k + 1, n);
    });
    metrics['hr@5'] = mean(acc.hr5); metrics['hr@10'] = mean(acc.hr10);
    metrics['ndcg@5'] = mean(acc.ndcg5); metrics['ndcg@10'] = mean(acc.ndcg10);
    metrics.realShareTrie = generatedC ? realC / generatedC : NaN;
    if (c.o.unconstrained) {
      metrics.realShareFree = generated ? real / generated : NaN;
      metrics['hr@10Free'] = mean(uacc.hr10);
    }
  } else if (family === 'direct') {
    const d = c.tasks.data.test;
    const acc: Record<string, number[]> = { 'hr@1': [], 'hr@5': [], 'hr@10': [], 'ndcg@5': [], 'ndcg@10': [] };
    instances.forEach((inst, k) => {
      const negs = Array.from(d.negatives.subarray(inst.user * d.numNegatives, (inst.user + 1) * d.numNegatives));
      const cands = [inst.item, ...negs];
      const s = scoreAnswers(c.model, prompt(inst), cands.map((i) => c.itemTokens[i]), c.tokens.end, c.o.chunk);
      const rank = rankOfTarget(s, 0);
      acc['hr@1'].push(hitAt(rank, 1)); acc['hr@5'].push(hitAt(rank, 5)); acc['hr@10'].push(hitAt(rank, 10));
      acc['ndcg@5'].push(ndcgAt(rank, 5)); acc['ndcg@10'].push(ndcgAt(rank, 10));
      c.onProgress?.(k + 1, n);
    });
    for (const [key, v] of Object.entries(acc)) metrics[key] = mean(v);
  } else {
    const cands: string[][] = [];
    const refs: string[][][] = [];
    const r1: number[] = [];
    const r2: number[] = [];
    const rl: number[] = [];
    instances.forEach((inst, k) => {
      const out = generateAnswer(c.model, prompt(inst), {
        strategy: 'greedy', maxNewTokens: c.prompt.maxAnswerTokens + 1, eosTokenId: c.tokens.end, intraMode: mode, entityTrie: c.trie,
      })[0];
      const ids = [...withoutEnd(out.tokens, c.tokens.end)];
      const text = c.tok.decode(ids, { skipSpecialTokens: true }).trim();
      const target = answerSegment(inst, meta).text;
      const cw = words(text);
      const tw = words(target);
      cands.push(cw);
      refs.push([tw]);
      const r = rouge(cw, tw);
      r1.push(r.rouge1); r2.push(r.rouge2); rl.push(r.rougeL);
      if (samples.length < 3) samples.push({ target, output: text });
      c.onProgress?.(k + 1, n);
    });
    const bleuN = family === 'explanation' ? 4 : 2;
    metrics[`bleu-${bleuN}`] = 100 * corpusBleu(cands, refs, { maxN: bleuN });
    metrics['rouge-1'] = 100 * mean(r1);
    metrics['rouge-2'] = 100 * mean(r2);
    metrics['rouge-l'] = 100 * mean(rl);
  }
  return { family, template, seen, instances: n, metrics, samples, seconds: (performance.now() - t0) / 1000 };
}
