/**
 * Chat-Rec (Gao et al., "Chat-REC: Towards Interactive and Explainable
 * LLMs-Augmented Recommender System", arXiv 2303.14524; docs/LLM.md
 * "Chat-Rec"): one conversational turn on any LlmBackend.
 *
 *   1. The LLM reads the user's history and the request and writes a tool
 *      call {"tool": "recommend", "arguments": {...}} (tool.ts). Backends that
 *      support JSON-schema constrained output (gguf grammar, openai
 *      response_format) are constrained to the schema; the others answer in
 *      free text, read by `parseToolCall`. A call that cannot be used (no
 *      JSON, malformed JSON, invalid arguments, unknown user or items) or a
 *      backend failure falls back to the session's defaults (the user's own
 *      history, k) and is counted by its problem.
 *   2. The recommender (the tool) returns its top-k outside the history.
 *   3. The LLM re-ranks them: by log P(title | prompt) on backends with
 *      log-probs, else by a generated ranking read by LLMRank's parser
 *      (src/methods/llmrank/parse.ts); a failure keeps the recommender's
 *      order (counted).
 *   4. The LLM explains the top items in a few sentences (empty, counted, on failure).
 */
import { BackendError, type LlmBackend } from '../../backends/types.js';
import { type ParseCounts, parseRanking } from '../llmrank/parse.js';
import { buildRankPrompt, DEFAULT_WORDS, type PromptWords } from '../llmrank/prompts.js';
import { itemTitle } from '../text_lm/corpus.js';
import { type Recommended, type RecommenderHandle, runTool, type ToolArgs, toolCallJsonSchema, ToolCallError, type ToolCallProblem, parseToolCall, userHistory } from './tool.js';

export interface ChatRecOptions {
  backend: LlmBackend;
  tool: RecommenderHandle;
  /** Items the tool returns when the model does not say (default 10). */
  k?: number;
  /** History titles shown to the LLM (most recent; default 10). */
  historyLength?: number;
  titleChars?: number;
  words?: PromptWords;
  /** Token budgets of the tool call, the ranking and the explanation. */
  maxTokens?: { tool?: number; rank?: number; explain?: number };
}

export interface ChatTurn {
  message: string;
  toolCall: {
    /** What the model wrote ('' after a backend failure). */
    raw: string;
    /** The arguments used. */
    args: ToolArgs;
    constrained: boolean;
    /** Why the written call was not used (then `args` are the session defaults). */
    problem?: ToolCallProblem | 'backend-error';
    error?: string;
  };
  /** The tool's top-k, in the recommender's order. */
  candidates: Recommended[];
  /** After the LLM's re-ranking. */
  ranking: Recommended[];
  rerank: { mode: 'score' | 'generate' | 'fallback'; parse?: ParseCounts; error?: string };
  explanation: string;
}

export interface ChatCounts {
  turns: number;
  toolCallFallbacks: number;
  byProblem: Record<string, number>;
  rerankFallbacks: number;
  explainFailures: number;
}

export interface Session {
  /** External user id of the conversation (optional). */
  user?: string;
  /** Extra items (titles or external ids) the user mentioned. */
  history?: string[];
}

export class ChatRec {
  readonly counts: ChatCounts = { turns: 0, toolCallFallbacks: 0, byProblem: {}, rerankFallbacks: 0, explainFailures: 0 };
  private readonly k: number;
  private readonly H: number;
  private readonly titleChars: number;
  private readonly words: PromptWords;

  constructor(private readonly o: ChatRecOptions) {
    this.k = o.k ?? 10;
    this.H = o.historyLength ?? 10;
    this.titleChars = o.titleChars ?? 60;
    this.words = o.words ?? DEFAULT_WORDS;
    if (!Number.isInteger(this.k) || this.k < 1 || this.k > 50) throw new Error(`Chat-Rec: k must be an integer in [1, 50], got ${this.k}`);
  }

  private title(i: number): string {
    return itemTitle(this.o.tool.data, i, this.titleChars);
  }

  /** The history titles the LLM sees (the session user's history + mentioned items). */
  private historyTitles(s: Session): string[] {
    const { data } = this.o.tool;
    const u = s.user !== undefined ? data.userIds.indexOf(s.user) : -1;
    const own = u >= 0 ? userHistory(data, u).map((i) => this.title(i)) : [];
    return [...own, ...(s.history ?? [])].slice(-this.H);
  }

  toolPrompt(message: string, s: Session): string {
    const hist = this.historyTitles(s);
    return [
      `You are a recommender assistant. To get recommendations, call the tool "recommend" with JSON arguments ` +
      `{"user"?: string, "history"?: [titles], "k": integer 1-50, "query"?: string}.`,
      s.user !== undefined ? `The user's id is ${JSON.stringify(s.user)}.` : 'The user is anonymous.',
      hist.length ? `The ${this.words.noun} they ${this.words.verb} recently: ${hist.join('; ')}.` : `They have not ${this.words.verb} anything yet.`,
      `Their request: ${message}`,
      `Answer with the tool call only, as JSON: {"tool": "recommend", "arguments": {...}}`,
      '',
    ].join('\n');
  }

