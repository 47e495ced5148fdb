/**
 * Semantic ids for TIGER (docs/METHODS.md §10): every item's text vector
 * is quantised into `levels` codes (default 3 codebooks of 256), coarse to
 * fine, by residual quantisation, plus one collision code that tells apart
 * the items whose codes are all equal (Rajput et al., "Recommender Systems
 * with Generative Retrieval", NeurIPS 2023, §3.1).
 *
 * Two quantisers:
 *  - 'rqvae' (the paper's): an MLP encoder to a small latent, a residual
 *    quantiser (level l picks the code nearest to the residual left by levels
 *    < l), an MLP decoder; loss = reconstruction ||x - dec(z_q)||^2 + per level
 *    ||sg(r_l) - e_l||^2 + beta ||r_l - sg(e_l)||^2 (codebook + commitment),
 *    straight-through gradient z + sg(z_q - z); codebooks initialised by
 *    k-means on the first latents; trained on the one step loop (src/train
 *    runLoop) with AdamW.
 *  - 'rqkmeans' (the fast option): k-means on the vectors, then k-means on
 *    the residuals, level by level; no training.
 *
 * What the result reports: per level the codes used / codebook size and the
 * perplexity exp(H) of the code distribution; the collision rate (share of
 * items whose `levels` codes are shared with another item) and the largest
 * group. A level whose usage (used / min(size, items)) is below `minUsage`
 * has collapsed: `checkCollapse` throws (or warns, on request) with the
 * numbers, so a collapsed codebook is never used silently.
 *
 * Deterministic by seed: k-means++ seeding and the RQ-VAE's batches and
 * initialisation draw only from seeded mulberry32 streams.
 */
import { tf } from '../../engine/index.js';
import { AdamW, Linear, ParamStore } from '../../nn/index.js';
import { runLoop } from '../../train/index.js';
import { mixSeed, Mulberry32 } from '../../util/random.js';

/** A dense row-major matrix of item vectors: row i is item i (rows may start at item 1, see `firstRow`). */
export interface VectorMatrix {
  rows: number;
  dim: number;
  data: Float32Array;
}

export interface SemanticIdOptions {
  method: 'rqvae' | 'rqkmeans';
  /** Codebooks (the paper: 3). */
  levels: number;
  /** Codes per codebook (the paper: 256). */
  codebookSize: number;
  /** Size of the collision code space (the 4th token); more items sharing all codes is an error. */
  maxCollisions: number;
  seed: number;
  /** Lloyd iterations of each k-means. */
  kmeansIters: number;
  /** A level is collapsed when used / min(codebookSize, items) < minUsage. */
  minUsage: number;
  /** RQ-VAE: hidden sizes of the encoder (the decoder mirrors them; the paper: 512, 256, 128). */
  hidden: number[];
  /** RQ-VAE: latent (and code) dimension (the paper: 32). */
  latentDim: number;
  /** RQ-VAE: commitment weight beta (the paper: 0.25). */
  beta: number;
  /** RQ-VAE: training steps, batch size and AdamW learning rate. */
  steps: number;
  batchSize: number;
  lr: number;
  /** Progress of the RQ-VAE training (every 100 steps). */
  onStep?: (step: number, steps: number, losses: Record<string, number>) => void;
}

export const SEMANTIC_ID_DEFAULTS: Omit<SemanticIdOptions, 'onStep'> = {
  method: 'rqvae',
  levels: 3,
  codebookSize: 256,
  maxCollisions: 64,
  seed: 2024,
  kmeansIters: 20,
  minUsage: 0.1,
  hidden: [512, 256, 128],
  latentDim: 32,
  beta: 0.25,
  steps: 3000,
  batchSize: 1024,
  lr: 1e-3,
};

export interface LevelUsage {
  level: number;
  used: number;
  size: number;
  /** exp(entropy) of the level's code distribution over the items (1 .. size). */
  perplexity: number;
  /** used / min(size, items). */
  usage: number;
}

