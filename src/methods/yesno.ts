/**
 * The yes/no LLM recommender shared by TALLRec, CoLLM and GANPrompt: a
 * causal LM reads a prompt (template + history titles + target title, and
 * optionally <UserID>/<ItemID> slots carrying mapped collaborative vectors
 * and a <Guide> text) and the score of the target is P(Yes) from the logits
 * of the two answer tokens at the answer position (docs/METHODS.md §4-6).
 *
 * Scores for ranking are the logit difference l(yes) - l(no), which orders
 * candidates exactly as P(Yes) = sigmoid(l(yes) - l(no)) but does not
 * saturate to ties in float32.
 *
 * Scoring shares work between a user's candidates: the longest common token
 * prefix of the candidates' prompts runs once, its KV cache is repeated,
 * and only the differing suffixes run per candidate (same numbers as one
 * full forward per prompt; tested).
 *
 * Split: options/results in yesno/types.ts, batches in yesno/batch.ts, cases
 * and examples in yesno/cases.ts, training (the shared loop) in yesno/fit.ts.
 */
import { tf } from '../engine/index.js';
import { type LlmBackend, requireCapability } from '../backends/types.js';
import { disposeCache, repeatCache, type CausalLM, type KVCache } from '../lm/families/decoder.js';
import { injectEmbeddings } from '../lm/inject.js';
import { GUIDE_TOKEN, ITEM_ID_TOKEN, type Tokenizer, USER_ID_TOKEN } from '../lm/tokenizer/index.js';
import type { SplitDataset } from '../data/types.js';
import { itemTitle } from './text_lm/corpus.js';
import { type Case, type CollabSignal, DEFAULT_GUIDE, guideText, topCandidates } from './collab.js';
import type { MappingLayer } from './mapping.js';
import { answerTokenIds, encodePrompt, type PromptInput, type PromptTemplate, renderPrompt } from './prompts.js';
import { escapeItemText, specialTokenStrings } from './prompt_text.js';
import { answerDiff, type Encoded, type Padded, padLeft } from './yesno/batch.js';
import { fitYesNo } from './yesno/fit.js';
import { yieldToEventLoop } from '../train/index.js';
export { stageSteps } from './yesno/fit.js';
import { DEFAULT_PROMPT_OPTIONS, type TitleSource, type YesNoExample, type YesNoFitOptions, type YesNoFitResult, type YesNoLoss, type YesNoPromptOptions } from './yesno/types.js';

export { checkRecLmFolder, loadRecLm, recTokenizer, recVocabRows } from './yesno/lm_folder.js';
export { heldOutRows, sampleRows, shuffled, splitCases, trainQuestions, type TrainCase, type TrainQuestionOptions, yesNoExamples } from './yesno/cases.js';
/** Whether a yes/no checkpoint directory holds a training checkpoint (src/train/checkpoint.ts; also true for an llmrec 0.1 one, refused on resume). */
export { hasCheckpoint as hasTrainerCheckpoint } from '../train/index.js';
export {
  DEFAULT_PROMPT_OPTIONS, type TitleSource, type YesNoEpoch, type YesNoExample, type YesNoFitOptions, type YesNoFitResult, type YesNoLoss, type YesNoPromptOptions, type YesNoValidate,
} from './yesno/types.js';

export class YesNoLlm {
  collab?: CollabSignal;
  mapping?: MappingLayer;
  /** Trainable copy of the collaborative item vectors (GANPrompt's Rec-sm variants). */
  itemTable?: tf.Variable;
  /**
   * The collaborative score feature (absent: off), a residual hybrid that
   * starts at the collaborative model: the score of a candidate is
   * w * z + g * (l(yes) - l(no)), z the collaborative model's score of the
   * candidate standardised among its case's candidates, w = scoreWeight
   * (> 0) and g = lmGate, both trained; g starts at 0, so before training
   * the candidates rank exactly as the collaborative model ranks them and
   * the LM only enters as far as training (chosen on validation) moves g
   * (docs/METHODS.md §5, "collaborative score feature").
   */
  scoreWeight?: tf.Variable;
  /**
   * g of the score feature, the LM's share of the score (0 at
   * initialisation), as g = lmGate * lmGateScale: the trained variable times
   * a constant that puts the LM's answer on the scale of z (1 / the LM's
   * within-question spread of l(yes) - l(no), measured on training
   * questions), so that optimiser steps on the gate mean the same whatever
   * the LM's logit scale.
   */
  lmGate?: tf.Variable;
  lmGateScale = 1;
  /** The collaborative model's raw scores of a case's candidates (collabScores), from which zCache and guideCache derive. */
  private readonly scoreCache = new Map<Case, Float32Array>();
  private readonly zCache = new Map<Case, Float32Array>();
  readonly prompt: YesNoPromptOptions;
  private readonly titleCache = new Map<TitleSource, Map<number, string>>();
  private readonly answerCache = new Map<string, { yes: number; no: number }>();
  private readonly guideCache = new Map<Case, number[]>();
  /** The tokenizer's special token strings, neutralised in every title. */
  private readonly specials: string[];

