/**
 * The language model behind `--lm DIR` (docs/SERVING.md, "LLM endpoints"):
 * an llmrec / Hugging Face causal-LM folder (config.json, safetensors,
 * tokenizer.json), used for
 *   - the yes/no re-rank (`YesNoLlm` of src/methods/yesno.ts with a template of
 *     templates/yes-no.json): P(yes) per candidate and the rendered prompt;
 *   - OpenAI-compatible completions: token-by-token generation over the KV
 *     cache (`causalStepper` of src/lm/generate.ts), so stop strings end
 *     generation early and tokens can be streamed as they come.
 */
import { join, resolve } from 'node:path';
import { disposeCache, type CausalLM, type KVCache } from '../lm/families/decoder.js';
import { familyOf } from '../lm/families/index.js';
import { loadPretrained, readConfig } from '../lm/checkpoint.js';
import { causalStepper } from '../lm/generate.js';
import { Tokenizer } from '../lm/tokenizer/index.js';
import { DEFAULT_TEMPLATES, loadTemplates, type PromptTemplate } from '../methods/prompts.js';
import { YesNoLlm } from '../methods/yesno.js';
import type { Case } from '../methods/collab.js';
import type { SplitDataset } from '../data/types.js';
import { Mulberry32 } from '../util/random.js';

export interface LoadedLm {
  dir: string;
  /** Folder name, the `model` of the OpenAI endpoints. */
  id: string;
  lm: CausalLM;
  tok: Tokenizer;
  maxPositions: number;
  eos: Set<number>;
  templates: PromptTemplate[];
  /** The yes/no scorer of plain prompts (no slots needed; null when it cannot be built, `rerankError` says why). */
  yesno: YesNoLlm | null;
  rerankError: string | null;
  loadSeconds: number;
}

export function loadLm(dirArg: string, data: SplitDataset, templatesPath = DEFAULT_TEMPLATES): LoadedLm {
  const dir = resolve(dirArg);
  const t0 = performance.now();
  const config = readConfig(dir);
  if (familyOf(config, join(dir, 'config.json')).kind !== 'causal') throw new Error(`--lm ${dir}: model_type '${String(config.model_type)}' is not a causal LM`);
  const tok = Tokenizer.fromFile(dir);
  const lm = loadPretrained(dir).model as unknown as CausalLM;
  const maxPositions = Number(config.max_position_embeddings ?? config.n_positions ?? 2048);
  const eos = new Set<number>();
  const e = config.eos_token_id;
  for (const x of Array.isArray(e) ? e : [e]) if (typeof x === 'number') eos.add(x);
  const te = tok.specialTokens.eos?.id;
  if (te !== undefined) eos.add(te);
  const set = loadTemplates(templatesPath);
  let yesno: YesNoLlm | null = null;
  let rerankError: string | null = null;
  try {
    yesno = new YesNoLlm(lm, tok, data); // it cuts prompts to the LM's positions itself
  } catch (err) {
    rerankError = (err as Error).message;
  }
  return { dir, id: dir.split(/[\\/]/).filter(Boolean).pop() ?? 'lm', lm, tok, maxPositions, eos, templates: [...set.seen, ...set.unseen], yesno, rerankError, loadSeconds: (performance.now() - t0) / 1000 };
}

export interface RerankResult {
  template: string;
  scores: { item: number; score: number; pYes: number; prompt?: string }[];
}

/** Yes/no scores of `candidates` after `history` (item indices) with the LM of --lm; sorted by score. */
export function rerank(l: LoadedLm, history: Int32Array, candidates: readonly number[], templateId: string | undefined, withPrompt: boolean): RerankResult {
  if (!l.yesno) throw new Error(`re-rank unavailable with this LM: ${l.rerankError}`);
  return rerankYesNo(l.yesno, l.templates, { user: 0, history, candidates: Int32Array.from(candidates) }, templateId, withPrompt);
}

/** Yes/no scores of a case's candidates by a yes/no recommender under one template (default: the first); sorted by score. */
export function rerankYesNo(m: YesNoLlm, templates: readonly PromptTemplate[], c: Case, templateId: string | undefined, withPrompt: boolean): RerankResult {
  const t = templateId === undefined ? templates[0] : templates.find((x) => x.id === templateId);
  if (!t) throw new Error(`template: unknown id '${templateId}' (known: ${templates.map((x) => x.id).join(', ')})`);
  const diff = m.score([c], t, m.originalTitles);
  const scores = Array.from(c.candidates, (item, k) => ({
    item, score: diff[k], pYes: 1 / (1 + Math.exp(-diff[k])),
    ...(withPrompt ? { prompt: m.render(t, c, k, m.originalTitles) } : {}),
  }));
  scores.sort((a, b) => b.score - a.score || a.item - b.item);
  return { template: t.id, scores };
}

export interface SampleOptions {
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  /** Top alternatives to report per token (0: only the chosen token's log-prob). */
  topLogprobs: number;
  logprobs: boolean;
}

export interface TokenOut {
  id: number;
  text: string;
  logprob: number;
  top: { id: number; text: string; logprob: number }[];
}

