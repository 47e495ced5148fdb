/**
 * Issue 19, the LLM hybrids: training questions come from the training part
 * of each sequence only (no validation or test target is a question's target
 * or in a history beyond its position); early stopping on validation keeps
 * the validation-best weights (also across an interruption), the initial
 * ones when no epoch beats them; the collaborative score feature is the
 * residual hybrid w * z + g * (l(yes) - l(no)), g = 0 at the start, so it
 * starts at the collaborative model's ranking, in training and scoring alike; full fine-tuning trains every LM parameter; the new options
 * are validated with the field named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset, UserBatch } from '../src/data/types.js';
import { itemSentence } from '../src/data/item_text.js';
import { trainBpe, withRecSpecialTokens, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { applyLora, parseLoraConfig } from '../src/lm/lora.js';
import { createRecommender } from '../src/models/registry.js';
import type { Recommender } from '../src/models/types.js';
import { type Case, CollabSignal, DEFAULT_GUIDE } from '../src/methods/collab.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { parseGanPromptOptions } from '../src/config/ganprompt.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { buildCorpus } from '../src/methods/text_lm/corpus.js';
import { heldOutRows, sampleRows, splitCases, stageSteps, standardise, type TrainCase, trainQuestions, withinCaseSpread, yesNoExamples, YesNoLlm } from '../src/methods/yesno.js';
import { rankingMetrics } from '../src/methods/reference.js';
import { newYesNoRun, stepQuestions } from '../src/methods/ganprompt/context.js';
import { collabStage } from '../src/methods/ganprompt/stages.js';
import { runGanPrompt } from '../src/methods/ganprompt/pipeline.js';
import type { Pop } from '../src/models/pop.js';
import { ready } from './helpers.js';

let data: SplitDataset;
let tok: Tokenizer;
let collab: Recommender;
let dir: string;

function tinyLm(seed = 1): LlamaForCausalLM {
  return new LlamaForCausalLM(parseLlamaConfig({
    model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true,
  }), { seed });
}

describe('LLM hybrids (issue 19)', () => {
  before(async () => {
    await ready();
    data = applyProtocol(generateShop({ users: 60, items: 80, seed: 7 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 3 });
    tok = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No. Answer: True. Answer: False.')), { vocabSize: 600 });
    withRecSpecialTokens(tok);
    collab = createRecommender('bprmf', { d: 8 });
    await collab.fit(data, { epochs: 1, batchSize: 64, lr: 0.01, patience: 1, validMetric: 'auc', validProtocol: 'sampled', seed: 1 });
    dir = mkdtempSync(join(tmpdir(), 'llmrec-hybrid-'));
  });
  after(() => { collab.dispose(); rmSync(dir, { recursive: true, force: true }); });

  test('training questions: training positions only, their own seeded negatives, no validation/test leakage', () => {
    const o = { users: 1000, perUser: 3, negatives: 9, seed: 5 };
    const qs = trainQuestions(data, o);
    assert.deepEqual(trainQuestions(data, o), qs, 'seeded');
    assert.notDeepEqual(trainQuestions(data, { ...o, seed: 6 }).map((q) => [...q.candidates]), qs.map((q) => [...q.candidates]));
    const L = data.valid.L;
    const perUser = new Map<number, number>();
    let checkedItems = 0;
    for (const q of qs) {
      perUser.set(q.user, (perUser.get(q.user) ?? 0) + 1);
      const train = data.trainSeqs[q.user];
      const full = data.sequences[q.user];
      // The target is a training position: never the validation (len - 2) or test (len - 1) position of the full sequence.
      assert.ok(q.position >= 1 && q.position < train.length, `position ${q.position} of ${train.length}`);
      assert.equal(train.length, full.length - 2);
      assert.equal(q.candidates[0], train[q.position]);
      // The history is exactly the L items before the position (left-padded), nothing after it.
      const want = Array.from(train.subarray(Math.max(0, q.position - L), q.position));
      assert.deepEqual(Array.from(q.history).filter((x) => x > 0), want);
      assert.equal(q.history.length, L);
      // Negatives: distinct, never an item of the user's whole sequence.
      const negs = Array.from(q.candidates.subarray(1));
      assert.equal(negs.length, 9);
      assert.equal(new Set(negs).size, 9);
      for (const x of negs) assert.ok(!full.includes(x) && x >= 1 && x <= data.numItems);
      // As items: the user's validation and test targets are neither the target nor in the history,
      // unless the user interacted with the same item earlier too (a repeat inside the training part).
      const vu = Array.from(data.valid.user).indexOf(q.user);
      const tu = Array.from(data.test.user).indexOf(q.user);
      for (const [split, row] of [[data.valid, vu], [data.test, tu]] as const) {
        if (row < 0) continue;
        const target = split.target[row];
        if (train.includes(target)) continue;
        checkedItems++;
        assert.notEqual(q.candidates[0], target);
        assert.ok(!q.history.includes(target));
      }
    }
    assert.ok(checkedItems > 0);
    for (const [u, n] of perUser) assert.equal(n, Math.min(3, data.trainSeqs[u].length - 1));
    const all = trainQuestions(data, { ...o, perUser: 0 });
    assert.equal(all.length, data.trainSeqs.reduce((a, s) => a + (s.length >= 2 ? s.length - 1 : 0), 0), 'perUser 0 = every position');
    assert.throws(() => trainQuestions(data, { ...o, perUser: -1 }), /perUser/);
  });

  test('early stopping keeps the validation-best epoch (and the checkpoint holds it for a resume)', async () => {
    const cases = trainQuestions(data, { users: 20, perUser: 1, negatives: 9, seed: 1 });
    const ex = yesNoExamples(cases, 1, 2);
    const templates = [loadTemplates().seen[0]];
    const batchSize = 8;
    const perEpoch = Math.ceil(ex.length / batchSize);
    // Scripted validation values: the initial weights first, then epochs 0..5 (best at epoch 1, then two worse epochs: patience 2 stops after epoch 3).
    const script = [0.5, 0.6, 0.8, 0.7, 0.75, 0.9, 0.95];
    const run = async (ckpt: string, resume: boolean, stopAtStep?: number) => {
      const lm = tinyLm(3);
      const m = new YesNoLlm(lm, tok, data);
      applyLora(lm, parseLoraConfig({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }));
      const vars = m.trainables({ lora: true });
      const atEpoch: Array<Map<string, Float32Array>> = [];
      const ac = new AbortController();
      let calls = 0;
      const r = await m.fit(cases, ex, {
        steps: 6 * perEpoch, batchSize, lr: 1e-2, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars,
        checkpointDir: ckpt, checkpointEvery: 0, resume, signal: ac.signal,
        onStep: (s) => { if (s === stopAtStep) ac.abort(); },
        validation: {
          metric: 'auc', patience: 2, stepsPerEpoch: perEpoch,
          validate: () => {
            assert.equal(lm.store.training, false, 'validation runs without dropout');
            const call = atEpoch.length + (resume ? 3 : 0);
            atEpoch.push(new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()])));
            calls++;
            return script[call];
          },
        },
      });
      const final = new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
      lm.dispose();
      return { r, atEpoch, final, calls };
    };
    const a = await run(join(dir, 'es-a'), false);
    assert.equal(a.r.bestEpoch, 1);
    assert.equal(a.r.lastEpoch, 3);
    assert.equal(a.r.stoppedEarly, true);
    assert.equal(a.r.steps, 4 * perEpoch, 'stopped after epoch 3, not at the cap of 6');
    assert.equal(a.r.initialValid, 0.5, 'the initial weights are validated before the first step');
    assert.deepEqual(a.r.epochs!.map((e) => e.valid), script.slice(1, 5));
    assert.deepEqual(a.r.epochs!.map((e) => e.best), [true, true, false, false]);
    // atEpoch[0] holds the initial weights, atEpoch[e + 1] those after epoch e.
    assert.deepEqual(a.final, a.atEpoch[2], 'the result is the best epoch, not the last');
    assert.notDeepEqual(a.final, a.atEpoch[4]);
    const state = JSON.parse(readFileSync(join(dir, 'es-a', 'checkpoint', 'trainer_state.json'), 'utf8')) as { bestMetric: unknown };
    assert.deepEqual(state.bestMetric, { name: 'auc', value: 0.8, epoch: 1 });
    const bestFile = readSafetensors(join(dir, 'es-a', 'checkpoint', 'best.safetensors')).tensors;
    for (const [n, d] of a.atEpoch[2]) assert.deepEqual(bestFile.get(n)!.data, d);

    // Interrupted in epoch 2 (after epochs 0 and 1 were validated), then resumed: same best weights.
    const b1 = await run(join(dir, 'es-b'), false, 2 * perEpoch + 1);
    assert.equal(b1.r.interrupted, true);
    assert.equal(b1.calls, 3, 'initial weights, epochs 0 and 1');
    const b2 = await run(join(dir, 'es-b'), true);
    assert.equal(b2.r.bestEpoch, 1);
    assert.equal(b2.r.lastEpoch, 3);
    assert.equal(b2.calls, 2, 'the resumed run validates epochs 2 and 3 only');
    assert.equal(b2.r.initialValid, 0.5, 'the initial value survives the resume');
    for (const [n, d] of a.final) assert.deepEqual(b2.final.get(n), d);
  });

  test('a SIGINT during a validation stops the training at once; the resume validates that epoch (or the start) first and ends as a straight run', async () => {
    const cases = trainQuestions(data, { users: 20, perUser: 1, negatives: 9, seed: 1 });
    const ex = yesNoExamples(cases, 1, 2);
    const templates = [loadTemplates().seen[0]];
    const valid = splitCases(data, 'valid', sampleRows(data.valid.count, 6, 3));
    const C = valid[0].candidates.length;
    const batchSize = 8;
    const perEpoch = Math.ceil(ex.length / batchSize);
    // Real validations (AUC on 6 validation questions), interruptible: `abortAt` = the validation (0 = the start, e + 1 =
    // after epoch e) during which the signal fires, after its first question.
    const run = async (ckpt: string, resume: boolean, abortAt?: number) => {
      const lm = tinyLm(5);
      const m = new YesNoLlm(lm, tok, data);
      applyLora(lm, parseLoraConfig({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }));
      const vars = m.trainables({ lora: true });
      const ac = new AbortController();
      const validations: number[] = [];
      let call = 0;
      const r = await m.fit(cases, ex, {
        steps: 4 * perEpoch, batchSize, lr: 1e-2, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars,
        checkpointDir: ckpt, checkpointEvery: 0, resume, signal: ac.signal,
        validation: {
          metric: 'auc', patience: 4, stepsPerEpoch: perEpoch,
          validate: async (signal) => {
            if (call++ === abortAt) setImmediate(() => ac.abort());
            const scores = await m.scoreInterruptible(valid, templates[0], m.originalTitles, { signal });
            if (!scores) return null;
            const auc = rankingMetrics(scores, C, [1]).auc;
            validations.push(auc);
            return auc;
          },
        },
      });
      const final = new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
      lm.dispose();
      return { r, final, validations };
    };
    const straight = await run(join(dir, 'sig-a'), false);
    assert.equal(straight.r.epochs!.length, 4);
    // null is only for an aborted validation: without an abort it is an error naming the metric and when.
    const lm = tinyLm(5);
    const m = new YesNoLlm(lm, tok, data);
    await assert.rejects(m.fit(cases, ex, {
      steps: perEpoch, batchSize, lr: 1e-2, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars: m.trainables({ lm: true }),
      validation: { metric: 'auc', patience: 1, stepsPerEpoch: perEpoch, validate: () => null },
    }), /validation gave no auc before training \(null is for an aborted validation\)/);
    lm.dispose();
    for (const [abortAt, stepAtStop] of [[2, 2 * perEpoch], [0, 0], [4, 4 * perEpoch]]) {
      const ck = join(dir, `sig-${abortAt}`);
      const cut = await run(ck, false, abortAt);
      assert.equal(cut.r.interrupted, true);
      assert.equal(cut.r.steps, stepAtStop, 'stopped at the step whose validation was aborted, without training further');
      assert.equal(cut.validations.length, abortAt, 'the aborted validation records nothing');
      const state = JSON.parse(readFileSync(join(ck, 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number; extra: { validation: { epochs: unknown[] } } };
      assert.equal(state.step, stepAtStop);
      assert.equal(state.extra.validation.epochs.length, Math.max(0, abortAt - 1));
      if (abortAt === 4) {
        // The last epoch's validation, aborted again when the resume redoes it: still interrupted, still at the last step.
        const again = await run(ck, true, 0);
        assert.deepEqual([again.r.interrupted, again.r.steps, again.validations.length], [true, stepAtStop, 0]);
      }
      const resumed = await run(ck, true);
      assert.equal(resumed.r.interrupted, false);
      assert.deepEqual(resumed.validations, straight.validations.slice(abortAt), 'the resume redoes the aborted validation, then goes on');
      assert.deepEqual(resumed.r.epochs!.map((e) => e.valid), straight.r.epochs!.map((e) => e.valid));
      assert.equal(resumed.r.initialValid, straight.r.initialValid);
      assert.equal(resumed.r.bestEpoch, straight.r.bestEpoch);
      for (const [n, d] of straight.final) assert.deepEqual(resumed.final.get(n), d, `${n}: the same best weights as the straight run`);
    }
  });

  test('scoreInterruptible gives score\'s numbers, and null once its signal is aborted', async () => {
    const m = new YesNoLlm(tinyLm(6), tok, data);
    m.collab = new CollabSignal(collab, data);
    const t = loadTemplates().seen[0];
    const cases = splitCases(data, 'valid', sampleRows(data.valid.count, 5, 4));
    const want = m.score(cases, t, m.originalTitles);
    assert.deepEqual(await m.scoreInterruptible(cases, t, m.originalTitles), want);
    const ac = new AbortController();
    setImmediate(() => ac.abort());
    assert.equal(await m.scoreInterruptible(cases, t, m.originalTitles, { signal: ac.signal }), null);
    m.lm.dispose();
  });

  test('collaborative score feature: score = w * z + g * (l(yes) - l(no)), in both scoring paths and in training', async () => {
    const lm = tinyLm(4);
    const m = new YesNoLlm(lm, tok, data);
    m.collab = new CollabSignal(collab, data);
    const t = loadTemplates().seen[0];
    const cases = splitCases(data, 'valid', sampleRows(data.valid.count, 4, 1));
    const base = m.score(cases, t, m.originalTitles);
    // Gate 0.7 held as variable 0.7 / 4 times the step scale 4: the score sees 0.7.
    m.initScoreFeature(0.5, 0.7, 4);
    assert.ok(Math.abs((m.lmGate!.dataSync() as Float32Array)[0] - 0.175) < 1e-7);
    assert.ok(Math.abs(m.scoreFeatureValues()!.gate - 0.7) < 1e-6);
    const withW = m.score(cases, t, m.originalTitles);
    const full = m.scoreFull(cases, t, m.originalTitles);
    const C = cases[0].candidates.length;
    const z = cases.flatMap((c) => Array.from(standardise(collab.scoreCandidates({ size: 1, L: c.history.length, user: Int32Array.of(c.user), history: c.history }, c.candidates, C))));
    for (let i = 0; i < base.length; i++) {
      assert.ok(Math.abs(withW[i] - (0.7 * base[i] + 0.5 * z[i])) < 1e-4, `row ${i}`);
      assert.ok(Math.abs(full[i] - withW[i]) < 2e-4, `row ${i} full`);
    }
    const vars = m.trainables({ scoreWeight: true });
    assert.deepEqual([...vars.keys()], ['collab.score_weight', 'collab.lm_gate']);
    const qs = trainQuestions(data, { users: 10, perUser: 1, negatives: 9, seed: 2 });
    await m.fit(qs, yesNoExamples(qs, 1, 1), { steps: 5, batchSize: 8, lr: 0.05, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 1, templates: [t], titles: m.originalTitles, vars });
    assert.notEqual((m.scoreWeight!.dataSync() as Float32Array)[0], 0.5, 'the weight trains');
    assert.ok(Math.abs(m.scoreFeatureValues()!.gate - 0.7) > 1e-4, 'the LM gate trains');
    await assert.rejects(m.fit(qs, yesNoExamples(qs, 1, 1), { steps: 1, batchSize: 8, lr: 0.05, weightDecay: 0, warmupSteps: 0, loss: 'lm', seed: 1, templates: [t], titles: m.originalTitles, vars }), /needs loss 'bce'/);
    assert.throws(() => m.initScoreFeature(1, Number.NaN), /LM gate must be finite/);
    assert.throws(() => m.initScoreFeature(1, 0, 0), /LM gate scale/);
    assert.ok(Math.abs(withinCaseSpread(Float32Array.of(1, 3, 5, 5), 2) - Math.SQRT1_2) < 1e-12, 'within-case spread: variances 1 and 0, sqrt of their mean');
    m.dispose();
    lm.dispose();
  });

  test('residual hybrid: at initialisation the scores rank exactly as the collaborative model, whatever the LM says', () => {
    const lm = tinyLm(6);
    const m = new YesNoLlm(lm, tok, data);
    m.collab = new CollabSignal(collab, data);
    const t = loadTemplates().seen[0];
    const cases = splitCases(data, 'valid', sampleRows(data.valid.count, 12, 2));
    const C = cases[0].candidates.length;
    const lmOnly = m.score(cases, t, m.originalTitles);
    m.initScoreFeature();
    assert.equal((m.lmGate!.dataSync() as Float32Array)[0], 0, 'the LM gate starts at 0');
    const hybrid = m.score(cases, t, m.originalTitles);
    const full = m.scoreFull(cases, t, m.originalTitles);
    const cf = m.collab.candidateScores(cases);
    const order = (x: ArrayLike<number>, ci: number) => Array.from({ length: C }, (_, k) => k).sort((a, b) => x[ci * C + b] - x[ci * C + a] || a - b);
    let lmDiffers = 0;
    for (let ci = 0; ci < cases.length; ci++) {
      const want = order(cf, ci);
      assert.deepEqual(order(hybrid, ci), want, `case ${ci}: hybrid order = collaborative order`);
      assert.deepEqual(order(full, ci), want, `case ${ci}: full-forward path too`);
      if (order(lmOnly, ci).join() !== want.join()) lmDiffers++;
      const zc = standardise(cf.subarray(ci * C, (ci + 1) * C));
      for (let k = 0; k < C; k++) assert.equal(hybrid[ci * C + k], zc[k], 'exactly w * z with w = 1');
    }
    assert.ok(lmDiffers > 0, 'the LM alone ranks differently (so the equality is not a coincidence)');
    assert.equal(rankingMetrics(hybrid, C, [5]).auc, rankingMetrics(cf, C, [5]).auc);
    assert.equal(rankingMetrics(hybrid, C, [5])['ndcg@5'], rankingMetrics(cf, C, [5])['ndcg@5']);
    m.dispose();
    lm.dispose();
  });

  test('a last epoch shorter than stepsPerEpoch is validated and can be the best (also after a resume)', async () => {
    const cases = trainQuestions(data, { users: 20, perUser: 1, negatives: 9, seed: 1 });
    const ex = yesNoExamples(cases, 1, 2);
    const templates = [loadTemplates().seen[0]];
    const batchSize = 8;
    const perEpoch = Math.ceil(ex.length / batchSize);
    assert.ok(perEpoch >= 3);
    // 2 whole epochs + a partial third one of perEpoch - 1 steps (as ceil(epochs * examples / batch) gives when examples % batch != 0).
    const steps = 3 * perEpoch - 1;
    // Scripted: initial, epoch 0, epoch 1, then the partial epoch 2, the best.
    const script = [0.5, 0.6, 0.7, 0.9];
    const run = async (ckpt: string, resume: boolean, stopAtStep?: number) => {
      const lm = tinyLm(5);
      const m = new YesNoLlm(lm, tok, data);
      applyLora(lm, parseLoraConfig({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }));
      const vars = m.trainables({ lora: true });
      const seen: Array<{ step: number; vars: Map<string, Float32Array> }> = [];
      const ac = new AbortController();
      let step = resume ? -1 : 0;
      let calls = 0;
      const r = await m.fit(cases, ex, {
        steps, batchSize, lr: 1e-2, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars,
        checkpointDir: ckpt, checkpointEvery: 0, resume, signal: ac.signal,
        onStep: (s) => { step = s; if (s === stopAtStep) ac.abort(); },
        validation: {
          metric: 'auc', patience: 2, stepsPerEpoch: perEpoch,
          validate: () => {
            seen.push({ step, vars: new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()])) });
            return script[resume ? 3 : calls++];
          },
        },
      });
      const final = new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
      lm.dispose();
      return { r, seen, final };
    };
    const a = await run(join(dir, 'partial-a'), false);
    assert.equal(a.r.steps, steps);
    assert.deepEqual(a.seen.map((x) => x.step), [0, perEpoch, 2 * perEpoch, steps], 'validated at the start, after epochs 0 and 1, and at the last step');
    assert.deepEqual(a.r.epochs!.map((e) => [e.epoch, e.valid]), [[0, 0.6], [1, 0.7], [2, 0.9]]);
    assert.equal(a.r.bestEpoch, 2, 'the partial last epoch is chosen');
    assert.equal(a.r.lastEpoch, 2);
    assert.equal(a.r.bestValid, 0.9);
    assert.deepEqual(a.final, a.seen[3].vars, 'the result is the weights after the last step');
    assert.notDeepEqual(a.final, a.seen[2].vars);
    const state = JSON.parse(readFileSync(join(dir, 'partial-a', 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number; bestMetric: unknown };
    assert.equal(state.step, steps);
    assert.deepEqual(state.bestMetric, { name: 'auc', value: 0.9, epoch: 2 });
    // Interrupted inside the partial epoch, resumed: the partial epoch is validated once, same result.
    const b1 = await run(join(dir, 'partial-b'), false, 2 * perEpoch + 1);
    assert.equal(b1.r.interrupted, true);
    assert.equal(b1.seen.length, 3, 'initial weights, epochs 0 and 1');
    const b2 = await run(join(dir, 'partial-b'), true);
    assert.equal(b2.seen.length, 1, 'the resumed run validates the partial epoch only');
    assert.equal(b2.r.bestEpoch, 2);
    for (const [n, d] of a.final) assert.deepEqual(b2.final.get(n), d);
    // Resumed from the checkpoint written after the partial epoch: nothing is trained or validated again.
    const c = await run(join(dir, 'partial-a'), true);
    assert.equal(c.seen.length, 0);
    assert.equal(c.r.bestEpoch, 2);
    for (const [n, d] of a.final) assert.deepEqual(c.final.get(n), d);
  });

  test('early stopping never returns weights worse on validation than the initial ones', async () => {
    const t = loadTemplates().seen[0];
    const qs = trainQuestions(data, { users: 30, perUser: 1, negatives: 9, seed: 3 });
    const ex = yesNoExamples(qs, 1, 4);
    const batchSize = 8;
    const perEpoch = Math.ceil(ex.length / batchSize);
    const validCasesOf = splitCases(data, 'valid', sampleRows(data.valid.count, 20, 5));
    const C = validCasesOf[0].candidates.length;
    // Scripted: every epoch worse than the start -> the initial weights come back (bestEpoch -1).
    {
      const lm = tinyLm(7);
      const m = new YesNoLlm(lm, tok, data);
      m.collab = new CollabSignal(collab, data);
      m.initScoreFeature();
      const vars = m.trainables({ scoreWeight: true });
      const start = new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
      const script = [0.9, 0.7, 0.85, 0.8];
      let call = 0;
      const r = await m.fit(qs, ex, {
        steps: 6 * perEpoch, batchSize, lr: 0.05, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 1, templates: [t], titles: m.originalTitles, vars,
        validation: { metric: 'auc', patience: 3, stepsPerEpoch: perEpoch, validate: () => script[call++] },
      });
      assert.equal(r.initialValid, 0.9);
      assert.equal(r.bestEpoch, -1);
      assert.equal(r.bestValid, 0.9);
      assert.equal(r.stoppedEarly, true);
      assert.equal(r.epochs!.length, 3);
      assert.ok(r.epochs!.every((e) => !e.best));
      for (const [n, v] of vars) assert.deepEqual(v.dataSync() as Float32Array, start.get(n), `${n} is back at its initial value`);
      m.dispose();
      lm.dispose();
    }
    // Real validation AUC (the residual hybrid, w and g trained with a large step): the result is at least the start.
    {
      const lm = tinyLm(8);
      const m = new YesNoLlm(lm, tok, data);
      m.collab = new CollabSignal(collab, data);
      m.initScoreFeature();
      const vars = m.trainables({ scoreWeight: true });
      const auc = () => rankingMetrics(m.score(validCasesOf, t, m.originalTitles), C, [1]).auc;
      const start = auc();
      assert.equal(start, rankingMetrics(m.collab.candidateScores(validCasesOf), C, [1]).auc, 'the start is the collaborative model');
      const r = await m.fit(qs, ex, {
        steps: 4 * perEpoch, batchSize, lr: 0.5, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 2, templates: [t], titles: m.originalTitles, vars,
        validation: { metric: 'auc', patience: 2, stepsPerEpoch: perEpoch, validate: auc },
      });
      assert.equal(r.initialValid, start);
      const end = auc();
      assert.ok(end >= start, `validation AUC after training ${end} >= at the start ${start}`);
      assert.equal(end, r.bestValid, 'the returned weights are the validation-best ones');
      assert.equal(end, Math.max(start, ...r.epochs!.map((e) => e.valid)));
      m.dispose();
      lm.dispose();
    }
  });

  test('full fine-tuning trains every LM parameter; LoRA and full together are refused', () => {
    const lm = tinyLm(5);
    const m = new YesNoLlm(lm, tok, data);
    const vars = m.trainables({ lm: true });
    assert.equal(vars.size, lm.store.vars.size);
    assert.ok([...vars.values()].every((v) => v.trainable));
    assert.throws(() => m.trainables({ lm: true, lora: true }), /LoRA or full/);
    lm.dispose();
  });

  test('LM corpus: review documents of training interactions only (never of a validation or test item)', () => {
    assert.ok(data.reviews && data.reviews.size > 0, 'the shop has reviews');
    const kinds = { items: 0, histories: 0, reviews: 0 };
    const docs = buildCorpus(data, { itemDocs: false, historyDocs: false, reviewDocs: true }, kinds);
    let want = 0;
    let heldOutReviews = 0;
    data.trainSeqs.forEach((seq, u) => {
      const full = data.sequences[u];
      const held = [full[full.length - 2], full[full.length - 1]];
      for (const item of seq) if (!held.includes(item) && data.reviews!.has(`${u}:${item}`)) want++;
      for (const item of held) if (data.reviews!.has(`${u}:${item}`)) heldOutReviews++;
    });
    assert.ok(heldOutReviews > 0, 'held-out interactions have reviews to leave out');
    assert.equal(kinds.reviews, want);
    assert.equal(docs.length, want);
    assert.equal(buildCorpus(data).length, buildCorpus(data, { reviewDocs: false }).length, 'off by default (RecSysLLM keeps its corpus)');
  });

  test('held-out mapping questions: validation targets of users outside the selection sample, seeded', () => {
    // heldOutRows: the complement of the excluded rows, sampled and sorted.
    const rows = heldOutRows(10, [1, 4, 7], 4, 9);
    assert.equal(rows.length, 4);
    assert.deepEqual(rows, [...rows].sort((a, b) => a - b));
    for (const r of rows) assert.ok(![1, 4, 7].includes(r) && r >= 0 && r < 10);
    assert.deepEqual(heldOutRows(10, [1, 4, 7], 4, 9), rows, 'seeded');
    assert.deepEqual(heldOutRows(10, [1, 4, 7], 100, 9), [0, 2, 3, 5, 6, 8, 9], 'n above the rest: every remaining row');
    assert.throws(() => heldOutRows(3, [0, 1, 2], 2, 1), /all 3 rows/);

    const count = data.valid.count;
    const validRow = new Map(Array.from(data.valid.user, (u, r) => [u, r]));
    // A validation question: the user's validation target vs its stored negatives (never a test item); one per user.
    const isValidQuestion = (cs: Case[]) => {
      for (const c of cs) {
        const row = validRow.get(c.user)!;
        assert.equal(c.candidates[0], data.valid.target[row]);
        assert.deepEqual(Array.from(c.candidates.subarray(1)), Array.from(data.valid.negatives.subarray(row * data.valid.numNegatives, (row + 1) * data.valid.numNegatives)));
      }
      assert.equal(new Set(cs.map((c) => c.user)).size, cs.length, 'one question per user');
    };
    const users = (cs: Case[]) => new Set(cs.map((c) => c.user));
    const disjoint = (a: Case[], b: Case[], what: string) => { const B = users(b); for (const c of a) assert.ok(!B.has(c.user), `user ${c.user}: ${what}`); };
    const o = parseGanPromptOptions({ mappingStage: { questions: 'valid-heldout', users: 25, validUsers: 20 } });
    assert.equal(o.mappingStage.questions, 'valid-heldout');
    const run = newYesNoRun(data, o, dir, {}, false);
    assert.equal(run.mapStage.questions, 'valid-heldout');
    const q = stepQuestions(run);
    assert.equal(q.mapValid.length, 20);
    assert.equal(q.mapCases.length, Math.min(25, count - 20));
    disjoint(q.mapCases, q.mapValid, 'both trains and selects');
    isValidQuestion(q.mapCases);
    assert.deepEqual(stepQuestions(run).mapCases.map((c) => c.user), q.mapCases.map((c) => c.user), 'seeded');
    // The adapter step on training positions: its questions and the mapping step's held-out ones as before.
    assert.ok(q.loraCases.every((c) => !validRow.has(c.user) || c.candidates[0] !== data.valid.target[validRow.get(c.user)!]), 'training positions, not validation targets');
    // Both steps held out: the adapter's users lie outside both selection samples, the mapping step's outside its own and the adapter's.
    const both = newYesNoRun(data, parseGanPromptOptions({ loraStage: { questions: 'valid-heldout', users: 15, validUsers: 10 }, mappingStage: { questions: 'valid-heldout', users: 12, validUsers: 10 } }), dir, {}, false);
    const h = stepQuestions(both);
    assert.equal(h.loraCases.length, 15);
    assert.equal(h.mapCases.length, 12);
    isValidQuestion(h.loraCases);
    isValidQuestion(h.mapCases);
    disjoint(h.loraCases, h.loraValid, 'the adapter trains and selects');
    disjoint(h.loraCases, h.mapValid, "the adapter trains on the mapping step's selection users");
    disjoint(h.mapCases, h.mapValid, 'the mapping step trains and selects');
    disjoint(h.mapCases, h.loraCases, 'both steps train on the same question');
    assert.deepEqual(stepQuestions(both).loraCases.map((c) => c.user), h.loraCases.map((c) => c.user), 'seeded');
    // Every validation user in the selection sample: nothing is left to train on.
    const all = newYesNoRun(data, parseGanPromptOptions({ mappingStage: { questions: 'valid-heldout', validUsers: count } }), dir, {}, false);
    assert.throws(() => stepQuestions(all), /selection sample/);
    const legacy = newYesNoRun(data, parseGanPromptOptions({ trainSource: 'valid', loraStage: { questions: 'valid-heldout' } }), dir, {}, false);
    assert.throws(() => stepQuestions(legacy), /loraStage\.questions 'valid-heldout' needs trainSource 'train'/);
    assert.equal(parseGanPromptOptions({}).mappingStage.questions, undefined, 'absent: the stage default');
    assert.equal(newYesNoRun(data, parseGanPromptOptions({}), dir, {}, false).mapStage.questions, 'train', 'default: training positions, as before');
    assert.equal(newYesNoRun(data, parseGanPromptOptions({}), dir, {}, false).loraStage.questions, undefined, "the adapter's: absent (training positions), so older stage keys stay equal");
    assert.throws(() => parseGanPromptOptions({ mappingStage: { questions: 'test' } }), /mappingStage\.questions/);
    assert.throws(() => parseGanPromptOptions({ loraStage: { questions: 'test' } }), /loraStage\.questions/);
  });

  test("withheld training questions ('train-heldout'): the positions the cross-fitted collaborative model never saw", () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-withheld-'));
    try {
      const o = parseGanPromptOptions({ collab: { holdOut: 2 }, loraStage: { questions: 'train-heldout', users: 30 }, mappingStage: { questions: 'train-heldout', users: 25 } });
      const run = newYesNoRun(data, o, dir, {}, false);
      const q = stepQuestions(run);
      // Withheld questions are training questions: each knows its position in the user's training sequence.
      const positionOf = (c: Case) => (c as TrainCase).position;
      const perUser = (cs: Case[]) => { const m = new Map<number, number[]>(); for (const c of cs) m.set(c.user, [...(m.get(c.user) ?? []), positionOf(c)]); return m; };
      const lora = perUser(q.loraCases);
      const map = perUser(q.mapCases);
      assert.equal(lora.size, 30);
      assert.equal(map.size, 25);
      for (const [u, ps] of [...lora, ...map]) {
        const seq = data.trainSeqs[u];
        assert.deepEqual(ps, [seq.length - 2, seq.length - 1], `user ${u}: its last two training positions`);
      }
      for (const c of [...q.loraCases, ...q.mapCases]) {
        const seq = data.trainSeqs[c.user];
        const p = positionOf(c);
        assert.equal(c.candidates[0], seq[p], 'the withheld item is the target');
        const h = Array.from(c.history).filter((x) => x !== 0);
        assert.deepEqual(h, Array.from(seq.subarray(Math.max(0, p - c.history.length), p)), 'history: the items before it');
      }
      for (const u of map.keys()) assert.ok(!lora.has(u), `user ${u}: both steps train on it`);
      assert.deepEqual(stepQuestions(run).mapCases.map((c) => c.user), q.mapCases.map((c) => c.user), 'seeded');
      // The adapter on withheld positions, the mapping step on held-out validation targets: as before for the latter.
      const mixed = stepQuestions(newYesNoRun(data, parseGanPromptOptions({ collab: { holdOut: 1 }, loraStage: { questions: 'train-heldout', users: 20, validUsers: 10 }, mappingStage: { questions: 'valid-heldout', users: 12, validUsers: 10 } }), dir, {}, false));
      assert.ok(mixed.loraCases.every((c) => positionOf(c) === data.trainSeqs[c.user].length - 1));
      const validRow = new Map(Array.from(data.valid.user, (u, r) => [u, r]));
      assert.ok(mixed.mapCases.every((c) => c.candidates[0] === data.valid.target[validRow.get(c.user)!]), 'validation targets');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(() => parseGanPromptOptions({ loraStage: { questions: 'train-heldout' } }), /loraStage\.questions 'train-heldout' needs collab\.holdOut/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { questions: 'train-heldout' } }), /mappingStage\.questions 'train-heldout' needs collab\.holdOut/);
    assert.throws(() => parseGanPromptOptions({ collab: { holdOut: 1, dir: 'runs/x/collab' } }), /collab\.holdOut needs the collaborative model trained in the run/);
    assert.throws(() => parseGanPromptOptions({ trainSource: 'valid', collab: { holdOut: 1 }, mappingStage: { questions: 'train-heldout' } }), /needs trainSource 'train'/);
    assert.throws(() => parseGanPromptOptions({ collab: { holdOut: 0 } }), /collab\.holdOut/);
    assert.throws(() => trainQuestions(data, { users: 5, perUser: 0, negatives: 3, seed: 1, tail: true }), /tail positions need perUser >= 1/);
  });

  test('collab.holdOut and collab.lr: the collaborative model is fitted without the withheld items at the given rate, records both; a run is not resumed with another holdOut', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-holdout-'));
    try {
      const open = (holdOut: number | undefined, resume: boolean) => newYesNoRun(data, parseGanPromptOptions({ collab: { model: 'pop', ...(holdOut ? { holdOut } : {}) } }), dir, {}, resume);
      const counts = (seqs: readonly Int32Array[]) => { const c = new Float32Array(data.numItems + 1); for (const s of seqs) for (const x of s) c[x]++; return Array.from(c); };
      const r = open(1, false);
      assert.equal(await collabStage.run(r), 'done');
      assert.deepEqual(Array.from((r.collabModel as Pop).itemCounts()), counts(data.trainSeqs.map((s) => s.subarray(0, s.length - 1))), 'fitted on all but each last training item');
      assert.notDeepEqual(counts(data.trainSeqs.map((s) => s.subarray(0, s.length - 1))), counts(data.trainSeqs));
      assert.equal(r.report.collabFit?.holdOut, 1);
      const again = open(1, true);
      assert.equal(await collabStage.run(again), 'done');
      assert.deepEqual(Array.from((again.collabModel as Pop).itemCounts()), Array.from((r.collabModel as Pop).itemCounts()), 'resumed: the saved model');
      // A run directory is not resumed with another holdOut (collab is not among the options that may change on resume).
      const runDir = join(dir, 'run');
      const raw = (holdOut: number) => ({ collab: { model: 'pop', holdOut } });
      await runGanPrompt(data, raw(1), runDir, { until: 'collab' });
      assert.equal(JSON.parse(readFileSync(join(runDir, 'collab', 'fit.json'), 'utf8')).holdOut, 1);
      await assert.rejects(runGanPrompt(data, raw(2), runDir, { until: 'collab' }, true), /collab\.holdOut: 1 in the run, 2 now/);
      // collab.lr: the fit's learning rate, recorded; absent, the model's default.
      const fitBpr = async (lr: number | undefined) => {
        const d = mkdtempSync(join(tmpdir(), 'llmrec-collab-lr-'));
        try {
          const b = newYesNoRun(data, parseGanPromptOptions({ collab: { model: 'bprmf', config: { d: 8 }, epochs: 1, ...(lr ? { lr } : {}) } }), d, {}, false);
          await collabStage.run(b);
          const batch: UserBatch = { size: 1, user: Int32Array.of(0), history: data.valid.history.subarray(0, data.valid.L), L: data.valid.L };
          return { lr: b.report.collabFit?.lr, scores: Array.from(b.collabModel!.scoreCandidates(batch, Int32Array.of(1, 2, 3), 3)) };
        } finally {
          rmSync(d, { recursive: true, force: true });
        }
      };
      const base = await fitBpr(undefined);
      const fast = await fitBpr(0.05);
      assert.equal(base.lr, 1e-3, "absent: the model's default");
      assert.equal(fast.lr, 0.05);
      assert.notDeepEqual(fast.scores, base.scores, 'another rate, other weights');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("guide hit rate: the share of questions whose target is among the collaborative model's top candidates", () => {
    const lm = tinyLm();
    try {
      const m = new YesNoLlm(lm, tok, data, { guide: { ...DEFAULT_GUIDE, topK: 3 } });
      m.collab = new CollabSignal(collab, data);
      const cases = splitCases(data, 'valid', sampleRows(data.valid.count, 30, 4));
      // By hand: the collaborative model's scores, the target (candidate 0) among the 3 best (ties: the later candidate first, as topCandidates).
      const scores = m.collab.candidateScores(cases);
      const C = cases[0].candidates.length;
      const want = cases.filter((_, i) => {
        const s = scores.subarray(i * C, (i + 1) * C);
        const above = Array.from(s).filter((x, k) => k > 0 && x >= s[0]).length;
        return above < 3;
      }).length / cases.length;
      assert.equal(m.guideHitRate(cases), want);
      assert.ok(Number.isNaN(m.guideHitRate([])));
      const noGuide = new YesNoLlm(lm, tok, data, {});
      assert.throws(() => noGuide.guideHitRate(cases), /no guide/);
    } finally {
      lm.dispose();
    }
  });

  test('options: new fields have defaults; bad values name the field', () => {
    const o = parseGanPromptOptions({});
    assert.equal(o.trainSource, 'train');
    const ok = parseGanPromptOptions({ loraStage: { variables: 'full', questionsPerUser: 0, patience: 3, validUsers: 100 }, mappingStage: { scoreFeature: true, itemVectors: 'never' } });
    assert.equal(ok.loraStage.variables, 'full');
    assert.equal(ok.mappingStage.scoreFeature, true);
    assert.throws(() => parseGanPromptOptions({ loraStage: { variables: 'qlora' } }), /loraStage\.variables/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { patience: 0 } }), /mappingStage\.patience/);
    assert.throws(() => parseGanPromptOptions({ loraStage: { questionsPerUser: 1.5 } }), /loraStage\.questionsPerUser/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { itemVectors: 'sometimes' } }), /mappingStage\.itemVectors/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { variables: 'full' } }), /variables/);
    assert.throws(() => parseGanPromptOptions({ trainSource: 'test' }), /trainSource/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { scoreWeightInit: 0 } }), /mappingStage\.scoreWeightInit/, 'w > 0: the start ranks as the collaborative model');
    assert.equal(parseGanPromptOptions({ loraStage: { epochs: 15, scheduleEpochs: 9 } }).loraStage.scheduleEpochs, 9);
    assert.throws(() => parseGanPromptOptions({ loraStage: { scheduleEpochs: 0 } }), /loraStage\.scheduleEpochs/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { scheduleEpochs: -1 } }), /mappingStage\.scheduleEpochs/);
    // Guide dropout: absent by default (so the adapter's stage key of an earlier run is unchanged), in [0, 1), adapter step only.
    assert.equal('guideDropout' in parseGanPromptOptions({}).loraStage, false);
    assert.equal(parseGanPromptOptions({ loraStage: { guideDropout: 0.5 } }).loraStage.guideDropout, 0.5);
    assert.throws(() => parseGanPromptOptions({ loraStage: { guideDropout: 1 } }), /loraStage\.guideDropout/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { guideDropout: 0.5 } }), /guideDropout/);
    // The collaborative offset: absent by default, and only beside the score feature it is trained for, with the BCE loss.
    assert.equal('collabOffset' in parseGanPromptOptions({}).loraStage, false);
    assert.equal(parseGanPromptOptions({ loraStage: { collabOffset: true }, mappingStage: { scoreFeature: true } }).loraStage.collabOffset, true);
    assert.throws(() => parseGanPromptOptions({ loraStage: { collabOffset: true } }), /loraStage\.collabOffset needs mappingStage\.scoreFeature true/);
    assert.throws(() => parseGanPromptOptions({ loraStage: { collabOffset: true, loss: 'lm' }, mappingStage: { scoreFeature: true } }), /loraStage\.collabOffset needs loraStage\.loss 'bce'/);
  });

  test('scheduleEpochs: the learning-rate schedule no longer depends on the cap; a longer cap repeats the shorter run and goes on at the floor', async () => {
    // stageSteps: 100 examples, batch 8 -> 13 steps per epoch; the cap sets the steps, scheduleEpochs the schedule's span and warm-up.
    assert.deepEqual(stageSteps(100, { epochs: 3, batchSize: 8 }), { perEpoch: 13, steps: 38, scheduleSteps: 38, warmupSteps: 4 });
    assert.deepEqual(stageSteps(100, { epochs: 15, scheduleEpochs: 3, batchSize: 8 }), { perEpoch: 13, steps: 188, scheduleSteps: 38, warmupSteps: 4 });
    assert.equal(stageSteps(10000, { epochs: 9, batchSize: 16 }).warmupSteps, 50, 'at most 50 warm-up steps');

    const cases = trainQuestions(data, { users: 12, perUser: 1, negatives: 9, seed: 1 });
    const ex = yesNoExamples(cases, 1, 2);
    const templates = [loadTemplates().seen[0]];
    const batchSize = 8;
    const fit = async (epochs: number, scheduleEpochs?: number) => {
      const { perEpoch, steps, scheduleSteps, warmupSteps } = stageSteps(ex.length, { epochs, scheduleEpochs, batchSize });
      const lm = tinyLm(5);
      const m = new YesNoLlm(lm, tok, data);
      applyLora(lm, parseLoraConfig({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }));
      const vars = m.trainables({ lora: true });
      const atEpoch: Array<Map<string, Float32Array>> = [];
      await m.fit(cases, ex, {
        steps, scheduleSteps, batchSize, lr: 2e-2, weightDecay: 0, warmupSteps, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars,
        // A constant metric: never an improvement after the start, patience high enough that every epoch runs.
        validation: { metric: 'auc', patience: 10, stepsPerEpoch: perEpoch, validate: () => { atEpoch.push(new Map([...vars].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]))); return 0.5; } },
      });
      lm.dispose();
      return atEpoch; // [initial, after epoch 0, after epoch 1, ...]
    };
    const short = await fit(2);
    const stretched = await fit(3);
    const fixed = await fit(3, 2);
    assert.equal(short.length, 3);
    assert.equal(fixed.length, 4);
    // Without scheduleEpochs the longer cap stretches the schedule: the first epoch already trains differently.
    assert.notDeepEqual(stretched[1], short[1]);
    // With it, the longer run repeats the shorter one epoch for epoch, then goes on (at the floor rate).
    assert.deepEqual(fixed[1], short[1]);
    assert.deepEqual(fixed[2], short[2]);
    assert.notDeepEqual(fixed[3], fixed[2]);
    const lm = tinyLm(5);
    const m = new YesNoLlm(lm, tok, data);
    await assert.rejects(m.fit(cases, ex, {
      steps: 4, scheduleSteps: 0, batchSize, lr: 1e-2, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 4, templates, titles: m.originalTitles, vars: m.trainables({ lm: true }),
    }), /scheduleSteps must be a positive integer, got 0/);
    lm.dispose();
  });
});
