/**
 * The base class of every neural collaborative model, and the on-disk format
 * shared by all models (neural or not).
 *
 * A concrete model (SASRec, GRU4Rec, BPR-MF, Caser, BERT4Rec, DIN, ...) only
 * writes its network. Everything else (training loop, seeded shuffling and
 * negative sampling, dropout masks, AdamW, validation, early stopping, best
 * weights, checkpoints and resume, scoring, save/load) lives here and in
 * trainer.ts.
 *
 * ## Writing a model
 *
 * ```ts
 * type MyConfig = { d: number; dropout: number };        // a *type alias* (JSON values only)
 * class MyModel extends NeuralRecommender<MyConfig> {
 *   readonly name = 'mymodel';
 *   private emb!: Embedding;
 *   constructor(config: Record<string, unknown> = {}) {
 *     super(parseModelConfig('mymodel', config, { d: 64, dropout: 0.2 }));  // defaults + validation of unknown keys/types
 *   }
 *   protected build(dims: ModelDims, rng: Rng): void {        // create parameters in this.store
 *     this.emb = new Embedding(this.store, 'item_emb', dims.numItems + 1, this.config.d, 0.02);
 *   }
 *   protected userVectors(batch: UserBatch): tf.Tensor2D { ... }        // [B, d], may call this.dropout()
 *   protected itemVectors(): tf.Tensor2D { return this.emb.table as tf.Tensor2D; }  // [numItems + 1, d]
 *   protected trainLoss(batch: TrainBatch): tf.Scalar { ... }          // mean loss of the batch
 * }
 * ```
 * then add it to the table in registry.ts. A sequence model scored by <h, E[i]>
 * with its input item embeddings E (SASRec, GRU4Rec) can extend
 * `TiedEmbeddingRecommender` (heads.ts), which supplies itemVectors, trainLoss
 * ('ce' / 'bce') and numTrainNegatives.
 *
 * ## The contract (what the base class calls, and when)
 *
 * - `build(dims, rng)`: called once per `fit()` (fresh parameters from the fit
 *   seed: `this.store` is a new `ParamStore(seed)`) and once by
 *   `loadRecommender()` (then the values are overwritten from the file). It must
 *   register every parameter in `this.store` under a stable HF-style dotted
 *   name; anything the model needs at scoring time must be a parameter (use
 *   `trainable = false` for data-derived constants) so that save/load restores it.
 *   `dims` (numUsers, numItems, maxHistory) is all the data a model may depend on
 *   at build time (the loader has no dataset).
 * - `trainLoss(batch)`: the mean loss of one training batch, as a scalar built
 *   from `this.store` parameters. It runs inside `tf.variableGrads` (tensors are
 *   tidied), with `this.training === true`, so `this.dropout()` is active.
 *   `batch.negatives` holds `numTrainNegatives` items per row sampled uniformly
 *   from 1..numItems excluding that row's target (seeded per epoch and batch).
 * - `userVectors(batch)` / `itemVectors()`: [B, d] user/sequence vectors and
 *   [numItems + 1, d] item vectors (row 0 = padding). Called inside `tf.tidy`
 *   both for training (from your own `trainLoss`, dropout on) and for scoring
 *   (dropout off). The default `scoreCandidates`/`scoreAll` are their dot
 *   products; a model whose score is not a dot product (DIN) overrides
 *   `scoreCandidates` and `scoreAll` (and may return a dummy from the vector
 *   methods, or override `userEmbedding`/`itemEmbeddings` to return null).
 * - `numTrainNegatives` (getter, default 0): negatives per training row.
 * - `trainSamples(data)` (default `data.train`, the sliding-window samples):
 *   override to train on other rows (BPR-MF: every (user, item) of trainSeqs).
 * - `clipNorm` (getter, default `config.clipNorm` when it is a number):
 *   global gradient-norm clipping for AdamW.
 * - Helpers: `this.dropout(x, rate)` (seeded, deterministic per batch; identity
 *   when not training), `this.ids(history, B, L)` (int32 tensor),
 *   `this.crossEntropy(logits, labels)` (softmax CE with integer labels; use it
 *   instead of calling `softmaxCrossEntropyWithLabels` directly, whose gradient
 *   reads the labels tensor by closure after the forward tidy has disposed it),
 *   `this.keepForBackward(t)` (the general fix for such closure-captured tensors),
 *   `this.dims`, `this.training`, `this.store`; `this.assertReady()` (call it
 *   first in an overridden scoreCandidates/scoreAll); config helpers
 *   `parseModelConfig(model, given, defaults)` (unknown keys and wrong JSON types
 *   throw; a null default accepts number | null), `checkInt`, `checkRate`.
 * - Determinism: draw randomness only through `this.dropout` or the batch's
 *   negatives (never Math.random / tf.randomUniform / tf.dropout), so that a
 *   seed fixes the run and a resumed run replays it exactly.
 *
 * Scoring before `fit()`/load throws "model not fitted", so a baseline can never
 * silently run untrained.
 *
 * ## On disk (`save(dir)`, `loadRecommender(dir)` in registry.ts)
 *
 * dir/config.json: { format: 'llmrec-model', version: 1, name, config, dims }
 * dir/weights.safetensors: one F32 tensor per parameter, named as in the ParamStore.
 * Both files are written atomically (weights first, config.json last).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dropoutMask, softmaxCrossEntropyWithLabels, tf } from '../engine/index.js';
import { ParamStore, Rng } from '../nn/index.js';
import { mixSeed } from '../util/random.js';
import type { SplitDataset, TrainSamples } from '../data/types.js';
import { readSafetensors, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { FitOptions, FitReport, Recommender, UserBatch } from './types.js';
import { runTraining } from './trainer.js';
import type { ModelDims, TrainBatch, TrainerHooks } from './train_types.js';

export type { ModelDims, TrainBatch, TrainerHooks } from './train_types.js';



export function dimsOf(data: SplitDataset): ModelDims {
  return { numUsers: data.numUsers, numItems: data.numItems, maxHistory: data.config.maxHistory };
}

/** A model read back from disk (see readModelDir). */
export interface SavedModel {
  name: string;
  config: Record<string, unknown>;
  dims: ModelDims;
  tensors: Map<string, SafeTensor>;
}

