/**
 * The OpenAI-compatible HTTP backend (vLLM, Ollama, llama.cpp server, a
 * hosted API) through the official `openai` client. See docs/LLM.md
 * for the exact commands per server.
 *
 * - Base URL and key: options, else LLMREC_OPENAI_BASE_URL / LLMREC_OPENAI_API_KEY,
 *   else OPENAI_BASE_URL / OPENAI_API_KEY (a local server needs no key: "EMPTY" is sent).
 * - Timeouts and retries with exponential backoff are the client's own
 *   (`timeout`, `maxRetries`; it retries connection errors, 408, 409, 429 and 5xx,
 *   honouring `retry-after` / `retry-after-ms`); a concurrency limit bounds
 *   requests in flight.
 * - Generation: `/v1/chat/completions` (default, `api: 'chat'`) or
 *   `/v1/completions`; choices and JSON schemas go through `response_format`
 *   (json_schema) on chat completions.
 * - Scoring: `/v1/completions` with `echo: true, logprobs: 1` on
 *   prompt + continuation (one request per prompt, continuations as a prompt
 *   list); the continuation's tokens are those whose `text_offset` is at or
 *   after the prompt's end (vLLM supports this; servers that do not echo
 *   prompt log-probs get a clear error).
 * - Response cache (optional `cacheDir`): keyed by the SHA-256 of the full
 *   request (base URL, endpoint, model, every parameter, the prompt); each
 *   entry stores its request and is only served when the stored request is
 *   identical; written atomically. Sampling without a seed is never cached.
 * - Token accounting: the server's `usage` summed per backend.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { writeFileAtomic } from '../util/fs.js';
import {
  applyStop, BackendError, type BackendCapabilities, checkGenerationOptions, type ContinuationScore, emptyUsage, type GenerationOptions,
  type GenerationResult, type LlmBackend, type TokenizerFacts, type TokenUsage,
} from './types.js';

export interface OpenAiBackendOptions {
  /** Model name the server knows (`--served-model-name` of vLLM, an Ollama tag, ...). */
  model: string;
  baseURL?: string;
  apiKey?: string;
  /** Milliseconds per attempt (default 60 000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
  /** Requests in flight at most (default 4). */
  concurrency?: number;
  /** Endpoint of unconstrained generation (default 'chat'). */
  api?: 'chat' | 'completions';
  /** Directory of the response cache (none by default). */
  cacheDir?: string;
  /** Context length of the served model, when known (the API does not tell). */
  contextLength?: number;
  /** Whether the server returns prompt log-probs with `echo` (default true; vLLM does, Ollama and llama.cpp server do not). */
  echoLogprobs?: boolean;
  name?: string;
  /** Environment to read (default process.env; tests pass their own). */
  env?: Record<string, string | undefined>;
}

/** Base URL and key: options, then LLMREC_OPENAI_*, then OPENAI_*. */
export function resolveOpenAiEndpoint(o: Pick<OpenAiBackendOptions, 'baseURL' | 'apiKey' | 'env'>): { baseURL: string; apiKey: string } {
  const env = o.env ?? process.env;
  const baseURL = o.baseURL ?? env.LLMREC_OPENAI_BASE_URL ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1';
  const apiKey = o.apiKey ?? env.LLMREC_OPENAI_API_KEY ?? env.OPENAI_API_KEY ?? 'EMPTY';
  try {
    const u = new URL(baseURL);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`protocol ${u.protocol}`);
  } catch (e) {
    throw new Error(`openai backend: invalid base URL ${JSON.stringify(baseURL)}: ${(e as Error).message}`, { cause: e });
  }
  return { baseURL: baseURL.replace(/\/+$/, ''), apiKey };
}

/** A counting semaphore. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** JSON with object keys sorted (the cache key must not depend on key order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The on-disk response cache (see the module doc). */
export class ResponseCache {
  constructor(readonly dir: string) {}

