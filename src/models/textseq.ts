/**
 * TextSeq: a text-based sequential recommender in the style of UniSRec (Hou
 * et al., KDD 2022) and Recformer (Li et al., KDD 2023) (docs/METHODS.md §3.10).
 * Items enter as their text vectors, so the model scores ANY item that has
 * text, seen in training or not.
 *
 *   t_i       = text vector of item i (src/models/text: TF-IDF/BM25 projection or a
 *               mean-pooled BERT/T5), computed once per fit and stored with the model
 *               as a non-trainable parameter (`text.vectors`)
 *   a_i       = adaptor(t_i):  'linear'  LN(W dropout(t_i) + b)
 *                              'moe'     LN(sum_k g_k(t_i) (W_k dropout(t_i) + b_k)),
 *                                        g = softmax(W_g t_i)   (UniSRec's MoE adaptor, E experts)
 *   e_i       = a_i + warm_i * (gate ⊙ E_id[i])    (useIds: a learned id embedding for the
 *               items seen in training, gated; warm_i = 0 for every item absent from the
 *               training part, so a cold item is its text alone; in training the id term is
 *               dropped per item with rate idDropout, so the model also learns text-only items)
 *   x_0       = dropout(e_{h_t} + P[t]) * mask     (learned positions, right-aligned as SASRec)
 *   blocks    pre-LN causal self-attention + FFN, as SASRec (src/models/sasrec.ts; its blocks
 *             are private to that class, so they are re-stated here)
 *   h         = LN_final(x at the last position) / sqrt(d)
 *   score(i)  = <h, e_i> + b (1 - warm_i); loss: softmax cross-entropy over the items of the training part
 *             (softmaxItems 'trained', default: an item never seen in training is no negative
 *             either, docs/METHODS.md §3.10) or over every item ('all')
 *
 * The cold bias b (0 unless set; scoring only, never in training, where
 * items outside the training part are not in the softmax): a model trained
 * with a low idDropout scores text-only items on a lower scale than warm
 * ones (their id term is missing), so cold items never reach a top 10.
 * `coldBias` sets b; `calibrateColdBias` fits it after training on the
 * validation split of cold-aware validation (protocol.coldStart.validShare,
 * docs/METHODS.md §1.4 and §3.10): a grid of values scaled by the spread of
 * the validation scores, then midpoints around the best, keeping the value
 * with the best validation metric of the training (b = 0 is on the grid,
 * so calibration never loses on validation). b is stored with the model
 * (`cold_bias`) and served as one extra dimension of the user and item
 * vectors (1 and b (1 - warm_i)), so every scorer, ANN index and server
 * applies it.
 *
 * Transfer (`init`): the adaptor, the gate, the positions and the transformer
 * of a saved TextSeq model initialise this one (ids and text vectors are
 * per-dataset and never transfer); with `zeroShot` nothing is trained: the
 * transferred weights score the new dataset's items through their text.
 */
import { join, dirname } from 'node:path';
import { tf, timestepMask } from '../engine/index.js';
import { Embedding, LayerNorm, Linear, ParamStore, Rng } from '../nn/index.js';
import type { SplitDataset } from '../data/types.js';
import type { FitOptions, FitReport, UserBatch } from './types.js';
import { NeuralRecommender, checkInt, checkRate, parseModelConfig, readModelDir, type ModelDims, type TrainBatch } from './neural.js';
import { trimHistory } from './sasrec.js';
import { type Block, type BlockOptions, buildBlocks, encodeLast } from './blocks.js';
import { createTextEncoder, encodeItems, itemTexts } from './text/index.js';
import { groupSplit } from '../eval/cold_start.js';
import { evaluateRecommender } from '../eval/evaluate.js';