/** Models that `loadRecommender` can rebuild: create(config), then restore(saved). */
export interface Restorable {
  restore(saved: SavedModel): void;
}

export const MODEL_FORMAT = 'llmrec-model';
export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'weights.safetensors';

/** Writes weights.safetensors then config.json into dir, each atomically. */
export function writeModelDir(dir: string, m: { name: string; config: Record<string, unknown>; dims: ModelDims; tensors: Map<string, SafeTensor> }): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, WEIGHTS_FILE), m.tensors, { format: MODEL_FORMAT, model: m.name });
  const json = { format: MODEL_FORMAT, version: 1, name: m.name, config: m.config, dims: m.dims };
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(json, null, 2) + '\n');
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Reads config.json (+ weights.safetensors) of a saved model, validating both; errors name the file. */
export function readModelDir(dir: string): SavedModel {
  const cfgPath = join(dir, CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read model config ${cfgPath}: ${(e as Error).message}`, { cause: e });
  }
  if (!isRecord(raw) || raw.format !== MODEL_FORMAT) throw new Error(`${cfgPath} is not an llmrec model config (format must be '${MODEL_FORMAT}')`);
  if (typeof raw.name !== 'string' || !isRecord(raw.config) || !isRecord(raw.dims)) throw new Error(`${cfgPath}: name, config and dims are required`);
  const d = raw.dims;
  for (const k of ['numUsers', 'numItems', 'maxHistory']) {
    if (!Number.isInteger(d[k]) || (d[k] as number) < 0) throw new Error(`${cfgPath}: dims.${k} must be a non-negative integer`);
  }
  const dims: ModelDims = { numUsers: d.numUsers as number, numItems: d.numItems as number, maxHistory: d.maxHistory as number };
  const wPath = join(dir, WEIGHTS_FILE);
  const file = readSafetensors(wPath);
  if (file.metadata.model !== undefined && file.metadata.model !== raw.name) {
    throw new Error(`${wPath} holds weights of model '${file.metadata.model}', but ${cfgPath} names '${raw.name}'`);
  }
  return { name: raw.name, config: raw.config, dims, tensors: file.tensors };
}

/**
 * Merges a partial JSON config over defaults and checks it: unknown keys and
 * values of the wrong JSON type (vs the default's type) throw. A default of
 * null accepts a number or null. Returns a fresh object.
 */
export function parseModelConfig<C extends Record<string, unknown>>(model: string, given: Record<string, unknown>, defaults: C): C {
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(given)) {
    if (!(k in defaults)) throw new Error(`${model}: unknown config key '${k}' (known: ${Object.keys(defaults).join(', ')})`);
    if (v === undefined) continue;
    const def = defaults[k];
    const ok = def === null ? v === null || typeof v === 'number' : typeof v === typeof def && (v === null) === (def === null);
    if (!ok) throw new Error(`${model}: config '${k}' must be ${def === null ? 'a number or null' : typeof def}, got ${JSON.stringify(v)}`);
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${model}: config '${k}' must be finite, got ${v}`);
    out[k] = v;
  }
  return out as C;
}

