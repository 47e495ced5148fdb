/**
 * Causal LMs exported to ONNX (test/ref/onnx_export.py, or an optimum /
 * transformers.js export of a LLaMA-family model), run through onnxruntime.
 *
 * Why onnxruntime-node and not transformers.js: the issue asks for "local
 * ONNX exports through onnxruntime (transformers.js with remote models
 * disabled)". In Node, transformers.js (`@huggingface/transformers`) runs
 * every model through onnxruntime-node, the package used here directly; with
 * `env.allowRemoteModels = false` and `env.localModelPath` it would load the
 * same `model.onnx` from a local folder, but it also requires a tokenizer and
 * a generation config beside it, and hides the session behind its own
 * tensor types and KV-cache management. Scoring given token ids needs
 * neither its tokenizers nor its generation loop, so this module opens
 * the exported graph with onnxruntime-node (an optional dependency, loaded
 * lazily on first use) and feeds it the inputs transformers.js would.
 *
 * Graph contract (optimum / transformers.js names): inputs `input_ids`,
 * `attention_mask`, optionally `position_ids` [B, T] int64 → output `logits`
 * [B, T, V] float32. A graph that also has inputs
 * `past_key_values.N.key/value` [B, G, P, D] (with `attention_mask` over
 * P + T) and outputs `present.N.key/value` is a KV-cache graph: scoring then
 * runs the prompt once and the candidates over its cache, as llmrec's
 * `scoreContinuations` (src/lm/score.ts) does; without one, each candidate
 * runs as prompt + candidate in a right-padded batch.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logProbAt } from '../score.js';

/** The parts of onnxruntime-node's API used here (structural, so this module type-checks without the package). */
interface OrtTensor {
  readonly dims: readonly number[];
  readonly type: string;
  readonly data: unknown;
}
interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly shape?: ReadonlyArray<number | string>;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}
interface OrtModule {
  InferenceSession: { create(path: string, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  env?: { versions?: { node?: string; common?: string } };
}

const ORT_PACKAGE = 'onnxruntime-node';
let ortPromise: Promise<OrtModule> | null = null;

/** Loads onnxruntime-node once; a clear error when it is not installed. */
export function loadOnnxRuntime(): Promise<OrtModule> {
  if (!ortPromise) {
    // A variable specifier keeps TypeScript from requiring the optional package at build time.
    const name: string = ORT_PACKAGE;
    ortPromise = (import(name) as Promise<OrtModule & { default?: OrtModule }>).then(
      (m) => (m.InferenceSession ? m : m.default!),
      (e: unknown) => {
        ortPromise = null;
        throw new Error(`ONNX models need the optional dependency '${ORT_PACKAGE}' (npm install ${ORT_PACKAGE}): ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }
  return ortPromise;
}

/** Whether onnxruntime-node can be imported here: its version, or the reason when not. */
export async function onnxRuntimeAvailable(): Promise<{ ok: boolean; reason?: string; version?: string }> {
  try {
    const ort = await loadOnnxRuntime();
    return { ok: true, version: ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown' };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

export interface OnnxLoadOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all cores). */
  threads?: number;
}

export interface OnnxScoreOptions {
  /** Candidates per forward pass (default: all at once). */
  chunk?: number;
}

export interface OnnxCausalLM {
  /** The .onnx file loaded. */
  readonly path: string;
  /** Vocabulary size (the last axis of `logits`). */
  readonly vocabSize: number;
  /** Whether the graph takes past key/values (prefix-shared scoring). */
  readonly hasKvCache: boolean;
  /**
   * Logits [B, T, V] (row-major) of token ids [B, T]. attentionMask: 1 real,
   * 0 padding (default all 1); positionIds default to each row's count of
   * real tokens so far, as llmrec's forward does (left padding works).
   */
  logits(ids: Int32Array, batch: number, attentionMask?: Int32Array, positionIds?: Int32Array): Promise<Float32Array>;
  /** Sum of token log-probabilities of each candidate (non-empty id lists) after the prompt. */
  scoreContinuations(promptIds: ArrayLike<number>, candidates: ArrayLike<number>[], opts?: OnnxScoreOptions): Promise<Float64Array>;
  /** Releases the onnxruntime session. */
  dispose(): Promise<void>;
}

/**
 * Resolves `path` to an .onnx file: the file itself, or in a directory
 * `model_with_past.onnx` (preferred), `model.onnx`, `onnx/model.onnx`
 * (transformers.js layout) or `decoder_model.onnx` (optimum).
 */
export function resolveOnnxPath(path: string): string {
  if (!existsSync(path)) throw new Error(`ONNX model not found: ${path}`);
  if (!statSync(path).isDirectory()) return path;
  for (const f of ['model_with_past.onnx', 'model.onnx', join('onnx', 'model.onnx'), 'decoder_model.onnx']) {
    if (existsSync(join(path, f))) return join(path, f);
  }
  throw new Error(`no model_with_past.onnx, model.onnx, onnx/model.onnx or decoder_model.onnx in ${path}`);
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;

/** Default position ids: each row counts its real tokens, starting at `start[b]`. */
function defaultPositions(mask: Int32Array, B: number, T: number, start?: Int32Array): Int32Array {
  const pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let next = start ? start[b] : 0;
    for (let t = 0; t < T; t++) {
      pos[b * T + t] = next;
      if (mask[b * T + t]) next++;
    }
  }
  return pos;
}

function checkCandidates(candidates: ArrayLike<number>[], V: number): void {
  candidates.forEach((c, i) => {
    if (c.length === 0) throw new Error(`candidate ${i} is empty`);
    for (let t = 0; t < c.length; t++) {
      if (!Number.isInteger(c[t]) || c[t] < 0 || c[t] >= V) throw new Error(`candidate ${i} token ${c[t]} outside the vocabulary [0, ${V})`);
    }
  });
}

class OrtCausalLM implements OnnxCausalLM {
  readonly hasKvCache: boolean;
  readonly vocabSize: number;
  private readonly pastNames: string[];
  private readonly presentNames: string[];
  /** [G, D] of the past inputs (KV graphs only). */
  private readonly kvShape: [number, number];
  private readonly takesPositions: boolean;

  constructor(private readonly ort: OrtModule, private readonly session: OrtSession, readonly path: string) {
    const inputs = session.inputNames;
    for (const need of ['input_ids', 'attention_mask']) {
      if (!inputs.includes(need)) throw new Error(`${path}: the graph has no '${need}' input (inputs: ${inputs.join(', ')})`);
    }
    if (!session.outputNames.includes('logits')) throw new Error(`${path}: the graph has no 'logits' output (outputs: ${session.outputNames.join(', ')})`);
    this.takesPositions = inputs.includes('position_ids');
    const layers = inputs.filter((n) => PAST.test(n)).length / 2;
    this.hasKvCache = layers > 0;
    this.pastNames = [];
    this.presentNames = [];
    for (let n = 0; n < layers; n++) {
      for (const kv of ['key', 'value']) {
        this.pastNames.push(`past_key_values.${n}.${kv}`);
        this.presentNames.push(`present.${n}.${kv}`);
      }
    }
    for (const n of this.pastNames) if (!inputs.includes(n)) throw new Error(`${path}: KV-cache graph lacks input '${n}'`);
    for (const n of this.presentNames) if (!session.outputNames.includes(n)) throw new Error(`${path}: KV-cache graph lacks output '${n}'`);
    const staticDim = (meta: readonly OrtValueMetadata[] | undefined, name: string, axis: number): number => {
      const d = meta?.find((m) => m.name === name)?.shape?.[axis];
      if (typeof d !== 'number' || d <= 0) throw new Error(`${path}: '${name}' needs a static size on axis ${axis} (got ${String(d)})`);
      return d;
    };
    this.vocabSize = staticDim(session.outputMetadata, 'logits', 2);
    this.kvShape = this.hasKvCache
      ? [staticDim(session.inputMetadata, this.pastNames[0], 1), staticDim(session.inputMetadata, this.pastNames[0], 3)]
      : [0, 0];
  }

  private int64(a: ArrayLike<number>, dims: number[]): OrtTensor {
    const b = new BigInt64Array(a.length);
    for (let i = 0; i < a.length; i++) b[i] = BigInt(a[i]);
    return new this.ort.Tensor('int64', b, dims);
  }

  /** One session run; `past` are per-layer key/value buffers [B, G, P, D] (KV graphs). */
  private async run(ids: Int32Array, B: number, T: number, mask: Int32Array, positions: Int32Array, past?: { data: Float32Array[]; P: number }): Promise<{ logits: Float32Array; present: Float32Array[] }> {
    const feeds: Record<string, OrtTensor> = { input_ids: this.int64(ids, [B, T]) };
    if (this.takesPositions) feeds.position_ids = this.int64(positions, [B, T]);
    if (this.hasKvCache) {
      const [G, D] = this.kvShape;
      const P = past?.P ?? 0;
      const full = new Int32Array(B * (P + T));
      for (let b = 0; b < B; b++) {
        full.fill(1, b * (P + T), b * (P + T) + P);
        full.set(mask.subarray(b * T, (b + 1) * T), b * (P + T) + P);
      }
      feeds.attention_mask = this.int64(full, [B, P + T]);
      this.pastNames.forEach((name, i) => {
        feeds[name] = new this.ort.Tensor('float32', past ? past.data[i] : new Float32Array(0), [B, G, P, D]);
      });
    } else {
      feeds.attention_mask = this.int64(mask, [B, T]);
    }
    const out = await this.session.run(feeds);
    return { logits: out.logits.data as Float32Array, present: this.presentNames.map((n) => out[n].data as Float32Array) };
  }

  async logits(ids: Int32Array, batch: number, attentionMask?: Int32Array, positionIds?: Int32Array): Promise<Float32Array> {
    if (batch <= 0 || ids.length % batch !== 0) throw new Error(`logits: ${ids.length} ids do not split into batch ${batch}`);
    const T = ids.length / batch;
    const mask = attentionMask ?? new Int32Array(ids.length).fill(1);
    if (mask.length !== ids.length) throw new Error(`logits: attentionMask has ${mask.length} values, expected ${ids.length}`);
    const pos = positionIds ?? defaultPositions(mask, batch, T);
    if (pos.length !== ids.length) throw new Error(`logits: positionIds has ${pos.length} values, expected ${ids.length}`);
    return (await this.run(ids, batch, T, mask, pos)).logits;
  }

  async scoreContinuations(promptIds: ArrayLike<number>, candidates: ArrayLike<number>[], opts: OnnxScoreOptions = {}): Promise<Float64Array> {
    const n = candidates.length;
    const out = new Float64Array(n);
    if (n === 0) return out;
    const V = this.vocabSize;
    const P = promptIds.length;
    if (P === 0) throw new Error('scoreContinuations: the prompt needs at least one token');
    checkCandidates(candidates, V);
    const chunk = Math.max(1, opts.chunk ?? n);
    if (this.hasKvCache) {
      const prompt = await this.run(Int32Array.from(promptIds), 1, P, new Int32Array(P).fill(1), Int32Array.from({ length: P }, (_, t) => t));
      for (let i = 0; i < n; i++) out[i] = logProbAt(prompt.logits, P - 1, V, candidates[i][0]);
      for (let s = 0; s < n; s += chunk) {
        const group = candidates.slice(s, s + chunk);
        const L = Math.max(...group.map((c) => c.length)) - 1;
        if (L === 0) continue; // single-token candidates are scored by the prompt's last position
        const C = group.length;
        const ids = new Int32Array(C * L);
        const mask = new Int32Array(C * L);
        group.forEach((c, r) => {
          for (let t = 0; t + 1 < c.length; t++) { ids[r * L + t] = c[t]; mask[r * L + t] = 1; }
        });
        const pos = defaultPositions(mask, C, L, new Int32Array(C).fill(P));
        // The prompt's cache, repeated for every candidate row.
        const past = prompt.present.map((kv) => {
          const rep = new Float32Array(C * kv.length);
          for (let r = 0; r < C; r++) rep.set(kv, r * kv.length);
          return rep;
        });
        const { logits } = await this.run(ids, C, L, mask, pos, { data: past, P });
        group.forEach((c, r) => {
          for (let t = 0; t + 1 < c.length; t++) out[s + r] += logProbAt(logits, r * L + t, V, c[t + 1]);
        });
      }
      return out;
    }
    for (let s = 0; s < n; s += chunk) {
      const group = candidates.slice(s, s + chunk);
      const T = P + Math.max(...group.map((c) => c.length)) - 1;
      const C = group.length;
      const ids = new Int32Array(C * T);
      const mask = new Int32Array(C * T);
      group.forEach((c, r) => {
        for (let t = 0; t < P; t++) ids[r * T + t] = promptIds[t];
        for (let t = 0; t + 1 < c.length; t++) ids[r * T + P + t] = c[t];
        mask.fill(1, r * T, r * T + P + c.length - 1);
      });
      const { logits } = await this.run(ids, C, T, mask, defaultPositions(mask, C, T));
      group.forEach((c, r) => {
        for (let t = 0; t < c.length; t++) out[s + r] += logProbAt(logits, r * T + P - 1 + t, V, c[t]);
      });
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Opens an ONNX causal LM (an .onnx file or a directory, see resolveOnnxPath)
 * in onnxruntime-node with sequential execution and full graph optimisation.
 */
export async function loadOnnxCausalLM(path: string, opts: OnnxLoadOptions = {}): Promise<OnnxCausalLM> {
  const file = resolveOnnxPath(path);
  const ort = await loadOnnxRuntime();
  const options: OrtSessionOptions = { executionMode: 'sequential', graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3 };
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error(`threads must be a positive integer, got ${opts.threads}`);
    options.intraOpNumThreads = opts.threads;
  }
  const session = await ort.InferenceSession.create(file, options);
  try {
    return new OrtCausalLM(ort, session, file);
  } catch (e) {
    await session.release();
    throw e;
  }
}
