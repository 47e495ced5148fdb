/**
 * TIGER: generative retrieval over semantic ids (Rajput et al., "Recommender
 * Systems with Generative Retrieval", NeurIPS 2023; docs/METHODS.md §10).
 *
 *  1. Semantic ids (semantic_ids.ts): every item's text vector is quantised
 *     into `levels` codes plus a collision code (RQ-VAE or RQ-KMeans).
 *  2. Tokens: pad 0, eos 1, then code c of level l is 2 + l * codebookSize + c
 *     and collision code c is 2 + levels * codebookSize + c; vocabulary
 *     2 + levels * codebookSize + maxCollisions.
 *  3. Our T5 (src/lm/families/t5.ts, from scratch): the encoder reads the
 *     last `maxItems` history items as their id tokens (oldest first; padding
 *     masked), the decoder is trained (teacher forcing, cross-entropy over
 *     the vocabulary) to write the next item's levels + 1 tokens.
 *  4. Retrieval: beam search over the trie of the valid ids (src/lm/trie.ts),
 *     `beams` wide (>= the largest k evaluated); an item's score is the
 *     log-probability of its id sequence; items that no beam reached score
 *     -Infinity (the evaluator's pessimistic ties rank a target there last).
 *     `scoreCandidates` scores given items exactly (teacher-forced log-prob).
 *
 * Training is the collaborative trainer's (models/trainer.ts on the one step
 * loop): epochs over the sliding-window rows, validation by full ranking
 * (beam search), early stopping, checkpoints and resume. The semantic ids are
 * computed at the start of `fit` (seeded by the fit seed) and saved with the
 * model as non-trainable parameters: `tiger.semantic_ids` [numItems + 1,
 * levels + 1] (row 0 unused) and the quantiser (`tiger.rqvae.*`: encoder,
 * codebooks and decoder of the RQ-VAE, or `tiger.rqkmeans.<l>` codebooks), so
 * a loaded model scores without the text and can map new vectors to codes.
 */
import { tf } from '../../engine/index.js';
import type { Rng } from '../../nn/index.js';
import { parseT5Config, T5Model } from '../../lm/families/t5.js';
import { TokenTrie } from '../../lm/trie.js';
import type { EvalSplit, SplitDataset } from '../../data/types.js';
import { checkInt, checkRate, NeuralRecommender, parseModelConfig, type ModelDims, type SavedModel, type TrainBatch } from '../neural.js';
import type { FitOptions, FitReport, UserBatch } from '../types.js';
import { mixSeed, Mulberry32 } from '../../util/random.js';
import { textVectorSource, withCollab, type ItemVectorSource } from './vectors.js';
import { addCollisionCodes, buildSemanticIds, checkCollapse, levelUsage, type SemanticIds, type SemanticIdStats } from './semantic_ids.js';

