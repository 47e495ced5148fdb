/**
 * LLMRank-style zero-shot ranking on any `LlmBackend` (src/backends):
 * for each evaluated user, m candidates (default 20) = the ground-truth test
 * item + the retriever's best m - 1 items outside the history, shuffled
 * once (seeded) into a base order. The LLM ranks them in `bootstrap`
 * presented orders (seeded shuffles); each order's output is parsed
 * (parse.ts) or, in score mode, the candidates are ordered by
 * log P(title | prompt); the rankings are merged by Borda count (borda.ts),
 * ties by the base order. The retriever, Pop and any other baselines rank
 * the same candidates by their scores (ties pessimistic: the target after
 * every candidate with an equal score), so every row is on the same users
 * and candidates. See docs/LLM.md.
 */
import type { SplitDataset } from '../../data/types.js';
import { itemTitle } from '../text_lm/corpus.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import { BackendError, type LlmBackend, type TokenUsage } from '../../backends/types.js';
import { bordaRanking, PositionBias } from './borda.js';
import { type ParseCounts, parseRanking, type ParsedRanking } from './parse.js';
import { buildRankPrompt, DEFAULT_WORDS, type PromptStyle, type PromptWords } from './prompts.js';
import { popRetriever, type Retriever, topItems } from './retrieve.js';

export interface LlmRankOptions {
  backend: LlmBackend;
  data: SplitDataset;
  /** Where the candidates come from. */
  retriever: Retriever;
  /** Other rankers of the same candidates (Pop is always added unless it is the retriever). */
  baselines?: Retriever[];
  /** Users evaluated (a seeded sample of the test users; default 200). */
  users?: number;
  /** Candidates per user, the target included (default 20). */
  candidates?: number;
  /** Most recent history items in the prompt (default 10). */
  historyLength?: number;
  style?: PromptStyle;
  /** 'generate' (LLMRank: the LLM writes the ranking) or 'score' (candidates by log P(title | prompt)). */
  mode?: 'generate' | 'score';
  /** Presented orders per user, merged by Borda count (default 3; 1 = no bootstrapping). */
  bootstrap?: number;
  /** Token budget of one generated ranking (default: the candidates' title tokens + 4 per line, within the context). */
  maxTokens?: number;
  words?: PromptWords;
  /** Titles are cut to this many characters in prompts (default 60). */
  titleChars?: number;
  seed?: number;
  ks?: number[];
  /**
   * A backend failure (BackendError: down, timeout, malformed answer, refusal,
   * context exceeded): 'fail' (default) rethrows it; 'fallback' ranks that
   * presentation in the retriever's order and counts it in `fallbacks`.
   */
  onBackendError?: 'fail' | 'fallback';
  onUser?: (done: number, total: number) => void;
}

export interface RankMetrics {
  users: number;
  /** HR@k and NDCG@k for each k, and MRR, averaged over users. */
  [metric: string]: number;
}

export interface ParseTotals extends ParseCounts {
  outputs: number;
  /** Outputs that named at least one candidate. */
  outputsWithRanking: number;
}

export interface LlmRankReport {
  backend: string;
  dataset: string;
  retriever: string;
  options: {
    users: number; candidates: number; historyLength: number; style: PromptStyle; mode: 'generate' | 'score'; bootstrap: number;
    maxTokens: number | null; titleChars: number; seed: number; ks: number[];
  };
  /** Rows by ranker: 'llmrank' (Borda of the orders), 'llmrank-1' (the first order alone), the retriever, pop, baselines, 'random' (expected). */
  metrics: Record<string, RankMetrics>;
  parse: ParseTotals | null;
  /** Before bootstrapping: the presented position of the candidate each single order ranked first. */
  positionBias: ReturnType<PositionBias['toJSON']>;
  /** After bootstrapping: the base-order position of the Borda ranking's first candidate, one per user. */
  positionBiasMerged: ReturnType<PositionBias['toJSON']>;
  /** Presentations ranked in the retriever's order because the backend failed (onBackendError 'fallback'), with the first errors. */
  fallbacks: { count: number; errors: string[] };
  /** Users whose history was cut (oldest items first) to fit the context, and the items dropped. */
  history: { truncatedUsers: number; droppedItems: number };
  usage: TokenUsage;
  /** Outputs of the first users' first order (for reading what the model wrote). */
  samples: Array<{ user: string; prompt: string; output: string }>;
}

