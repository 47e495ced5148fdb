/**
 * Pre-training objectives of the T5 and BERT families (src/lm/objectives.ts):
 * span corruption counts as T5 defines them (incl. its 568 → 512/114 sizing),
 * exact reconstruction of the original from input + target, determinism and
 * edge cases; BERT masking proportions and the 80/10/10 split; objectiveFor's
 * choice and errors; tiny T5 and BERT models pre-trained from scratch on the
 * synthetic shop's item sentences (held-out loss falls) and an interrupted +
 * resumed run equal to a straight one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { Mulberry32 } from '../src/util/random.js';
import { BertForMaskedLM, parseBertConfig } from '../src/lm/families/bert.js';
import { T5Model, parseT5Config } from '../src/lm/families/t5.js';
import { createModel, type LanguageModel } from '../src/lm/families/index.js';
import { IGNORE_INDEX } from '../src/lm/loss.js';
import { causalObjective, heldOutLoss, packBlocks, pretrain, type Objective, type PretrainOptions } from '../src/lm/pretrain.js';
import {
  maskBatch,
  maskedLmBatch,
  maskedLmObjective,
  objectiveFor,
  randomSpansNoiseMask,
  roundHalfEven,
  spanCorruption,
  spanCorruptionBatch,
  spanCorruptionCounts,
  spanCorruptionObjective,
} from '../src/lm/objectives.js';
import { addSentinelTokens, sentinelToken, trainBpe, trainWordPiece, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { ready } from './helpers.js';

await ready();

const work = mkdtempSync(join(tmpdir(), 'llmrec-objectives-'));
after(() => rmSync(work, { recursive: true, force: true }));

const SENTINELS = Array.from({ length: 200 }, (_, i) => 10_000 - i);
const EOS = 1;

/** Original tokens from a span-corrupted pair: each input sentinel replaced by the target's span after it. */
function reconstruct(input: readonly number[], target: readonly number[], sentinels: readonly number[], eos: number): number[] {
  assert.equal(input.at(-1), eos, 'input ends with eos');
  assert.equal(target.at(-1), eos, 'target ends with eos');
  const isSentinel = new Set(sentinels);
  const spans = new Map<number, number[]>();
  let cur: number[] | null = null;
  for (const id of target.slice(0, -1)) {
    if (isSentinel.has(id)) { cur = []; spans.set(id, cur); } else {
      assert.ok(cur, 'target starts with a sentinel');
      cur.push(id);
    }
  }
  const out: number[] = [];
  for (const id of input.slice(0, -1)) {
    if (isSentinel.has(id)) out.push(...(spans.get(id) ?? assert.fail(`sentinel ${id} of the input is not in the target`)));
    else out.push(id);
  }
  return out;
}

const seq = (n: number, base = 100): number[] => Array.from({ length: n }, (_, i) => base + i);

