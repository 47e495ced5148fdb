/**
 * One interface for every language model llmrec can talk to (issue 17):
 * an in-process llmrec LM (`local`), a GGUF file run by llama.cpp through
 * node-llama-cpp (`gguf`), or an OpenAI-compatible HTTP server (`openai`:
 * vLLM, Ollama, llama.cpp server, a hosted API). Methods are written against
 * `LlmBackend` and ask its `capabilities` what it can do; asking for
 * something a backend cannot do throws `UnsupportedCapabilityError`, which
 * names the backend and the capability. See docs/LLM.md.
 *
 * Everything is text in, text out: a backend tokenizes with its own
 * tokenizer. Continuations are scored as log P(continuation | prompt) with
 * the prompt and the continuation tokenized separately (the convention of
 * src/lm/score.ts and of every llmrec method that scores item titles).
 */

export type BackendKind = 'local' | 'gguf' | 'openai';

/** What a backend supports; `UnsupportedCapabilityError` names the missing one. */
export interface BackendCapabilities {
  /** Free generation (every backend). */
  generate: true;
  /** log P(continuation | prompt) of given continuations. */
  continuationLogProbs: boolean;
  /** Output constrained to one of a list of strings (an item trie, a llama.cpp grammar, a JSON-schema enum). */
  constrainedChoices: boolean;
  /** Output constrained to a JSON schema. */
  constrainedJsonSchema: boolean;
  /** `seed` makes sampling reproducible. */
  seed: boolean;
  /** Token counts come from the model's own tokenizer (`countTokens`). */
  exactTokenCount: boolean;
  /** Vectors can replace input embeddings (CoLLM-style `<UserID>` / `<ItemID>` slots): in-process only. */
  vectorInjection: boolean;
}

export type Capability = Exclude<keyof BackendCapabilities, 'generate'>;

/** Output constraint of one generation. */
export type OutputConstraint =
  /** Exactly one of these strings (e.g. item titles). */
  | { type: 'choices'; choices: readonly string[] }
  /** A JSON document matching this JSON schema. */
  | { type: 'json_schema'; schema: Record<string, unknown>; name?: string };

export interface GenerationOptions {
  /** New tokens at most (required: no backend generates without a bound). */
  maxTokens: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  /** Nucleus sampling mass (default 1). */
  topP?: number;
  /** Generation stops before the first of these strings (which is not returned). */
  stop?: readonly string[];
  /** Seed of the sampler. */
  seed?: number;
  constraint?: OutputConstraint;
}

export interface GenerationResult {
  text: string;
  /** 'stop': eos, a stop string or the constraint completed; 'length': maxTokens reached. */
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  /** The answer came from the on-disk response cache (openai only). */
  cached?: boolean;
}

export interface ContinuationScore {
  /** Natural-log probability of the continuation's tokens after the prompt. */
  logProb: number;
  /** Number of continuation tokens (for length-normalised scores). */
  tokens: number;
}

/** Tokenizer facts of a backend (what is unknown is null). */
export interface TokenizerFacts {
  vocabSize: number | null;
  /** Context length in tokens (prompt + generation). */
  contextLength: number | null;
  /** Special tokens by role (bos, eos, pad, ...), as text. */
  specialTokens: Record<string, string>;
}

/** Tokens spent, summed over the backend's life. */
export interface TokenUsage {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Requests answered from the response cache (not in the sums above). */
  cacheHits: number;
}

export interface LlmBackend {
  readonly kind: BackendKind;
  /** A spec string that names this backend in errors and reports, e.g. `gguf:/models/x.gguf`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  tokenizerFacts(): Promise<TokenizerFacts>;
  /** Tokens of `text` (exact when `capabilities.exactTokenCount`, else an estimate: see the backend). */
  countTokens(text: string): Promise<number>;
  generate(prompt: string, opts: GenerationOptions): Promise<GenerationResult>;
  /** log P(c | prompt) for every continuation c (non-empty strings). */
  scoreContinuations(prompt: string, continuations: readonly string[]): Promise<ContinuationScore[]>;
  usage(): TokenUsage;
  dispose(): Promise<void>;
}

/** A backend was asked for something it cannot do. */
export class UnsupportedCapabilityError extends Error {
  constructor(readonly backend: string, readonly capability: string, why: string) {
    super(`backend ${backend} does not support ${capability}: ${why}`);
    this.name = 'UnsupportedCapabilityError';
  }
}

/** A backend failed (down, timeout, malformed answer, refusal, context exceeded); names the backend. */
export class BackendError extends Error {
  constructor(readonly backend: string, message: string, opts?: { cause?: unknown; status?: number }) {
    super(`backend ${backend}: ${message}`, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BackendError';
    this.status = opts?.status;
  }
  readonly status?: number;
}

/** Throws `UnsupportedCapabilityError` unless the backend has the capability. */
export function requireCapability(b: Pick<LlmBackend, 'name' | 'capabilities'>, cap: Capability, why: string): void {
  if (!b.capabilities[cap]) throw new UnsupportedCapabilityError(b.name, cap, why);
}

/** Checks generation options (every backend calls this first). */
export function checkGenerationOptions(backend: string, o: GenerationOptions): void {
  const bad = (m: string): never => { throw new BackendError(backend, `invalid generation option: ${m}`); };
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) bad(`maxTokens must be a positive integer, got ${o.maxTokens}`);
  if (o.temperature !== undefined && !(o.temperature >= 0)) bad(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad(`topP must be in (0, 1], got ${o.topP}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
  if (o.stop?.some((s) => typeof s !== 'string' || s.length === 0)) bad('stop strings must be non-empty');
  if (o.constraint?.type === 'choices') {
    if (o.constraint.choices.length === 0) bad('constraint.choices is empty');
    if (o.constraint.choices.some((c) => typeof c !== 'string' || c.length === 0)) bad('constraint.choices holds an empty string');
  }
}

/** Cuts `text` before the first stop string; whether one was found. */
export function applyStop(text: string, stop: readonly string[] | undefined): { text: string; stopped: boolean } {
  let cut = -1;
  for (const s of stop ?? []) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

export function emptyUsage(): TokenUsage {
  return { requests: 0, promptTokens: 0, completionTokens: 0, cacheHits: 0 };
}