  private fallbackArgs(s: Session): ToolArgs {
    return { ...(s.user !== undefined ? { user: s.user } : {}), ...(s.history?.length ? { history: s.history } : {}), k: this.k };
  }

  private count(problem: string): void {
    this.counts.toolCallFallbacks++;
    this.counts.byProblem[problem] = (this.counts.byProblem[problem] ?? 0) + 1;
  }

  /** One turn: tool call -> recommender -> re-rank -> explanation. */
  async turn(message: string, s: Session = {}): Promise<ChatTurn> {
    const { backend } = this.o;
    this.counts.turns++;
    const constrained = backend.capabilities.constrainedJsonSchema;
    let raw = '';
    let args: ToolArgs;
    let problem: ChatTurn['toolCall']['problem'];
    let error: string | undefined;
    let result: ReturnType<typeof runTool>;
    try {
      const g = await backend.generate(this.toolPrompt(message, s), {
        maxTokens: this.o.maxTokens?.tool ?? 96, temperature: 0,
        ...(constrained ? { constraint: { type: 'json_schema' as const, schema: toolCallJsonSchema(), name: 'recommend' } } : {}),
      });
      raw = g.text;
      args = parseToolCall(raw);
      // The model may leave out who is asking: the session's user and items fill in.
      if (args.user === undefined && s.user !== undefined) args = { ...args, user: s.user };
      if (!args.history?.length && s.history?.length) args = { ...args, history: s.history };
      result = runTool(this.o.tool, args);
    } catch (e) {
      if (e instanceof ToolCallError) problem = e.problem;
      else if (e instanceof BackendError) problem = 'backend-error';
      else throw e;
      error = (e as Error).message;
      this.count(problem);
      args = this.fallbackArgs(s);
      result = runTool(this.o.tool, args);
    }
    const candidates = result.items;
    const { ranking, rerank } = await this.rerank(candidates, result.history.map((i) => this.title(i)).slice(-this.H));
    let explanation = '';
    try {
      const top = ranking.slice(0, 3).map((r) => r.title);
      const g = await backend.generate(
        `The user asked: ${message}\nI recommend: ${top.join('; ')}.\nIn two sentences, explain why these ${this.words.noun} fit the user's request and history:\n`,
        { maxTokens: this.o.maxTokens?.explain ?? 80, temperature: 0 },
      );
      explanation = g.text.trim();
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      this.counts.explainFailures++;
    }
    return { message, toolCall: { raw, args, constrained, ...(problem ? { problem, error } : {}) }, candidates, ranking, rerank, explanation };
  }

  /** The LLM's order of the candidates (score mode with log-probs, else a parsed generated ranking). */
  async rerank(cands: Recommended[], history: string[]): Promise<{ ranking: Recommended[]; rerank: ChatTurn['rerank'] }> {
    const { backend } = this.o;
    if (cands.length < 2 || history.length === 0) return { ranking: cands, rerank: { mode: 'fallback', error: cands.length < 2 ? 'fewer than 2 candidates' : 'no history to rank by' } };
    const titles = cands.map((c) => this.title(c.item));
    try {
      if (backend.capabilities.continuationLogProbs) {
        const sc = await backend.scoreContinuations(buildRankPrompt('sequential', history, titles, { words: this.words, mode: 'score' }), titles);
        const order = titles.map((_, i) => i).sort((a, b) => sc[b].logProb - sc[a].logProb || a - b);
        return { ranking: order.map((i) => cands[i]), rerank: { mode: 'score' } };
      }
      const g = await backend.generate(buildRankPrompt('sequential', history, titles, { words: this.words }), { maxTokens: this.o.maxTokens?.rank ?? 8 * titles.length, temperature: 0 });
      const p = parseRanking(g.text, titles);
      const { ranking: order, ...parse } = p;
      return { ranking: order.map((i) => cands[i]), rerank: { mode: 'generate', parse } };
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      this.counts.rerankFallbacks++;
      return { ranking: cands, rerank: { mode: 'fallback', error: e.message } };
    }
  }
}

/** A turn as text for the terminal. */
export function renderTurn(t: ChatTurn): string {
  const lines = [`tool call: ${JSON.stringify(t.toolCall.args)}${t.toolCall.problem ? ` (fallback: ${t.toolCall.problem}: ${t.toolCall.error})` : ''}`];
  lines.push(`re-ranked by the LLM (${t.rerank.mode}${t.rerank.parse ? `, ${t.rerank.parse.ranked} of ${t.ranking.length} named` : ''}):`);
  t.ranking.forEach((r, i) => lines.push(`  ${i + 1}. ${r.title} [${r.id}]`));
  if (t.explanation) lines.push(`why: ${t.explanation}`);
  return lines.join('\n');
}