  constructor(readonly lm: CausalLM, readonly tok: Tokenizer, readonly data: SplitDataset, prompt: Partial<YesNoPromptOptions> = {}) {
    const o = { ...DEFAULT_PROMPT_OPTIONS, ...prompt };
    // Prompts never run past the LM's positions (a checkpoint brought with lm.dir may have fewer than maxPromptTokens).
    const cfg = lm.configJSON();
    const positions = cfg.max_position_embeddings ?? cfg.n_positions;
    this.prompt = typeof positions === 'number' && positions < o.maxPromptTokens ? { ...o, maxPromptTokens: positions } : o;
    // The recommender slots this prompt renders must be tokens of the LM (recTokenizer and loadRecLm add them to a pretrained one).
    const slots = [...(this.prompt.idVectors || this.prompt.idTokens ? [USER_ID_TOKEN, ITEM_ID_TOKEN] : []), ...(this.prompt.guide ? [GUIDE_TOKEN] : [])];
    for (const s of slots) {
      const id = tok.tokenToId(s);
      if (id === undefined) throw new Error(`the tokenizer has no ${s} token (recTokenizer of src/methods/yesno/lm_folder.ts adds the recommender slots)`);
      if (id >= lm.vocabSize) throw new Error(`${s} has id ${id}, outside the model's vocabulary (${lm.vocabSize}); load the LM with loadRecLm to grow its embeddings`);
    }
    this.specials = specialTokenStrings(tok);
  }

  /** The data's original titles. */
  readonly originalTitles: TitleSource = (item) => itemTitle(this.data, item);

  /** A title cut to maxTitleTokens tokens. */
  title(item: number, source: TitleSource): string {
    let cache = this.titleCache.get(source);
    if (!cache) { cache = new Map(); this.titleCache.set(source, cache); }
    let t = cache.get(item);
    if (t === undefined) {
      // The one escaping rule (src/methods/prompt_text.ts), before the cut, whatever the title's length.
      const raw = escapeItemText(source(item), this.specials);
      const ids = this.tok.encode(raw, { addSpecialTokens: false });
      t = ids.length > this.prompt.maxTitleTokens ? this.tok.decode(ids.slice(0, this.prompt.maxTitleTokens), { skipSpecialTokens: true }).trim() : raw;
      cache.set(item, t);
    }
    return t;
  }

  answers(t: PromptTemplate): { yes: number; no: number } {
    let a = this.answerCache.get(t.id);
    if (!a) { a = answerTokenIds(this.tok, t); this.answerCache.set(t.id, a); }
    return a;
  }

  private useVectors(): boolean {
    if (!this.prompt.idVectors) return false;
    if (!this.mapping || !this.collab) throw new Error('idVectors needs a mapping layer and a collaborative model');
    return true;
  }

  /**
   * The collaborative model's scores of each case's candidates, computed once
   * per case (256 cases a batch) for both the guide and the score feature.
   * `need`: the error when no collaborative model is attached.
   */
  private collabScores(cases: readonly Case[], need: string): Float32Array[] {
    if (!this.collab) throw new Error(need);
    const todo = cases.filter((c) => !this.scoreCache.has(c));
    for (let s = 0; s < todo.length; s += 256) {
      const chunk = todo.slice(s, s + 256);
      const C = chunk[0].candidates.length;
      const scores = this.collab.candidateScores(chunk);
      chunk.forEach((c, i) => this.scoreCache.set(c, scores.slice(i * C, (i + 1) * C)));
    }
    return cases.map((c) => this.scoreCache.get(c)!);
  }