export interface SemanticIdStats {
  method: 'rqvae' | 'rqkmeans';
  items: number;
  levels: LevelUsage[];
  /** Items whose `levels` codes are shared with at least one other item, over all items. */
  collisionRate: number;
  /** Distinct code tuples (before the collision code). */
  distinctPrefixes: number;
  /** Largest number of items sharing one code tuple (the collision codes used are 0 .. maxGroup - 1). */
  maxGroup: number;
  /** RQ-VAE only: final reconstruction and quantisation losses (means over the last 50 steps). */
  finalLosses?: Record<string, number>;
  /** Wall seconds of the quantisation. */
  seconds: number;
}

export interface SemanticIds {
  /** Items quantised (rows of the input). */
  items: number;
  levels: number;
  codebookSize: number;
  maxCollisions: number;
  /** [items * (levels + 1)]: the level codes (0 .. codebookSize - 1), then the collision code (0 .. maxCollisions - 1). */
  codes: Int32Array;
  stats: SemanticIdStats;
  /**
   * The trained quantiser, to save with a model and to map new vectors to codes:
   * 'rqkmeans.<l>' codebooks [codebookSize, dim], or the RQ-VAE's
   * 'rqvae.encoder.<i>.weight|bias', 'rqvae.decoder.<i>.weight|bias' (weights [in, out])
   * and 'rqvae.quantizer.<l>.codebook' [codebookSize, latentDim].
   */
  quantiser: Map<string, { shape: number[]; data: Float32Array }>;
}

// ------------------------------------------------------------------ helpers

function checkOptions(o: SemanticIdOptions): void {
  const int = (k: string, x: number, min: number) => {
    if (!Number.isInteger(x) || x < min) throw new Error(`semantic ids: ${k} must be an integer >= ${min}, got ${x}`);
  };
  if (o.method !== 'rqvae' && o.method !== 'rqkmeans') throw new Error(`semantic ids: method must be 'rqvae' or 'rqkmeans', got '${String(o.method)}'`);
  int('levels', o.levels, 1);
  int('codebookSize', o.codebookSize, 2);
  int('maxCollisions', o.maxCollisions, 1);
  int('kmeansIters', o.kmeansIters, 1);
  int('latentDim', o.latentDim, 1);
  int('steps', o.steps, 0);
  int('batchSize', o.batchSize, 1);
  for (const h of o.hidden) int('hidden[]', h, 1);
  if (!(o.minUsage >= 0 && o.minUsage <= 1)) throw new Error(`semantic ids: minUsage must be in [0, 1], got ${o.minUsage}`);
  if (!(o.beta >= 0)) throw new Error(`semantic ids: beta must be >= 0, got ${o.beta}`);
  if (!(o.lr > 0)) throw new Error(`semantic ids: lr must be > 0, got ${o.lr}`);
}

function checkMatrix(x: VectorMatrix): void {
  if (!Number.isInteger(x.rows) || x.rows < 1 || !Number.isInteger(x.dim) || x.dim < 1) throw new Error(`semantic ids: item vectors must be a non-empty matrix, got ${x.rows} x ${x.dim}`);
  if (x.data.length !== x.rows * x.dim) throw new Error(`semantic ids: item vectors hold ${x.data.length} values, expected ${x.rows} x ${x.dim}`);
  for (let i = 0; i < x.data.length; i++) {
    if (!Number.isFinite(x.data[i])) throw new Error(`semantic ids: item vector ${Math.floor(i / x.dim)} has a non-finite value at dimension ${i % x.dim}`);
  }
}

/** Squared distance of row i of a to row j of b (both dim d). */
function dist2(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  const oa = i * d;
  const ob = j * d;
  for (let k = 0; k < d; k++) {
    const t = a[oa + k] - b[ob + k];
    s += t * t;
  }
  return s;
}

