/**
 * The GGUF backend: any GGUF file (llama.cpp, Ollama's blobs, llmrec's own
 * `exportGguf`) run by llama.cpp through the optional dependency
 * node-llama-cpp (src/lm/interop/llamacpp.ts loads it, CPU, prebuilt binary,
 * nothing downloaded). Scoring is llamacpp.ts's `scoreContinuations` (llama.cpp's
 * own logits); generation is node-llama-cpp's `LlamaCompletion` on the same
 * context sequence, constrained by a GBNF grammar (choices: an alternation
 * of the literal strings) or by node-llama-cpp's JSON-schema grammar.
 *
 * Tokenization follows llama.cpp: BOS is prepended to the prompt when the
 * file asks for it (`tokenizer.ggml.add_bos_token`), continuations are
 * tokenized alone without special tokens (as the local backend does).
 */
import {
  dispose as disposeHandle, type GgufHandle, LLAMA_CPP_PACKAGE, loadGguf, type LoadGgufOptions, scoreContinuations,
} from '../lm/interop/llamacpp.js';
import {
  applyStop, BackendError, type BackendCapabilities, checkGenerationOptions, type ContinuationScore, emptyUsage, type GenerationOptions,
  type GenerationResult, type LlmBackend, type TokenizerFacts, type TokenUsage,
} from './types.js';

// The part of node-llama-cpp 3.x used here, typed locally (the package is optional).
interface NlcTokens {
  readonly bos: number | null;
  readonly eos: number | null;
  readonly bosString: string | null;
  readonly eosString: string | null;
  readonly shouldPrependBosToken: boolean;
}
interface NlcGrammar { readonly grammar: string }
interface NlcLlama {
  createGrammar(o: { grammar: string }): Promise<NlcGrammar>;
  createGrammarForJsonSchema(schema: unknown): Promise<NlcGrammar>;
}
interface NlcModel {
  readonly llama: NlcLlama;
  readonly tokens: NlcTokens;
  readonly trainContextSize: number;
  tokenize(text: string, specialTokens?: boolean): number[];
}
interface NlcCompletionResponse {
  response: string;
  metadata: { stopReason: string };
}
interface NlcCompletion {
  generateCompletionWithMeta(input: number[], o: Record<string, unknown>): Promise<NlcCompletionResponse>;
  dispose(o?: { disposeSequence?: boolean }): void;
}
interface NlcModule {
  LlamaCompletion: new (o: { contextSequence: unknown; autoDisposeSequence?: boolean }) => NlcCompletion;
}

export interface GgufBackendOptions extends LoadGgufOptions {
  /** The GGUF file. */
  path: string;
  name?: string;
}

const CAPABILITIES: BackendCapabilities = {
  generate: true,
  continuationLogProbs: true,
  constrainedChoices: true,
  constrainedJsonSchema: true,
  seed: true,
  exactTokenCount: true,
  vectorInjection: false,
};

/** A GBNF string literal (llama.cpp grammars/README.md: `"..."` with `\"`, `\\`, `\n`, `\r`, `\t` escapes). */
export function gbnfLiteral(s: string): string {
  return '"' + s.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!) + '"';
}

/** A GBNF grammar whose only sentences are the given strings (e.g. item titles). */
export function choicesGrammar(choices: readonly string[]): string {
  if (choices.length === 0) throw new Error('choicesGrammar: no choices');
  return `root ::= ${[...new Set(choices)].map(gbnfLiteral).join(' | ')}\n`;
}