  /** Guidance: the collaborative model's top candidates of each case (cached). */
  private guideTops(cases: readonly Case[]): void {
    if (!this.prompt.guide) return;
    const todo = cases.filter((c) => !this.guideCache.has(c));
    this.collabScores(todo, 'guidance needs a collaborative model').forEach((s, i) => this.guideCache.set(todo[i], topCandidates(s, this.prompt.guide!.topK)));
  }

  /**
   * The share of `cases` whose target (candidate 0) is among the guide's top
   * candidates: how often the guide names the liked item on those questions
   * (in-sample training targets against out-of-sample validation ones).
   */
  guideHitRate(cases: readonly Case[]): number {
    if (!this.prompt.guide) throw new Error('guideHitRate: this model has no guide');
    if (cases.length === 0) return NaN;
    this.guideTops(cases);
    return cases.reduce((a, c) => a + (this.guideCache.get(c)!.includes(0) ? 1 : 0), 0) / cases.length;
  }

  /** z-scores of the collaborative model's scores among each case's candidates (cached). */
  private collabZ(cases: readonly Case[]): void {
    if (!this.scoreWeight) return;
    const todo = cases.filter((c) => !this.zCache.has(c));
    this.collabScores(todo, 'the collaborative score feature needs a collaborative model').forEach((s, i) => this.zCache.set(todo[i], standardise(s)));
  }

  /** z of every case's candidates [cases * C], from the cache scoring fills (the score feature must be on). */
  zScores(cases: readonly Case[]): Float32Array {
    if (!this.scoreWeight) throw new Error('z scores: the collaborative score feature is off');
    this.collabZ(cases);
    const C = cases[0]?.candidates.length ?? 0;
    const out = new Float32Array(cases.length * C);
    cases.forEach((c, i) => out.set(this.zCache.get(c)!, i * C));
    return out;
  }

  /** w * z + g * diff [B] of each row's (case, candidate) when the score feature is on, else diff. */
  private withScoreFeature(diff: tf.Tensor1D, cases: readonly Case[], cands: readonly number[]): tf.Tensor1D {
    if (!this.scoreWeight || !this.lmGate) return diff;
    this.collabZ(cases);
    const z = tf.tensor1d(Float32Array.from(cases, (c, b) => this.zCache.get(c)![cands[b]]));
    const g = tf.mul(tf.reshape(this.lmGate, []), this.lmGateScale);
    return tf.add(tf.mul(tf.reshape(this.scoreWeight, []), z), tf.mul(g, diff)) as tf.Tensor1D;
  }

  /** The prompt input for candidate `cand` of case `c` (titles escaped and cut by title()). */
  private input(c: Case, cand: number, titles: TitleSource, historyLimit?: number, noGuide = false): PromptInput {
    const hist: string[] = [];
    for (const item of c.history) if (item > 0) hist.push(this.title(item, titles));
    const kept = historyLimit === undefined ? hist : hist.slice(Math.max(0, hist.length - historyLimit));
    let guidance: string | undefined;
    if (this.prompt.guide && !noGuide) {
      this.guideTops([c]);
      const top = this.guideCache.get(c)!;
      guidance = guideText(top, cand, (k) => this.title(c.candidates[k], titles), this.prompt.guide);
    }
    return { historyTitles: kept, targetTitle: this.title(c.candidates[cand], titles), guidance, idTokens: this.prompt.idVectors || this.prompt.idTokens };
  }

  /** The prompt text for candidate `cand` of case `c`. */
  render(t: PromptTemplate, c: Case, cand: number, titles: TitleSource, historyLimit?: number): string {
    return renderPrompt(t, this.input(c, cand, titles, historyLimit));
  }

  /**
   * Token ids of the prompt (oldest history titles dropped until it fits
   * maxPromptTokens), with the <UserID> / <ItemID> positions taken from the
   * template while assembling (encodePrompt), never searched for in the ids.
   * `noGuide`: without the guide text, as a model without a guide renders it
   * (guide dropout in training).
   */
  encode(t: PromptTemplate, c: Case, cand: number, titles: TitleSource, noGuide = false): Encoded {
    let limit: number | undefined;
    for (;;) {
      const e = encodePrompt(this.tok, t, this.input(c, cand, titles, limit, noGuide));
      const n = c.history.filter((x) => x > 0).length;
      if (e.ids.length <= this.prompt.maxPromptTokens || (limit ?? n) === 0) {
        if (e.ids.length > this.prompt.maxPromptTokens) throw new Error(`template '${t.id}': prompt has ${e.ids.length} tokens without any history, above maxPromptTokens ${this.prompt.maxPromptTokens}`);
        return e;
      }
      limit = (limit ?? n) - 1;
    }
  }