describe('span corruption', () => {
  test('round half to even, as tf.round', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, 3].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3, 3]);
  });

  test('noise tokens and spans as T5 counts them', () => {
    // T5's standard sizing (random_spans_helper): 568 tokens → 512 inputs and 114 targets.
    assert.deepEqual(spanCorruptionCounts(568), { numNoise: 85, numSpans: 28, inputLength: 512, targetLength: 114 });
    // 512 tokens: round(76.8) = 77 noise tokens in round(25.67) = 26 spans.
    assert.deepEqual(spanCorruptionCounts(512), { numNoise: 77, numSpans: 26, inputLength: 462, targetLength: 104 });
    // float32 arithmetic: 10 * 0.15f = 1.50000006 → 2; 30 * 0.15f = 4.5 exactly → 4 (half to even).
    assert.equal(spanCorruptionCounts(10).numNoise, 2);
    assert.equal(spanCorruptionCounts(30).numNoise, 4);
    assert.deepEqual(spanCorruptionCounts(100), { numNoise: 15, numSpans: 5, inputLength: 91, targetLength: 21 });
    // Short sequences: at least one noise token in one span once there are 2 tokens; none below.
    assert.deepEqual(spanCorruptionCounts(2), { numNoise: 1, numSpans: 1, inputLength: 3, targetLength: 3 });
    assert.deepEqual(spanCorruptionCounts(3), { numNoise: 1, numSpans: 1, inputLength: 4, targetLength: 3 });
    assert.deepEqual(spanCorruptionCounts(1), { numNoise: 0, numSpans: 0, inputLength: 2, targetLength: 2 });
    assert.deepEqual(spanCorruptionCounts(0), { numNoise: 0, numSpans: 0, inputLength: 1, targetLength: 1 });
    // Other densities / span lengths: 0.5 * 20 = 10 noise in round(10 / 2) = 5 spans; 5 / 2 = 2.5 → 2 spans.
    assert.deepEqual(spanCorruptionCounts(20, 0.5, 2), { numNoise: 10, numSpans: 5, inputLength: 16, targetLength: 16 });
    assert.equal(spanCorruptionCounts(10, 0.5, 2).numSpans, 2);
    // T5 would fail when the spans outnumber the non-noise tokens; they are capped there.
    assert.deepEqual(spanCorruptionCounts(10, 0.9, 1), { numNoise: 9, numSpans: 1, inputLength: 3, targetLength: 11 });
  });

  test('hand-sized examples', () => {
    const rng = new Mulberry32(7);
    const o = { sentinelIds: SENTINELS, eosId: EOS, rng };
    const [x0] = SENTINELS;
    assert.deepEqual(spanCorruption([], o), { input: [EOS], target: [EOS] });
    assert.deepEqual(spanCorruption([5], o), { input: [5, EOS], target: [x0, EOS] });
    assert.deepEqual(spanCorruption([5, 6], o), { input: [5, x0, EOS], target: [x0, 6, EOS] });
    assert.deepEqual(spanCorruption([5, 6, 7], o), { input: [5, 6, x0, EOS], target: [x0, 7, EOS] });
    // 10 tokens: 2 noise tokens in 1 span; the sequence starts with non-noise and ends with noise.
    assert.deepEqual(spanCorruption(seq(10), o), { input: [...seq(8), x0, EOS], target: [x0, 108, 109, EOS] });
    // Density 0: nothing is noise, the target is one sentinel.
    assert.deepEqual(spanCorruption(seq(6), { ...o, noiseDensity: 0 }), { input: [...seq(6), EOS], target: [x0, EOS] });
  });

  test('mask structure: alternating non-empty segments, non-noise first, noise last', () => {
    const rng = new Mulberry32(11);
    const seen = new Set<string>();
    for (let rep = 0; rep < 300; rep++) {
      const L = 2 + (rep % 120);
      const m = randomSpansNoiseMask(L, 0.15, 3, rng);
      const c = spanCorruptionCounts(L);
      assert.equal(m.length, L);
      assert.equal(m.filter(Boolean).length, c.numNoise, `noise tokens of length ${L}`);
      assert.equal(m[0], false);
      assert.equal(m[L - 1], true);
      let runs = 0;
      for (let i = 0; i < L; i++) if (m[i] && (i === 0 || !m[i - 1])) runs++;
      assert.equal(runs, c.numSpans, `spans of length ${L}`);
      if (L === 64) seen.add(m.map(Number).join(''));
    }
    assert.ok(seen.size >= 2, 'random segmentation varies between draws');
  });

  test('input + target reconstruct the original, lengths as counted, deterministic per seed', () => {
    for (let s = 0; s < 400; s++) {
      const lenRng = new Mulberry32(1000 + s);
      const L = Math.floor(lenRng.next() * 200);
      const density = [0.15, 0.3, 0.5][s % 3];
      const mean = [3, 1, 2.5, 8][s % 4];
      const tokens = Array.from({ length: L }, () => 2 + Math.floor(lenRng.next() * 500));
      const o = { noiseDensity: density, meanNoiseSpanLength: mean, sentinelIds: SENTINELS, eosId: EOS };
      const a = spanCorruption(tokens, { ...o, rng: new Mulberry32(s) });
      const b = spanCorruption(Int32Array.from(tokens), { ...o, rng: new Mulberry32(s) });
      assert.deepEqual(a, b, 'same seed, same corruption');
      assert.deepEqual(reconstruct(a.input, a.target, SENTINELS, EOS), tokens, `length ${L}, seed ${s}`);
      const c = spanCorruptionCounts(L, density, mean);
      assert.equal(a.input.length, c.inputLength);
      assert.equal(a.target.length, c.targetLength);
      // Sentinels are used in order, the same ones in input and target.
      const used = a.input.filter((id) => id >= SENTINELS[199]);
      assert.deepEqual(used, SENTINELS.slice(0, c.numSpans));
    }
    const t = seq(120);
    const o = { sentinelIds: SENTINELS, eosId: EOS };
    const outs = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(spanCorruption(t, { ...o, rng: new Mulberry32(s) }))));
    assert.ok(outs.size >= 4, 'different seeds give different corruptions');
  });

  test('too few sentinels and bad parameters are errors', () => {
    const rng = new Mulberry32(1);
    assert.throws(() => spanCorruption(seq(100), { sentinelIds: SENTINELS.slice(0, 3), eosId: EOS, rng }), /more than the 3 sentinel ids.*addSentinelTokens/);
    assert.throws(() => spanCorruption(seq(10), { sentinelIds: SENTINELS, eosId: EOS, rng, noiseDensity: 1.5 }), /noiseDensity/);
    assert.throws(() => spanCorruption(seq(10), { sentinelIds: SENTINELS, eosId: EOS, rng, meanNoiseSpanLength: 0.5 }), /meanNoiseSpanLength/);
  });

  test('batches: padded inputs (attention 0), labels -100 after each target; eval corruption independent of the step', () => {
    const B = 3;
    const T = 40;
    const ids = Int32Array.from({ length: B * T }, (_, i) => 10 + i);
    const o = { sentinelIds: SENTINELS, eosId: EOS, padId: 0, seed: 5, noiseDensity: 0.3 };
    const b = spanCorruptionBatch(ids, B, T, 7, true, o);
    for (let r = 0; r < B; r++) {
      const inp = Array.from(b.inputIds.subarray(r * b.inputLength, (r + 1) * b.inputLength));
      const msk = Array.from(b.attentionMask.subarray(r * b.inputLength, (r + 1) * b.inputLength));
      const n = msk.filter((x) => x === 1).length;
      assert.ok(msk.slice(0, n).every((x) => x === 1) && inp.slice(n).every((x) => x === 0));
      const lab = Array.from(b.labels.subarray(r * b.targetLength, (r + 1) * b.targetLength));
      const k = lab.indexOf(IGNORE_INDEX) < 0 ? lab.length : lab.indexOf(IGNORE_INDEX);
      assert.ok(lab.slice(k).every((x) => x === IGNORE_INDEX));
      assert.deepEqual(reconstruct(inp.slice(0, n), lab.slice(0, k), SENTINELS, EOS), Array.from(ids.subarray(r * T, (r + 1) * T)));
    }
    assert.deepEqual(spanCorruptionBatch(ids, B, T, 7, true, o), b, 'deterministic in (seed, step)');
    assert.notDeepEqual(spanCorruptionBatch(ids, B, T, 8, true, o).labels, b.labels, 'another step, another corruption');
    assert.notDeepEqual(spanCorruptionBatch(ids, B, T, 7, true, { ...o, seed: 6 }).labels, b.labels, 'another seed, another corruption');
    // Held-out: a block's corruption depends on its index (step = index of the batch's first block), not on the batch split.
    const whole = spanCorruptionBatch(ids, B, T, 0, false, o);
    const last = spanCorruptionBatch(ids.subarray(2 * T), 1, T, 2, false, o);
    const row2 = Array.from(whole.labels.subarray(2 * whole.targetLength, 3 * whole.targetLength)).filter((x) => x !== IGNORE_INDEX);
    assert.deepEqual(row2, Array.from(last.labels).filter((x) => x !== IGNORE_INDEX));
  });
});

