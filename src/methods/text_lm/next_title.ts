/**
 * How well a causal LM predicts a user's next item from the titles of their
 * history: for each evaluation user, the prompt is the history's titles and
 * the candidates are the target's title and the split's stored negatives'
 * titles (the same candidates every collaborative model is ranked on).
 * Candidates are scored by mean token log-probability (length-normalised:
 * sums favour short titles) and, for reference, by the sum. Also the
 * perplexity of the target titles given their histories.
 */
import type { EvalSplit, SplitDataset } from '../../data/types.js';
import { aucOne, MetricAccumulator, rankOfTarget } from '../../eval/metrics.js';
import type { MetricValues } from '../../eval/types.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { scoreContinuations } from '../../lm/score.js';
import { historyPrompt, itemTitle, TITLE_SEPARATOR } from './corpus.js';
import { subsetSplit } from '../../data/subset.js';
import { metricsOn, referenceRows } from '../reference.js';

export interface NextTitleOptions {
  /** Evaluate at most this many users (a seeded-free prefix of the split's order; default all). */
  maxUsers?: number;
  ks?: number[];
  /** Encodes text to ids (without special tokens). */
  encode: (text: string) => number[];
  /** Token appended to each candidate title (the end of a title), e.g. the separator's id(s). */
  endIds: number[];
  /** Token(s) that start every prompt (e.g. bos), default none. */
  startIds?: number[];
  /** Max prompt tokens kept (the most recent history), default 384. */
  maxPromptTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface NextTitleResult {
  users: number;
  candidates: number;
  /** Metrics with candidates scored by mean token log-probability. */
  mean: MetricValues;
  /** Metrics with candidates scored by summed log-probability. */
  sum: MetricValues;
  /** exp(mean NLL per token) of the target titles (with their end token) given the history. */
  targetPerplexity: number;
  /** Random and Pop (fitted on the training split) on the same users and candidates. */
  baselines: { random: MetricValues; pop: MetricValues };
}

/** Random and Pop ranked on the first `n` users of `split` (the LM's users), same candidates and ties rule. */
async function baselinesOn(data: SplitDataset, which: 'valid' | 'test', n: number, ks: number[]): Promise<{ random: MetricValues; pop: MetricValues }> {
  const sub = subsetSplit(data, which, Array.from({ length: n }, (_, i) => i));
  const rows = await referenceRows(data, { seed: data.config.seed }, (m) => ({ metrics: metricsOn(m, sub, which, { protocol: 'sampled', ks }) }));
  return { random: rows[0].metrics, pop: rows[1].metrics };
}

export async function evaluateNextTitle(model: CausalLM, data: SplitDataset, which: 'valid' | 'test', o: NextTitleOptions): Promise<NextTitleResult> {
  const split: EvalSplit = data[which];
  if (split.numNegatives === 0) throw new Error('evaluateNextTitle needs sampled negatives in the split (protocol numNegatives > 0)');
  const n = Math.min(split.count, o.maxUsers ?? split.count);
  const ks = o.ks ?? [1, 3, 5];
  const accMean = new MetricAccumulator(ks);
  const accSum = new MetricAccumulator(ks);
  const maxPrompt = o.maxPromptTokens ?? 384;
  let nll = 0;
  let tokens = 0;
  const titleIds = new Map<number, number[]>();
  const titleTokens = (item: number): number[] => {
    let t = titleIds.get(item);
    if (!t) { t = [...o.encode(itemTitle(data, item)), ...o.endIds]; titleIds.set(item, t); }
    return t;
  };
  for (let u = 0; u < n; u++) {
    const hist = split.history.subarray(u * split.L, (u + 1) * split.L);
    let prompt = o.encode(historyPrompt(data, hist));
    if (prompt.length > maxPrompt) prompt = prompt.slice(prompt.length - maxPrompt);
    // An empty history still needs one token to condition on.
    const ids = Int32Array.from([...(o.startIds ?? []), ...(prompt.length || (o.startIds?.length ?? 0) ? prompt : o.encode(TITLE_SEPARATOR))]);
    const items = [split.target[u], ...split.negatives.subarray(u * split.numNegatives, (u + 1) * split.numNegatives)];
    const cands = items.map(titleTokens);
    const s = scoreContinuations(model, { ids }, cands);
    const mean = Array.from(s.logProb, (lp, i) => lp / s.tokens[i]);
    accMean.add(rankOfTarget(mean, 0), aucOne(mean, 0));
    accSum.add(rankOfTarget(s.logProb, 0), aucOne(s.logProb, 0));
    nll -= s.logProb[0];
    tokens += s.tokens[0];
    o.onProgress?.(u + 1, n);
  }
  return {
    users: n, candidates: 1 + split.numNegatives, mean: accMean.result(), sum: accSum.result(),
    targetPerplexity: Math.exp(nll / Math.max(1, tokens)), baselines: await baselinesOn(data, which, n, ks),
  };
}
