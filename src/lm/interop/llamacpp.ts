/**
 * Running GGUF files (e.g. from `exportGguf`) through llama.cpp, via the
 * optional dependency `node-llama-cpp` (3.x): next-token logits of a prompt
 * and log-probabilities of candidate continuations, both computed by
 * llama.cpp itself. CPU only, with node-llama-cpp's prebuilt binary: nothing
 * is downloaded or built at runtime, and a missing or unusable package fails
 * with an error naming it. The package is imported lazily, so the rest of
 * llmrec works without it.
 *
 * A handle owns one llama.cpp context with one sequence; its KV cache keeps
 * the longest common prefix between calls, so scoring several candidates
 * after one prompt evaluates the prompt once. Calls on a handle are
 * serialised.
 */
import { existsSync } from 'node:fs';
import { ggufMetadata, readGguf } from './gguf.js';

// The subset of node-llama-cpp's API used here, typed locally so llmrec
// type-checks without the optional package installed.

interface NlcLogitsOutput {
  next: { logits?: Map<number, number>; totalLogitWeight?: number };
}

type NlcInputItem = number | [number, { generateNext: NlcGenerateNext }];

interface NlcGenerateNext {
  logits: true | { filter: { tokens: readonly number[]; includeTop?: number } };
  totalLogitWeight?: boolean;
  options?: { temperature?: number };
}

interface NlcSequence {
  readonly contextTokens: number[];
  readonly nextTokenIndex: number;
  eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>): Promise<void>;
  controlledEvaluate(input: NlcInputItem[]): Promise<Array<NlcLogitsOutput | undefined>>;
  dispose(): Promise<void> | void;
}

interface NlcContext {
  readonly contextSize: number;
  getSequence(): NlcSequence;
  dispose(): Promise<void>;
}

interface NlcModel {
  createContext(opts: Record<string, unknown>): Promise<NlcContext>;
  dispose(): Promise<void>;
}

interface NlcLlama {
  readonly buildType: string;
  readonly llamaCppRelease: { repo: string; release: string };
  readonly systemInfo: string;
  loadModel(opts: Record<string, unknown>): Promise<NlcModel>;
}

interface NlcModule {
  getLlama(opts: Record<string, unknown>): Promise<NlcLlama>;
}

/** The npm package this module runs on. */
export const LLAMA_CPP_PACKAGE = 'node-llama-cpp';

let llamaPromise: Promise<{ llama: NlcLlama; threads: number }> | null = null;

/** The last warnings / errors llama.cpp logged (kept quiet, quoted in load errors). */
const recentLogs: string[] = [];

function logSink(level: string, message: string): void {
  if (level !== 'error' && level !== 'fatal' && level !== 'warn') return;
  const line = message.trim();
  if (line === '') return;
  recentLogs.push(`${level}: ${line}`);
  if (recentLogs.length > 8) recentLogs.shift();
}

/** Recent llama.cpp messages as a suffix for error messages (and clears them). */
function takeLogs(): string {
  const out = recentLogs.length > 0 ? `; llama.cpp said: ${recentLogs.join(' | ')}` : '';
  recentLogs.length = 0;
  return out;
}

async function importPackage(): Promise<NlcModule> {
  const name: string = LLAMA_CPP_PACKAGE; // a variable specifier keeps tsc from resolving the optional package
  try {
    return (await import(name)) as NlcModule;
  } catch (e) {
    throw new Error(`GGUF inference needs the optional dependency '${LLAMA_CPP_PACKAGE}' (3.x), which could not be imported: ${(e as Error).message}. ` +
      `Install it with \`npm install ${LLAMA_CPP_PACKAGE}\`.`, { cause: e });
  }
}