export type TextSeqConfig = {
  d: number;
  blocks: number;
  heads: number;
  inner: number | null;
  dropout: number;
  attnDropout: number | null;
  maxLen: number | null;
  /** Item text encoder: 'tfidf', 'bm25' or 'lm:<folder>' (a BERT or T5 folder). */
  encoder: string;
  /** Text vector size (TF-IDF/BM25 projection; for an LM encoder its hidden size). */
  textDim: number;
  encoderSeed: number;
  /** LM encoders: tokens per item text. */
  maxTokens: number;
  /** 'linear' or 'moe'. */
  adaptor: string;
  /** Experts of the MoE adaptor. */
  experts: number;
  /** Add a gated id embedding for the items seen in training. */
  useIds: boolean;
  /** Per-item drop rate of the id term in training. */
  idDropout: number;
  /**
   * The items of the training softmax: 'trained' (the items of the training part, the warm
   * mask; an item never seen in training is never a negative either) or 'all' (every item).
   */
  softmaxItems: string;
  initStd: number;
  layerNormEps: number;
  clipNorm: number | null;
  /** A saved TextSeq model directory whose adaptor + transformer initialise this one ('' = none). */
  init: string;
  /** With init: no training (zero-shot transfer). */
  zeroShot: boolean;
  /** Score offset b of every item outside the training part (see the file comment); 0: none. */
  coldBias: number;
  /** Fit b after training on the cold validation rows (needs protocol.coldStart.validShare > 0). */
  calibrateColdBias: boolean;
  /**
   * The calibration's objective: 0, the validation metric over every row; f in (0, 1], the
   * cold rows' metric while the warm rows keep at least f x their value at b = 0.
   */
  coldBiasWarmFloor: number;
};

/** One value of b tried by the calibration, with its validation metric (all rows, warm rows, cold rows). */
export interface CalibrationPoint { b: number; valid: number; warm: number; cold: number }

export const TEXTSEQ_DEFAULTS: TextSeqConfig = {
  d: 64, blocks: 2, heads: 1, inner: null, dropout: 0.2, attnDropout: null, maxLen: null,
  encoder: 'tfidf', textDim: 256, encoderSeed: 2024, maxTokens: 64, adaptor: 'linear', experts: 8,
  useIds: true, idDropout: 0.5, softmaxItems: 'trained', initStd: 0.02, layerNormEps: 1e-8, clipNorm: null, init: '', zeroShot: false,
  coldBias: 0, calibrateColdBias: false, coldBiasWarmFloor: 0,
};

/** The calibration grid of b, in units of the standard deviation of the validation scores (refined by midpoints). */
export const COLD_BIAS_GRID = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/** Parameter names that transfer between datasets (everything but ids, text vectors, the warm mask and the cold bias). */
export function transfers(name: string): boolean {
  return !(name.startsWith('item_emb.') || name.startsWith('text.') || name === 'warm_mask' || name === 'cold_bias');
}

/** What fit() prepares for build(): the data-derived constants and the transferred weights. */
interface Pending {
  text: Float32Array;
  warm: Float32Array;
  init?: Map<string, Float32Array>;
}

export class TextSeq extends NeuralRecommender<TextSeqConfig> {
  readonly name = 'textseq';
  private text!: tf.Variable;
  private warm!: tf.Variable;
  private idEmb: Embedding | null = null;
  private idGate: tf.Variable | null = null;
  private adW!: Linear;
  private adGate: Linear | null = null;
  private adLn!: LayerNorm;
  private posEmb!: tf.Variable;
  private layers: Block[] = [];
  private lnF!: LayerNorm;
  private maxLen = 0;
  private pending: Pending | null = null;
  /** b (see the file comment); null when the model has none (coldBias 0, no calibration). */
  private coldBiasVar: tf.Variable | null = null;
  /** Text encoding facts of the last fit (reports). */
  textReport: { encoder: string; dim: number; itemsWithoutText: number; hits: number; misses: number; seconds: number } | null = null;

