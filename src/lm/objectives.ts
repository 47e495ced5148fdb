/**
 * Pre-training objectives of the encoder-decoder and encoder families, to
 * plug into `pretrain()` (lm/pretrain.ts):
 *
 *   - T5 span corruption (`spanCorruption`, `spanCorruptionObjective`), as
 *     t5.data.preprocessors.span_corruption: `random_spans_noise_mask`
 *     chooses round(L * density) noise tokens in max(1, round(noise / mean))
 *     spans (random segmentation of noise and non-noise tokens, the sequence
 *     starting with non-noise); the input keeps the non-noise tokens with each
 *     noise span replaced by the next sentinel (`noise_span_to_unique_sentinel`),
 *     the target is each sentinel followed by the span it replaced
 *     (`nonnoise_span_to_unique_sentinel`); both end with eos. Like T5 and
 *     Hugging Face's run_t5_mlm_flax, the target has no final sentinel.
 *   - BERT masked LM (`maskBatch`, `maskedLmObjective`): as Google's
 *     create_pretraining_data, max(1, round(n * p)) of the n maskable tokens
 *     of a row are chosen; each becomes [MASK] (80%), a random non-special
 *     token (10%) or stays (10%); the labels are the original ids there.
 *
 * All randomness comes from Mulberry32 streams seeded by (seed, step, row)
 * when training, so a resumed run repeats the corruption of every step, and
 * by (seed, held-out block index) when evaluating, so the held-out loss of
 * different steps is measured on the same corrupted blocks.
 * `objectiveFor` picks the objective of a model's family, with the token ids
 * read from its tokenizer.
 */
import type { tf } from '../engine/index.js';
import { Mulberry32, mixSeed } from '../util/random.js';
import { BertForMaskedLM } from './families/bert.js';
import { FAMILIES, type LanguageModel } from './families/index.js';
import { T5Model } from './families/t5.js';
import { IGNORE_INDEX } from './loss.js';
import { causalObjective, type Objective } from './pretrain.js';
import { sentinelToken, type Tokenizer } from './tokenizer/index.js';

/** A source of uniform numbers in [0, 1) (a `Mulberry32` or one of its subclasses). */
export type UniformSource = Pick<Mulberry32, 'next'>;

/** Uniform integer in [0, n). */
function randInt(rng: UniformSource, n: number): number {
  return Math.min(n - 1, Math.floor(rng.next() * n));
}

/** Round half to even (tf.round, numpy.round and Python's round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ------------------------------------------------------- span corruption

/** Options of `spanCorruption`. */
export interface SpanCorruptionOptions {
  /** Fraction of the tokens that are noise (T5: 0.15). */
  noiseDensity?: number;
  /** Mean length of a noise span (T5: 3). */
  meanNoiseSpanLength?: number;
  /** Id of sentinel i at index i (`<extra_id_0>`, `<extra_id_1>`, ...). */
  sentinelIds: readonly number[];
  /** End-of-sequence id appended to the input and to the target. */
  eosId: number;
  /** Random source of the span segmentation. */
  rng: UniformSource;
}

/** One span-corrupted example. */
export interface SpanCorruptionExample {
  /** Non-noise tokens, each noise span replaced by the next sentinel, then eos. */
  input: number[];
  /** Each sentinel followed by the noise span it replaced, then eos. */
  target: number[];
}

/** The sizes span corruption gives a sequence of `length` tokens (no randomness involved). */
export interface SpanCorruptionCounts {
  /** Noise tokens within the sequence. */
  numNoise: number;
  /** Noise spans (= sentinels in the input). */
  numSpans: number;
  /** Input length, eos included. */
  inputLength: number;
  /** Target length, eos included. */
  targetLength: number;
}

function checkSpanParams(density: number, mean: number): void {
  if (!(density >= 0 && density <= 1)) throw new RangeError(`noiseDensity must be in [0, 1], got ${density}`);
  if (!(mean >= 1) || !Number.isFinite(mean)) throw new RangeError(`meanNoiseSpanLength must be a finite number >= 1, got ${mean}`);
}

/**
 * T5's noise counts for a sequence of `length` tokens, with its float32
 * arithmetic and round-half-to-even: the length is raised to 2 (a single
 * token is never noise), noise = clamp(round(length * density), 1, length - 1)
 * and spans = max(1, round(noise / mean)). T5 fails when the spans outnumber
 * the non-noise tokens (very high densities); here the spans are capped there.
 * Density 0 means no noise (the whole sequence becomes the target's one span).
 */