describe('masked LM', () => {
  const SPECIAL = new Set([0, 1, 2, 3]);
  const MASK = 4;
  const V = 100;

  test('proportion ≈ 15%, 80/10/10 split, specials never chosen nor drawn, labels only at chosen positions', () => {
    const B = 2000;
    const T = 64;
    const gen = new Mulberry32(3);
    const ids = new Int32Array(B * T);
    for (let i = 0; i < ids.length; i++) ids[i] = gen.next() < 0.1 ? Math.floor(gen.next() * 4) : 5 + Math.floor(gen.next() * 95);
    const { input, labels } = maskBatch(ids, { maskId: MASK, vocabSize: V, specialIds: SPECIAL, batch: B, rng: new Mulberry32(9) });
    let maskable = 0;
    let chosen = 0;
    let masked = 0;
    let random = 0;
    let kept = 0;
    for (let r = 0; r < B; r++) {
      let rowChosen = 0;
      for (let t = 0; t < T; t++) {
        const i = r * T + t;
        const special = SPECIAL.has(ids[i]);
        if (!special) maskable++;
        if (labels[i] === IGNORE_INDEX) {
          assert.equal(input[i], ids[i], 'unchosen positions are unchanged');
          continue;
        }
        assert.ok(!special, `special id ${ids[i]} chosen at ${i}`);
        assert.equal(labels[i], ids[i], 'label = original id');
        rowChosen++;
        if (input[i] === MASK) masked++;
        else if (input[i] === ids[i]) kept++;
        else {
          random++;
          assert.ok(!SPECIAL.has(input[i]) && input[i] !== MASK && input[i] >= 0 && input[i] < V, `random replacement ${input[i]}`);
        }
      }
      chosen += rowChosen;
      assert.ok(rowChosen >= 1);
    }
    const rate = chosen / maskable;
    assert.ok(Math.abs(rate - 0.15) < 0.02, `masked fraction ${rate}`);
    // A random draw equal to the original (1 in 95) counts as kept.
    assert.ok(Math.abs(masked / chosen - 0.8) < 0.02, `[MASK] share ${masked / chosen}`);
    assert.ok(Math.abs(random / chosen - 0.1) < 0.015, `random share ${random / chosen}`);
    assert.ok(Math.abs(kept / chosen - 0.1) < 0.015, `kept share ${kept / chosen}`);
  });

  test('edge rows, determinism, errors', () => {
    const o = { maskId: MASK, vocabSize: V, specialIds: SPECIAL };
    // All special: nothing chosen. One maskable token: it is chosen.
    const allSpecial = maskBatch([0, 1, 2, 3, 0], { ...o, rng: new Mulberry32(1) });
    assert.ok(allSpecial.labels.every((x) => x === IGNORE_INDEX));
    const one = maskBatch([0, 50, 1, 2, 3, 0], { ...o, rng: new Mulberry32(1) });
    assert.deepEqual(Array.from(one.labels), [IGNORE_INDEX, 50, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]);
    // Per row: each row gets round(n * p) (at least 1).
    const rows = maskBatch([...seq(10, 10), ...seq(10, 30), 0, 0, 0, 0, 0, 0, 0, 0, 0, 50], { ...o, batch: 3, probability: 0.3, rng: new Mulberry32(2) });
    const per = [0, 1, 2].map((r) => Array.from(rows.labels.subarray(r * 10, r * 10 + 10)).filter((x) => x !== IGNORE_INDEX).length);
    assert.deepEqual(per, [3, 3, 1]);
    assert.ok(maskBatch(seq(20, 10), { ...o, probability: 0, rng: new Mulberry32(1) }).labels.every((x) => x === IGNORE_INDEX));
    const ids = Int32Array.from(seq(64, 10));
    assert.deepEqual(maskedLmBatch(ids, 2, 32, 4, true, { ...o, seed: 1 }), maskedLmBatch(ids, 2, 32, 4, true, { ...o, seed: 1 }));
    assert.notDeepEqual(maskedLmBatch(ids, 2, 32, 4, true, { ...o, seed: 1 }).labels, maskedLmBatch(ids, 2, 32, 5, true, { ...o, seed: 1 }).labels);
    assert.throws(() => maskBatch([5], { ...o, probability: 2, rng: new Mulberry32(1) }), /probability/);
    assert.throws(() => maskBatch([5], { ...o, maskId: V, rng: new Mulberry32(1) }), /maskId/);
    assert.throws(() => maskBatch([5, 6, 7], { ...o, batch: 2, rng: new Mulberry32(1) }), /do not split/);
  });
});

