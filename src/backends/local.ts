/**
 * The in-process backend: any causal LM folder `loadPretrained`
 * (src/lm/checkpoint.ts) loads, with its tokenizer.json, or a model and
 * tokenizer already in memory. Generation is src/lm/generate.ts (greedy when
 * temperature is 0, else sampling with top-p), choices are a `TokenTrie` of
 * the choices' tokens, scoring is src/lm/score.ts (the prompt runs once).
 * The only backend with vector injection: `model` and `tokenizer` are
 * exposed for methods that replace input embeddings (src/lm/inject.ts).
 *
 * Tokenization: the prompt with the tokenizer's post-processor (Hugging
 * Face's default `add_special_tokens=True`), continuations and choices
 * without it, as src/lm/next_title.ts and src/methods/yesno.ts do.
 */
import type { CausalLM } from '../lm/families/decoder.js';
import { loadPretrained } from '../lm/checkpoint.js';
import { generate } from '../lm/generate.js';
import { scoreContinuations } from '../lm/score.js';
import { TokenTrie } from '../lm/trie.js';
import { Tokenizer } from '../lm/tokenizer/index.js';
import {
  applyStop, BackendError, type BackendCapabilities, checkGenerationOptions, type ContinuationScore, emptyUsage, type GenerationOptions,
  type GenerationResult, type LlmBackend, type TokenizerFacts, type TokenUsage, UnsupportedCapabilityError,
} from './types.js';

export interface LocalBackendOptions {
  /** A Hugging Face folder (config.json, model.safetensors, tokenizer.json). */
  path?: string;
  /** Or a model and tokenizer already loaded (the backend does not dispose them). */
  model?: CausalLM;
  tokenizer?: Tokenizer;
  /** Name in errors (default `local:<path>` or `local:<in-memory>`). */
  name?: string;
  /** Candidates per forward pass when scoring (src/lm/score.ts; default 32). */
  scoreChunk?: number;
}

const CAPABILITIES: BackendCapabilities = {
  generate: true,
  continuationLogProbs: true,
  constrainedChoices: true,
  constrainedJsonSchema: false,
  seed: true,
  exactTokenCount: true,
  vectorInjection: true,
};

function isCausal(m: unknown): m is CausalLM {
  return typeof m === 'object' && m !== null && typeof (m as CausalLM).forward === 'function' && typeof (m as CausalLM).embed === 'function' &&
    typeof (m as CausalLM).vocabSize === 'number';
}

