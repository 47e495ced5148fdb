/**
 * Chat-Rec's tool (docs/LLM.md "Chat-Rec"): the recommender the LLM calls,
 * its JSON arguments validated by a zod schema (the same schema, as JSON
 * schema, constrains generation on backends that support it), and a robust
 * reader of tool calls written as free text.
 *
 *   { "user"?: string, "history"?: string[], "k": 1..50, "query"?: string }
 *
 * `user` is an external user id of the run's data (its history before the
 * test item is used); `history` lists titles (matched exactly, then case and
 * punctuation ignored, then fuzzily) or external item ids; `query` keeps
 * the items whose title shares a word with it first (then the others).
 */
import { z } from 'zod';
import type { SplitDataset, UserBatch } from '../../data/types.js';
import { diceSimilarity, normalizeTitle } from '../llmrank/parse.js';
import { itemTitle } from '../text_lm/corpus.js';

export const MAX_K = 50;

export const ToolArgsSchema = z.strictObject({
  user: z.string().min(1).max(200).optional(),
  history: z.array(z.string().min(1).max(300)).max(100).optional(),
  k: z.number().int().min(1).max(MAX_K),
  query: z.string().max(500).optional(),
});
export type ToolArgs = z.output<typeof ToolArgsSchema>;

/** The tool call the LLM writes: {"tool": "recommend", "arguments": {...}}. */
export const ToolCallSchema = z.strictObject({ tool: z.literal('recommend'), arguments: ToolArgsSchema });

/** JSON schema of a tool call (for constrained generation). */
export function toolCallJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ToolCallSchema, { target: 'draft-7' }) as Record<string, unknown>;
}

/** Why a tool call was not used as written. */
export type ToolCallProblem = 'no-json' | 'bad-json' | 'invalid-arguments' | 'unknown-user' | 'unknown-items';

export class ToolCallError extends Error {
  constructor(readonly problem: ToolCallProblem, message: string) {
    super(message);
    this.name = 'ToolCallError';
  }
}

/** The first balanced {...} of a text (strings and escapes respected), or null. */
export function firstJsonObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
    } else if (ch === '"') inStr = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return null;
}

/**
 * Reads a tool call from model output: the first JSON object, either a full
 * call {"tool", "arguments"} or bare arguments; validated. Throws
 * ToolCallError naming the problem and the field.
 */
export function parseToolCall(text: string): ToolArgs {
  const raw = firstJsonObject(text);
  if (raw === null) throw new ToolCallError('no-json', `no JSON object in the model's tool call: ${JSON.stringify(text.slice(0, 200))}`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new ToolCallError('bad-json', `malformed JSON in the tool call: ${(e as Error).message}`);
  }
  const args = v !== null && typeof v === 'object' && 'arguments' in v ? (v as { arguments: unknown }).arguments : v;
  return validateToolArgs(args);
}

export function validateToolArgs(args: unknown): ToolArgs {
  const r = ToolArgsSchema.safeParse(args);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ToolCallError('invalid-arguments', `invalid tool arguments: field '${i.path.join('.') || '(root)'}': ${i.message}`);
  }
  return r.data;
}

/** What the tool needs: the data and a recommender that scores a history. */
export interface RecommenderHandle {
  data: SplitDataset;
  /** Label in answers and reports. */
  label: string;
  /** History length the model takes. */
  L: number;
  scoreAll(batch: UserBatch): Float32Array;
}

export interface Recommended {
  item: number;
  id: string;
  title: string;
  score: number;
}

/** A user's history before the test item (0-padding removed). */
export function userHistory(data: SplitDataset, user: number): number[] {
  const s = data.test;
  const row = s.user.indexOf(user);
  if (row < 0) return Array.from(data.trainSeqs[user] ?? []);
  return Array.from(s.history.subarray(row * s.L, (row + 1) * s.L)).filter((x) => x > 0);
}

/** Item indices of titles or external ids (exact title, normalised title, external id, fuzzy title >= 0.8); unknown ones listed. */
export function resolveItems(data: SplitDataset, refs: readonly string[]): { items: number[]; unknown: string[] } {
  const byTitle = new Map<string, number>();
  const byNorm = new Map<string, number>();
  const byId = new Map<string, number>();
  for (let i = 1; i <= data.numItems; i++) {
    const t = itemTitle(data, i);
    if (!byTitle.has(t)) byTitle.set(t, i);
    const n = normalizeTitle(t);
    if (!byNorm.has(n)) byNorm.set(n, i);
    byId.set(data.itemIds[i], i);
  }
  const items: number[] = [];
  const unknown: string[] = [];
  for (const r of refs) {
    let it = byTitle.get(r) ?? byNorm.get(normalizeTitle(r)) ?? byId.get(r);
    if (it === undefined) {
      let best = 0.8;
      for (const [n, i] of byNorm) { const d = diceSimilarity(normalizeTitle(r), n); if (d >= best) { best = d; it = i; } }
    }
    if (it === undefined) unknown.push(r); else items.push(it);
  }
  return { items, unknown };
}

/** Runs the tool: the recommender's top-k outside the history (query-matching titles first). */
export function runTool(h: RecommenderHandle, args: ToolArgs): { history: number[]; items: Recommended[] } {
  const { data } = h;
  let user = -1;
  let history: number[] = [];
  if (args.user !== undefined) {
    user = data.userIds.indexOf(args.user);
    if (user < 0) throw new ToolCallError('unknown-user', `unknown user ${JSON.stringify(args.user)} (not in ${data.name})`);
    history = userHistory(data, user);
  }
  if (args.history && args.history.length) {
    const r = resolveItems(data, args.history);
    if (r.items.length === 0) throw new ToolCallError('unknown-items', `none of the history items is in the catalogue: ${r.unknown.slice(0, 5).map((x) => JSON.stringify(x)).join(', ')}`);
    history = [...history, ...r.items];
  }
  const L = h.L;
  const row = new Int32Array(L);
  const tail = history.slice(-L);
  row.set(tail, L - tail.length);
  const scores = h.scoreAll({ size: 1, L, user: Int32Array.of(Math.max(0, user)), history: row });
  const seen = new Set(history);
  const qWords = new Set((args.query ?? '').toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []);
  const matches = (i: number) => qWords.size > 0 && (itemTitle(data, i).toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []).some((w) => qWords.has(w));
  const order = Array.from({ length: data.numItems }, (_, i) => i + 1).filter((i) => !seen.has(i) && Number.isFinite(scores[i]));
  order.sort((a, b) => (Number(matches(b)) - Number(matches(a))) || scores[b] - scores[a] || a - b);
  return { history, items: order.slice(0, args.k).map((i) => ({ item: i, id: data.itemIds[i], title: itemTitle(data, i), score: scores[i] })) };
}