/** The shared llama.cpp runtime (CPU, prebuilt binary only), created on first use. */
function getRuntime(threads: number): Promise<{ llama: NlcLlama; threads: number }> {
  if (llamaPromise === null) {
    llamaPromise = (async () => {
      const mod = await importPackage();
      try {
        const llama = await mod.getLlama({
          gpu: false,
          build: 'never',
          usePrebuiltBinaries: true,
          skipDownload: true,
          progressLogs: false,
          maxThreads: threads,
          logLevel: 'warn',
          logger: logSink,
        });
        return { llama, threads };
      } catch (e) {
        throw new Error(`${LLAMA_CPP_PACKAGE} could not load a prebuilt llama.cpp binary for ${process.platform}-${process.arch} ` +
          `(llmrec never downloads or builds llama.cpp at runtime): ${(e as Error).message}${takeLogs()}`, { cause: e });
      }
    })();
    llamaPromise.catch(() => { llamaPromise = null; });
  }
  return llamaPromise;
}

/** Whether GGUF inference can run here: `available` with the llama.cpp release, or the reason it cannot. */
export type LlamaCppStatus =
  | { available: true; llamaCpp: string; systemInfo: string }
  | { available: false; reason: string };

/**
 * Checks that node-llama-cpp imports and its prebuilt CPU binary loads
 * (starting the shared runtime with `threads` threads when it is not running yet).
 */
export async function llamaCppStatus(threads = 2): Promise<LlamaCppStatus> {
  try {
    const { llama } = await getRuntime(threads);
    const rel = llama.llamaCppRelease;
    return { available: true, llamaCpp: `${rel.repo}@${rel.release} (${llama.buildType})`, systemInfo: llama.systemInfo };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** Options of `loadGguf`. */
export interface LoadGgufOptions {
  /** CPU threads of llama.cpp (default 2; fixed by the first load in the process). */
  threads?: number;
  /** Context size in tokens (default min(512, the model's context length)). */
  contextSize?: number;
  /**
   * Type of llama.cpp's KV cache: 'f32' (default; logits then match an F32
   * reference to float rounding, ~2e-5 on the test models) or 'f16'
   * (llama.cpp's own default, half the memory; ~6e-3 logit error there).
   */
  kvCache?: 'f32' | 'f16';
  /** Flash attention (default false: on CPU it rounds through F16, ~1e-2 logit error on the test models). */
  flashAttention?: boolean;
}

/** A GGUF model loaded in llama.cpp; see the module doc. */
export interface GgufHandle {
  /** The GGUF file. */
  readonly path: string;
  /** `general.architecture`. */
  readonly architecture: string;
  /** Number of tokens (rows of the logits). */
  readonly vocabSize: number;
  /** Tokens the context holds (prompt plus continuation). */
  readonly contextSize: number;
  /** The llama.cpp release of node-llama-cpp's binary, e.g. `ggml-org/llama.cpp@b1234`, and its build type. */
  readonly llamaCpp: string;
  /** @internal */
  readonly impl: HandleImpl;
}

interface HandleImpl {
  model: NlcModel;
  context: NlcContext;
  sequence: NlcSequence;
  queue: Promise<unknown>;
  disposed: boolean;
}

/** Runs `fn` after every earlier call on the handle (llama.cpp state is shared). */
function serial<T>(h: GgufHandle, fn: (impl: HandleImpl) => Promise<T>): Promise<T> {
  const impl = h.impl;
  const run = impl.queue.then(() => {
    if (impl.disposed) throw new Error(`GGUF handle of ${h.path} is disposed`);
    return fn(impl);
  });
  impl.queue = run.catch(() => undefined);
  return run;
}

/**
 * Loads a GGUF file into llama.cpp (CPU, `threads` threads) with one
 * context of `contextSize` tokens. Throws a clear error when node-llama-cpp
 * is absent or its prebuilt binary cannot run here.
 */
export async function loadGguf(path: string, opts: LoadGgufOptions = {}): Promise<GgufHandle> {
  if (!existsSync(path)) throw new Error(`loadGguf: ${path} does not exist`);
  const header = readGguf(path);
  const arch = ggufMetadata(header, 'general.architecture');
  if (typeof arch !== 'string') throw new Error(`loadGguf: ${path} has no general.architecture`);
  const tokens = ggufMetadata(header, 'tokenizer.ggml.tokens');
  const declared = ggufMetadata(header, `${arch}.vocab_size`);
  const vocabSize = Array.isArray(tokens) ? tokens.length : typeof declared === 'number' ? declared : NaN;
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new Error(`loadGguf: ${path} has neither tokenizer.ggml.tokens nor ${arch}.vocab_size`);
  const trained = ggufMetadata(header, `${arch}.context_length`);
  const threads = opts.threads ?? 2;
  if (!Number.isInteger(threads) || threads <= 0) throw new RangeError(`loadGguf: threads must be a positive integer, got ${threads}`);
  const wantContext = opts.contextSize ?? Math.min(512, typeof trained === 'number' ? trained : 512);
  if (!Number.isInteger(wantContext) || wantContext <= 0) throw new RangeError(`loadGguf: contextSize must be a positive integer, got ${wantContext}`);
  const kv = (opts.kvCache ?? 'f32') === 'f32' ? 'F32' : 'F16';

  const { llama } = await getRuntime(threads);
  let model: NlcModel;
  takeLogs();
  try {
    model = await llama.loadModel({ modelPath: path, gpuLayers: 0, useMmap: true });
  } catch (e) {
    throw new Error(`llama.cpp could not load ${path}: ${(e as Error).message}${takeLogs()}`, { cause: e });
  }
  try {
    const context = await model.createContext({
      contextSize: wantContext,
      batchSize: Math.min(512, wantContext),
      sequences: 1,
      threads,
      flashAttention: opts.flashAttention ?? false,
      experimentalKvCacheKeyType: kv,
      experimentalKvCacheValueType: kv,
    });
    const sequence = context.getSequence();
    const rel = llama.llamaCppRelease;
    return {
      path,
      architecture: arch,
      vocabSize,
      contextSize: context.contextSize,
      llamaCpp: `${rel.repo}@${rel.release} (${llama.buildType})`,
      impl: { model, context, sequence, queue: Promise.resolve(), disposed: false },
    };
  } catch (e) {
    await model.dispose();
    throw new Error(`llama.cpp could not create a context for ${path}: ${(e as Error).message}${takeLogs()}`, { cause: e });
  }
}

function checkIds(h: GgufHandle, ids: readonly number[], what: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= h.vocabSize) throw new RangeError(`${what}: token id ${id} is outside the vocabulary (size ${h.vocabSize})`);
  }
}