  /** Collaborative vectors [n, d_cf] of the cases' users and of the given candidates. */
  private cfVectors(cases: readonly Case[], cands: readonly number[]): { user: tf.Tensor2D; item: tf.Tensor2D } {
    const collab = this.collab!;
    const table = collab.itemVectors();
    const uv = collab.userVectors(cases);
    const items = Int32Array.from(cases, (c, i) => c.candidates[cands[i]]);
    const user = tf.tensor2d(uv, [cases.length, table.dim]);
    const item = this.itemTable
      ? tf.gather(this.itemTable, tf.tensor1d(items, 'int32')) as tf.Tensor2D
      : tf.tensor2d(Float32Array.from({ length: items.length * table.dim }, (_, k) => table.data[items[Math.floor(k / table.dim)] * table.dim + (k % table.dim)]), [items.length, table.dim]);
    return { user, item };
  }

  /** Input vectors of rows [B, T] (left-padded ids), with mapped vectors injected at the given flat slots. */
  private inputs(ids: Int32Array, B: number, userSlots: number[], userVec: tf.Tensor2D | null, itemSlots: number[], itemVec: tf.Tensor2D | null): tf.Tensor3D {
    const base = this.lm.embed(ids, B);
    const slots: number[] = [];
    const vecs: tf.Tensor2D[] = [];
    if (userVec && userSlots.length) { slots.push(...userSlots); vecs.push(userVec); }
    if (itemVec && itemSlots.length) { slots.push(...itemSlots); vecs.push(itemVec); }
    if (slots.length === 0) return base;
    let mapped = this.mapping!.apply(vecs.length === 1 ? vecs[0] : tf.concat(vecs, 0) as tf.Tensor2D);
    if (this.mapping!.config.residual) {
      // Residual injection: placeholder embedding + g(e). With g's output layer at zero
      // the model starts exactly as the LoRA step left it (as LoRA's B = 0).
      const d = base.shape[2];
      mapped = tf.add(mapped, tf.gather(tf.reshape(base, [B * base.shape[1], d]), tf.tensor1d(Int32Array.from(slots), 'int32'))) as tf.Tensor2D;
    }
    return injectEmbeddings(base, slots, mapped);
  }

  /**
   * Answer-position logits [B, V] of left-padded rows, with the mapped
   * collaborative vectors `v` (one row per prompt) injected at the rows'
   * slots; `cache` holds a shared prefix (see score). Differentiable.
   */
  private forwardLast(p: Padded, B: number, v?: { user: tf.Tensor2D; item: tf.Tensor2D }, cache?: KVCache): tf.Tensor2D {
    let x: tf.Tensor3D | undefined;
    if (v) {
      const pick = (t: tf.Tensor2D, rows: number[]) => (rows.length === B ? t : tf.gather(t, tf.tensor1d(Int32Array.from(rows), 'int32')) as tf.Tensor2D);
      x = this.inputs(p.ids, B, p.user.slots, p.user.rows.length ? pick(v.user, p.user.rows) : null, p.item.slots, p.item.rows.length ? pick(v.item, p.item.rows) : null);
    }
    const common = { attentionMask: p.mask, cache, lastLogitsOnly: true };
    const out = this.lm.forward(x ? { inputsEmbeds: x, ...common } : { inputIds: p.ids, batch: B, ...common });
    return tf.reshape(out.logits, [B, this.lm.vocabSize]) as tf.Tensor2D;
  }

  /** Answer-position logits [B, V] of full prompts; differentiable. */
  private lastLogits(enc: readonly Encoded[], cases: readonly Case[], cands: readonly number[]): tf.Tensor2D {
    return this.forwardLast(padLeft(enc, 0), enc.length, this.useVectors() ? this.cfVectors(cases, cands) : undefined);
  }