  constructor(config: Record<string, unknown> = {}) {
    const c = parseModelConfig('textseq', config, TEXTSEQ_DEFAULTS);
    for (const k of ['d', 'blocks', 'heads', 'textDim', 'experts', 'maxTokens'] as const) checkInt('textseq', k, c[k]);
    if (c.d % c.heads !== 0) throw new Error(`textseq: d (${c.d}) must be divisible by heads (${c.heads})`);
    if (c.inner !== null) checkInt('textseq', 'inner', c.inner);
    if (c.maxLen !== null) checkInt('textseq', 'maxLen', c.maxLen);
    checkRate('textseq', 'dropout', c.dropout);
    checkRate('textseq', 'idDropout', c.idDropout);
    if (c.attnDropout !== null) checkRate('textseq', 'attnDropout', c.attnDropout);
    if (c.adaptor !== 'linear' && c.adaptor !== 'moe') throw new Error(`textseq: config 'adaptor' must be 'linear' or 'moe', got '${c.adaptor}'`);
    if (c.softmaxItems !== 'trained' && c.softmaxItems !== 'all') throw new Error(`textseq: config 'softmaxItems' must be 'trained' or 'all', got '${c.softmaxItems}'`);
    if (c.zeroShot && c.init === '') throw new Error("textseq: 'zeroShot' needs 'init' (a saved textseq model directory)");
    if (!(c.coldBiasWarmFloor >= 0 && c.coldBiasWarmFloor <= 1)) throw new Error(`textseq: config 'coldBiasWarmFloor' must be in [0, 1], got ${c.coldBiasWarmFloor}`);
    if (c.calibrateColdBias && c.zeroShot) throw new Error("textseq: 'calibrateColdBias' fits b after training; a zeroShot model is not trained");
    super(c);
  }

  protected build(dims: ModelDims, _rng: Rng): void {
    const { d, blocks, initStd, layerNormEps: eps, textDim, experts } = this.config;
    const inner = this.config.inner ?? d;
    const V = dims.numItems + 1;
    this.maxLen = this.config.maxLen ?? dims.maxHistory;
    checkInt('textseq', 'maxLen (data.config.maxHistory)', this.maxLen);
    this.text = this.store.add('text.vectors', [V, textDim], { kind: 'zeros' }, false);
    this.warm = this.store.add('warm_mask', [V, 1], { kind: 'zeros' }, false);
    if (this.config.adaptor === 'linear') {
      this.adW = new Linear(this.store, 'adaptor.proj', textDim, d);
      this.adGate = null;
    } else {
      this.adW = new Linear(this.store, 'adaptor.experts', textDim, d * experts);
      this.adGate = new Linear(this.store, 'adaptor.gate', textDim, experts, false);
    }
    this.adLn = new LayerNorm(this.store, 'adaptor.ln', d, eps);
    if (this.config.useIds) {
      this.idEmb = new Embedding(this.store, 'item_emb', V, d, initStd);
      this.idGate = this.store.add('id_gate', [d], { kind: 'ones' });
    } else {
      this.idEmb = null;
      this.idGate = null;
    }
    this.posEmb = this.store.add('pos_emb.weight', [this.maxLen, d], { kind: 'normal', std: initStd });
    this.layers = buildBlocks(this.store, blocks, d, inner, eps);
    this.lnF = new LayerNorm(this.store, 'final_ln', d, eps);
    this.coldBiasVar = this.config.coldBias !== 0 || this.config.calibrateColdBias
      ? this.store.add('cold_bias', [1], { kind: 'zeros' }, false)
      : null;
    if (this.coldBiasVar && this.config.coldBias !== 0) this.setColdBias(this.config.coldBias);
    const p = this.pending;
    if (p) {
      const assign = (v: tf.Variable, data: Float32Array) => { const t = tf.tensor(data, v.shape, 'float32'); v.assign(t); t.dispose(); };
      assign(this.text, p.text);
      assign(this.warm, p.warm);
      if (p.init) {
        for (const [name, v] of this.store.vars) {
          if (!transfers(name)) continue;
          const src = p.init.get(name);
          if (!src) throw new Error(`textseq: init model ${this.config.init} has no parameter '${name}' (same d, blocks, adaptor, textDim needed)`);
          if (src.length !== v.size) throw new Error(`textseq: init parameter '${name}' has ${src.length} values, this model needs ${v.size} (shape ${JSON.stringify(v.shape)})`);
          assign(v, src);
        }
      }
    }
  }