/**
 * Brings the sequence's KV cache to exactly `ids` minus the last token
 * (reusing the longest cached prefix), then evaluates the remaining tokens
 * with `generateNext` on the last one, returning its output.
 */
async function evaluateLast(impl: HandleImpl, ids: readonly number[], generateNext: NlcGenerateNext): Promise<NlcLogitsOutput> {
  const seq = impl.sequence;
  const cached = seq.contextTokens;
  let keep = 0;
  const limit = Math.min(cached.length, ids.length - 1);
  while (keep < limit && cached[keep] === ids[keep]) keep++;
  if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
  const input: NlcInputItem[] = ids.slice(keep, -1).map((t) => t);
  input.push([ids[ids.length - 1], { generateNext }]);
  const out = await seq.controlledEvaluate(input);
  const last = out[input.length - 1];
  if (last === undefined) throw new Error('llama.cpp returned no output for the last token');
  return last;
}

/**
 * Raw logits [vocabSize] of the token following `tokenIds`, computed by
 * llama.cpp (no sampling, no temperature). Apply a log-softmax for
 * log-probabilities.
 */
export async function nextTokenLogits(h: GgufHandle, tokenIds: readonly number[]): Promise<Float32Array> {
  if (tokenIds.length === 0) throw new Error('nextTokenLogits: the prompt is empty');
  if (tokenIds.length > h.contextSize) throw new RangeError(`nextTokenLogits: ${tokenIds.length} tokens exceed the context size ${h.contextSize}`);
  checkIds(h, tokenIds, 'nextTokenLogits');
  return serial(h, async (impl) => {
    const out = await evaluateLast(impl, tokenIds, { logits: true, options: { temperature: 0 } });
    const map = out.next.logits;
    if (map === undefined || map.size !== h.vocabSize) {
      throw new Error(`llama.cpp returned ${map?.size ?? 0} logits, expected ${h.vocabSize}`);
    }
    const logits = new Float32Array(h.vocabSize);
    for (const [token, value] of map) logits[token] = value;
    return logits;
  });
}