/** Nearest centre of every row: [n] indices and squared distances (tf matmul in chunks). */
export function assignNearest(x: Float32Array, n: number, d: number, centres: Float32Array, k: number): { idx: Int32Array; dist: Float32Array } {
  const idx = new Int32Array(n);
  const dist = new Float32Array(n);
  const chunk = Math.max(1, Math.floor(4_000_000 / Math.max(1, k)));
  const C = tf.tensor2d(centres, [k, d]);
  const cn = tf.tidy(() => tf.sum(tf.square(C), 1));
  try {
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const [ai, ad] = tf.tidy(() => {
        const X = tf.tensor2d(x.subarray(s * d, (s + m) * d), [m, d]);
        // ||x||^2 - 2 x.c + ||c||^2
        const D = tf.add(tf.sub(tf.sum(tf.square(X), 1, true), tf.mul(tf.matMul(X, C, false, true), 2)), cn);
        return [tf.argMin(D, 1), tf.min(D, 1)];
      });
      idx.set(ai.dataSync() as Int32Array, s);
      const dd = ad.dataSync() as Float32Array;
      for (let i = 0; i < m; i++) dist[s + i] = Math.max(0, dd[i]);
      tf.dispose([ai, ad]);
    }
  } finally {
    tf.dispose([C, cn]);
  }
  return { idx, dist };
}

/**
 * k-means (k-means++ seeding, Lloyd iterations; an empty cluster takes the
 * row farthest from its centre). Returns the centres [k * d] and the
 * assignment. With fewer distinct rows than k some centres coincide.
 */
export function kmeans(x: Float32Array, n: number, d: number, k: number, iters: number, seed: number): { centres: Float32Array; assign: Int32Array } {
  if (n < 1) throw new Error('kmeans: no rows');
  const rng = new Mulberry32(mixSeed(seed, 0x6b6d));
  const centres = new Float32Array(k * d);
  // k-means++: the first centre uniformly, then proportional to D(x)^2.
  const first = Math.floor(rng.next() * n);
  centres.set(x.subarray(first * d, (first + 1) * d), 0);
  const best = new Float64Array(n);
  for (let i = 0; i < n; i++) best[i] = dist2(x, i, centres, 0, d);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += best[i];
    let pick: number;
    if (total > 0) {
      let u = rng.next() * total;
      for (pick = 0; pick < n - 1; pick++) {
        u -= best[pick];
        if (u <= 0) break;
      }
    } else {
      pick = Math.floor(rng.next() * n);
    }
    centres.set(x.subarray(pick * d, (pick + 1) * d), c * d);
    for (let i = 0; i < n; i++) {
      const t = dist2(x, i, centres, c, d);
      if (t < best[i]) best[i] = t;
    }
  }
  let assign: Int32Array = new Int32Array(n);
  for (let it = 0; it < iters; it++) {
    const a = assignNearest(x, n, d, centres, k);
    const sums = new Float64Array(k * d);
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      const c = a.idx[i];
      counts[c]++;
      for (let j = 0; j < d; j++) sums[c * d + j] += x[i * d + j];
    }
    // Empty clusters: the farthest rows (each used once), if any row is away from its centre.
    const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => a.dist[q] - a.dist[p] || p - q);
    let o = 0;
    for (let c = 0; c < k; c++) {
      if (counts[c] > 0) {
        for (let j = 0; j < d; j++) centres[c * d + j] = sums[c * d + j] / counts[c];
      } else if (o < n && a.dist[order[o]] > 0) {
        const r = order[o++];
        centres.set(x.subarray(r * d, (r + 1) * d), c * d);
      }
    }
    const changed = it > 0 && a.idx.some((v, i) => v !== assign[i]);
    assign = a.idx;
    if (it > 0 && !changed) break;
  }
  assign = assignNearest(x, n, d, centres, k).idx;
  return { centres, assign };
}

/** Per-level usage of codes [n * stride] (the first `levels` columns). */
export function levelUsage(codes: Int32Array, n: number, stride: number, levels: number, size: number): LevelUsage[] {
  const out: LevelUsage[] = [];
  for (let l = 0; l < levels; l++) {
    const counts = new Int32Array(size);
    for (let i = 0; i < n; i++) counts[codes[i * stride + l]]++;
    let used = 0;
    let h = 0;
    for (const c of counts) {
      if (c === 0) continue;
      used++;
      const p = c / n;
      h -= p * Math.log(p);
    }
    out.push({ level: l, used, size, perplexity: Math.exp(h), usage: used / Math.min(size, n) });
  }
  return out;
}

/**
 * Appends the collision code: items with equal `levels` codes get 0, 1, 2, ...
 * in item order. Throws when a group is larger than maxCollisions.
 */
