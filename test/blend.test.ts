/**
 * Issue 19, the stacked start of the collaborative score feature
 * (docs/METHODS.md §5, "Stacked start"): the listwise blend's loss, gradient
 * and Hessian against hand-computed values; the Newton fit reaches the
 * minimum (zero gradient, no grid point lower); bad input is refused; and
 * chooseScoreStart fits on the LM's own answers and keeps the better start
 * on validation (the collaborative one on a tie); the collaborative offset
 * of a guided adapter starts at z's own weight and trains on w * z + d.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import { itemSentence } from '../src/data/item_text.js';
import { trainBpe, withRecSpecialTokens, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { createRecommender } from '../src/models/registry.js';
import type { Recommender } from '../src/models/types.js';
import { CollabSignal } from '../src/methods/collab.js';
import { loadTemplates } from '../src/methods/prompts.js';
import { rankingMetrics } from '../src/methods/reference.js';
import { sampleRows, splitCases, standardise, trainQuestions, yesNoExamples, YesNoLlm } from '../src/methods/yesno.js';
import { blendLoss, fitListwiseBlend } from '../src/methods/yesno/blend.js';
import { chooseScoreStart, collabOffsetStart } from '../src/methods/ganprompt/score_start.js';
import { parseGanPromptOptions } from '../src/config/ganprompt.js';
import { Mulberry32 } from '../src/util/random.js';
import { ready } from './helpers.js';

const close = (a: number, b: number, eps: number, what: string) => assert.ok(Math.abs(a - b) < eps, `${what}: ${a} vs ${b}`);

describe('stacked start of the score feature (issue 19)', () => {
  test('listwise loss, gradient and Hessian: hand-computed', () => {
    // One question, C = 2: z = (1, 0), d = (0, 1); at w = g = 1 both candidates score 1.
    const r = blendLoss([1, 0], [0, 1], 2, 1, 1, 1e-4);
    close(r.loss, Math.log(2) + 1e-4, 1e-12, 'loss = log 2 + (l2 / 2)(1 + 1)');
    close(r.grad[0], -0.5 + 1e-4, 1e-12, 'dL/dw = E_p[z] - z_0 + l2 w = 0.5 - 1 + l2');
    close(r.grad[1], 0.5 + 1e-4, 1e-12, 'dL/dg = E_p[d] - d_0 + l2 g = 0.5 - 0 + l2');
    close(r.hess[0], 0.25 + 1e-4, 1e-12, 'Var_p z + l2');
    close(r.hess[1], -0.25, 1e-12, 'Cov_p(z, d) = 0 - 0.25');
    close(r.hess[2], 0.25 + 1e-4, 1e-12, 'Var_p d + l2');
    // At the start (1, 0) of a two-question set: mean of log(1 + e^-1) and log(1 + e^1) - 1 = log(1 + e^-1).
    const s = blendLoss([1, 0, 0, 1], [0, 0, 0, 0], 2, 1, 0, 1e-4);
    close(s.loss, Math.log(1 + Math.exp(-1)) * 0.5 + (Math.log(1 + Math.E) - 0) * 0.5 + 0.5e-4, 1e-12, 'two questions, the second ranks the target last');
  });

  test('Newton fit: zero gradient at the result, no grid point lower; an informative second score gets the weight', () => {
    const rng = new Mulberry32(5);
    const C = 10;
    const n = 200;
    const z = new Float32Array(n * C);
    const d = new Float32Array(n * C);
    for (let c = 0; c < n; c++) {
      for (let k = 0; k < C; k++) {
        // z: noise with a weak target signal; d: a strong one.
        z[c * C + k] = rng.next() + (k === 0 ? 0.2 : 0);
        d[c * C + k] = rng.next() + (k === 0 ? 1.5 : 0);
      }
    }
    const b = fitListwiseBlend(z, d, C);
    const at = blendLoss(z, d, C, b.weight, b.gate, 1e-4);
    assert.ok(Math.max(Math.abs(at.grad[0]), Math.abs(at.grad[1])) < 1e-6, `gradient at the fit ${at.grad}`);
    close(at.loss, b.loss, 1e-12, 'the returned loss');
    assert.ok(b.gate > b.weight && b.gate > 0, `the informative score weighs more (w ${b.weight}, g ${b.gate})`);
    for (let i = -10; i <= 10; i++) {
      for (let j = -10; j <= 10; j++) {
        const w = b.weight + i * 0.1;
        const g = b.gate + j * 0.1;
        assert.ok(blendLoss(z, d, C, w, g, 1e-4).loss >= b.loss - 1e-12, `grid point (${w}, ${g}) is lower`);
      }
    }
    assert.ok(b.loss < blendLoss(z, d, C, 1, 0, 1e-4).loss, 'below the start (1, 0)');
    assert.ok(b.iterations >= 1 && b.iterations < 20, `Newton converges in a few steps, took ${b.iterations}`);
  });

  test('options: scoreStart is optional (stage keys of older runs stay equal); stacked without the score feature is refused', () => {
    assert.equal(parseGanPromptOptions({}).mappingStage.scoreStart, undefined);
    assert.equal(parseGanPromptOptions({ mappingStage: { scoreFeature: true, scoreStart: 'stacked' } }).mappingStage.scoreStart, 'stacked');
    assert.throws(() => parseGanPromptOptions({ mappingStage: { scoreStart: 'stacked' } }, 'c.json'), /in c\.json: mappingStage\.scoreStart 'stacked' needs mappingStage\.scoreFeature true/);
    assert.throws(() => parseGanPromptOptions({ mappingStage: { scoreStart: 'blend' } }), /mappingStage\.scoreStart/);
  });

  test('bad input is refused with the reason', () => {
    assert.throws(() => fitListwiseBlend([1, 2], [1], 2), /2 collaborative scores but 1 LM scores/);
    assert.throws(() => fitListwiseBlend([1, 2, 3], [1, 2, 3], 2), /not a whole number of questions/);
    assert.throws(() => fitListwiseBlend([1], [1], 1), /at least 2 candidates/);
    assert.throws(() => fitListwiseBlend([1, Number.NaN], [0, 0], 2), /score 1 is not finite/);
    assert.throws(() => fitListwiseBlend([1, 0], [0, 0], 2, { l2: 0 }), /l2 must be > 0/);
  });

  describe('chooseScoreStart on a YesNoLlm', () => {
    let data: SplitDataset;
    let tok: Tokenizer;
    let collab: Recommender;
    before(async () => {
      await ready();
      data = applyProtocol(generateShop({ users: 60, items: 80, seed: 7 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 3 });
      tok = trainBpe([...data.itemMeta.values()].map((m) => itemSentence(m)).concat(Array(20).fill('Answer: Yes. Answer: No.')), { vocabSize: 600 });
      withRecSpecialTokens(tok);
      collab = createRecommender('bprmf', { d: 8 });
      await collab.fit(data, { epochs: 1, batchSize: 64, lr: 0.01, patience: 1, validMetric: 'auc', validProtocol: 'sampled', seed: 1 });
    });
    after(() => collab.dispose());
    /** A one-layer LLaMA over the test tokenizer (untrained: its answers are what the blend is fitted on). */
    const tinyLm = (seed: number) => new LlamaForCausalLM(parseLlamaConfig({
      model_type: 'llama', vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
      num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true,
    }), { seed });

    test('fits on the LM\'s answers and the collaborative z, keeps the better start on validation (the collaborative one on a tie)', async () => {
      const lm = tinyLm(3);
      const m = new YesNoLlm(lm, tok, data);
      m.collab = new CollabSignal(collab, data);
      const templates = loadTemplates().seen.slice(0, 2);
      const qs = trainQuestions(data, { users: 12, perUser: 1, negatives: 9, seed: 4 });
      const C = qs[0].candidates.length;
      // The features, computed here independently: z from the collaborative model, d from the LM alone (no score feature).
      const raw = m.collab.candidateScores(qs);
      const z = qs.flatMap((_, c) => Array.from(standardise(raw.subarray(c * C, (c + 1) * C))));
      const d = new Float32Array(qs.length * C);
      qs.forEach((q, i) => d.set(m.score([q], templates[i % 2], m.originalTitles), i * C));
      const want = fitListwiseBlend(z, d, C);

      const valid = splitCases(data, 'valid', sampleRows(data.valid.count, 10, 2));
      const auc = () => rankingMetrics(m.score(valid, templates[0], m.originalTitles), C, [1]).auc;
      m.initScoreFeature(1, 0, 2);
      const collabAuc = auc();
      m.initScoreFeature(want.weight, want.gate, 2);
      const stackedAuc = auc();

      const r = (await chooseScoreStart(m, qs, templates, m.originalTitles, { weight0: 1, gateScale: 2, validate: auc }))!;
      close(r.fitted.weight, want.weight, 1e-5, 'w');
      close(r.fitted.gate, want.gate, 1e-5, 'g');
      assert.equal(r.fitted.questions, qs.length);
      assert.equal(r.collabValid, collabAuc);
      assert.equal(r.stackedValid, stackedAuc);
      assert.equal(r.chosen, stackedAuc > collabAuc ? 'stacked' : 'collab');
      const sf = m.scoreFeatureValues()!;
      close(sf.weight, r.weight, 1e-6, 'the model is left at the chosen w');
      close(sf.gate, r.gate, 1e-6, 'the model is left at the chosen g');
      assert.equal(m.lmGateScale, 2, 'the gate keeps its step scale');

      // A validation that prefers the LM-free start, and one that ties: the collaborative start is kept.
      const prefersCollab = () => (m.scoreFeatureValues()!.gate === 0 ? 0.9 : 0.8);
      const kept = (await chooseScoreStart(m, qs, templates, m.originalTitles, { weight0: 1.5, gateScale: 2, validate: prefersCollab }))!;
      assert.equal(kept.chosen, 'collab');
      assert.deepEqual([m.scoreFeatureValues()!.weight, m.scoreFeatureValues()!.gate], [1.5, 0]);
      const tie = (await chooseScoreStart(m, qs, templates, m.originalTitles, { weight0: 1, gateScale: 2, validate: () => 0.7 }))!;
      assert.equal(tie.chosen, 'collab');
      // Without validation questions the stacked start is taken.
      const blind = (await chooseScoreStart(m, qs, templates, m.originalTitles, { weight0: 1, gateScale: 2 }))!;
      assert.equal(blind.chosen, 'stacked');
      close(m.scoreFeatureValues()!.gate, want.gate, 1e-5, 'stacked g');
      // A validation the signal aborted (null): no start is chosen, so the step can end interrupted.
      const ac = new AbortController();
      ac.abort();
      assert.equal(await chooseScoreStart(m, qs, templates, m.originalTitles, { weight0: 1, gateScale: 2, validate: () => null, signal: ac.signal }), null);
      await assert.rejects(chooseScoreStart(m, [], templates, m.originalTitles, { weight0: 1, gateScale: 2 }), /no training questions/);
      // zScores: the z the score feature adds, as computed independently above.
      assert.deepEqual(Array.from(m.zScores(qs)), Array.from(Float32Array.from(z)));
      m.dispose();
      lm.dispose();
    });

    test('a start validated by the caller is not validated again by the training loop; a non-finite one is refused', async () => {
      const lm = tinyLm(5);
      const m = new YesNoLlm(lm, tok, data);
      m.collab = new CollabSignal(collab, data);
      m.initScoreFeature();
      const t = loadTemplates().seen[0];
      const qs = trainQuestions(data, { users: 16, perUser: 1, negatives: 9, seed: 6 });
      const ex = yesNoExamples(qs, 1, 2);
      const perEpoch = Math.ceil(ex.length / 8);
      const fit = (initial: number | undefined, validate: () => number) => m.fit(qs, ex, {
        steps: 2 * perEpoch, batchSize: 8, lr: 0.01, weightDecay: 0, warmupSteps: 1, loss: 'bce', seed: 1, templates: [t], titles: m.originalTitles, vars: m.trainables({ scoreWeight: true }),
        validation: { metric: 'auc', patience: 2, stepsPerEpoch: perEpoch, validate, initial },
      });
      let calls = 0;
      const r = await fit(0.75, () => { calls++; return 0.5; });
      assert.equal(calls, 2, 'two epochs validated, the start not');
      assert.equal(r.initialValid, 0.75);
      assert.equal(r.bestEpoch, -1, 'the given start stays the best');
      await assert.rejects(fit(Number.NaN, () => 0.5), /given initial validation auc is NaN/);
      m.dispose();
      lm.dispose();
    });

    test('collaborative offset: w of z alone, g 1; the adapter trains on the BCE of w * z + (l(yes) - l(no))', async () => {
      const lm = tinyLm(7);
      const m = new YesNoLlm(lm, tok, data);
      m.collab = new CollabSignal(collab, data);
      const t = loadTemplates().seen[0];
      const qs = trainQuestions(data, { users: 10, perUser: 1, negatives: 9, seed: 8 });
      const C = qs[0].candidates.length;
      const raw = m.collab.candidateScores(qs);
      const z = qs.flatMap((_, c) => Array.from(standardise(raw.subarray(c * C, (c + 1) * C))));
      const d = m.score(qs, t, m.originalTitles);
      const w0 = collabOffsetStart(m, qs);
      // The listwise weight of z alone: zero derivative in w there.
      const zero = new Float32Array(z.length);
      close(blendLoss(z, zero, C, w0, 0, 1e-4).grad[0], 0, 1e-6, 'dL/dw at the start');
      assert.ok(w0 > 0, `${w0}`);
      assert.deepEqual(m.scoreFeatureValues(), { weight: Math.fround(w0), gate: 1 });
      const s = m.score(qs, t, m.originalTitles);
      for (let i = 0; i < s.length; i++) close(s[i], Math.fround(w0) * z[i] + d[i], 1e-4, `score ${i}`);
      // One step over every example at once: its loss is the mean BCE of that score, computed here from z and d.
      const ex = yesNoExamples(qs, 1, 3);
      const want = ex.reduce((a, e) => {
        const x = s[e.caseIndex * C + e.cand];
        return a + Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0) - e.label * x;
      }, 0) / ex.length;
      const losses: number[] = [];
      await m.fit(qs, ex, {
        steps: 1, batchSize: ex.length, lr: 1e-3, weightDecay: 0, warmupSteps: 0, loss: 'bce', seed: 1, templates: [t], titles: m.originalTitles,
        vars: m.trainables({ lm: true, scoreWeight: true }), onStep: (_s, _n, l) => { losses.push(l); },
      });
      close(losses[0], want, 1e-4, 'first-step loss');
      assert.notDeepEqual(m.scoreFeatureValues(), { weight: Math.fround(w0), gate: 1 }, 'w and g train with the LM');
      assert.throws(() => collabOffsetStart(m, []), /no training questions/);
      m.dispose();
      lm.dispose();
    });
  });
});