function noiseCounts(length: number, density: number, mean: number): { len: number; numNoise: number; numSpans: number } {
  const len = Math.max(length, 2);
  if (density === 0) return { len, numNoise: 0, numSpans: 0 };
  const f = Math.fround;
  const raw = roundHalfEven(f(f(len) * f(density)));
  const numNoise = Math.min(Math.max(raw, 1), len - 1);
  const spans = Math.max(1, roundHalfEven(f(f(numNoise) / f(mean))));
  return { len, numNoise, numSpans: Math.min(spans, len - numNoise) };
}

/** Counts of `spanCorruption` on a sequence of `length` tokens (e.g. to size the sentinels or the T5 lengths). */
export function spanCorruptionCounts(length: number, noiseDensity = 0.15, meanNoiseSpanLength = 3): SpanCorruptionCounts {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
  checkSpanParams(noiseDensity, meanNoiseSpanLength);
  const { numNoise, numSpans } = noiseCounts(length, noiseDensity, meanNoiseSpanLength);
  if (length < 2) {
    // A single token (or none) is never noise; a non-empty sequence is one non-noise span.
    const spans = length === 1 ? 1 : 0;
    return { numNoise: 0, numSpans: 0, inputLength: length + 1, targetLength: spans + 1 };
  }
  if (numNoise === 0) return { numNoise: 0, numSpans: 0, inputLength: length + 1, targetLength: 2 };
  return { numNoise, numSpans, inputLength: length - numNoise + numSpans + 1, targetLength: numNoise + numSpans + 1 };
}

/**
 * T5's `_random_segmentation`: `numItems` items cut into `numSegments`
 * non-empty consecutive segments, uniformly over the cut positions (a shuffled
 * 0/1 vector marks which of the numItems - 1 gaps start a segment). Returns the
 * segment lengths.
 */
function randomSegmentation(numItems: number, numSegments: number, rng: UniformSource): number[] {
  const starts = new Uint8Array(Math.max(0, numItems - 1));
  starts.fill(1, 0, numSegments - 1);
  for (let k = starts.length - 1; k > 0; k--) {
    const r = randInt(rng, k + 1);
    const t = starts[k]; starts[k] = starts[r]; starts[r] = t;
  }
  const lengths = new Array<number>(numSegments).fill(0);
  let seg = 0;
  lengths[0] = 1;
  for (let i = 0; i < starts.length; i++) {
    if (starts[i]) seg++;
    lengths[seg]++;
  }
  return lengths;
}

/**
 * T5's `random_spans_noise_mask` (random_roll false): true at the noise
 * positions of a sequence of `length` tokens. Non-noise and noise segments
 * alternate, starting with non-noise; the noise segmentation draws first.
 */
export function randomSpansNoiseMask(length: number, noiseDensity: number, meanNoiseSpanLength: number, rng: UniformSource): boolean[] {
  checkSpanParams(noiseDensity, meanNoiseSpanLength);
  const { len, numNoise, numSpans } = noiseCounts(length, noiseDensity, meanNoiseSpanLength);
  if (numNoise === 0) return new Array<boolean>(length).fill(false);
  const noiseLengths = randomSegmentation(numNoise, numSpans, rng);
  const keepLengths = randomSegmentation(len - numNoise, numSpans, rng);
  const mask: boolean[] = [];
  for (let s = 0; s < numSpans; s++) {
    for (let i = 0; i < keepLengths[s]; i++) mask.push(false);
    for (let i = 0; i < noiseLengths[s]; i++) mask.push(true);
  }
  return mask.slice(0, length);
}

/** T5's `noise_span_to_unique_sentinel`: each run of masked tokens becomes the next sentinel. */
function spansToSentinels(tokens: ArrayLike<number>, masked: (i: number) => boolean, sentinelIds: readonly number[], eosId: number): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (!masked(i)) { out.push(tokens[i]); continue; }
    if (i > 0 && masked(i - 1)) continue;
    if (next >= sentinelIds.length) {
      throw new RangeError(`spanCorruption: a sequence of ${tokens.length} tokens needs more than the ${sentinelIds.length} sentinel ids given (add more with addSentinelTokens)`);
    }
    out.push(sentinelIds[next++]);
  }
  out.push(eosId);
  return out;
}

/**
 * Span corruption of one sequence, as T5's span_corruption preprocessor (see
 * the module comment). Deterministic in `rng`'s state. A sequence of one
 * token has no noise (its input is the token, its target `<extra_id_0>`).
 */