export const TIGER_DEFAULTS = {
  // ---- semantic ids (semantic_ids.ts)
  /** 'rqvae' (the paper) or 'rqkmeans' (fast). */
  idMethod: 'rqvae',
  levels: 3,
  codebookSize: 256,
  /** Collision codes (4th token); more items with equal codes is an error. */
  maxCollisions: 64,
  /** A codebook level with used / min(size, items) below this has collapsed. */
  minUsage: 0.1,
  /** 'error' (default) or 'warn' on a collapsed codebook. */
  onCollapse: 'error',
  idHidden: [512, 256, 128] as number[],
  latentDim: 32,
  beta: 0.25,
  idSteps: 3000,
  idBatchSize: 1024,
  idLr: 1e-3,
  kmeansIters: 20,
  // ---- item text vectors (vectors.ts)
  /** Item text encoder: 'tfidf', 'bm25' or 'lm:<folder>'. */
  textEncoder: 'tfidf',
  /** Dimension of the TF-IDF/BM25 projection. */
  textDim: 256,
  // ---- collaborative share of the item vectors (cooc.ts; docs/METHODS.md §10)
  /**
   * 0 (default, the paper): text vectors only. In (0, 1]: every item vector is
   * its L2-normalised text vector scaled by sqrt(1 - share) beside its
   * L2-normalised collaborative vector (PPMI of the training sequences) scaled
   * by sqrt(share); 1 = collaborative only.
   */
  collabShare: 0,
  /** Dimension of the collaborative vectors. */
  collabDim: 64,
  /** Training history items before a target that co-occur with it. */
  collabWindow: 3,
  /** Subspace iterations of the collaborative embedding. */
  collabIters: 4,
  // ---- the T5
  dModel: 128,
  dKv: 32,
  numHeads: 4,
  dFf: 512,
  numLayers: 2,
  dropout: 0.1,
  /** History items the encoder reads (the last ones; the paper: 20). */
  maxItems: 20,
  // ---- retrieval
  /** Beam width (>= the largest k evaluated). */
  beams: 20,
  /** Users per beam-search chunk (memory: chunk * beams rows of decoder caches). */
  beamChunk: 32,
  clipNorm: 1,
  // ---- validation (early stopping only)
  /**
   * Validation users per epoch: 0 = every validation user; n > 0 = a fixed,
   * seeded subset of n of them (drawn once per fit from the fit seed; the
   * same users every epoch). Only the early-stopping validation inside `fit`
   * uses it: test metrics are computed by the caller on every test user.
   */
  validUsers: 0,
};

export type TigerConfig = typeof TIGER_DEFAULTS;

export type { ItemVectorSource } from './vectors.js';

export interface TigerOptions {
  /** Where the item vectors come from (default: the `textEncoder` of the config, vectors.ts). */
  itemVectors?: ItemVectorSource;
  /** Progress and statistics lines (default: stderr). */
  log?: (line: string) => void;
}

const PAD = 0;
const EOS = 1;
const FIRST_CODE = 2;

function checkConfig(c: TigerConfig): void {
  const m = 'tiger';
  if (c.idMethod !== 'rqvae' && c.idMethod !== 'rqkmeans') throw new Error(`${m}: config 'idMethod' must be 'rqvae' or 'rqkmeans', got '${c.idMethod}'`);
  if (c.onCollapse !== 'error' && c.onCollapse !== 'warn') throw new Error(`${m}: config 'onCollapse' must be 'error' or 'warn', got '${c.onCollapse}'`);
  for (const k of ['levels', 'maxCollisions', 'latentDim', 'idBatchSize', 'kmeansIters', 'textDim', 'collabDim', 'collabWindow', 'collabIters', 'dModel', 'dKv', 'numHeads', 'dFf', 'numLayers', 'maxItems', 'beams', 'beamChunk'] as const) checkInt(m, k, c[k]);
  checkInt(m, 'codebookSize', c.codebookSize, 2);
  checkInt(m, 'idSteps', c.idSteps, 0);
  checkInt(m, 'validUsers', c.validUsers, 0);
  checkRate(m, 'dropout', c.dropout);
  if (!Array.isArray(c.idHidden) || c.idHidden.some((h) => !Number.isInteger(h) || h < 1)) throw new Error(`${m}: config 'idHidden' must be an array of positive integers, got ${JSON.stringify(c.idHidden)}`);
  if (!(c.collabShare >= 0 && c.collabShare <= 1)) throw new Error(`${m}: config 'collabShare' must be in [0, 1], got ${c.collabShare}`);
  if (!(c.minUsage >= 0 && c.minUsage <= 1)) throw new Error(`${m}: config 'minUsage' must be in [0, 1], got ${c.minUsage}`);
  if (!(c.beta >= 0)) throw new Error(`${m}: config 'beta' must be >= 0, got ${c.beta}`);
  if (!(c.idLr > 0)) throw new Error(`${m}: config 'idLr' must be > 0, got ${c.idLr}`);
  if (!(c.clipNorm > 0)) throw new Error(`${m}: config 'clipNorm' must be > 0, got ${c.clipNorm}`);
}