export interface GenerationEvent {
  /** New text since the last event (stop strings cut off). */
  delta: string;
  tokens: TokenOut[];
}

export interface GenerationResult {
  text: string;
  tokens: TokenOut[];
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length';
}

function pickToken(logp: Float32Array, o: SampleOptions, rng: Mulberry32): number {
  let best = 0;
  for (let i = 1; i < logp.length; i++) if (logp[i] > logp[best]) best = i;
  if (o.temperature <= 0) return best;
  const items: { id: number; s: number }[] = [];
  for (let i = 0; i < logp.length; i++) if (Number.isFinite(logp[i])) items.push({ id: i, s: logp[i] / o.temperature });
  items.sort((a, b) => b.s - a.s || a.id - b.id);
  const m = items[0].s;
  let probs = items.map((x) => Math.exp(x.s - m));
  let z = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / z);
  let n = probs.length;
  if (o.topP < 1) {
    let acc = 0;
    n = 0;
    while (n < probs.length && acc < o.topP) acc += probs[n++];
    n = Math.max(1, n);
    z = probs.slice(0, n).reduce((a, b) => a + b, 0);
  } else z = 1;
  let u = rng.next() * z;
  for (let i = 0; i < n; i++) {
    u -= probs[i];
    if (u <= 0) return items[i].id;
  }
  return items[n - 1].id;
}

function topAlternatives(l: LoadedLm, logp: Float32Array, n: number): TokenOut['top'] {
  if (n <= 0) return [];
  const idx = Array.from({ length: logp.length }, (_, i) => i).sort((a, b) => logp[b] - logp[a] || a - b).slice(0, n);
  return idx.map((id) => ({ id, text: l.tok.decode([id]), logprob: logp[id] }));
}

/**
 * Generates from a prompt of token ids, one token at a time; `onEvent` is
 * awaited after each token (streaming; it also lets other requests run).
 * `signal` aborts between tokens (client gone, timeout). The event loop runs
 * between tokens.
 */
export async function generateText(
  l: LoadedLm, promptIds: number[], o: SampleOptions, onEvent?: (e: GenerationEvent) => Promise<void> | void, signal?: AbortSignal,
): Promise<GenerationResult> {
  if (promptIds.length === 0) throw new Error('prompt: encodes to no token');
  if (promptIds.length + o.maxTokens > l.maxPositions) {
    throw new Error(`max_tokens: prompt (${promptIds.length} tokens) + max_tokens (${o.maxTokens}) exceeds the model's ${l.maxPositions} positions`);
  }
  const stepper = causalStepper(l.lm, { ids: Int32Array.from(promptIds) });
  const rng = new Mulberry32(o.seed >>> 0);
  const first = stepper.start();
  let cache: KVCache = first.cache;
  let logp = first.nextLogProbs;
  const ids: number[] = [];
  const tokens: TokenOut[] = [];
  let emitted = 0;
  let text = '';
  let finish: 'stop' | 'length' = 'length';
  const maxStop = Math.max(0, ...o.stop.map((s) => s.length));
  try {
    for (let step = 0; step < o.maxTokens; step++) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const id = pickToken(logp, o, rng);
      if (l.eos.has(id)) { finish = 'stop'; break; }
      ids.push(id);
      const tokenText = l.tok.decode([id]);
      tokens.push({ id, text: tokenText, logprob: logp[id], top: o.logprobs ? topAlternatives(l, logp, o.topLogprobs) : [] });
      text = l.tok.decode(ids);
      const hit = o.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (hit.length > 0) {
        text = text.slice(0, Math.min(...hit));
        finish = 'stop';
        break;
      }
      // Hold back text that could still become a stop string.
      const safe = Math.max(emitted, text.length - maxStop);
      if (onEvent && safe > emitted) {
        await onEvent({ delta: text.slice(emitted, safe), tokens: tokens.slice(-1) });
        emitted = safe;
      } else if (onEvent) {
        await onEvent({ delta: '', tokens: tokens.slice(-1) });
      }
      // Let the event loop run between tokens: other requests are admitted (or
      // refused when the queue is full), health checks answer, deadlines fire.
      await new Promise<void>((r) => setImmediate(r));
      if (step + 1 === o.maxTokens) break;
      const next = stepper.step(cache, [ids]);
      disposeCache(cache);
      cache = next.cache;
      logp = next.logp[0];
    }
  } finally {
    disposeCache(cache);
  }
  if (onEvent && text.length > emitted) await onEvent({ delta: text.slice(emitted), tokens: [] });
  return { text, tokens, promptTokens: promptIds.length, completionTokens: ids.length, finishReason: finish };
}

/** The chat prompt: one "Role: content" line per message, then "Assistant:". */
export function chatPrompt(messages: readonly { role: string; content: string }[]): string {
  const name = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);
  return messages.map((m) => `${name(m.role)}: ${m.content}`).join('\n') + '\nAssistant:';
}

export function disposeLm(l: LoadedLm): void {
  l.yesno?.dispose();
  l.lm.dispose();
}