/** log p(target) from llama.cpp's filtered output: target logit - max logit - log(sum exp(logit - max)). */
function logProbOf(out: NlcLogitsOutput, target: number): number {
  const map = out.next.logits;
  const total = out.next.totalLogitWeight;
  if (map === undefined || total === undefined || !(total > 0)) throw new Error('llama.cpp returned no logits / logit weight');
  const logit = map.get(target);
  if (logit === undefined) throw new Error(`llama.cpp returned no logit for token ${target}`);
  let max = -Infinity;
  for (const v of map.values()) if (v > max) max = v;
  return logit - max - Math.log(total);
}

/**
 * Sum of next-token log-probabilities of each candidate continuation after
 * `promptIds` (natural log; an empty candidate scores 0), computed by
 * llama.cpp. The prompt is evaluated once and kept in the KV cache; each
 * candidate only evaluates its own tokens.
 */
export async function scoreContinuations(h: GgufHandle, promptIds: readonly number[], candidates: readonly (readonly number[])[]): Promise<Float64Array> {
  if (promptIds.length === 0) throw new Error('scoreContinuations: the prompt is empty (give at least a BOS token)');
  checkIds(h, promptIds, 'scoreContinuations');
  candidates.forEach((c, i) => {
    checkIds(h, c, `scoreContinuations candidate ${i}`);
    if (promptIds.length + c.length > h.contextSize) {
      throw new RangeError(`scoreContinuations: prompt (${promptIds.length}) + candidate ${i} (${c.length}) exceed the context size ${h.contextSize}`);
    }
  });
  return serial(h, async (impl) => {
    const scores = new Float64Array(candidates.length);
    // The prompt once: its last position predicts every candidate's first token.
    const first = await evaluateLast(impl, promptIds, { logits: true, options: { temperature: 0 } });
    const map = first.next.logits;
    if (map === undefined || map.size !== h.vocabSize) throw new Error(`llama.cpp returned ${map?.size ?? 0} logits, expected ${h.vocabSize}`);
    let max = -Infinity;
    for (const v of map.values()) if (v > max) max = v;
    let sumExp = 0;
    for (const v of map.values()) sumExp += Math.exp(v - max);
    const lse = max + Math.log(sumExp);
    const seq = impl.sequence;
    const P = promptIds.length;
    for (let i = 0; i < candidates.length; i++) {
      const cand = candidates[i];
      if (cand.length === 0) continue;
      let sum = (map.get(cand[0]) as number) - lse;
      if (cand.length > 1) {
        // Back to the prompt (the cache holds prompt + the previous candidate), then
        // each candidate token but the last predicts the one after it.
        if (seq.nextTokenIndex > P) await seq.eraseContextTokenRanges([{ start: P, end: seq.nextTokenIndex }]);
        const input: NlcInputItem[] = [];
        for (let j = 0; j < cand.length - 1; j++) {
          input.push([cand[j], { generateNext: { logits: { filter: { tokens: [cand[j + 1]], includeTop: 1 } }, totalLogitWeight: true, options: { temperature: 0 } } }]);
        }
        const out = await seq.controlledEvaluate(input);
        for (let j = 0; j < input.length; j++) {
          const o = out[j];
          if (o === undefined) throw new Error(`llama.cpp returned no output for token ${j} of candidate ${i}`);
          sum += logProbOf(o, cand[j + 1]);
        }
      }
      scores[i] = sum;
    }
    return scores;
  });
}

/** Frees the handle's llama.cpp context and model (the shared runtime stays). Idempotent. */
export function dispose(h: GgufHandle): Promise<void> {
  const impl = h.impl;
  const run = impl.queue.then(async () => {
    if (impl.disposed) return;
    impl.disposed = true;
    await impl.sequence.dispose();
    await impl.context.dispose();
    await impl.model.dispose();
  });
  impl.queue = run.catch(() => undefined);
  return run;
}