/** Token of code c at level l (l = levels: the collision code). */
export function codeToken(levels: number, codebookSize: number, l: number, c: number): number {
  return FIRST_CODE + (l < levels ? l * codebookSize : levels * codebookSize) + c;
}

/** Stats of a semantic-id table [(numItems + 1) * (levels + 1)] (row 0 unused). */
export function tableStats(table: Int32Array, numItems: number, levels: number, codebookSize: number, method: 'rqvae' | 'rqkmeans'): SemanticIdStats {
  const stride = levels + 1;
  const rows = table.subarray(stride);
  const prefix = new Int32Array(numItems * levels);
  for (let i = 0; i < numItems; i++) prefix.set(rows.subarray(i * stride, i * stride + levels), i * levels);
  const col = addCollisionCodes(prefix, numItems, levels, Number.MAX_SAFE_INTEGER);
  return {
    method, items: numItems, levels: levelUsage(rows, numItems, stride, levels, codebookSize),
    collisionRate: col.collisionRate, distinctPrefixes: col.distinct, maxGroup: col.maxGroup, seconds: 0,
  };
}

export class Tiger extends NeuralRecommender<TigerConfig> {
  readonly name = 'tiger';
  private t5!: T5Model;
  private readonly source: ItemVectorSource | undefined;
  private readonly log: (line: string) => void;
  /** Semantic ids computed by `fit` before the network is built. */
  private pending: { ids: SemanticIds; quantiser: Map<string, { shape: number[]; data: Float32Array }> } | null = null;
  /** Input dimension of the quantiser (from the vectors in fit, from the weights in restore). */
  private vectorDim = 0;
  /** The item -> tokens table and the trie, derived lazily from the `tiger.semantic_ids` parameter. */
  private cache: { tokens: Int32Array; trie: TokenTrie } | null = null;
  /** Statistics of the last semantic-id build (fit) or of the loaded table. */
  semanticIdStats: SemanticIdStats | null = null;