  key(request: unknown): string {
    return createHash('sha256').update(canonicalJson(request)).digest('hex');
  }

  path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** The stored response of exactly this request, or undefined. */
  get(request: unknown): unknown {
    const p = this.path(this.key(request));
    if (!existsSync(p)) return undefined;
    try {
      const entry = JSON.parse(readFileSync(p, 'utf8')) as { request?: unknown; response?: unknown };
      // Served only for the identical request (a collision or a tampered entry is a miss).
      if (canonicalJson(entry.request) !== canonicalJson(request) || entry.response === undefined) return undefined;
      return entry.response;
    } catch {
      return undefined; // an unreadable entry is a miss; the next answer overwrites it
    }
  }

  set(request: unknown, response: unknown): void {
    writeFileAtomic(this.path(this.key(request)), JSON.stringify({ request, response }) + '\n');
  }
}

interface CompletionLogprobs {
  tokens?: string[];
  token_logprobs?: Array<number | null>;
  text_offset?: number[];
}

/** The capabilities of an OpenAI-compatible server (scoring needs echoed prompt log-probs). */
function capabilities(echo: boolean): BackendCapabilities {
  return {
    generate: true,
    continuationLogProbs: echo,
    constrainedChoices: true,
    constrainedJsonSchema: true,
    seed: true,
    exactTokenCount: false,
    vectorInjection: false,
  };
}

export class OpenAiBackend implements LlmBackend {
  readonly kind = 'openai' as const;
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly baseURL: string;
  private readonly client: OpenAI;
  private readonly limiter: Limiter;
  private readonly cache: ResponseCache | null;
  private readonly counters: TokenUsage = emptyUsage();

  constructor(private readonly o: OpenAiBackendOptions) {
    if (typeof o.model !== 'string' || o.model === '') throw new Error('openai backend: no model name');
    const { baseURL, apiKey } = resolveOpenAiEndpoint(o);
    this.baseURL = baseURL;
    this.name = o.name ?? `openai:${o.model}@${baseURL}`;
    const concurrency = o.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new BackendError(this.name, `concurrency must be a positive integer, got ${concurrency}`);
    this.capabilities = capabilities(o.echoLogprobs ?? true);
    this.client = new OpenAI({ baseURL, apiKey, timeout: o.timeoutMs ?? 60_000, maxRetries: o.maxRetries ?? 2 });
    this.limiter = new Limiter(concurrency);
    this.cache = o.cacheDir ? new ResponseCache(o.cacheDir) : null;
  }

  /** Sends one request (through the cache when `cacheable`); errors name the backend and the cause. */
  private async request(endpoint: 'chat' | 'completions', body: Record<string, unknown>, cacheable: boolean): Promise<{ res: Record<string, unknown>; cached: boolean }> {
    const full = { baseURL: this.baseURL, endpoint, body };
    if (cacheable && this.cache) {
      const hit = this.cache.get(full);
      if (hit !== undefined) {
        this.counters.cacheHits++;
        return { res: hit as Record<string, unknown>, cached: true };
      }
    }
    const res = await this.limiter.run(async () => {
      try {
        const r: unknown = endpoint === 'chat'
          ? await this.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
          : await this.client.completions.create(body as unknown as OpenAI.CompletionCreateParamsNonStreaming);
        if (r === null || typeof r !== 'object' || !Array.isArray((r as { choices?: unknown }).choices) || (r as { choices: unknown[] }).choices.length === 0) {
          throw new BackendError(this.name, `malformed response from ${endpoint === 'chat' ? '/chat/completions' : '/completions'}: no choices (got ${JSON.stringify(r)?.slice(0, 200)})`);
        }
        return r as Record<string, unknown>;
      } catch (e) {
        throw this.wrap(e, endpoint);
      }
    });
    const usage = res.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
    this.counters.requests++;
    this.counters.promptTokens += usage?.prompt_tokens ?? 0;
    this.counters.completionTokens += usage?.completion_tokens ?? 0;
    if (cacheable && this.cache) this.cache.set(full, res);
    return { res, cached: false };
  }