export function spanCorruption(tokens: ArrayLike<number>, opts: SpanCorruptionOptions): SpanCorruptionExample {
  const density = opts.noiseDensity ?? 0.15;
  const mean = opts.meanNoiseSpanLength ?? 3;
  const mask = randomSpansNoiseMask(tokens.length, density, mean, opts.rng);
  return {
    input: spansToSentinels(tokens, (i) => mask[i], opts.sentinelIds, opts.eosId),
    target: spansToSentinels(tokens, (i) => !mask[i], opts.sentinelIds, opts.eosId),
  };
}

// ------------------------------------------------------------ seeding

/** Stream ids of the objectives' row generators (part of the recorded results: do not change). */
const TRAIN_STREAM = 0x0b1e_c701;
const HELD_OUT_STREAM = 0x0b1e_c702;

/**
 * The generator of row `row` of a batch. Training: seeded by (seed, step,
 * row). Held-out (`training` false): `heldOutLoss` passes the index of the
 * batch's first block as `step`, so the stream is seeded by (seed, block
 * index) alone and every evaluation corrupts a block the same way.
 */
export function rowRng(seed: number, step: number, row: number, training: boolean): Mulberry32 {
  const state = training
    ? mixSeed(mixSeed(mixSeed(seed, TRAIN_STREAM), step), row)
    : mixSeed(mixSeed(seed, HELD_OUT_STREAM), step + row);
  return new Mulberry32(state);
}

function checkBatch(ids: Int32Array, B: number, T: number, who: string): void {
  if (!Number.isInteger(B) || !Number.isInteger(T) || B <= 0 || T <= 0 || ids.length !== B * T) {
    throw new Error(`${who}: ${ids.length} ids do not form a [${B}, ${T}] batch`);
  }
}

// ------------------------------------------------ span corruption objective

/** Options of `spanCorruptionObjective`. */
export interface SpanCorruptionObjectiveOptions {
  /** Id of sentinel i at index i. */
  sentinelIds: readonly number[];
  eosId: number;
  /** Fills the padded input positions (attention 0) of shorter rows. */
  padId: number;
  noiseDensity?: number;
  meanNoiseSpanLength?: number;
  /** Seed of the corruption streams. */
  seed: number;
}

/** A T5 batch built from blocks: padded inputs, attention mask and labels (-100 on padding), flat row-major. */
export interface SpanCorruptionBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  /** [B * targetLength], IGNORE_INDEX after each row's target. */
  labels: Int32Array;
  inputLength: number;
  targetLength: number;
}

/** Span-corrupts every row of a [B, T] block batch (streams as `rowRng`) and pads the rows to the longest. */
export function spanCorruptionBatch(ids: Int32Array, B: number, T: number, step: number, training: boolean, o: SpanCorruptionObjectiveOptions): SpanCorruptionBatch {
  checkBatch(ids, B, T, 'spanCorruption');
  const rows: SpanCorruptionExample[] = [];
  for (let r = 0; r < B; r++) {
    rows.push(spanCorruption(ids.subarray(r * T, (r + 1) * T), {
      noiseDensity: o.noiseDensity, meanNoiseSpanLength: o.meanNoiseSpanLength,
      sentinelIds: o.sentinelIds, eosId: o.eosId, rng: rowRng(o.seed, step, r, training),
    }));
  }
  const S = Math.max(...rows.map((x) => x.input.length));
  const L = Math.max(...rows.map((x) => x.target.length));
  const inputIds = new Int32Array(B * S).fill(o.padId);
  const attentionMask = new Int32Array(B * S);
  const labels = new Int32Array(B * L).fill(IGNORE_INDEX);
  rows.forEach((x, r) => {
    inputIds.set(x.input, r * S);
    attentionMask.fill(1, r * S, r * S + x.input.length);
    labels.set(x.target, r * L);
  });
  return { inputIds, attentionMask, labels, inputLength: S, targetLength: L };
}

/**
 * T5 span corruption as a pre-training objective: the mean cross-entropy of
 * the targets (teacher forcing on shiftRight(labels)) given the corrupted inputs.
 */
export function spanCorruptionObjective(o: SpanCorruptionObjectiveOptions): Objective<T5Model> {
  checkSpanParams(o.noiseDensity ?? 0.15, o.meanNoiseSpanLength ?? 3);
  if (o.sentinelIds.length === 0) throw new Error('spanCorruptionObjective: no sentinel ids (add them with addSentinelTokens)');
  return {
    name: 'span-corruption',
    loss: (model, ids, B, T, step, training): tf.Scalar => {
      const b = spanCorruptionBatch(ids, B, T, step, training, o);
      return model.loss({ inputIds: b.inputIds, batch: B, attentionMask: b.attentionMask, labels: b.labels, training });
    },
  };
}