export function addCollisionCodes(prefix: Int32Array, n: number, levels: number, maxCollisions: number): { codes: Int32Array; collisionRate: number; distinct: number; maxGroup: number } {
  const stride = levels + 1;
  const codes = new Int32Array(n * stride);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = Array.from(prefix.subarray(i * levels, (i + 1) * levels)).join(',');
    let g = groups.get(key);
    if (!g) groups.set(key, g = []);
    g.push(i);
    codes.set(prefix.subarray(i * levels, (i + 1) * levels), i * stride);
  }
  let collided = 0;
  let maxGroup = 0;
  for (const [key, g] of groups) {
    maxGroup = Math.max(maxGroup, g.length);
    if (g.length > maxCollisions) {
      throw new Error(`semantic ids: ${g.length} items share the codes (${key}), more than maxCollisions = ${maxCollisions}; raise maxCollisions or codebookSize, or check the item vectors (identical text?)`);
    }
    if (g.length > 1) collided += g.length;
    g.forEach((item, j) => { codes[item * stride + levels] = j; });
  }
  return { codes, collisionRate: collided / n, distinct: groups.size, maxGroup };
}

/** Throws (or warns through `warn`) when a level's usage is below minUsage; returns the collapsed levels. */
export function checkCollapse(stats: SemanticIdStats, minUsage: number, warn?: (msg: string) => void): LevelUsage[] {
  const bad = stats.levels.filter((l) => l.usage < minUsage);
  if (bad.length === 0) return bad;
  const msg = `semantic ids (${stats.method}): codebook collapse on ${stats.items} items: ${bad.map((l) => `level ${l.level} uses ${l.used}/${l.size} codes (usage ${l.usage.toFixed(3)} < minUsage ${minUsage}, perplexity ${l.perplexity.toFixed(2)})`).join('; ')}; collision rate ${stats.collisionRate.toFixed(4)}`;
  if (warn) warn(msg);
  else throw new Error(msg);
  return bad;
}

// ------------------------------------------------------------------ RQ-KMeans

/** Residual k-means: codes [n * levels] and the codebooks [levels][k * d]. */
export function rqKMeans(x: Float32Array, n: number, d: number, levels: number, k: number, iters: number, seed: number): { codes: Int32Array; codebooks: Float32Array[] } {
  const r = Float32Array.from(x);
  const codes = new Int32Array(n * levels);
  const codebooks: Float32Array[] = [];
  for (let l = 0; l < levels; l++) {
    const km = kmeans(r, n, d, k, iters, mixSeed(seed, l));
    codebooks.push(km.centres);
    for (let i = 0; i < n; i++) {
      const c = km.assign[i];
      codes[i * levels + l] = c;
      for (let j = 0; j < d; j++) r[i * d + j] -= km.centres[c * d + j];
    }
  }
  return { codes, codebooks };
}

// ------------------------------------------------------------------ RQ-VAE

/** A constant copy of t: no gradient flows through it (stop-gradient). */
function sg(t: tf.Tensor): tf.Tensor {
  return tf.tensor(t.dataSync() as Float32Array, t.shape, 'float32');
}

/** The RQ-VAE network (encoder, codebooks, decoder) over a ParamStore. */
export class RqVae {
  readonly store: ParamStore;
  private readonly enc: Linear[] = [];
  private readonly dec: Linear[] = [];
  readonly codebooks: tf.Variable[] = [];

  constructor(readonly inDim: number, readonly o: Pick<SemanticIdOptions, 'hidden' | 'latentDim' | 'levels' | 'codebookSize' | 'beta'>, seed: number) {
    this.store = new ParamStore(seed);
    const dims = [inDim, ...o.hidden, o.latentDim];
    for (let i = 0; i + 1 < dims.length; i++) this.enc.push(new Linear(this.store, `encoder.${i}`, dims[i], dims[i + 1]));
    const back = [...dims].reverse();
    for (let i = 0; i + 1 < back.length; i++) this.dec.push(new Linear(this.store, `decoder.${i}`, back[i], back[i + 1]));
    for (let l = 0; l < o.levels; l++) this.codebooks.push(this.store.add(`quantizer.${l}.codebook`, [o.codebookSize, o.latentDim], { kind: 'normal', std: 0.02 }));
  }