  private wrap(e: unknown, endpoint: string): Error {
    if (e instanceof BackendError) return e;
    const where = `${this.baseURL}/${endpoint === 'chat' ? 'chat/completions' : 'completions'}`;
    if (e instanceof OpenAI.APIConnectionTimeoutError) {
      return new BackendError(this.name, `timed out after ${this.o.timeoutMs ?? 60_000} ms (${where}, ${this.o.maxRetries ?? 2} retries)`, { cause: e });
    }
    if (e instanceof OpenAI.APIConnectionError) {
      // fetch wraps the socket error: the first `code` down the cause chain (ECONNREFUSED, ENOTFOUND, ...).
      let detail = e.message;
      for (let c: unknown = e.cause, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
        const code = (c as { code?: unknown }).code;
        if (typeof code === 'string') { detail = code; break; }
        if (c instanceof Error) detail = c.message;
      }
      return new BackendError(this.name, `cannot connect to ${where} (${detail}); is the server running?`, { cause: e });
    }
    if (e instanceof OpenAI.APIError && typeof e.status === 'number') {
      return new BackendError(this.name, `the server refused the request (HTTP ${e.status} from ${where}): ${e.message}`, { cause: e, status: e.status });
    }
    return new BackendError(this.name, `malformed or unreadable response from ${where}: ${(e as Error).message}`, { cause: e });
  }

  tokenizerFacts(): Promise<TokenizerFacts> {
    return Promise.resolve({ vocabSize: null, contextLength: this.o.contextLength ?? null, specialTokens: {} });
  }

  /** An estimate (the API has no tokenizer endpoint): ceil(characters / 4), OpenAI's rule of thumb for English. */
  countTokens(text: string): Promise<number> {
    return Promise.resolve(Math.ceil(text.length / 4));
  }

  async generate(prompt: string, o: GenerationOptions): Promise<GenerationResult> {
    checkGenerationOptions(this.name, o);
    if (prompt.length === 0) throw new BackendError(this.name, 'the prompt is empty');
    const temperature = o.temperature ?? 0;
    const cacheable = temperature === 0 || o.seed !== undefined;
    const common = { model: this.o.model, max_tokens: o.maxTokens, temperature, top_p: o.topP, seed: o.seed, stop: o.stop && o.stop.length > 0 ? [...o.stop] : undefined };
    const c = o.constraint;
    if (c || (this.o.api ?? 'chat') === 'chat') {
      let response_format: Record<string, unknown> | undefined;
      if (c?.type === 'choices') {
        response_format = {
          type: 'json_schema',
          json_schema: { name: 'choice', strict: true, schema: { type: 'object', properties: { choice: { type: 'string', enum: [...c.choices] } }, required: ['choice'], additionalProperties: false } },
        };
      } else if (c?.type === 'json_schema') {
        response_format = { type: 'json_schema', json_schema: { name: c.name ?? 'output', strict: true, schema: c.schema } };
      }
      const body = { ...common, messages: [{ role: 'user', content: prompt }], response_format };
      const { res, cached } = await this.request('chat', body, cacheable);
      const choice = (res.choices as Array<{ message?: { content?: unknown }; finish_reason?: unknown }>)[0];
      const content = choice.message?.content;
      if (typeof content !== 'string') throw new BackendError(this.name, `malformed response from /chat/completions: choices[0].message.content is ${JSON.stringify(content)}`);
      let text = content;
      if (c?.type === 'choices') {
        let parsed: unknown;
        try { parsed = JSON.parse(content); } catch { parsed = undefined; }
        const v = (parsed as { choice?: unknown } | undefined)?.choice;
        if (typeof v !== 'string' || !c.choices.includes(v)) {
          throw new BackendError(this.name, `the server ignored the choices constraint (response_format json_schema): answer ${JSON.stringify(content.slice(0, 200))}`);
        }
        text = v;
      } else if (c?.type === 'json_schema') {
        try { JSON.parse(content); } catch (e) {
          throw new BackendError(this.name, `the server ignored the JSON-schema constraint: answer is not JSON (${(e as Error).message}): ${JSON.stringify(content.slice(0, 200))}`);
        }
      }
      return this.result(res, text, o, choice.finish_reason, cached);
    }
    const body = { ...common, prompt };
    const { res, cached } = await this.request('completions', body, cacheable);
    const choice = (res.choices as Array<{ text?: unknown; finish_reason?: unknown }>)[0];
    if (typeof choice.text !== 'string') throw new BackendError(this.name, `malformed response from /completions: choices[0].text is ${JSON.stringify(choice.text)}`);
    return this.result(res, choice.text, o, choice.finish_reason, cached);
  }