// ---------------------------------------------------------- masked LM

/** Options of `maskBatch`. */
export interface MaskOptions {
  /** The [MASK] id. */
  maskId: number;
  /** Random replacements are drawn from [0, vocabSize) minus the special ids. */
  vocabSize: number;
  /** Ids never chosen for prediction nor drawn as replacements (the mask id is always excluded too). */
  specialIds: ReadonlySet<number>;
  /** Fraction of the maskable tokens of a row to predict (default 0.15). */
  probability?: number;
  /** Rows in `ids` (default 1); each row gets its own count. */
  batch?: number;
  rng: UniformSource;
}

/** A masked batch: the corrupted ids and the labels (original id where chosen, -100 elsewhere). */
export interface MaskedBatch {
  input: Int32Array;
  labels: Int32Array;
}

/**
 * BERT masking of rows of ids (flat row-major, `batch` rows): in each row,
 * max(1, round(n * probability)) of its n maskable (non-special) positions
 * are chosen uniformly without replacement (none when n = 0 or the
 * probability is 0); a chosen token becomes the mask id with probability
 * 0.8, a uniformly drawn non-special id with probability 0.1, and stays
 * otherwise. Deterministic in `rng`'s state.
 */
export function maskBatch(ids: ArrayLike<number>, opts: MaskOptions): MaskedBatch {
  const p = opts.probability ?? 0.15;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`maskBatch: probability must be in [0, 1], got ${p}`);
  const B = opts.batch ?? 1;
  if (!Number.isInteger(B) || B <= 0 || ids.length % B !== 0) throw new RangeError(`maskBatch: ${ids.length} ids do not split into ${B} rows`);
  const V = opts.vocabSize;
  if (!Number.isInteger(V) || V <= 0) throw new RangeError(`maskBatch: vocabSize must be a positive integer, got ${V}`);
  if (!Number.isInteger(opts.maskId) || opts.maskId < 0 || opts.maskId >= V) throw new RangeError(`maskBatch: maskId ${opts.maskId} is outside [0, ${V})`);
  const unmaskable = (id: number): boolean => id === opts.maskId || opts.specialIds.has(id);
  let replaceable = 0;
  for (let id = 0; id < V; id++) if (!unmaskable(id)) replaceable++;
  if (replaceable === 0) throw new RangeError(`maskBatch: every id of the vocabulary (${V}) is special`);
  const drawToken = (): number => {
    for (;;) {
      const id = randInt(opts.rng, V);
      if (!unmaskable(id)) return id;
    }
  };
  const T = ids.length / B;
  const input = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  const cand: number[] = [];
  for (let b = 0; b < B; b++) {
    cand.length = 0;
    for (let t = 0; t < T; t++) if (!unmaskable(input[b * T + t])) cand.push(b * T + t);
    const n = cand.length;
    if (n === 0 || p === 0) continue;
    const k = Math.min(n, Math.max(1, roundHalfEven(n * p)));
    // Partial Fisher-Yates: the first k candidates become a uniform k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + randInt(opts.rng, n - i);
      const t = cand[i]; cand[i] = cand[j]; cand[j] = t;
    }
    cand.slice(0, k).sort((x, y) => x - y).forEach((pos) => {
      labels[pos] = input[pos];
      const u = opts.rng.next();
      if (u < 0.8) input[pos] = opts.maskId;
      else if (u < 0.9) input[pos] = drawToken();
    });
  }
  return { input, labels };
}

/** Options of `maskedLmObjective`. */
export interface MaskedLmObjectiveOptions {
  maskId: number;
  vocabSize: number;
  specialIds: ReadonlySet<number>;
  probability?: number;
  /** Seed of the masking streams. */
  seed: number;
}

/** BERT masking of every row of a [B, T] block batch, row r with `rowRng(seed, step, r, training)`. */
export function maskedLmBatch(ids: Int32Array, B: number, T: number, step: number, training: boolean, o: MaskedLmObjectiveOptions): MaskedBatch {
  checkBatch(ids, B, T, 'maskedLm');
  const input = new Int32Array(B * T);
  const labels = new Int32Array(B * T);
  for (let r = 0; r < B; r++) {
    const m = maskBatch(ids.subarray(r * T, (r + 1) * T), { ...o, batch: 1, rng: rowRng(o.seed, step, r, training) });
    input.set(m.input, r * T);
    labels.set(m.labels, r * T);
  }
  return { input, labels };
}