  /** Loss of a batch of examples (mean over the batch). */
  private lossOf(enc: readonly Encoded[], cases: readonly Case[], cands: readonly number[], labels: readonly number[], answers: readonly { yes: number; no: number }[], kind: YesNoLoss): tf.Scalar {
    const logits = this.lastLogits(enc, cases, cands);
    const B = enc.length;
    const V = this.lm.vocabSize;
    if (kind === 'lm') {
      if (this.scoreWeight) throw new Error("the collaborative score feature needs loss 'bce' (it combines w * z with l(yes) - l(no))");
      const lp = tf.reshape(tf.logSoftmax(logits), [B * V]);
      const idx = Int32Array.from(labels, (y, b) => b * V + (y ? answers[b].yes : answers[b].no));
      return tf.neg(tf.mean(tf.gather(lp, tf.tensor1d(idx, 'int32'))));
    }
    const diff = this.withScoreFeature(answerDiff(logits, answers), cases, cands);
    // BCE with logit d = l(yes) - l(no): -[y log s(d) + (1 - y) log s(-d)] = softplus(d) - y d
    const y = tf.tensor1d(Float32Array.from(labels));
    return tf.mean(tf.sub(tf.softplus(diff), tf.mul(y, diff)));
  }

  /** Trainable variables by stable name: LoRA adapters, the mapping layer, the item table. */
  trainables(which: { lora?: boolean; lm?: boolean; mapping?: boolean; itemTable?: boolean; scoreWeight?: boolean }): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    if (which.lm) {
      // Full fine-tuning (a small LM trained from scratch): every LM parameter.
      if (which.lora) throw new Error('training: choose LoRA or full fine-tuning of the LM, not both');
      this.lm.store.setTrainable(() => true, true);
      for (const [n, v] of this.lm.store.vars) out.set(`lm.${n}`, v);
    }
    if (which.lora) {
      for (const [n, v] of this.lm.store.vars) if (n.includes('.lora_A.') || n.includes('.lora_B.')) out.set(`lm.${n}`, v);
      if (out.size === 0) throw new Error('training LoRA: the LM has no adapters (applyLora first)');
    }
    if (which.mapping) {
      if (!this.mapping) throw new Error('training the mapping layer: none attached');
      for (const [n, v] of this.mapping.store.vars) out.set(`mapping.${n}`, v);
    }
    if (which.itemTable) {
      if (!this.itemTable) this.initItemTable();
      out.set('collab.item_vectors', this.itemTable!);
    }
    if (which.scoreWeight) {
      if (!this.scoreWeight || !this.lmGate) this.initScoreFeature();
      out.set('collab.score_weight', this.scoreWeight!);
      out.set('collab.lm_gate', this.lmGate!);
    }
    return out;
  }

  /** A trainable copy of the collaborative model's item vectors. */
  initItemTable(data?: Float32Array): void {
    if (!this.collab) throw new Error('item table: no collaborative model');
    const t = this.collab.itemVectors();
    this.itemTable?.dispose();
    this.itemTable = tf.variable(tf.tensor2d(data ?? t.data, [t.data.length / t.dim, t.dim]), true, `collab.item_vectors#${Date.now()}`);
  }

  /**
   * Turns the collaborative score feature on: score = w * z + g * (l(yes) - l(no)).
   * Defaults w = 1, g = 0: the z-scored collaborative score as is, the LM not
   * yet in it (a trained pair is restored with its saved values). `gateScale`
   * (> 0): the constant of lmGateScale (the variable holds g / gateScale).
   */
  initScoreFeature(w = 1, gate = 0, gateScale = 1): void {
    if (!this.collab) throw new Error('score feature: no collaborative model');
    if (!Number.isFinite(w)) throw new Error(`score feature: weight must be finite, got ${w}`);
    if (!Number.isFinite(gate)) throw new Error(`score feature: LM gate must be finite, got ${gate}`);
    if (!(Number.isFinite(gateScale) && gateScale > 0)) throw new Error(`score feature: LM gate scale must be finite and > 0, got ${gateScale}`);
    this.scoreWeight?.dispose();
    this.lmGate?.dispose();
    this.lmGateScale = gateScale;
    this.scoreWeight = tf.variable(tf.tensor1d([w]), true, `collab.score_weight#${Date.now()}`);
    this.lmGate = tf.variable(tf.tensor1d([gate / gateScale]), true, `collab.lm_gate#${Date.now()}`);
  }

  /** The score feature's (w, g) as they enter the score (undefined when it is off). */
  scoreFeatureValues(): { weight: number; gate: number } | undefined {
    if (!this.scoreWeight || !this.lmGate) return undefined;
    return { weight: (this.scoreWeight.dataSync() as Float32Array)[0], gate: (this.lmGate.dataSync() as Float32Array)[0] * this.lmGateScale };
  }

  /** Trains the given variables on yes/no examples (seeded, checkpointed, interruptible; yesno/fit.ts). */
  fit(cases: readonly Case[], examples: readonly YesNoExample[], o: YesNoFitOptions): Promise<YesNoFitResult> {
    return fitYesNo({
      lm: this.lm,
      encode: (t, c, cand, titles, noGuide) => this.encode(t, c, cand, titles, noGuide),
      answers: (t) => this.answers(t),
      prepare: (cs) => { this.guideTops(cs); this.collabZ(cs); },
      loss: (enc, cs, cands, labels, answers, kind) => this.lossOf(enc, cs, cands, labels, answers, kind),
    }, cases, examples, o);
  }

  /**
   * Scores [cases * C]: l(yes) - l(no) of every candidate's prompt under
   * template `t` (prefix-shared; see the file comment).
   */
  score(cases: readonly Case[], t: PromptTemplate, titles: TitleSource, onProgress?: (done: number, total: number) => void): Float32Array {
    const out = new Float32Array(cases.length * (cases[0]?.candidates.length ?? 0));
    for (const [ci, diffs] of this.caseScores(cases, t, titles)) {
      out.set(diffs, ci * diffs.length);
      onProgress?.(ci + 1, cases.length);
    }
    return out;
  }

  /**
   * `score` that yields to the event loop between questions, so that a
   * SIGINT handler can abort it (a validation inside a training, an
   * evaluation): the same numbers, or null when `o.signal` was aborted
   * before the last question.
   */
  async scoreInterruptible(cases: readonly Case[], t: PromptTemplate, titles: TitleSource, o: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<Float32Array | null> {
    const out = new Float32Array(cases.length * (cases[0]?.candidates.length ?? 0));
    for (const [ci, diffs] of this.caseScores(cases, t, titles)) {
      out.set(diffs, ci * diffs.length);
      o.onProgress?.(ci + 1, cases.length);
      if (ci + 1 < cases.length) {
        await yieldToEventLoop();
        if (o.signal?.aborted) return null;
      }
    }
    return out;
  }

  /** The scores of `score`, one question at a time: [question index, its C scores]. */
  private *caseScores(cases: readonly Case[], t: PromptTemplate, titles: TitleSource): Generator<[number, Float32Array]> {
    const C = cases[0]?.candidates.length ?? 0;
    const ans = this.answers(t);
    const vectors = this.useVectors();
    this.guideTops(cases);
    for (const [ci, c] of cases.entries()) {
      if (c.candidates.length !== C) throw new Error('yes/no scoring: cases with different candidate counts');
      const enc = Array.from({ length: C }, (_, k) => this.encode(t, c, k, titles));
      // Longest common prefix, leaving every candidate at least one token of its own.
      let P = Math.min(...enc.map((e) => e.ids.length)) - 1;
      for (let k = 1; k < C; k++) {
        let j = 0;
        while (j < P && enc[k].ids[j] === enc[0].ids[j]) j++;
        P = j;
      }
      const diffs = tf.tidy(() => {
        let v: { user: tf.Tensor2D; item: tf.Tensor2D } | undefined;
        if (vectors) v = this.cfVectors(Array(C).fill(c), Array.from({ length: C }, (_, k) => k));
        let cache;
        if (P > 0) {
          const pids = Int32Array.from(enc[0].ids.slice(0, P));
          const uIn = vectors && enc[0].userPos >= 0 && enc[0].userPos < P;
          const iIn = vectors && enc[0].itemPos >= 0 && enc[0].itemPos < P;
          if (iIn && C > 1) throw new Error(`template '${t.id}': the <ItemID> slot is shared by all candidates' prompts`);
          const x = vectors && (uIn || iIn)
            ? this.inputs(pids, 1, uIn ? [enc[0].userPos] : [], uIn ? tf.slice(v!.user, [0, 0], [1, -1]) : null, iIn ? [enc[0].itemPos] : [], iIn ? tf.slice(v!.item, [0, 0], [1, -1]) : null)
            : undefined;
          const pre = this.lm.forward(x ? { inputsEmbeds: x, useCache: true, lastLogitsOnly: true } : { inputIds: pids, batch: 1, useCache: true, lastLogitsOnly: true });
          cache = pre.cache!;
        }
        const rep = cache ? repeatCache(cache, C) : undefined;
        try {
          const logits = this.forwardLast(padLeft(enc, P), C, v, rep);
          return this.withScoreFeature(answerDiff(logits, Array(C).fill(ans)), Array(C).fill(c), Array.from({ length: C }, (_, k) => k)).dataSync() as Float32Array;
        } finally {
          disposeCache(rep);
          disposeCache(cache);
        }
      });
      yield [ci, diffs];
    }
  }

  /**
   * Scores [cases * C] through any LLM backend (src/backends, docs/LLM.md):
   * log P(" <yes>") - log P(" <no>") after the rendered prompt, the answers of
   * template `t` as continuations. Needs continuation log-probs (local, gguf,
   * an openai server that echoes prompt log-probs); prompts with collaborative
   * vectors in <UserID>/<ItemID> slots (CoLLM, GANPrompt's idVectors) need
   * vector injection, which only the in-process backend has: both are checked
   * first and refused with UnsupportedCapabilityError naming the backend and
   * the capability. The in-process path (`score`) stays the one used in
   * training and evaluation; this one runs a trained recipe's prompts on
   * another engine (e.g. the GGUF export of the same model).
   */
  async scoreWithBackend(backend: LlmBackend, cases: readonly Case[], t: PromptTemplate, titles: TitleSource): Promise<Float32Array> {
    requireCapability(backend, 'continuationLogProbs', 'yes/no scoring compares log P(yes) and log P(no) after the prompt');
    if (this.prompt.idVectors) requireCapability(backend, 'vectorInjection', 'this recipe puts collaborative vectors into <UserID>/<ItemID> slots (CoLLM); run it in-process (local backend)');
    const C = cases[0]?.candidates.length ?? 0;
    const out = new Float32Array(cases.length * C);
    const answers = [` ${t.answers.yes}`, ` ${t.answers.no}`];
    for (const [ci, c] of cases.entries()) {
      for (let k = 0; k < C; k++) {
        const [yes, no] = await backend.scoreContinuations(this.render(t, c, k, titles), answers);
        out[ci * C + k] = yes.logProb - no.logProb;
      }
    }
    return out;
  }

  /** Scores by one full forward per prompt (reference for the prefix-shared path, and for tests). */
  scoreFull(cases: readonly Case[], t: PromptTemplate, titles: TitleSource): Float32Array {
    const C = cases[0]?.candidates.length ?? 0;
    const out = new Float32Array(cases.length * C);
    const ans = this.answers(t);
    this.guideTops(cases);
    cases.forEach((c, ci) => {
      const enc = Array.from({ length: C }, (_, k) => this.encode(t, c, k, titles));
      const d = tf.tidy(() => {
        const cands = Array.from({ length: C }, (_, k) => k);
        const logits = this.lastLogits(enc, Array(C).fill(c), cands);
        return this.withScoreFeature(answerDiff(logits, Array(C).fill(ans)), Array(C).fill(c), cands).dataSync() as Float32Array;
      });
      out.set(d, ci * C);
    });
    return out;
  }

  dispose(): void {
    this.itemTable?.dispose();
    this.itemTable = undefined;
    this.scoreWeight?.dispose();
    this.scoreWeight = undefined;
    this.lmGate?.dispose();
    this.lmGate = undefined;
  }
}

/**
 * Root mean within-case variance of scores [cases * C]: the spread of a
 * scorer among a question's candidates (what ranking sees), 0 when every
 * case's candidates tie.
 */
export function withinCaseSpread(scores: ArrayLike<number>, C: number): number {
  const n = Math.floor(scores.length / C);
  if (n === 0 || C === 0) return 0;
  let v = 0;
  for (let c = 0; c < n; c++) {
    let mean = 0;
    for (let k = 0; k < C; k++) mean += scores[c * C + k];
    mean /= C;
    for (let k = 0; k < C; k++) v += (scores[c * C + k] - mean) ** 2 / C;
  }
  return Math.sqrt(v / n);
}

/** (x - mean) / std of one case's candidate scores (std 0: all zeros). */
export function standardise(x: ArrayLike<number>): Float32Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= Math.max(1, n);
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2;
  const sd = Math.sqrt(v / Math.max(1, n));
  return Float32Array.from({ length: n }, (_, i) => (sd > 0 ? (x[i] - mean) / sd : 0));
}

export { DEFAULT_GUIDE };