/** Context length from a Hugging Face config (LLaMA family, GPT-2), or null. */
function contextOf(config: Record<string, unknown>): number | null {
  for (const k of ['max_position_embeddings', 'n_positions', 'n_ctx']) {
    const v = config[k];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return null;
}

export class LocalBackend implements LlmBackend {
  readonly kind = 'local' as const;
  readonly name: string;
  readonly capabilities = CAPABILITIES;
  readonly model: CausalLM;
  readonly tokenizer: Tokenizer;
  readonly contextLength: number | null;
  private readonly owned: boolean;
  private readonly counters: TokenUsage = emptyUsage();
  private disposed = false;

  constructor(private readonly opts: LocalBackendOptions) {
    if (opts.path !== undefined) {
      this.name = opts.name ?? `local:${opts.path}`;
      const loaded = loadPretrained(opts.path);
      if (!isCausal(loaded.model)) {
        const fam = loaded.model.family;
        loaded.model.dispose();
        throw new BackendError(this.name, `the ${fam} model in ${opts.path} is not a causal (decoder-only) LM; generation and scoring need one`);
      }
      this.model = loaded.model;
      try {
        this.tokenizer = Tokenizer.fromFile(opts.path);
      } catch (e) {
        this.model.dispose();
        throw new BackendError(this.name, `cannot load the tokenizer of ${opts.path}: ${(e as Error).message}`, { cause: e });
      }
      this.owned = true;
    } else {
      this.name = opts.name ?? 'local:<in-memory>';
      if (!opts.model || !opts.tokenizer) throw new BackendError(this.name, 'give a checkpoint folder (path) or both model and tokenizer');
      this.model = opts.model;
      this.tokenizer = opts.tokenizer;
      this.owned = false;
    }
    this.contextLength = contextOf(this.model.configJSON());
  }

  private check(): void {
    if (this.disposed) throw new BackendError(this.name, 'the backend is disposed');
  }

  /** Prompt ids (with the post-processor's special tokens); a clear error when empty or too long. */
  promptIds(prompt: string, reserve: number): number[] {
    const ids = this.tokenizer.encode(prompt);
    if (ids.length === 0) throw new BackendError(this.name, 'the prompt is empty (no tokens)');
    if (this.contextLength !== null && ids.length + reserve > this.contextLength) {
      throw new BackendError(this.name, `prompt (${ids.length} tokens) + ${reserve} more exceed the context length ${this.contextLength}`);
    }
    return ids;
  }

  tokenizerFacts(): Promise<TokenizerFacts> {
    const specialTokens: Record<string, string> = {};
    for (const [role, ref] of Object.entries(this.tokenizer.specialTokens)) if (ref) specialTokens[role] = ref.token;
    return Promise.resolve({ vocabSize: this.model.vocabSize, contextLength: this.contextLength, specialTokens });
  }

  countTokens(text: string): Promise<number> {
    return Promise.resolve(this.tokenizer.encode(text, { addSpecialTokens: false }).length);
  }

  generate(prompt: string, o: GenerationOptions): Promise<GenerationResult> {
    return Promise.resolve().then(() => this.generateSync(prompt, o));
  }

  private generateSync(prompt: string, o: GenerationOptions): GenerationResult {
    this.check();
    checkGenerationOptions(this.name, o);
    if (o.constraint?.type === 'json_schema') {
      throw new UnsupportedCapabilityError(this.name, 'constrainedJsonSchema', 'in-process decoding constrains to a token trie of choices only; use a gguf or openai backend for JSON schemas');
    }
    const ids = this.promptIds(prompt, o.maxTokens);
    const eos = this.tokenizer.specialTokens.eos?.id;
    let trie: TokenTrie | undefined;
    if (o.constraint?.type === 'choices') {
      trie = new TokenTrie();
      o.constraint.choices.forEach((c, i) => trie!.add(this.tokenizer.encode(c, { addSpecialTokens: false }), i));
    }
    const temp = o.temperature ?? 0;
    const [g] = generate(this.model, { ids: Int32Array.from(ids) }, {
      maxNewTokens: o.maxTokens,
      strategy: temp === 0 ? 'greedy' : 'sample',
      temperature: temp === 0 ? undefined : temp,
      topP: o.topP,
      seed: o.seed ?? 0,
      eosTokenId: eos,
      trie,
    });
    const body = eos !== undefined && g.tokens.at(-1) === eos ? g.tokens.slice(0, -1) : g.tokens;
    let text: string;
    if (trie) {
      const k = trie.valueOf(body);
      if (k === undefined) {
        throw new BackendError(this.name, `constrained generation ended outside the choices after ${body.length} tokens (maxTokens ${o.maxTokens} too small for the longest choice?)`);
      }
      text = (o.constraint as { choices: readonly string[] }).choices[k];
    } else {
      text = this.tokenizer.decode(body, { skipSpecialTokens: true });
    }
    const cut = applyStop(text, o.stop);
    this.counters.requests++;
    this.counters.promptTokens += ids.length;
    this.counters.completionTokens += g.tokens.length;
    return {
      text: cut.text,
      finishReason: cut.stopped || g.finish !== 'length' ? 'stop' : 'length',
      promptTokens: ids.length,
      completionTokens: g.tokens.length,
    };
  }

  scoreContinuations(prompt: string, continuations: readonly string[]): Promise<ContinuationScore[]> {
    return Promise.resolve().then(() => {
      this.check();
      const cands = continuations.map((c, i) => {
        const t = this.tokenizer.encode(c, { addSpecialTokens: false });
        if (t.length === 0) throw new BackendError(this.name, `continuation ${i} (${JSON.stringify(c)}) has no tokens`);
        return t;
      });
      const longest = cands.reduce((m, c) => Math.max(m, c.length), 0);
      const ids = this.promptIds(prompt, longest);
      const s = scoreContinuations(this.model, { ids: Int32Array.from(ids) }, cands, { chunk: this.opts.scoreChunk });
      this.counters.requests++;
      this.counters.promptTokens += ids.length + cands.reduce((a, c) => a + c.length, 0);
      return Array.from(s.logProb, (lp, i) => ({ logProb: lp, tokens: s.tokens[i] }));
    });
  }

  usage(): TokenUsage {
    return { ...this.counters };
  }

  dispose(): Promise<void> {
    if (!this.disposed && this.owned) this.model.dispose();
    this.disposed = true;
    return Promise.resolve();
  }
}
