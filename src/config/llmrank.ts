/**
 * Options of `llmrec run llmrank` (src/methods/llmrank/, docs/LLM.md): the
 * "llmrank" object of a run config file, with the flags applied (layers.ts).
 */
import { z } from 'zod';
import { parseWith } from '../util/validate.js';

export const LLMRANK_STYLES = ['sequential', 'recency', 'in-context'] as const;

/** How an LLM backend is reached (src/backends): a spec string and the options a spec string cannot carry. */
export const BackendOptionsSchema = z.strictObject({
  /** local:DIR | gguf:FILE | openai:MODEL | openai:MODEL@URL */
  spec: z.string().regex(/^(local|gguf|openai):.+/s, 'expected local:DIR, gguf:FILE, openai:MODEL or openai:MODEL@URL'),
  /** On-disk response cache of an openai backend. */
  cacheDir: z.string().optional(),
  /** Requests in flight (openai). */
  concurrency: z.number().int().min(1).optional(),
  /** Per-request timeout in ms (openai). */
  timeoutMs: z.number().int().min(1).optional(),
  /** Retries of failed requests (openai). */
  maxRetries: z.number().int().min(0).optional(),
  /** Endpoint of unconstrained generation of an openai backend: 'chat' (default) or 'completions' (the prompt as it is, no chat template). */
  api: z.enum(['chat', 'completions']).optional(),
  /** Whether an openai server returns prompt log-probs with echo (vLLM does; Ollama, llama.cpp server and llmrec serve do not). */
  echoLogprobs: z.boolean().optional(),
  /** Context length of the served model (the OpenAI API does not report it). */
  contextLength: z.number().int().min(16).optional(),
  /** Context size of a gguf backend. */
  contextSize: z.number().int().min(16).optional(),
});
export type BackendOptions = z.output<typeof BackendOptionsSchema>;

/** The extra options of `parseBackendSpec` (src/backends/index.ts) from a validated backend object. */
export function backendExtra(b: BackendOptions): Record<string, unknown> {
  const { spec: _spec, ...rest } = b;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}

/** A ranker of candidates: 'pop', 'bm25' or 'model:DIR' (a saved collaborative model). */
const RankerSpec = z.string().regex(/^(pop|bm25|model:.+)$/s, "expected 'pop', 'bm25' or 'model:DIR'");

export const LlmRankRunSchema = z.strictObject({
  backend: BackendOptionsSchema,
  /** Where the candidates come from. */
  retriever: RankerSpec.default('bm25'),
  /** Other rankers of the same candidates (Pop is always added). */
  baselines: z.array(RankerSpec).default([]),
  /** Test users evaluated (a seeded sample). */
  users: z.number().int().min(1).default(200),
  /** Candidates per user, the target included. */
  candidates: z.number().int().min(2).default(20),
  /** Most recent history items in the prompt. */
  historyLength: z.number().int().min(1).default(10),
  style: z.enum(LLMRANK_STYLES).default('sequential'),
  /** 'generate' (the LLM writes the ranking, parsed) or 'score' (candidates by log P(title | prompt)). */
  mode: z.enum(['generate', 'score']).default('generate'),
  /** Presented orders per user merged by Borda count (1 = no bootstrapping). */
  bootstrap: z.number().int().min(1).default(3),
  /** Token budget of a generated ranking (default: the candidates' title tokens + 4 each, within the context). */
  maxTokens: z.number().int().min(1).optional(),
  /** Titles cut to this many characters in prompts. */
  titleChars: z.number().int().min(4).default(60),
  /** A backend failure (down, timeout, malformed answer, context exceeded): 'fail' stops the run; 'fallback' ranks that presentation in the retriever's order and counts it. */
  onBackendError: z.enum(['fail', 'fallback']).default('fail'),
  seed: z.number().int().default(2024),
  ks: z.array(z.number().int().min(1)).min(1).default([1, 5, 10]),
});
export type LlmRankRunOptions = z.output<typeof LlmRankRunSchema>;

export function parseLlmRankOptions(raw: unknown, source?: string): LlmRankRunOptions {
  return parseWith(LlmRankRunSchema, raw, 'invalid LLMRank options', source);
}