  private mlp(layers: Linear[], x: tf.Tensor): tf.Tensor {
    let h = x;
    layers.forEach((L, i) => {
      h = L.apply(h);
      if (i + 1 < layers.length) h = tf.relu(h);
    });
    return h;
  }

  encode(x: tf.Tensor2D): tf.Tensor2D {
    return this.mlp(this.enc, x) as tf.Tensor2D;
  }

  /** Codes of latents z: [B * levels] (nearest code of each residual, level by level). */
  quantiseCodes(z: Float32Array, B: number): Int32Array {
    const L = this.o.levels;
    const d = this.o.latentDim;
    const K = this.o.codebookSize;
    const r = Float32Array.from(z);
    const codes = new Int32Array(B * L);
    for (let l = 0; l < L; l++) {
      const cb = this.codebooks[l].dataSync() as Float32Array;
      const a = assignNearest(r, B, d, cb, K).idx;
      for (let i = 0; i < B; i++) {
        codes[i * L + l] = a[i];
        for (let j = 0; j < d; j++) r[i * d + j] -= cb[a[i] * d + j];
      }
    }
    return codes;
  }

  /** The training loss of a batch x [B, inDim]: reconstruction + codebook + beta * commitment. */
  loss(x: tf.Tensor2D): { total: tf.Scalar; recon: tf.Scalar; quant: tf.Scalar } {
    const B = x.shape[0];
    const z = this.encode(x);
    const codes = this.quantiseCodes(z.dataSync() as Float32Array, B);
    let r: tf.Tensor = z;
    let zq: tf.Tensor = tf.zerosLike(z);
    let quant: tf.Tensor = tf.scalar(0);
    for (let l = 0; l < this.o.levels; l++) {
      const idx = tf.tensor1d(Int32Array.from({ length: B }, (_, i) => codes[i * this.o.levels + l]), 'int32');
      const e = tf.gather(this.codebooks[l], idx);
      const codebookLoss = tf.mean(tf.sum(tf.square(tf.sub(sg(r), e)), 1));
      const commit = tf.mean(tf.sum(tf.square(tf.sub(r, sg(e))), 1));
      quant = tf.add(quant, tf.add(codebookLoss, tf.mul(commit, this.o.beta)));
      zq = tf.add(zq, e);
      r = tf.sub(r, sg(e));
    }
    // Straight-through: the decoder sees z_q, the encoder gets the decoder's gradient.
    const zst = tf.add(z, sg(tf.sub(zq, z)));
    const xh = this.mlp(this.dec, zst);
    const recon = tf.mean(tf.sum(tf.square(tf.sub(x, xh)), 1)) as tf.Scalar;
    return { total: tf.add(recon, quant) as tf.Scalar, recon, quant: quant as tf.Scalar };
  }