  /** The item vectors e [numItems + 1, d] (see the file comment). */
  private items(): tf.Tensor2D {
    const { d, experts } = this.config;
    const V = this.text.shape[0];
    const t = this.dropout(this.text, this.config.dropout) as tf.Tensor2D;
    let a: tf.Tensor;
    if (this.adGate === null) {
      a = this.adW.apply(t);
    } else {
      const g = tf.softmax(this.adGate.apply(this.text)); // [V, E]
      const ex = tf.reshape(this.adW.apply(t), [V, experts, d]);
      a = tf.sum(tf.mul(ex, tf.reshape(g, [V, experts, 1])), 1);
    }
    let e = this.adLn.apply(a);
    if (this.idEmb && this.idGate) {
      const keep = this.config.idDropout > 0 && this.training ? this.dropout(tf.onesLike(this.warm), this.config.idDropout) : this.warm;
      const mask = keep === this.warm ? this.warm : tf.mul(this.warm, keep);
      e = tf.add(e, tf.mul(tf.mul(this.idEmb.table, this.idGate), mask));
    }
    return e as tf.Tensor2D;
  }

  /** Sizes, rates and the seeded dropout for the shared blocks (src/models/blocks.ts). */
  private blockOptions(): BlockOptions {
    const { d, heads, dropout } = this.config;
    return { d, heads, dropout, attnDropout: this.config.attnDropout ?? dropout, drop: (x, rate) => this.dropout(x, rate) };
  }

  /** h [B, d] from the history, given the item vectors e. */
  private sequence(batch: UserBatch, e: tf.Tensor2D): tf.Tensor2D {
    const { d, dropout: rate } = this.config;
    const B = batch.size;
    const { ids, T } = trimHistory(batch.history, B, batch.L, this.maxLen);
    const x0 = tf.reshape(tf.gather(e, tf.tensor1d(ids, 'int32')), [B, T, d]);
    const pos = tf.slice(this.posEmb, [this.maxLen - T, 0], [T, d]);
    const tmask = timestepMask(ids, B, T);
    const x = tf.mul(this.dropout(tf.add(x0, pos), rate), tmask);
    return tf.div(this.lnF.apply(encodeLast(this.blockOptions(), this.layers, x, ids, tmask, B, T, false)), Math.sqrt(d)) as tf.Tensor2D;
  }

  // Scoring vectors: with a cold bias, [h, 1] and [e_i, b (1 - warm_i)] (training uses items() and sequence()).
  protected userVectors(batch: UserBatch): tf.Tensor2D {
    const h = this.sequence(batch, this.items());
    if (!this.coldBiasVar) return h;
    return tf.concat([h, tf.ones([batch.size, 1])], 1) as tf.Tensor2D;
  }

  protected itemVectors(): tf.Tensor2D {
    const e = this.items();
    if (!this.coldBiasVar) return e;
    return tf.concat([e, tf.mul(tf.sub(1, this.warm), this.coldBiasVar)], 1) as tf.Tensor2D;
  }

  private setColdBias(b: number): void {
    const t = tf.tensor1d([b], 'float32');
    this.coldBiasVar!.assign(t);
    t.dispose();
  }