export class GgufBackend implements LlmBackend {
  readonly kind = 'gguf' as const;
  readonly name: string;
  readonly capabilities = CAPABILITIES;
  private readonly counters: TokenUsage = emptyUsage();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly handle: GgufHandle, private readonly nlc: NlcModule, name: string) {
    this.name = name;
  }

  static async open(o: GgufBackendOptions): Promise<GgufBackend> {
    const name = o.name ?? `gguf:${o.path}`;
    let handle: GgufHandle;
    try {
      handle = await loadGguf(o.path, o);
    } catch (e) {
      throw new BackendError(name, (e as Error).message, { cause: e });
    }
    const spec: string = LLAMA_CPP_PACKAGE; // variable specifier: tsc does not resolve the optional package
    const nlc = (await import(spec)) as NlcModule;
    return new GgufBackend(handle, nlc, name);
  }

  private get model(): NlcModel {
    // llamacpp.ts types only what it uses; the object is node-llama-cpp's LlamaModel.
    return this.handle.impl.model as unknown as NlcModel;
  }

  /** Runs after every earlier call (one llama.cpp sequence; llamacpp.ts serialises its own calls too). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private promptIds(prompt: string, reserve: number): number[] {
    const ids = this.model.tokenize(prompt, false);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null) ids.unshift(bos);
    if (ids.length === 0) throw new BackendError(this.name, 'the prompt is empty (no tokens)');
    if (ids.length + reserve > this.handle.contextSize) {
      throw new BackendError(this.name, `prompt (${ids.length} tokens) + ${reserve} more exceed the context size ${this.handle.contextSize}`);
    }
    return ids;
  }

  tokenizerFacts(): Promise<TokenizerFacts> {
    const t = this.model.tokens;
    const specialTokens: Record<string, string> = {};
    if (t.bosString !== null) specialTokens.bos = t.bosString;
    if (t.eosString !== null) specialTokens.eos = t.eosString;
    return Promise.resolve({ vocabSize: this.handle.vocabSize, contextLength: this.handle.contextSize, specialTokens });
  }

  countTokens(text: string): Promise<number> {
    return Promise.resolve(this.model.tokenize(text, false).length);
  }

  async generate(prompt: string, o: GenerationOptions): Promise<GenerationResult> {
    checkGenerationOptions(this.name, o);
    const ids = this.promptIds(prompt, o.maxTokens);
    let grammar: NlcGrammar | undefined;
    try {
      if (o.constraint?.type === 'choices') grammar = await this.model.llama.createGrammar({ grammar: choicesGrammar(o.constraint.choices) });
      else if (o.constraint?.type === 'json_schema') grammar = await this.model.llama.createGrammarForJsonSchema(o.constraint.schema);
    } catch (e) {
      throw new BackendError(this.name, `cannot build a llama.cpp grammar for the ${o.constraint!.type} constraint: ${(e as Error).message}`, { cause: e });
    }
    return this.serial(async () => {
      const completion = new this.nlc.LlamaCompletion({ contextSequence: this.handle.impl.sequence, autoDisposeSequence: false });
      let res: NlcCompletionResponse;
      let completionTokens = 0;
      try {
        const temp = o.temperature ?? 0;
        res = await completion.generateCompletionWithMeta(ids, {
          maxTokens: o.maxTokens,
          temperature: temp,
          topP: o.topP,
          seed: o.seed,
          grammar,
          customStopTriggers: o.stop && o.stop.length > 0 ? [...o.stop] : undefined,
          onToken: (t: number[]) => { completionTokens += t.length; },
        });
      } catch (e) {
        throw new BackendError(this.name, `llama.cpp generation failed: ${(e as Error).message}`, { cause: e });
      } finally {
        completion.dispose({ disposeSequence: false });
      }
      const cut = applyStop(res.response, o.stop);
      if (o.constraint?.type === 'choices' && !o.constraint.choices.includes(cut.text)) {
        throw new BackendError(this.name, `grammar-constrained generation ended outside the choices (stop reason ${res.metadata.stopReason}; maxTokens ${o.maxTokens} too small?)`);
      }
      this.counters.requests++;
      this.counters.promptTokens += ids.length;
      this.counters.completionTokens += completionTokens;
      return {
        text: cut.text,
        finishReason: res.metadata.stopReason === 'maxTokens' && !cut.stopped ? 'length' : 'stop',
        promptTokens: ids.length,
        completionTokens,
      };
    });
  }

  async scoreContinuations(prompt: string, continuations: readonly string[]): Promise<ContinuationScore[]> {
    const cands = continuations.map((c, i) => {
      const t = this.model.tokenize(c, false);
      if (t.length === 0) throw new BackendError(this.name, `continuation ${i} (${JSON.stringify(c)}) has no tokens`);
      return t;
    });
    const ids = this.promptIds(prompt, cands.reduce((m, c) => Math.max(m, c.length), 0));
    return this.serial(async () => {
      let lp: Float64Array;
      try {
        lp = await scoreContinuations(this.handle, ids, cands);
      } catch (e) {
        throw new BackendError(this.name, `llama.cpp scoring failed: ${(e as Error).message}`, { cause: e });
      }
      this.counters.requests++;
      this.counters.promptTokens += ids.length + cands.reduce((a, c) => a + c.length, 0);
      return Array.from(lp, (logProb, i) => ({ logProb, tokens: cands[i].length }));
    });
  }

  usage(): TokenUsage {
    return { ...this.counters };
  }

  dispose(): Promise<void> {
    return this.serial(() => disposeHandle(this.handle));
  }
}