  constructor(config: Record<string, unknown> = {}, opts: TigerOptions = {}) {
    super(parseModelConfig('tiger', config, TIGER_DEFAULTS));
    checkConfig(this.config);
    this.source = opts.itemVectors;
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  get vocabSize(): number {
    const c = this.config;
    return FIRST_CODE + c.levels * c.codebookSize + c.maxCollisions;
  }

  /** Tokens per item id (levels + the collision code). */
  get idLength(): number {
    return this.config.levels + 1;
  }

  // ------------------------------------------------------------------ fit

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    const c = this.config;
    const text = this.source ?? textVectorSource(c.textEncoder, c.textDim, this.log);
    const source = c.collabShare > 0 ? withCollab(text, { share: c.collabShare, dim: c.collabDim, window: c.collabWindow, iters: c.collabIters }, this.log) : text;
    const t0 = performance.now();
    const vectors = await source(data, opts.seed);
    if (vectors.rows !== data.numItems) throw new Error(`tiger: the item vectors have ${vectors.rows} rows, the data has ${data.numItems} items`);
    this.log(`tiger: item vectors ${vectors.rows} x ${vectors.dim} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ids = await buildSemanticIds(vectors, {
      method: c.idMethod as 'rqvae' | 'rqkmeans', levels: c.levels, codebookSize: c.codebookSize, maxCollisions: c.maxCollisions,
      seed: opts.seed, kmeansIters: c.kmeansIters, minUsage: c.minUsage, hidden: c.idHidden, latentDim: c.latentDim, beta: c.beta,
      steps: c.idSteps, batchSize: c.idBatchSize, lr: c.idLr,
      onStep: (s, n, l) => { if (s % 500 === 0 || s === n) this.log(`tiger: rq-vae step ${s}/${n} ${Object.entries(l).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`); },
    });
    this.semanticIdStats = ids.stats;
    this.log(`tiger: semantic ids ${describeStats(ids.stats)}`);
    checkCollapse(ids.stats, c.minUsage, c.onCollapse === 'warn' ? (m) => this.log(`tiger: WARNING ${m}`) : undefined);
    this.vectorDim = vectors.dim;
    this.pending = { ids, quantiser: ids.quantiser };
    let fitData = data;
    if (c.validUsers > 0 && c.validUsers < data.valid.count) {
      fitData = { ...data, valid: validSubset(data.valid, c.validUsers, opts.seed) };
      this.log(`tiger: early stopping validates on ${c.validUsers} of ${data.valid.count} validation users (seeded subset, config validUsers)`);
    }
    try {
      return await super.fit(fitData, opts);
    } finally {
      this.pending = null;
    }
  }

  // ------------------------------------------------------------------ network

  protected build(dims: ModelDims, rng: Rng): void {
    const c = this.config;
    this.cache = null;
    const t5Config = parseT5Config({
      model_type: 't5', vocab_size: this.vocabSize, d_model: c.dModel, d_kv: c.dKv, d_ff: c.dFf, num_layers: c.numLayers,
      num_heads: c.numHeads, dropout_rate: c.dropout, feed_forward_proj: 'relu', tie_word_embeddings: true,
      pad_token_id: PAD, eos_token_id: EOS, decoder_start_token_id: PAD,
    }, 'tiger T5 config');
    this.t5 = new T5Model(t5Config, { seed: rng.uint32() });
    // The T5's parameters live in the model's store (saved, checkpointed and optimised with it).
    for (const [name, v] of this.t5.store.vars) {
      if (this.store.vars.has(name)) throw new Error(`tiger: parameter '${name}' registered twice`);
      this.store.vars.set(name, v);
    }
    const table = this.store.add('tiger.semantic_ids', [dims.numItems + 1, this.idLength], { kind: 'zeros' }, false);
    const q = this.quantiserShapes();
    const vars = new Map<string, tf.Variable>();
    for (const [name, shape] of q) vars.set(name, this.store.add(name, shape, { kind: 'zeros' }, false));
    if (this.pending) {
      const { ids, quantiser } = this.pending;
      if (ids.items !== dims.numItems) throw new Error(`tiger: ${ids.items} semantic ids for ${dims.numItems} items`);
      const vals = new Float32Array((dims.numItems + 1) * this.idLength);
      for (let i = 0; i < ids.codes.length; i++) vals[this.idLength + i] = ids.codes[i];
      assign(table, vals);
      for (const [name, v] of vars) {
        const t = quantiser.get(name.slice('tiger.'.length));
        if (!t) throw new Error(`tiger: the quantiser lacks '${name}'`);
        assign(v, t.data);
      }
    }
  }

  /** Names and shapes of the saved quantiser (`vectorDim` must be known). */
  private quantiserShapes(): Array<[string, number[]]> {
    const c = this.config;
    const out: Array<[string, number[]]> = [];
    if (this.vectorDim <= 0) throw new Error('tiger: the item-vector dimension is unknown (fit or load the model)');
    if (c.idMethod === 'rqkmeans') {
      for (let l = 0; l < c.levels; l++) out.push([`tiger.rqkmeans.${l}`, [c.codebookSize, this.vectorDim]]);
      return out;
    }
    const dims = [this.vectorDim, ...c.idHidden, c.latentDim];
    for (let i = 0; i + 1 < dims.length; i++) out.push([`tiger.rqvae.encoder.${i}.weight`, [dims[i], dims[i + 1]]], [`tiger.rqvae.encoder.${i}.bias`, [dims[i + 1]]]);
    const back = [...dims].reverse();
    for (let i = 0; i + 1 < back.length; i++) out.push([`tiger.rqvae.decoder.${i}.weight`, [back[i], back[i + 1]]], [`tiger.rqvae.decoder.${i}.bias`, [back[i + 1]]]);
    for (let l = 0; l < c.levels; l++) out.push([`tiger.rqvae.quantizer.${l}.codebook`, [c.codebookSize, c.latentDim]]);
    return out;
  }

  override restore(saved: SavedModel): void {
    const first = this.config.idMethod === 'rqkmeans' ? 'tiger.rqkmeans.0' : 'tiger.rqvae.encoder.0.weight';
    const t = saved.tensors.get(first);
    if (!t || t.shape.length !== 2) throw new Error(`tiger: saved weights lack the quantiser tensor '${first}'`);
    // A k-means codebook is [codebookSize, vectorDim]; the RQ-VAE's first encoder weight is [vectorDim, hidden].
    this.vectorDim = this.config.idMethod === 'rqkmeans' ? t.shape[1] : t.shape[0];
    super.restore(saved);
    const tab = this.table();
    this.semanticIdStats = tableStats(tab.codes, saved.dims.numItems, this.config.levels, this.config.codebookSize, this.config.idMethod as 'rqvae' | 'rqkmeans');
  }

  /** The item -> codes table read from the parameter, checked. */
  private table(): { codes: Int32Array } {
    const dims = this.assertReady();
    const v = this.store.get('tiger.semantic_ids');
    const f = v.dataSync() as Float32Array;
    const codes = new Int32Array(f.length);
    const c = this.config;
    for (let i = 0; i < f.length; i++) {
      const x = f[i];
      const level = i % this.idLength;
      const max = level < c.levels ? c.codebookSize : c.maxCollisions;
      if (i >= this.idLength && !(Number.isInteger(x) && x >= 0 && x < max)) {
        throw new Error(`tiger: semantic id of item ${Math.floor(i / this.idLength)} has code ${x} at level ${level} (must be an integer in [0, ${max}))`);
      }
      codes[i] = x;
    }
    if (codes.length !== (dims.numItems + 1) * this.idLength) throw new Error('tiger: semantic-id table has the wrong size');
    return { codes };
  }

  /** Item -> token ids [(numItems + 1) * idLength] and the trie of valid ids (value = item). */
  private lookup(): { tokens: Int32Array; trie: TokenTrie } {
    if (this.cache) return this.cache;
    const dims = this.assertReady();
    const { codes } = this.table();
    const n = this.idLength;
    const c = this.config;
    const tokens = new Int32Array(codes.length);
    const trie = new TokenTrie();
    for (let i = 1; i <= dims.numItems; i++) {
      for (let l = 0; l < n; l++) tokens[i * n + l] = codeToken(c.levels, c.codebookSize, l, codes[i * n + l]);
      trie.add(tokens.subarray(i * n, (i + 1) * n), i);
    }
    if (trie.size !== dims.numItems) throw new Error(`tiger: ${dims.numItems - trie.size} items share a semantic id (the collision codes must make them unique)`);
    this.cache = { tokens, trie };
    return this.cache;
  }

  /** Encoder inputs of a batch: the last maxItems items' tokens, right-aligned, trimmed to the batch's longest history. */
  private encoderInput(batch: UserBatch): { ids: Int32Array; mask: Int32Array; S: number } {
    const { tokens } = this.lookup();
    const n = this.idLength;
    const M = Math.min(this.config.maxItems, batch.L);
    let longest = 0;
    const counts = new Int32Array(batch.size);
    for (let b = 0; b < batch.size; b++) {
      let k = 0;
      for (let j = batch.L - M; j < batch.L; j++) if (batch.history[b * batch.L + j] > 0) k++;
      counts[b] = k;
      longest = Math.max(longest, k);
    }
    const S = Math.max(1, longest * n);
    const ids = new Int32Array(batch.size * S);
    const mask = new Int32Array(batch.size * S);
    for (let b = 0; b < batch.size; b++) {
      let pos = S - counts[b] * n;
      for (let j = batch.L - M; j < batch.L; j++) {
        const item = batch.history[b * batch.L + j];
        if (item <= 0) continue;
        for (let l = 0; l < n; l++) { ids[b * S + pos] = tokens[item * n + l]; mask[b * S + pos] = 1; pos++; }
      }
      // An empty history attends to one pad token (a fully masked row has no softmax).
      if (counts[b] === 0) mask[b * S + S - 1] = 1;
    }
    return { ids, mask, S };
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const { tokens } = this.lookup();
    const n = this.idLength;
    const enc = this.encoderInput(batch);
    const labels = new Int32Array(batch.size * n);
    let h = 0x9e3779b9;
    for (let b = 0; b < batch.size; b++) {
      labels.set(tokens.subarray(batch.target[b] * n, (batch.target[b] + 1) * n), b * n);
      h = mixSeed(h, batch.user[b] * 131 + batch.target[b]);
    }
    // Dropout stream of this batch: a hash of its rows, which the seeded batch order fixes (exact on resume).
    this.t5.store.dropoutStream = h;
    return this.t5.loss({ inputIds: enc.ids, batch: batch.size, attentionMask: enc.mask, labels, training: true });
  }

  protected userVectors(): tf.Tensor2D {
    throw new Error('tiger: a generative model has no user vectors (scores come from beam search)');
  }

  protected itemVectors(): tf.Tensor2D {
    throw new Error('tiger: a generative model has no item vectors (scores come from beam search)');
  }

  override userEmbedding(): Float32Array | null {
    this.assertReady();
    return null;
  }

  override itemEmbeddings(): { dim: number; data: Float32Array } | null {
    this.assertReady();
    return null;
  }

  // ------------------------------------------------------------------ scoring

  /** The top `beams` items of each user by trie-constrained beam search: [size][{ item, logProb }], best first. */
  beamSearch(batch: UserBatch, beams = this.config.beams): Array<Array<{ item: number; logProb: number }>> {
    this.assertReady();
    if (!Number.isInteger(beams) || beams < 1) throw new Error(`tiger: beams must be a positive integer, got ${beams}`);
    const out: Array<Array<{ item: number; logProb: number }>> = [];
    const chunk = this.config.beamChunk;
    for (let s = 0; s < batch.size; s += chunk) {
      const e = Math.min(batch.size, s + chunk);
      const sub: UserBatch = { size: e - s, L: batch.L, user: batch.user.subarray(s, e), history: batch.history.subarray(s * batch.L, e * batch.L) };
      out.push(...this.beamChunk(sub, beams));
    }
    return out;
  }

  private beamChunk(batch: UserBatch, W: number): Array<Array<{ item: number; logProb: number }>> {
    const { trie } = this.lookup();
    const n = this.idLength;
    const B = batch.size;
    const R = B * W;
    const enc = this.encoderInput(batch);
    const rowUser = Int32Array.from({ length: R }, (_, r) => Math.floor(r / W));
    const mask = new Int32Array(R * enc.S);
    for (let r = 0; r < R; r++) mask.set(enc.mask.subarray(rowUser[r] * enc.S, (rowUser[r] + 1) * enc.S), r * enc.S);
    const hidden = tf.tidy(() => tf.gather(this.t5.encode({ inputIds: enc.ids, batch: B, attentionMask: enc.mask }), tf.tensor1d(rowUser, 'int32')) as tf.Tensor3D);
    const state = this.t5.beginDecode(hidden, mask);
    hidden.dispose();
    // Beam w of user b is row b * W + w; only beam 0 is live at the start.
    let prefixes: number[][] = Array.from({ length: R }, () => []);
    let scores = new Float64Array(R).fill(Number.NEGATIVE_INFINITY);
    for (let b = 0; b < B; b++) scores[b * W] = 0;
    let next = new Int32Array(R).fill(this.t5.config.decoder_start_token_id);
    try {
      for (let t = 0; t < n; t++) {
        const logits = this.t5.decodeStep(state, next);
        const lp = tf.tidy(() => tf.logSoftmax(logits));
        logits.dispose();
        const logp = lp.dataSync() as Float32Array;
        lp.dispose();
        const V = this.vocabSize;
        const from = new Int32Array(R);
        const newPrefixes: number[][] = new Array<number[]>(R);
        const newScores = new Float64Array(R).fill(Number.NEGATIVE_INFINITY);
        const newNext = new Int32Array(R);
        for (let b = 0; b < B; b++) {
          const cands: Array<{ w: number; tok: number; s: number }> = [];
          for (let w = 0; w < W; w++) {
            const r = b * W + w;
            if (scores[r] === Number.NEGATIVE_INFINITY) continue;
            for (const tok of trie.allowed(prefixes[r])) cands.push({ w, tok, s: scores[r] + logp[r * V + tok] });
          }
          cands.sort((x, y) => y.s - x.s || x.w - y.w || x.tok - y.tok);
          for (let w = 0; w < W; w++) {
            const r = b * W + w;
            const cnd = cands[w];
            if (cnd) {
              from[r] = b * W + cnd.w;
              newPrefixes[r] = [...prefixes[b * W + cnd.w], cnd.tok];
              newScores[r] = cnd.s;
              newNext[r] = cnd.tok;
            } else {
              // Fewer candidates than beams: a dead row (copies row 0 of the user, never selected).
              from[r] = b * W;
              newPrefixes[r] = prefixes[b * W];
              newNext[r] = PAD;
            }
          }
        }
        if (t + 1 < n) {
          const idx = tf.tensor1d(from, 'int32');
          state.self = state.self.map((kv) => {
            if (!kv) return kv;
            const g = { k: tf.keep(tf.gather(kv.k, idx)), v: tf.keep(tf.gather(kv.v, idx)) };
            tf.dispose([kv.k, kv.v]);
            return g;
          });
          idx.dispose();
        }
        prefixes = newPrefixes;
        scores = newScores;
        next = newNext;
      }
    } finally {
      state.dispose();
    }
    const out: Array<Array<{ item: number; logProb: number }>> = [];
    for (let b = 0; b < B; b++) {
      const row: Array<{ item: number; logProb: number }> = [];
      for (let w = 0; w < W; w++) {
        const r = b * W + w;
        if (scores[r] === Number.NEGATIVE_INFINITY) continue;
        const item = trie.valueOf(prefixes[r]);
        if (item === undefined) throw new Error(`tiger: beam search ended on an incomplete id ${prefixes[r].join(',')}`);
        row.push({ item, logProb: scores[r] });
      }
      out.push(row);
    }
    return out;
  }

  override scoreAll(batch: UserBatch): Float32Array {
    const dims = this.assertReady();
    const V = dims.numItems + 1;
    const out = new Float32Array(batch.size * V).fill(Number.NEGATIVE_INFINITY);
    this.beamSearch(batch).forEach((row, b) => {
      for (const { item, logProb } of row) out[b * V + item] = logProb;
    });
    return out;
  }

  /** Exact log-probability of each candidate's id (teacher forcing). */
  override scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array {
    const dims = this.assertReady();
    if (candidates.length !== batch.size * C) throw new Error(`tiger.scoreCandidates: ${candidates.length} candidates, expected size * C = ${batch.size * C}`);
    const { tokens } = this.lookup();
    const n = this.idLength;
    const out = new Float32Array(batch.size * C);
    const chunk = Math.max(1, Math.floor(this.config.beamChunk * this.config.beams / C));
    for (let s = 0; s < batch.size; s += chunk) {
      const e = Math.min(batch.size, s + chunk);
      const B = e - s;
      const sub: UserBatch = { size: B, L: batch.L, user: batch.user.subarray(s, e), history: batch.history.subarray(s * batch.L, e * batch.L) };
      const enc = this.encoderInput(sub);
      const R = B * C;
      const rowUser = Int32Array.from({ length: R }, (_, r) => Math.floor(r / C));
      const labels = new Int32Array(R * n);
      const mask = new Int32Array(R * enc.S);
      for (let r = 0; r < R; r++) {
        const item = candidates[s * C + r];
        if (!(item >= 1 && item <= dims.numItems)) throw new Error(`tiger.scoreCandidates: item ${item} is not in 1..${dims.numItems}`);
        labels.set(tokens.subarray(item * n, (item + 1) * n), r * n);
        mask.set(enc.mask.subarray(rowUser[r] * enc.S, (rowUser[r] + 1) * enc.S), r * enc.S);
      }
      const lp = tf.tidy(() => {
        const hidden = tf.gather(this.t5.encode({ inputIds: enc.ids, batch: B, attentionMask: enc.mask }), tf.tensor1d(rowUser, 'int32')) as tf.Tensor3D;
        const { logits } = this.t5.forward({ encoderHidden: hidden, attentionMask: mask, decoderInputIds: this.t5.shiftRight(labels, R), batch: R });
        const logp = tf.logSoftmax(logits);
        const flat = tf.reshape(logp, [R * n, this.vocabSize]);
        const picked = tf.gather(tf.reshape(flat, [-1]), tf.tensor1d(Int32Array.from({ length: R * n }, (_, i) => i * this.vocabSize + labels[i]), 'int32'));
        return tf.sum(tf.reshape(picked, [R, n]), 1);
      });
      out.set(lp.dataSync() as Float32Array, s * C);
      lp.dispose();
    }
    return out;
  }

  override dispose(): void {
    this.cache = null;
    super.dispose();
  }
}

/**
 * A fixed, seeded subset of n rows of an evaluation split (rows kept in their
 * order): a partial Fisher-Yates draw from mulberry32(mixSeed(seed, 0x76616c)).
 * The same (split, n, seed) always gives the same users.
 */
export function validSubset(split: EvalSplit, n: number, seed: number): EvalSplit {
  if (!Number.isInteger(n) || n < 1) throw new Error(`tiger: validUsers must be a positive integer, got ${n}`);
  if (n >= split.count) return split;
  const rng = new Mulberry32(mixSeed(seed, 0x76616c));
  const idx = Int32Array.from({ length: split.count }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.next() * (split.count - i));
    const t = idx[i]; idx[i] = idx[j]; idx[j] = t;
  }
  const rows = idx.subarray(0, n).sort();
  const L = split.L;
  const K = split.numNegatives;
  const out: EvalSplit = {
    count: n, L, numNegatives: K,
    user: new Int32Array(n), target: new Int32Array(n), history: new Int32Array(n * L),
    negatives: new Int32Array(split.negatives.length === split.count * K ? n * K : 0),
  };
  rows.forEach((r, i) => {
    out.user[i] = split.user[r];
    out.target[i] = split.target[r];
    out.history.set(split.history.subarray(r * L, (r + 1) * L), i * L);
    if (out.negatives.length > 0) out.negatives.set(split.negatives.subarray(r * K, (r + 1) * K), i * K);
  });
  return out;
}

function assign(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

/** One line of semantic-id statistics (usage per level, perplexity, collisions). */
export function describeStats(s: SemanticIdStats): string {
  const lv = s.levels.map((l) => `L${l.level} ${l.used}/${l.size} used, perplexity ${l.perplexity.toFixed(1)}`).join('; ');
  const loss = s.finalLosses ? `; final losses ${Object.entries(s.finalLosses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}` : '';
  return `(${s.method}, ${s.items} items): ${lv}; collision rate ${s.collisionRate.toFixed(4)} (${s.distinctPrefixes} distinct code tuples, largest group ${s.maxGroup}); ${s.seconds.toFixed(1)} s${loss}`;
}