function seededShuffle<T>(xs: readonly T[], seed: number): T[] {
  const a = [...xs];
  const rng = new Mulberry32(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

class MetricSum {
  private readonly sums = new Map<string, number>();
  private n = 0;
  constructor(private readonly ks: number[]) {}
  /** Adds a user whose target is at 0-based rank r. */
  add(r: number): void {
    this.n++;
    const put = (k: string, v: number) => this.sums.set(k, (this.sums.get(k) ?? 0) + v);
    for (const k of this.ks) {
      put(`hr@${k}`, r < k ? 1 : 0);
      put(`ndcg@${k}`, r < k ? 1 / Math.log2(r + 2) : 0);
    }
    put('mrr', 1 / (r + 1));
  }
  /** Adds the expectation of a uniformly random ranking of m items. */
  addRandom(m: number): void {
    this.n++;
    const put = (k: string, v: number) => this.sums.set(k, (this.sums.get(k) ?? 0) + v);
    for (const k of this.ks) {
      let ndcg = 0;
      for (let r = 0; r < Math.min(k, m); r++) ndcg += 1 / Math.log2(r + 2);
      put(`hr@${k}`, Math.min(k, m) / m);
      put(`ndcg@${k}`, ndcg / m);
    }
    let mrr = 0;
    for (let r = 0; r < m; r++) mrr += 1 / (r + 1);
    put('mrr', mrr / m);
  }
  result(): RankMetrics {
    const out: RankMetrics = { users: this.n };
    for (const [k, v] of this.sums) out[k] = this.n ? v / this.n : 0;
    return out;
  }
}

/** 0-based rank of candidate `t` by scores, ties pessimistic (after every equal score). */
export function pessimisticRank(scores: readonly number[], t: number): number {
  let r = 0;
  for (let i = 0; i < scores.length; i++) if (i !== t && !(scores[i] < scores[t])) r++;
  return r;
}

/** Runs LLMRank on `users` test users (see the module doc). */
export async function runLlmRank(o: LlmRankOptions): Promise<LlmRankReport> {
  const { backend, data, retriever } = o;
  const m = o.candidates ?? 20;
  const H = o.historyLength ?? 10;
  const B = o.bootstrap ?? 3;
  const style = o.style ?? 'sequential';
  const mode = o.mode ?? 'generate';
  const seed = o.seed ?? 2024;
  const ks = o.ks ?? [1, 5, 10];
  const titleChars = o.titleChars ?? 60;
  const words = o.words ?? DEFAULT_WORDS;
  for (const [k, v] of [['candidates', m], ['historyLength', H], ['bootstrap', B]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`llmrank: ${k} must be a positive integer, got ${v}`);
  }
  if (m < 2) throw new Error(`llmrank: candidates must be >= 2, got ${m}`);
  if (m > data.numItems) throw new Error(`llmrank: ${m} candidates but the catalogue has ${data.numItems} items`);
  if (mode === 'score' && !backend.capabilities.continuationLogProbs) {
    throw new Error(`llmrank: score mode needs continuation log-probs, which backend ${backend.name} does not give; use mode 'generate'`);
  }
  const baselines = [...(o.baselines ?? [])];
  if (retriever.name !== 'pop' && !baselines.some((b) => b.name === 'pop')) baselines.unshift(popRetriever(data));
  const rankers = [retriever, ...baselines.filter((b) => b.name !== retriever.name)];

  // Evaluated users: users with a test target and a history, a seeded sample.
  const eligible: number[] = [];
  for (let u = 0; u < data.numUsers; u++) if ((data.sequences[u]?.length ?? 0) >= 2) eligible.push(u);
  const users = seededShuffle(eligible, mixSeed(seed, 1)).slice(0, o.users ?? 200);
  if (users.length === 0) throw new Error(`llmrank: dataset ${data.name} has no user with a history and a test item`);

  const title = (i: number) => itemTitle(data, i, titleChars);
  const sums = new Map<string, MetricSum>();
  const sum = (k: string) => { let s = sums.get(k); if (!s) { s = new MetricSum(ks); sums.set(k, s); } return s; };
  const bias = new PositionBias(m);
  const biasMerged = new PositionBias(m);
  const fallbacks = { count: 0, errors: [] as string[] };
  const parse: ParseTotals | null = mode === 'generate'
    ? { outputs: 0, outputsWithRanking: 0, ranked: 0, exact: 0, byLabel: 0, fuzzy: 0, duplicates: 0, missing: 0, unmatchedLines: 0 }
    : null;
  const samples: LlmRankReport['samples'] = [];
  const ctx = (await backend.tokenizerFacts()).contextLength;
  let truncatedUsers = 0;
  let droppedHistory = 0;

  // First every user's candidates, baseline ranks and prompt history, so a
  // prompt that cannot fit the context fails before any LLM call.
  const plans: Array<{ u: number; cands: number[]; t: number; histTitles: string[]; byRetriever: number[] }> = [];
  for (const u of users) {
    const seq = data.sequences[u];
    const target = seq[seq.length - 1];
    const past = Array.from(seq.subarray(0, seq.length - 1));
    const hist = past.slice(-H);
    const exclude = new Set<number>([...past, target]);
    const retrieved = topItems(retriever.scores(u, hist), m - 1, exclude);
    if (retrieved.length < m - 1) throw new Error(`llmrank: retriever ${retriever.name} gave ${retrieved.length} items outside the history of user ${data.userIds[u]}, need ${m - 1}`);
    const cands = seededShuffle([...retrieved, target], mixSeed(seed, 1000 + u));
    const t = cands.indexOf(target);
    const rs = retriever.scores(u, hist);
    // The retriever's order of the candidates (the fallback ranking), ties by the base order.
    const byRetriever = cands.map((_, i) => i).sort((a, c) => rs[cands[c]] - rs[cands[a]] || a - c);

    for (const r of rankers) {
      const s = r.scores(u, hist);
      sum(r.name).add(pessimisticRank(cands.map((c) => s[c]), t));
    }
    sum('random').addRandom(m);

    // The oldest history items are dropped (down to one) while the prompt and
    // its answer budget exceed the context (LLMRank also truncates histories).
    let histTitles = hist.map(title);
    if (ctx !== null) {
      const candTitles = cands.map(title);
      let reserve = 0;
      if (mode === 'score') for (const s of candTitles) reserve = Math.max(reserve, await backend.countTokens(s));
      else reserve = o.maxTokens ?? 2 * m;
      const size = async () => (await backend.countTokens(buildRankPrompt(style, histTitles, candTitles, { words, mode }))) + reserve + 2;
      while (histTitles.length > 1 && (await size()) > ctx) histTitles = histTitles.slice(1);
      const need = await size();
      if (need > ctx) {
        throw new Error(`llmrank: for user ${data.userIds[u]} the prompt with one history item and ${m} candidates plus ${reserve} answer tokens needs about ${need} tokens, ` +
          `more than the context of ${backend.name} (${ctx}); use fewer candidates, shorter titles (titleChars, now ${titleChars}) or a model with a longer context`);
      }
      if (histTitles.length < hist.length) { truncatedUsers++; droppedHistory += hist.length - histTitles.length; }
    }
    plans.push({ u, cands, t, histTitles, byRetriever });
  }

  for (let ui = 0; ui < plans.length; ui++) {
    const { u, cands, t, histTitles, byRetriever } = plans[ui];
    const rankings: number[][] = [];
    for (let b = 0; b < B; b++) {
      const order = b === 0 ? cands.map((_, i) => i) : seededShuffle(cands.map((_, i) => i), mixSeed(seed, 100_000 + u * 64 + b));
      const shown = order.map((i) => title(cands[i]));
      const prompt = buildRankPrompt(style, histTitles, shown, { words, mode });
      let presented: number[];
      try {
        if (mode === 'score') {
          const sc = await backend.scoreContinuations(prompt, shown);
          presented = shown.map((_, i) => i).sort((a, c) => sc[c].logProb - sc[a].logProb || a - c);
        } else {
          let maxTokens = o.maxTokens;
          if (maxTokens === undefined) {
            let need = 0;
            for (const s of shown) need += (await backend.countTokens(s)) + 4;
            const room = ctx === null ? need : ctx - (await backend.countTokens(prompt)) - 1;
            maxTokens = Math.max(1, Math.min(need, room));
          }
          const g = await backend.generate(prompt, { maxTokens, temperature: 0 });
          const p: ParsedRanking = parseRanking(g.text, shown);
          parse!.outputs++;
          if (p.ranked > 0) parse!.outputsWithRanking++;
          for (const k of ['ranked', 'exact', 'byLabel', 'fuzzy', 'duplicates', 'missing', 'unmatchedLines'] as const) parse![k] += p[k];
          presented = p.ranking;
          if (b === 0 && samples.length < 3) samples.push({ user: data.userIds[u], prompt, output: g.text });
        }
      } catch (e) {
        if (!(e instanceof BackendError) || (o.onBackendError ?? 'fail') === 'fail') throw e;
        fallbacks.count++;
        if (fallbacks.errors.length < 5) fallbacks.errors.push(e.message);
        // The retriever's order, in presented positions.
        const pos = new Map(order.map((ci, p) => [ci, p]));
        presented = byRetriever.map((ci) => pos.get(ci)!);
      }
      bias.add(presented[0]);
      rankings.push(presented.map((pos) => order[pos]));
    }
    sum('llmrank-1').add(rankings[0].indexOf(t));
    const merged = bordaRanking(rankings, m);
    sum('llmrank').add(merged.indexOf(t));
    biasMerged.add(merged[0]);
    o.onUser?.(ui + 1, users.length);
  }

  const metrics: Record<string, RankMetrics> = {};
  for (const [k, s] of sums) metrics[k] = s.result();
  return {
    backend: backend.name,
    dataset: data.name,
    retriever: retriever.name,
    options: { users: users.length, candidates: m, historyLength: H, style, mode, bootstrap: B, maxTokens: o.maxTokens ?? null, titleChars, seed, ks },
    metrics,
    parse,
    positionBias: bias.toJSON(),
    positionBiasMerged: biasMerged.toJSON(),
    fallbacks,
    history: { truncatedUsers, droppedItems: droppedHistory },
    usage: backend.usage(),
    samples,
  };
}

/** The report as Markdown: the metric table (rows on the same users and candidates), parsing, position bias. */
export function renderLlmRankReport(r: LlmRankReport): string {
  const cols = [...r.options.ks.flatMap((k) => [`hr@${k}`, `ndcg@${k}`]), 'mrr'];
  const order = ['llmrank', 'llmrank-1', r.retriever, ...Object.keys(r.metrics).filter((k) => !['llmrank', 'llmrank-1', r.retriever, 'random'].includes(k)), 'random'];
  const label = (k: string) => k === 'llmrank' ? `LLMRank (Borda of ${r.options.bootstrap} orders)` : k === 'llmrank-1' ? 'LLMRank (first order only)'
    : k === 'random' ? 'Random (expected)' : k === r.retriever ? `${k} (retriever)` : k;
  const lines = [
    `# LLMRank on ${r.dataset}`,
    '',
    `Backend \`${r.backend}\`; candidates: the test item + the ${r.options.candidates - 1} best of \`${r.retriever}\` outside the history; ` +
    `${r.options.users} users; prompt style ${r.options.style}; mode ${r.options.mode}; history ${r.options.historyLength} items; seed ${r.options.seed}.`,
    '',
    `| ranker | ${cols.join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
    ...order.filter((k) => r.metrics[k]).map((k) => `| ${label(k)} | ${cols.map((c) => (r.metrics[k][c] ?? 0).toFixed(4)).join(' | ')} |`),
    '',
  ];
  if (r.parse) {
    const p = r.parse;
    lines.push('## Parsing', '', `${p.outputs} outputs; ${p.outputsWithRanking} named at least one candidate. ` +
      `Candidates ranked by the output: ${p.ranked} (exact title ${p.exact}, by number ${p.byLabel}, fuzzy ${p.fuzzy}); ` +
      `duplicates ${p.duplicates}; missing (appended in presented order) ${p.missing}; unmatched lines ${p.unmatchedLines}.`, '');
  }
  const b = r.positionBias;
  lines.push('## Position bias', '', `Presented position of the candidate ranked first, over ${b.presentations} presentations (uniform: ${(1 / b.m).toFixed(3)} each; chi-square vs uniform ${b.chiSquare.toFixed(1)}, ${b.m - 1} d.f.):`, '',
    `| position | ${b.shares.map((_, i) => i + 1).join(' | ')} |`, `|---|${b.shares.map(() => '---').join('|')}|`,
    `| share | ${b.shares.map((s) => s.toFixed(3)).join(' | ')} |`, '');
  const bm = r.positionBiasMerged;
  lines.push(`After bootstrapping (the Borda ranking's first candidate, by its position in the base order, ${bm.presentations} users; chi-square ${bm.chiSquare.toFixed(1)}):`, '',
    `| position | ${bm.shares.map((_, i) => i + 1).join(' | ')} |`, `|---|${bm.shares.map(() => '---').join('|')}|`,
    `| share | ${bm.shares.map((s) => s.toFixed(3)).join(' | ')} |`, '');
  if (r.fallbacks.count > 0) {
    lines.push('## Backend failures', '', `${r.fallbacks.count} presentations ranked in the retriever's order after a backend error; first errors:`, '',
      ...r.fallbacks.errors.map((e) => `- ${e}`), '');
  }
  lines.push('## Context', '', `History cut to fit the context for ${r.history.truncatedUsers} of ${r.options.users} users (${r.history.droppedItems} oldest items dropped in all).`, '');
  lines.push('## Tokens', '', `${r.usage.requests} requests, ${r.usage.promptTokens} prompt tokens, ${r.usage.completionTokens} completion tokens, ${r.usage.cacheHits} cache hits.`, '');
  return lines.join('\n');
}