  /** Latents of every row of x (chunks of 4096). */
  latents(x: Float32Array, n: number): Float32Array {
    const d = this.o.latentDim;
    const out = new Float32Array(n * d);
    for (let s = 0; s < n; s += 4096) {
      const m = Math.min(4096, n - s);
      const t = tf.tidy(() => this.encode(tf.tensor2d(x.subarray(s * this.inDim, (s + m) * this.inDim), [m, this.inDim])));
      out.set(t.dataSync() as Float32Array, s * d);
      t.dispose();
    }
    return out;
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** Trains an RQ-VAE on the rows of x (the one step loop) and returns the codes [n * levels] and the losses. */
export async function rqVaeCodes(x: Float32Array, n: number, d: number, o: SemanticIdOptions): Promise<{ codes: Int32Array; finalLosses: Record<string, number>; tensors: Map<string, { shape: number[]; data: Float32Array }> }> {
  const vae = new RqVae(d, o, mixSeed(o.seed, 0x7661));
  const opt = new AdamW({ lr: o.lr, weightDecay: 0 });
  try {
    // k-means initialisation of the codebooks on the untrained encoder's latents (the paper: first batch).
    const z0 = vae.latents(x, n);
    const init = rqKMeans(z0, n, o.latentDim, o.levels, o.codebookSize, o.kmeansIters, mixSeed(o.seed, 0x696e));
    init.codebooks.forEach((cb, l) => {
      const t = tf.tensor2d(cb, [o.codebookSize, o.latentDim]);
      vae.codebooks[l].assign(t);
      t.dispose();
    });
    const B = Math.min(o.batchSize, n);
    const stepsPerEpoch = Math.ceil(n / B);
    let perm = new Int32Array(0);
    let permEpoch = -1;
    const vars = vae.store.trainable();
    const loop = await runLoop({
      name: 'rq-vae',
      maxSteps: o.steps,
      step: (s) => {
        const epoch = Math.floor(s / stepsPerEpoch);
        if (epoch !== permEpoch) {
          // Seeded Fisher-Yates per epoch: the batches of step s depend on (seed, s) only.
          const rng = new Mulberry32(mixSeed(o.seed, 0x10000 + epoch));
          perm = Int32Array.from({ length: n }, (_, i) => i);
          for (let i = n - 1; i > 0; i--) {
            const j = Math.floor(rng.next() * (i + 1));
            const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
          }
          permEpoch = epoch;
        }
        const b = s % stepsPerEpoch;
        const rows = perm.subarray(b * B, Math.min(n, (b + 1) * B));
        const xb = new Float32Array(rows.length * d);
        rows.forEach((r, i) => xb.set(x.subarray(r * d, (r + 1) * d), i * d));
        const X = tf.tensor2d(xb, [rows.length, d]);
        let recon = 0;
        let quant = 0;
        try {
          const total = opt.minimize(() => {
            const l = vae.loss(X);
            recon = l.recon.dataSync()[0];
            quant = l.quant.dataSync()[0];
            return l.total;
          }, vars);
          return { loss: total, recon, quant };
        } finally {
          X.dispose();
        }
      },
      onStep: (r) => {
        if (o.onStep && (r.step % 100 === 0 || r.step === r.maxSteps)) o.onStep(r.step, r.maxSteps, r.losses);
      },
    });
    const z = vae.latents(x, n);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, v] of vae.store.vars) tensors.set(`rqvae.${name}`, { shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() });
    return { codes: vae.quantiseCodes(z, n), finalLosses: loop.window.means(), tensors };
  } finally {
    opt.dispose();
    vae.dispose();
  }
}

// ------------------------------------------------------------------ entry point

/**
 * Semantic ids of the rows of `vectors` (one row per item): level codes by
 * the chosen quantiser, the collision code, and the usage statistics. Does
 * not check for collapse: call `checkCollapse(result.stats, minUsage)`.
 */
export async function buildSemanticIds(vectors: VectorMatrix, options: Partial<SemanticIdOptions> = {}): Promise<SemanticIds> {
  const o: SemanticIdOptions = { ...SEMANTIC_ID_DEFAULTS, ...options };
  checkOptions(o);
  checkMatrix(vectors);
  const t0 = performance.now();
  const { rows: n, dim: d, data } = vectors;
  let prefix: Int32Array;
  let finalLosses: Record<string, number> | undefined;
  let quantiser: Map<string, { shape: number[]; data: Float32Array }>;
  if (o.method === 'rqkmeans') {
    const r = rqKMeans(data, n, d, o.levels, o.codebookSize, o.kmeansIters, o.seed);
    prefix = r.codes;
    quantiser = new Map(r.codebooks.map((cb, l) => [`rqkmeans.${l}`, { shape: [o.codebookSize, d], data: cb }]));
  } else {
    const r = await rqVaeCodes(data, n, d, o);
    prefix = r.codes;
    finalLosses = r.finalLosses;
    quantiser = r.tensors;
  }
  const col = addCollisionCodes(prefix, n, o.levels, o.maxCollisions);
  const stats: SemanticIdStats = {
    method: o.method,
    items: n,
    levels: levelUsage(col.codes, n, o.levels + 1, o.levels, o.codebookSize),
    collisionRate: col.collisionRate,
    distinctPrefixes: col.distinct,
    maxGroup: col.maxGroup,
    finalLosses,
    seconds: (performance.now() - t0) / 1000,
  };
  return { items: n, levels: o.levels, codebookSize: o.codebookSize, maxCollisions: o.maxCollisions, codes: col.codes, stats, quantiser };
}