/** Throws unless x is an integer >= min. */
export function checkInt(model: string, key: string, x: number, min = 1): void {
  if (!Number.isInteger(x) || x < min) throw new Error(`${model}: config '${key}' must be an integer >= ${min}, got ${x}`);
}

/** Throws unless 0 <= x < 1. */
export function checkRate(model: string, key: string, x: number): void {
  if (!(x >= 0 && x < 1)) throw new Error(`${model}: config '${key}' must be in [0, 1), got ${x}`);
}


type State = 'new' | 'training' | 'fitted';

export abstract class NeuralRecommender<C extends Record<string, unknown> = Record<string, unknown>> implements Recommender {
  abstract readonly name: string;
  readonly config: C;
  /** The model's parameters (HF-style dotted names). Replaced by a fresh store on every fit/load. */
  protected store: ParamStore = new ParamStore(0);
  /** Dataset facts of the current parameters (null before fit/load). */
  protected dims: ModelDims | null = null;
  /** True while the trainer computes a training loss: dropout is active. */
  protected training = false;
  private state: State = 'new';
  private dropSeed = 0;
  private dropCalls = 0;
  private stepKeep: tf.Tensor[] = [];

  constructor(config: C) {
    this.config = config;
  }

  /** Creates the parameters in `this.store` for these dims. */
  protected abstract build(dims: ModelDims, rng: Rng): void;
  /** Mean training loss of one batch (see the file comment). */
  protected abstract trainLoss(batch: TrainBatch): tf.Scalar;
  /** [B, d] user / sequence representations. */
  protected abstract userVectors(batch: UserBatch): tf.Tensor2D;
  /** [numItems + 1, d] item representations (row 0 = padding). */
  protected abstract itemVectors(): tf.Tensor2D;

  /** Negatives the trainer samples per training row (default 0). */
  protected get numTrainNegatives(): number {
    return 0;
  }

  /** Global gradient-norm clipping (default: config.clipNorm when it is a number). */
  protected get clipNorm(): number | undefined {
    const c = this.config.clipNorm;
    return typeof c === 'number' ? c : undefined;
  }

  /** The rows the model trains on (default: the sliding-window samples). */
  protected trainSamples(data: SplitDataset): TrainSamples {
    return data.train;
  }

  /** Trainable parameter count (0 before fit/load). */
  get parameterCount(): number {
    return this.store.count(true);
  }

  // ---------------------------------------------------------------- helpers

  /** int32 [B, L] tensor of ids. */
  protected ids(ids: Int32Array, B: number, L: number): tf.Tensor2D {
    return tf.tensor2d(ids, [B, L], 'int32');
  }

  /**
   * Inverted dropout with a seeded mask (deterministic per training batch and
   * call order; the drop probability is rate rounded to 1/65536). Identity when
   * not training or rate <= 0.
   */
  protected dropout(x: tf.Tensor, rate: number): tf.Tensor {
    if (!this.training || rate <= 0) return x;
    if (rate >= 1) throw new Error(`${this.name}: dropout rate must be < 1, got ${rate}`);
    return tf.mul(x, dropoutMask(x.shape, rate, mixSeed(this.dropSeed, this.dropCalls++)));
  }

  /**
   * Keeps a tensor alive until the optimizer step has finished. Needed for
   * tensors that a custom-gradient op captures by closure instead of taking as
   * an input, which the forward pass's tidy would otherwise dispose before the
   * backward pass: the labels of `softmaxCrossEntropyWithLabels`. Identity
   * outside training.
   */
  protected keepForBackward<T extends tf.Tensor>(t: T): T {
    if (this.training) this.stepKeep.push(tf.keep(t));
    return t;
  }