// ------------------------------------------------------- end to end

let sentences: string[] | null = null;
function shopSentences(): string[] {
  // The catalog depends on the seed, items and categories only: few users keep generation fast.
  sentences ??= [...generateShop({ users: 50 }).itemMeta.values()].map((m) => itemSentence(m));
  return sentences;
}

interface Corpus { train: Int32Array[]; heldOut: Int32Array[] }

function blocksOf(tok: Tokenizer, eos: number, blockSize: number): Corpus {
  const docs = tok.encodeBatch(shopSentences(), { addSpecialTokens: false });
  const blocks = packBlocks(docs, eos, blockSize);
  return { train: blocks.slice(0, blocks.length - 16), heldOut: blocks.slice(blocks.length - 16) };
}

function weightsOf(m: LanguageModel): Map<string, Float32Array> {
  return new Map([...m.store.vars].map(([n, v]) => [n, v.dataSync() as Float32Array]));
}

const OPTS: PretrainOptions = { blockSize: 64, batchSize: 8, lr: 1e-2, warmupSteps: 4, maxSteps: 40, seed: 3 };

/** Trains a fresh model for `OPTS.maxSteps` steps; returns the held-out loss before and after. */
async function trainFresh<M extends LanguageModel>(make: () => M, objective: Objective<M>, c: Corpus): Promise<{ before: number; after: number; trainLoss: number }> {
  const model = make();
  try {
    const before = heldOutLoss(model, c.heldOut, objective);
    const r = await pretrain(model, objective, c.train, c.heldOut, OPTS);
    return { before, after: Math.log(r.heldOutPerplexity), trainLoss: r.trainLoss };
  } finally {
    model.dispose();
  }
}