  private result(res: Record<string, unknown>, text: string, o: GenerationOptions, finish: unknown, cached: boolean): GenerationResult {
    const usage = res.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
    const cut = applyStop(text, o.stop);
    return {
      text: cut.text,
      finishReason: finish === 'length' && !cut.stopped ? 'length' : 'stop',
      promptTokens: usage?.prompt_tokens ?? 0,
      completionTokens: usage?.completion_tokens ?? 0,
      cached,
    };
  }

  async scoreContinuations(prompt: string, continuations: readonly string[]): Promise<ContinuationScore[]> {
    if (!this.capabilities.continuationLogProbs) {
      throw new BackendError(this.name, 'continuation log-probs need a server that echoes prompt log-probs (/v1/completions with echo and logprobs, e.g. vLLM); this backend was created with echoLogprobs: false');
    }
    if (continuations.length === 0) return [];
    continuations.forEach((c, i) => { if (c.length === 0) throw new BackendError(this.name, `continuation ${i} is empty`); });
    const body = { model: this.o.model, prompt: continuations.map((c) => prompt + c), max_tokens: 1, temperature: 0, echo: true, logprobs: 1 };
    const { res } = await this.request('completions', body, true);
    const choices = res.choices as Array<{ index?: number; logprobs?: CompletionLogprobs | null }>;
    if (choices.length !== continuations.length) {
      throw new BackendError(this.name, `malformed response from /completions: ${choices.length} choices for ${continuations.length} prompts`);
    }
    const out: ContinuationScore[] = new Array<ContinuationScore>(continuations.length);
    choices.forEach((ch, j) => {
      const i = typeof ch.index === 'number' ? ch.index : j;
      const lp = ch.logprobs;
      if (!lp || !Array.isArray(lp.token_logprobs) || !Array.isArray(lp.text_offset) || lp.token_logprobs.length !== lp.text_offset.length) {
        throw new BackendError(this.name, 'the server returned no prompt log-probs with echo (logprobs.token_logprobs / text_offset); scoring needs a server that supports echo with logprobs, e.g. vLLM');
      }
      const end = prompt.length + continuations[i].length;
      if (!lp.text_offset.includes(prompt.length)) {
        throw new BackendError(this.name, `the server's tokenizer merges the end of the prompt with continuation ${i} (no token starts at character ${prompt.length}); end the prompt with a separator such as a newline`);
      }
      let sum = 0;
      let n = 0;
      for (let t = 0; t < lp.text_offset.length; t++) {
        const off = lp.text_offset[t];
        if (off < prompt.length || off >= end) continue;
        const v = lp.token_logprobs[t];
        if (typeof v !== 'number') throw new BackendError(this.name, `malformed response: log-prob of token ${t} of prompt ${i} is ${JSON.stringify(v)}`);
        sum += v;
        n++;
      }
      out[i] = { logProb: sum, tokens: n };
    });
    return out;
  }

  usage(): TokenUsage {
    return { ...this.counters };
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