  /**
   * Mean softmax cross-entropy of logits [N, V] against integer labels (the
   * fused engine op), with the labels kept alive for the backward pass. Use
   * this rather than calling softmaxCrossEntropyWithLabels directly.
   */
  protected crossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
    if (labels.length !== logits.shape[0]) throw new Error(`${this.name}: ${labels.length} labels for ${logits.shape[0]} rows of logits`);
    return softmaxCrossEntropyWithLabels(logits, this.keepForBackward(tf.tensor1d(labels, 'int32')));
  }

  /** Throws unless the model has parameters (fitted, being fitted, or loaded). */
  protected assertReady(): ModelDims {
    if (this.state === 'new' || !this.dims) throw new Error(`${this.name}: model not fitted (call fit() or loadRecommender() before scoring)`);
    return this.dims;
  }

  private initialise(dims: ModelDims, seed: number): void {
    this.store.dispose();
    this.store = new ParamStore(seed);
    this.dims = { ...dims };
    this.build(this.dims, new Rng(mixSeed(seed, 0x5eed)));
  }

  // ------------------------------------------------------------ Recommender

  async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    const dims = dimsOf(data);
    if (dims.numItems < 2) throw new Error(`${this.name}: needs at least 2 items, got ${dims.numItems}`);
    this.initialise(dims, opts.seed);
    this.state = 'training';
    const hooks: TrainerHooks = {
      model: this,
      dims,
      store: this.store,
      samples: this.trainSamples(data),
      numNegatives: this.numTrainNegatives,
      clipNorm: this.clipNorm,
      loss: (batch, seed) => {
        this.training = true;
        this.dropSeed = seed;
        this.dropCalls = 0;
        try {
          return this.trainLoss(batch);
        } finally {
          this.training = false;
        }
      },
      setTraining: (on) => { this.training = on; },
      endStep: () => {
        tf.dispose(this.stepKeep);
        this.stepKeep = [];
      },
    };
    try {
      const report = await runTraining(hooks, data, opts);
      this.state = 'fitted';
      return report;
    } catch (e) {
      // A failed fit must not leave half-trained weights that score silently.
      this.training = false;
      this.state = 'new';
      throw e;
    }
  }

  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    this.assertReady();
    if (candidates.length !== batch.size * C) throw new Error(`${this.name}.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
    const t = tf.tidy(() => {
      const u = this.userVectors(batch);
      const items = this.itemVectors();
      const d = u.shape[1];
      const cand = tf.reshape(tf.gather(items, tf.tensor1d(candidates, 'int32')), [batch.size, C, d]);
      return tf.sum(tf.mul(cand, tf.reshape(u, [batch.size, 1, d])), -1);
    });
    const out = t.dataSync() as Float32Array;
    t.dispose();
    return out;
  }

  scoreAll(batch: UserBatch): Float32Array {
    const dims = this.assertReady();
    const t = tf.tidy(() => tf.matMul(this.userVectors(batch), this.itemVectors(), false, true));
    const out = t.dataSync() as Float32Array;
    t.dispose();
    const V = dims.numItems + 1;
    for (let b = 0; b < batch.size; b++) out[b * V] = Number.NEGATIVE_INFINITY;
    return out;
  }

  userEmbedding(batch: UserBatch): Float32Array | null {
    this.assertReady();
    const t = tf.tidy(() => this.userVectors(batch));
    const out = t.dataSync() as Float32Array;
    t.dispose();
    return out;
  }

  itemEmbeddings(): { dim: number; data: Float32Array } | null {
    this.assertReady();
    const t = tf.tidy(() => this.itemVectors());
    const out = { dim: t.shape[1], data: (t.dataSync() as Float32Array).slice() };
    // itemVectors may return a variable (not owned by us): only dispose computed tensors.
    if (!(t instanceof tf.Variable)) t.dispose();
    return out;
  }

  async save(dir: string): Promise<void> {
    const dims = this.assertReady();
    const tensors = new Map<string, SafeTensor>();
    for (const [name, v] of this.store.vars) tensors.set(name, { dtype: 'F32', shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() });
    writeModelDir(dir, { name: this.name, config: this.config, dims, tensors });
  }

  /** Rebuilds the parameters for saved.dims and loads their values (names and shapes must match exactly). */
  restore(saved: SavedModel): void {
    if (saved.name !== this.name) throw new Error(`${this.name}: cannot restore weights of model '${saved.name}'`);
    this.initialise(saved.dims, 0);
    const expected = [...this.store.vars.keys()];
    const missing = expected.filter((n) => !saved.tensors.has(n));
    const extra = [...saved.tensors.keys()].filter((n) => !this.store.vars.has(n));
    if (missing.length || extra.length) {
      throw new Error(`${this.name}: saved weights do not match the model (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'})`);
    }
    for (const [name, v] of this.store.vars) {
      const t = saved.tensors.get(name)!;
      if (t.dtype !== 'F32' || t.shape.length !== v.shape.length || t.shape.some((s, i) => s !== v.shape[i])) {
        throw new Error(`${this.name}: parameter '${name}' is ${t.dtype} ${JSON.stringify(t.shape)} on disk, the model needs F32 ${JSON.stringify(v.shape)}`);
      }
      const val = tf.tensor(t.data as Float32Array, v.shape, 'float32');
      v.assign(val);
      val.dispose();
    }
    this.state = 'fitted';
  }

  dispose(): void {
    this.store.dispose();
    this.dims = null;
    this.state = 'new';
  }
}