/** 20 straight steps vs 10 steps, interrupted (checkpoint), then resumed to 20: identical weights. */
async function checkResume<M extends LanguageModel>(make: () => M, objective: Objective<M>, c: Corpus, tag: string): Promise<void> {
  const o: PretrainOptions = { ...OPTS, maxSteps: 20 };
  const straight = make();
  await pretrain(straight, objective, c.train, c.heldOut, o);
  const expected = weightsOf(straight);
  straight.dispose();

  const dir = join(work, tag);
  const first = make();
  const ac = new AbortController();
  const r1 = await pretrain(first, objective, c.train, c.heldOut, { ...o, signal: ac.signal, onStep: (s) => { if (s.step === 10) ac.abort(); } }, dir);
  assert.equal(r1.steps, 10);
  assert.ok(r1.interrupted);
  first.dispose();

  const resumed = make();
  const r2 = await pretrain(resumed, objective, c.train, c.heldOut, o, dir, true);
  assert.equal(r2.steps, 20);
  const got = weightsOf(resumed);
  resumed.dispose();
  assert.equal(got.size, expected.size);
  for (const [name, w] of expected) assert.deepEqual(got.get(name), w, `${tag}: parameter ${name} after resume`);
}

describe('objectives end to end', () => {
  test('T5 span corruption from scratch: held-out loss falls; resume equals a straight run', async (t) => {
    const tok = trainBpe(shopSentences(), { vocabSize: 400 });
    addSentinelTokens(tok, 20);
    const eos = tok.specialTokens.eos?.id ?? assert.fail('no eos');
    const pad = tok.specialTokens.pad?.id ?? assert.fail('no pad');
    const cfg = parseT5Config({
      vocab_size: tok.vocabSize, d_model: 32, d_kv: 8, num_heads: 4, d_ff: 64, num_layers: 2, num_decoder_layers: 2,
      dropout_rate: 0, pad_token_id: pad, eos_token_id: eos,
    });
    const make = (): T5Model => new T5Model(cfg, { seed: 1 });
    const probe = make();
    const objective = objectiveFor(probe, tok, { seed: 11 });
    probe.dispose();
    assert.equal(objective.name, 'span-corruption');
    const c = blocksOf(tok, eos, OPTS.blockSize);
    const t0 = performance.now();
    const r = await trainFresh(make, objective, c);
    t.diagnostic(`T5 (d_model 32, 2+2 layers, vocab ${tok.vocabSize}), ${OPTS.maxSteps} steps of ${OPTS.batchSize}x${OPTS.blockSize}: held-out loss ${r.before.toFixed(3)} → ${r.after.toFixed(3)} (train ${r.trainLoss.toFixed(3)}), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok(r.after < r.before - 0.5, `held-out loss ${r.before} → ${r.after}`);
    await checkResume(make, objective, c, 't5');
  });

  test('BERT masked LM from scratch: held-out loss falls; resume equals a straight run', async (t) => {
    const tok = trainWordPiece(shopSentences(), { vocabSize: 400 });
    const sep = tok.specialTokens.sep?.id ?? assert.fail('no [SEP]');
    const cfg = parseBertConfig({
      vocab_size: tok.vocabSize, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64,
      max_position_embeddings: 64, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, pad_token_id: tok.specialTokens.pad?.id ?? 0,
    });
    const make = (): BertForMaskedLM => new BertForMaskedLM(cfg, { seed: 2 });
    const probe = make();
    const objective = objectiveFor(probe, tok, { seed: 12 });
    probe.dispose();
    assert.equal(objective.name, 'masked-lm');
    const c = blocksOf(tok, sep, OPTS.blockSize);
    const t0 = performance.now();
    const r = await trainFresh(make, objective, c);
    t.diagnostic(`BERT (hidden 32, 2 layers, vocab ${tok.vocabSize}), ${OPTS.maxSteps} steps of ${OPTS.batchSize}x${OPTS.blockSize}: held-out loss ${r.before.toFixed(3)} → ${r.after.toFixed(3)} (train ${r.trainLoss.toFixed(3)}), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok(r.after < r.before - 0.5, `held-out loss ${r.before} → ${r.after}`);
    await checkResume(make, objective, c, 'bert');
  });

  test('objectiveFor: causal for decoders, ids from the tokenizer, errors name what is missing', () => {
    const tok = trainBpe(shopSentences().slice(0, 100), { vocabSize: 300 });
    const gpt2 = createModel({ model_type: 'gpt2', vocab_size: 320, n_positions: 16, n_embd: 8, n_layer: 1, n_head: 2 });
    assert.equal(objectiveFor(gpt2, tok), causalObjective);
    gpt2.dispose();

    const eos = tok.specialTokens.eos?.id ?? assert.fail('no eos');
    const t5cfg = { vocab_size: 320, d_model: 8, d_kv: 4, num_heads: 2, d_ff: 16, num_layers: 1, eos_token_id: eos, pad_token_id: tok.specialTokens.pad?.id };
    const t5 = new T5Model(parseT5Config(t5cfg));
    assert.throws(() => objectiveFor(t5, tok), (e: Error) => e.message.includes(sentinelToken(0)) && e.message.includes('addSentinelTokens'));
    const sentinelIds = addSentinelTokens(tok, 3);
    assert.throws(() => objectiveFor(t5, tok, { numSentinels: 5 }), (e: Error) => e.message.includes(sentinelToken(3)));
    // The sentinels the objective uses are the tokenizer's: every one of them appears in the corrupted batch.
    const obj = objectiveFor(t5, tok, { seed: 1 });
    const ids = Int32Array.from({ length: 2 * 64 }, (_, i) => 10 + (i % 200));
    const loss = tf.tidy(() => obj.loss(t5, ids, 2, 64, 0, true).dataSync()[0]);
    assert.ok(Number.isFinite(loss) && loss > 0);
    const b = spanCorruptionBatch(ids, 2, 64, 0, true, { sentinelIds, eosId: eos, padId: 0, seed: 1 });
    assert.deepEqual(new Set(Array.from(b.labels).filter((x) => x >= 300)), new Set(sentinelIds));
    // More spans than sentinels: the error says how to add them.
    assert.throws(() => obj.loss(t5, new Int32Array(300).fill(20), 1, 300, 0, true), /addSentinelTokens/);
    t5.dispose();
    const bad = new T5Model(parseT5Config({ ...t5cfg, eos_token_id: 0 }));
    assert.throws(() => objectiveFor(bad, tok), /eos_token_id is 0/);
    bad.dispose();

    const bertCfg = parseBertConfig({
      vocab_size: 320, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16,
      hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    });
    const bert = new BertForMaskedLM(bertCfg);
    assert.throws(() => objectiveFor(bert, tok), /no mask token.*setSpecialToken/);
    const maskId = tok.setSpecialToken('mask', '[MASK]');
    const mlm = objectiveFor(bert, tok, { seed: 4 });
    // Special tokens (e.g. </s>, sentinels) are never chosen; the tokenizer's [MASK] replaces most chosen ones.
    const row = Int32Array.from([eos, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, sentinelIds[0], 22, eos]);
    const direct = maskedLmObjective({ maskId, vocabSize: tok.vocabSize, specialIds: new Set(tok.addedTokens().map((x) => x.id)), seed: 4 });
    const l1 = tf.tidy(() => mlm.loss(bert, row, 1, 16, 3, true).dataSync()[0]);
    const l2 = tf.tidy(() => direct.loss(bert, row, 1, 16, 3, true).dataSync()[0]);
    assert.equal(l1, l2);
    const m = maskedLmBatch(row, 1, 16, 3, true, { maskId, vocabSize: tok.vocabSize, specialIds: new Set(tok.addedTokens().map((x) => x.id)), seed: 4 });
    for (const i of [0, 13, 15]) assert.equal(m.labels[i], IGNORE_INDEX);
    const small = new BertForMaskedLM(parseBertConfig({ ...bertCfg, vocab_size: 200 }));
    assert.throws(() => objectiveFor(small, tok), /vocabulary only 200/);
    small.dispose();
    bert.dispose();
    assert.throws(() => spanCorruptionObjective({ sentinelIds: [], eosId: 1, padId: 0, seed: 0 }), /no sentinel ids/);
  });
});