  /**
   * Fits b on the validation split (see the file comment), with the metric
   * and protocol of the training's validation, measured on the warm-target
   * and the cold-target validation rows. Objective: with coldBiasWarmFloor
   * 0, the metric over every validation row (warm and cold in their natural
   * proportion); with a floor f > 0, the cold rows' metric among the values
   * of b whose warm rows keep at least f x their value at b = 0 (ties: the
   * smaller b). Returns the kept b and every value tried.
   */
  private calibrate(data: SplitDataset, opts: FitOptions): { coldBias: number; scale: number; objective: string; grid: CalibrationPoint[] } {
    const metric = opts.validMetric;
    const k = Number(/@(\d+)$/.exec(metric)?.[1] ?? 10);
    const evalOpts = { protocol: opts.validProtocol, ks: [k], batchSize: 256 };
    // The scale: standard deviation of the scores of up to 256 validation users over every item.
    const n = Math.min(256, data.valid.count);
    const L = data.valid.L;
    const scores = this.scoreAll({ size: n, L, user: data.valid.user.subarray(0, n), history: data.valid.history.subarray(0, n * L) });
    let sum = 0, sq = 0, cnt = 0;
    for (const x of scores) if (Number.isFinite(x)) { sum += x; sq += x * x; cnt++; }
    const scale = Math.sqrt(Math.max(0, sq / cnt - (sum / cnt) ** 2)) || 1;
    // The two groups of validation rows, built once for every value of b.
    const warmData = groupSplit(data, 'warm', 'valid');
    const coldData = groupSplit(data, 'cold', 'valid');
    if (!warmData || !coldData) throw new Error('textseq: calibrateColdBias needs warm and cold validation rows (protocol.coldStart.validShare > 0, docs/METHODS.md §1.4)');
    const tried = new Map<number, CalibrationPoint>();
    const at = (b: number): CalibrationPoint => {
      const key = Math.round(b * 1e6) / 1e6;
      const hit = tried.get(key);
      if (hit !== undefined) return hit;
      this.setColdBias(key);
      const warm = evaluateRecommender(this, warmData, 'valid', evalOpts);
      const cold = evaluateRecommender(this, coldData, 'valid', evalOpts);
      const w = warm[metric];
      const c = cold[metric];
      if (typeof w !== 'number' || typeof c !== 'number') throw new Error(`textseq: calibrateColdBias: validation metric '${metric}' not computed by protocol '${opts.validProtocol}'`);
      // Every validation row is warm or cold: the all-rows mean is their weighted mean.
      const p = { b: key, valid: (w * warm.count + c * cold.count) / (warm.count + cold.count), warm: w, cold: c };
      tried.set(key, p);
      return p;
    };
    const floor = this.config.coldBiasWarmFloor;
    const base = at(0);
    const better = (x: CalibrationPoint, y: CalibrationPoint): boolean =>
      floor > 0 ? x.warm >= floor * base.warm && x.cold > y.cold : x.valid > y.valid;
    const grid = COLD_BIAS_GRID.map((u) => u * scale);
    let best = base;
    for (const b of grid) { const p = at(b); if (better(p, best)) best = p; }
    // Midpoints around the best grid value.
    const i = grid.findIndex((b) => Math.round(b * 1e6) / 1e6 === best.b);
    for (const b of [i > 0 ? (grid[i - 1] + grid[i]) / 2 : null, i >= 0 && i < grid.length - 1 ? (grid[i + 1] + grid[i]) / 2 : null]) {
      if (b === null) continue;
      const p = at(b);
      if (better(p, best)) best = p;
    }
    this.setColdBias(best.b);
    const objective = floor > 0 ? `max cold-row ${metric} with warm-row ${metric} >= ${floor} x its value at b = 0` : `max ${metric} over all validation rows`;
    return { coldBias: best.b, scale, objective, grid: [...tried.values()].sort((a, b) => a.b - b.b) };
  }

  protected trainLoss(batch: TrainBatch): tf.Scalar {
    const e = this.items();
    const h = this.sequence(batch, e);
    let logits = tf.matMul(h, e, false, true) as tf.Tensor2D;
    // softmaxItems 'trained': items absent from the training part (cold items, padding) get
    // logit -1e9, i.e. probability 0 and no gradient (docs/METHODS.md §3.10).
    if (this.config.softmaxItems === 'trained') logits = tf.add(logits, tf.mul(tf.sub(tf.reshape(this.warm, [1, -1]), 1), 1e9));
    return this.crossEntropy(logits, batch.target);
  }