/** BERT masked LM as a pre-training objective: mean cross-entropy at the chosen positions. */
export function maskedLmObjective(o: MaskedLmObjectiveOptions): Objective<BertForMaskedLM> {
  return {
    name: 'masked-lm',
    loss: (model, ids, B, T, step, training): tf.Scalar => {
      const m = maskedLmBatch(ids, B, T, step, training, o);
      return model.mlmLoss({ inputIds: m.input, batch: B, labels: m.labels, training });
    },
  };
}

// --------------------------------------------------------- by family

/** Options of `objectiveFor`. */
export interface ObjectiveForOptions {
  /** Seed of the corruption streams (default 0). */
  seed?: number;
  /** T5: sentinels to use, all required in the tokenizer (default: every `<extra_id_i>` it has, from 0 up). */
  numSentinels?: number;
}

/**
 * The pre-training objective of `model`'s family, with the ids of `tokenizer`:
 * causal LM for decoders, span corruption for T5 (sentinels `<extra_id_i>`,
 * eos and pad from the tokenizer), masked LM for BERT (the tokenizer's mask
 * token; every added special token is left unmasked).
 */
export function objectiveFor<M extends LanguageModel>(model: M, tokenizer: Tokenizer, opts: ObjectiveForOptions = {}): Objective<M> {
  const seed = opts.seed ?? 0;
  const entry = FAMILIES.find((f) => f.family === model.family);
  if (!entry) throw new Error(`objectiveFor: no pre-training objective for family '${model.family}' (known: ${FAMILIES.map((f) => f.family).join(', ')})`);
  const vocabCheck = (modelVocab: number): void => {
    if (tokenizer.vocabSize > modelVocab) {
      throw new Error(`objectiveFor: tokenizer ${tokenizer.source} has ${tokenizer.vocabSize} ids, the ${model.family} model's vocabulary only ${modelVocab}`);
    }
  };
  if (entry.kind === 'causal') return causalObjective as unknown as Objective<M>;
  if (entry.kind === 'seq2seq') {
    if (!(model instanceof T5Model)) throw new Error(`objectiveFor: family '${model.family}' is seq2seq but the model is not a T5Model`);
    vocabCheck(model.vocabSize);
    const eos = tokenizer.specialTokens.eos;
    if (!eos) throw new Error(`objectiveFor: tokenizer ${tokenizer.source} has no eos token (span corruption ends inputs and targets with it)`);
    if (eos.id !== model.config.eos_token_id) {
      throw new Error(`objectiveFor: tokenizer eos ${JSON.stringify(eos.token)} is id ${eos.id}, the T5 config's eos_token_id is ${model.config.eos_token_id}`);
    }
    const padId = tokenizer.specialTokens.pad?.id ?? model.config.pad_token_id;
    const sentinelIds: number[] = [];
    const wanted = opts.numSentinels;
    if (wanted !== undefined && (!Number.isInteger(wanted) || wanted < 1)) throw new RangeError(`objectiveFor: numSentinels must be a positive integer, got ${wanted}`);
    for (let i = 0; wanted === undefined || i < wanted; i++) {
      const id = tokenizer.tokenToId(sentinelToken(i));
      if (id === undefined) {
        if (wanted === undefined && i > 0) break;
        throw new Error(`objectiveFor: tokenizer ${tokenizer.source} has no sentinel token ${sentinelToken(i)}; add the sentinels with addSentinelTokens(tokenizer, ${wanted ?? 100})`);
      }
      sentinelIds.push(id);
    }
    return spanCorruptionObjective({ sentinelIds, eosId: eos.id, padId, seed }) as unknown as Objective<M>;
  }
  if (!(model instanceof BertForMaskedLM)) throw new Error(`objectiveFor: family '${model.family}' is masked but the model is not a BertForMaskedLM`);
  vocabCheck(model.vocabSize);
  const mask = tokenizer.specialTokens.mask;
  if (!mask) {
    throw new Error(`objectiveFor: tokenizer ${tokenizer.source} has no mask token; set one with tokenizer.setSpecialToken('mask', '[MASK]') or withRecSpecialTokens`);
  }
  const specialIds = new Set(tokenizer.addedTokens().filter((t) => t.special).map((t) => t.id));
  return maskedLmObjective({ maskId: mask.id, vocabSize: tokenizer.vocabSize, specialIds, seed }) as unknown as Objective<M>;
}