  /** Text vectors and warm mask of `data` (encoded through the per-item cache). */
  private prepare(data: SplitDataset, opts: FitOptions): Pending {
    const { texts, missing } = itemTexts(data);
    const enc = createTextEncoder({ encoder: this.config.encoder, dim: this.config.textDim, seed: this.config.encoderSeed, maxTokens: this.config.maxTokens }, texts);
    if (enc.dim !== this.config.textDim) throw new Error(`textseq: encoder '${this.config.encoder}' gives ${enc.dim}-dim vectors; set config textDim to ${enc.dim}`);
    // The run directory's text-cache (models/<label>/ -> <run>/text-cache), shared by the models of a run.
    const cacheDir = opts.checkpointDir ? join(dirname(dirname(opts.checkpointDir)), 'text-cache') : undefined;
    const r = encodeItems(enc, texts, { cacheDir, scope: `${data.name}:${data.numItems}` });
    this.textReport = { encoder: enc.name, dim: enc.dim, itemsWithoutText: missing.length, hits: r.hits, misses: r.misses, seconds: Math.round(r.seconds * 100) / 100 };
    const warm = new Float32Array(data.numItems + 1);
    for (const s of data.trainSeqs) for (const i of s) warm[i] = 1;
    let init: Map<string, Float32Array> | undefined;
    if (this.config.init !== '') {
      const saved = readModelDir(this.config.init);
      if (saved.name !== 'textseq') throw new Error(`textseq: init ${this.config.init} holds a '${saved.name}' model, not textseq`);
      init = new Map([...saved.tensors].map(([k, v]) => [k, v.data as Float32Array]));
    }
    if (this.config.zeroShot) warm.fill(0); // no id of this dataset was ever trained
    return { text: r.vectors, warm, init };
  }

  override async fit(data: SplitDataset, opts: FitOptions): Promise<FitReport> {
    if (this.config.calibrateColdBias && !(data.coldStart && data.coldStart.coldValidRows > 0)) {
      throw new Error('textseq: calibrateColdBias needs validation rows with cold targets: set protocol.coldStart.validShare > 0 (docs/METHODS.md §1.4)');
    }
    this.pending = this.prepare(data, opts);
    try {
      if (!this.config.zeroShot) {
        const r = await super.fit(data, opts);
        if (!this.config.calibrateColdBias || r.interrupted) return r;
        return { ...r, calibration: this.calibrate(data, opts) };
      }
      // Zero-shot: the transferred weights, this dataset's text vectors, fresh (unused) ids.
      const dims = { numUsers: data.numUsers, numItems: data.numItems, maxHistory: data.config.maxHistory };
      const probe = new TextSeq({ ...this.config, init: '', zeroShot: false });
      probe.pending = { ...this.pending, init: undefined };
      probe.restoreFresh(dims, opts.seed);
      const tensors = probe.snapshot();
      probe.dispose();
      for (const [k, v] of this.pending.init ?? []) if (transfers(k) && tensors.has(k)) tensors.get(k)!.data = v;
      this.restore({ name: this.name, config: this.config, dims, tensors });
      return { epochs: [], bestEpoch: 0, bestValid: {}, stoppedEarly: false, interrupted: false, secondsPerEpoch: 0 };
    } finally {
      this.pending = null;
    }
  }

  /** Fresh parameters for dims (used by the zero-shot path to get every tensor's shape). */
  private restoreFresh(dims: ModelDims, seed: number): void {
    this.store.dispose();
    this.store = new ParamStore(seed);
    this.build(dims, new Rng(seed));
  }

  private snapshot(): Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
    const out = new Map<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>();
    for (const [name, v] of this.store.vars) out.set(name, { dtype: 'F32', shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() });
    return out;
  }
}
