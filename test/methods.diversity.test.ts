/**
 * GANPrompt stage 1, the diversity encoder: the differentiable cos/JS
 * distance against eval/metrics.ts and its gradient direction, the variant
 * switches, the 3-layer discriminator and the alternating steps, a short
 * seeded stage run on the synthetic shop (div-ori spreads the classes more
 * than div-all; same seed, same measures; resume skips finished sub-steps),
 * reconstruction, save/load round trips and the SVG plot.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import { cosine, diversityDistance, jsDivergence, klDivergence, tvDistance } from '../src/eval/metrics.js';
import { itemTitle } from '../src/methods/text_lm/corpus.js';
import {
  createGenerator, DEFAULT_DIVERSITY_OPTIONS, Discriminator, diversityLoss, diversityMeasures, DiversityTrainer, encodeBatch, encodeZ, FILES,
  loadGenerator, pairwiseDistance, parseDiversityOptions, readReconstructedTitles, reconstructIds, reconstructTitles, runDiversityStage,
  saveGenerator, textVectors, trainGeneratorTokenizer, variantTerms, type DiversityStageOptions, type DiversityStageReport, type DiversityVariant,
  type Generator,
} from '../src/methods/ganprompt/diversity.js';
import { writeClassScatter } from '../src/methods/ganprompt/plot.js';
import { assertCloseArrays, ready } from './helpers.js';

const VECS = [
  [1, 2, 0, -1, 0.5],
  [0.5, -1, 2, 0, 0],
  [3, 0, 0, 1, -2],
  [-1, -1, 0.2, 0.3, 4],
];

const TINY: Partial<DiversityStageOptions> = {
  seed: 7,
  attributes: { numAttributes: 4, maxUsers: 60, mlmSteps: 30, mlmVocabSize: 400, mlmHiddenSize: 32, mlmIntermediateSize: 64, mlmBlockSize: 64, maxPromptTokens: 96 },
  tokenizerVocabSize: 400, dModel: 32, dKv: 8, dFf: 64, heads: 4, encoderLayers: 1, decoderLayers: 1, discriminatorHidden: 32,
  maxTextTokens: 40, trainSamples: 160, heldOutSamples: 20,
  warmupSteps: 40, warmupBatchSize: 16, warmupLr: 3e-3, steps: 30, batchSize: 16, lr: 1e-3, lambda: 0.5,
  ablations: ['div-ori', 'div-all'], reconstructBatch: 64, umapNeighbors: 8,
};

let data: SplitDataset;
let dir: string;
let gen: Generator;

function values(vars: Iterable<tf.Variable>): Float32Array[] {
  return [...vars].map((v) => (v.dataSync() as Float32Array).slice());
}
function changed(a: Float32Array[], b: Float32Array[]): boolean {
  return a.some((x, i) => x.some((y, j) => y !== b[i][j]));
}

describe('GANPrompt diversity encoder', () => {
  before(async () => {
    await ready();
    dir = mkdtempSync(join(tmpdir(), 'llmrec-diversity-'));
    data = applyProtocol(generateShop({ users: 120, items: 80, seed: 5 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 1 });
    const tok = trainGeneratorTokenizer(data, 400, 60);
    gen = createGenerator(tok, { dModel: 32, dKv: 8, dFf: 64, heads: 4, encoderLayers: 1, decoderLayers: 1, dropout: 0, seed: 3 });
  });
  after(() => {
    gen?.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the differentiable distance equals eval/metrics.ts (cos + JS, each term alone)', () => {
    const z = tf.tensor2d(VECS);
    for (const [alpha, beta] of [[1, 1], [0, 1], [1, 0], [0.3, 2]]) {
      const d = pairwiseDistance(z, alpha, beta);
      const got = d.arraySync();
      d.dispose();
      for (let i = 0; i < VECS.length; i++) {
        const want = VECS.map((b) => diversityDistance(VECS[i], b, alpha, beta));
        assertCloseArrays(got[i], want, { atol: 2e-5, rtol: 1e-4 }, `row ${i}, alpha ${alpha}, beta ${beta}`);
      }
    }
    const js = pairwiseDistance(z, 0, 1);
    const cosOnly = pairwiseDistance(z, 1, 0);
    assertCloseArrays([js.arraySync()[0][2]], [jsDivergence(VECS[0], VECS[2])], { atol: 1e-6 });
    assertCloseArrays([cosOnly.arraySync()[1][3]], [1 - cosine(VECS[1], VECS[3])], { atol: 1e-6 });
    // L_div = - mean over pairs of different classes.
    const classes = [0, 0, 1, 2];
    const loss = diversityLoss(z, classes, 1, 1);
    let s = 0;
    let n = 0;
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) if (classes[i] !== classes[j]) { s += diversityDistance(VECS[i], VECS[j]); n++; }
    assertCloseArrays([loss.dataSync()[0]], [-s / n], { atol: 2e-5 });
    const same = diversityLoss(z, [1, 1, 1, 1], 1, 1);
    assert.equal(same.dataSync()[0], 0, 'no pair of different classes: no diversity term');
    tf.dispose([z, js, cosOnly, loss, same]);
  });

  test('gradient direction: minimising L_div (= -Dist) increases the distance between classes', () => {
    const z = tf.variable(tf.tensor2d(VECS.map((v) => v.map((x) => x * 0.2))));
    const classes = [0, 1, 0, 1];
    const mean = () => diversityMeasures(z.arraySync(), classes).dist;
    const d0 = mean();
    for (let step = 0; step < 20; step++) {
      const { grads, value } = tf.variableGrads(() => diversityLoss(z, classes, 1, 1), [z]);
      z.assign(tf.tidy(() => tf.sub(z, tf.mul(grads[z.name], 0.5))));
      tf.dispose([value, ...Object.values(grads)]);
    }
    const d1 = mean();
    assert.ok(d1 > d0 + 0.05, `distance ${d0} -> ${d1}`);
    z.dispose();
  });

  test('measurements: mean KL/TV/JS/cos over pairs of different classes, as eval/metrics.ts', () => {
    const m = diversityMeasures(VECS, [0, 0, 1, 1]);
    const pairs = [[0, 2], [0, 3], [1, 2], [1, 3]];
    const avg = (f: (a: number[], b: number[]) => number) => pairs.reduce((s, [i, j]) => s + f(VECS[i], VECS[j]), 0) / pairs.length;
    assert.equal(m.pairs, 4);
    assertCloseArrays([m.kl, m.tv, m.js, m.cos, m.dist], [avg(klDivergence), avg(tvDistance), avg(jsDivergence), avg(cosine), avg((a, b) => diversityDistance(a, b))], { atol: 1e-12 });
    assert.ok(Number.isNaN(diversityMeasures(VECS, [1, 1, 1, 1]).kl));
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m, 'plain JSON');
  });

  test('variant switches remove the corresponding term', () => {
    assert.deepEqual(variantTerms('div-ori', 1, 1), { alpha: 1, beta: 1, diversity: true });
    assert.deepEqual(variantTerms('div-cos', 1, 1), { alpha: 0, beta: 1, diversity: true });
    assert.deepEqual(variantTerms('div-js', 1, 1), { alpha: 1, beta: 0, diversity: true });
    assert.deepEqual(variantTerms('div-all', 1, 1), { alpha: 0, beta: 0, diversity: false });
    const texts = data.trainSeqs.slice(0, 6).map((s) => s.slice(-2).reduce((a, i) => `${a}${itemTitle(data, i)}, `, 'The user has bought: '));
    const b = encodeBatch(gen, texts, 40, [0, 1, 2, 0, 1, 2]);
    const disc = new Discriminator({ inDim: 32, hidden: 16, numClasses: 3, activation: 'relu' }, 1);
    const zz = encodeZ(gen, b);
    const cos = diversityLoss(zz, b.classes, 1, 0).dataSync()[0];
    const js = diversityLoss(zz, b.classes, 0, 1).dataSync()[0];
    const ce = disc.loss(zz, b.classes).dataSync()[0];
    const parts = (v: DiversityVariant, lambdaAdv = 0) => {
      const t = new DiversityTrainer(gen, disc, { ...DEFAULT_DIVERSITY_OPTIONS, variant: v, lambda: 0.1, lambdaAdv });
      const p = { total: 0, seq2seq: 0, div: 0, adv: 0 };
      t.generatorLoss(b, false, p).dispose();
      t.dispose();
      return p;
    };
    const ori = parts('div-ori');
    const all = parts('div-all');
    assert.ok(cos < 0 && js < 0);
    assertCloseArrays([ori.div, parts('div-cos').div, parts('div-js').div, all.div], [cos + js, js, cos, 0], { atol: 1e-5 });
    assert.equal(all.total, all.seq2seq, 'div-all: L_G = L_seq2seq');
    assertCloseArrays([ori.total], [ori.seq2seq + 0.1 * (cos + js)], { atol: 1e-5 });
    const adv = parts('div-ori', 0.5);
    assertCloseArrays([adv.adv, adv.total], [ce, adv.seq2seq + 0.1 * (cos + js) - 0.5 * ce], { atol: 1e-4 });
    zz.dispose();
    disc.dispose();
  });

  test('the discriminator is a 3-layer MLP; the D step changes only D, the G step only G', () => {
    const disc = new Discriminator({ inDim: 32, hidden: 16, numClasses: 5, activation: 'relu' }, 2);
    assert.deepEqual([...disc.store.vars].map(([n, v]) => [n, v.shape]), [
      ['fc1.weight', [32, 16]], ['fc1.bias', [16]], ['fc2.weight', [16, 16]], ['fc2.bias', [16]], ['fc3.weight', [16, 5]], ['fc3.bias', [5]],
    ]);
    const z = tf.randomNormal([3, 32], 0, 1, 'float32', 1) as tf.Tensor2D;
    const logits = disc.logits(z);
    assert.deepEqual(logits.shape, [3, 5]);
    const manual = tf.tidy(() => {
      const h1 = tf.relu(tf.add(tf.matMul(z, disc.fc1.W), disc.fc1.b!));
      const h2 = tf.relu(tf.add(tf.matMul(h1, disc.fc2.W), disc.fc2.b!));
      return tf.add(tf.matMul(h2, disc.fc3.W), disc.fc3.b!);
    });
    assertCloseArrays(logits.dataSync(), manual.dataSync(), { atol: 1e-5 });
    tf.dispose([z, logits, manual]);

    const texts = data.trainSeqs.slice(0, 10).map((s) => `The user has bought: ${itemTitle(data, s[s.length - 1])}.`);
    const b = encodeBatch(gen, texts, 40, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    const t = new DiversityTrainer(gen, disc, { ...DEFAULT_DIVERSITY_OPTIONS, lambdaAdv: 0.1 });
    const g0 = values(gen.model.store.vars.values());
    const d0 = values(disc.store.vars.values());
    const before = tf.memory().numTensors;
    const ld = t.stepD(b);
    assert.ok(Number.isFinite(ld) && ld > 0);
    const g1 = values(gen.model.store.vars.values());
    const d1 = values(disc.store.vars.values());
    assert.ok(changed(d0, d1), 'D step changes D');
    assert.ok(!changed(g0, g1), 'D step leaves G');
    const parts = t.stepG(b);
    assert.ok(parts.seq2seq > 0 && parts.div < 0);
    const g2 = values(gen.model.store.vars.values());
    const d2 = values(disc.store.vars.values());
    assert.ok(changed(g1, g2), 'G step changes G');
    assert.ok(!changed(d1, d2), 'G step leaves D (even with lambdaAdv > 0)');
    t.step(b);
    // Only the optimizer moments of the first step were added (2 per parameter), nothing leaks per step.
    const afterOne = tf.memory().numTensors;
    t.step(b);
    assert.equal(tf.memory().numTensors, afterOne);
    assert.ok(afterOne > before);
    t.dispose();
    disc.dispose();
  });

  test('options: zod validation names the field; defaults round-trip through JSON', () => {
    assert.throws(() => parseDiversityOptions({ lambda: -1 }), /field 'lambda'/);
    assert.throws(() => parseDiversityOptions({ variant: 'div-xx' }), /field 'variant'/);
    assert.throws(() => parseDiversityOptions({ attributes: { numAttributes: 0 } }), /field 'attributes\.numAttributes'/);
    assert.throws(() => parseDiversityOptions({ adversarialTemplate: 'The user has bought: {titles}.' }), /field 'adversarialTemplate'/);
    assert.throws(() => parseDiversityOptions({ stepz: 3 }), /stepz/);
    assert.deepEqual(parseDiversityOptions(JSON.parse(JSON.stringify(DEFAULT_DIVERSITY_OPTIONS))), DEFAULT_DIVERSITY_OPTIONS);
    assert.equal(DEFAULT_DIVERSITY_OPTIONS.lambda, 0.1);
    assert.equal(DEFAULT_DIVERSITY_OPTIONS.lambdaAdv, 0);
    assert.equal(DEFAULT_DIVERSITY_OPTIONS.variant, 'div-ori');
  });

  test('reconstruction: batched greedy decoding, at most maxTokens tokens, strings in input order', () => {
    const titles = [1, 2, 3, 4, 5, 6, 7].map((i) => itemTitle(data, i));
    for (const max of [20, 4]) {
      const ids = reconstructIds(gen, titles, max, { batch: 3 });
      assert.equal(ids.length, titles.length);
      for (const r of ids) assert.ok(r.length <= max && !r.includes(gen.model.config.eos_token_id));
    }
    const out = reconstructTitles(gen, titles, 20, { batch: 3 });
    assert.equal(out.length, titles.length);
    assert.ok(out.every((s) => typeof s === 'string'));
    // Batch size does not change the result (padding is masked).
    assert.deepEqual(reconstructTitles(gen, titles, 20, { batch: 7 }), out);
  });

  test('save/load round trips: the generator gives identical encoder vectors, the discriminator identical logits', () => {
    const texts = ['The user has bought: a red lipstick.', 'The user has bought: a kettle, described as black.'];
    const gdir = join(dir, 'gen');
    saveGenerator(gen, gdir);
    const loaded = loadGenerator(gdir);
    assert.deepEqual(textVectors(loaded, texts, 40), textVectors(gen, texts, 40));
    assert.deepEqual(loaded.tokenizer.encode(texts[1]), gen.tokenizer.encode(texts[1]));
    loaded.model.dispose();
    const disc = new Discriminator({ inDim: 32, hidden: 8, numClasses: 3, activation: 'gelu' }, 4);
    disc.save(join(dir, 'd.safetensors'));
    const d2 = Discriminator.load(join(dir, 'd.safetensors'));
    assert.deepEqual(d2.config, disc.config);
    const z = tf.randomNormal([2, 32], 0, 1, 'float32', 2) as tf.Tensor2D;
    const [a, b] = [disc.logits(z), d2.logits(z)];
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    tf.dispose([z, a, b]);
    disc.dispose();
    d2.dispose();
  });

  test('the plot is an SVG with one mark group per class', async () => {
    const vecs = Array.from({ length: 30 }, (_, i) => Float32Array.from({ length: 6 }, (_, j) => Math.sin(i * 3 + j) + (i % 3) * 2));
    const path = join(dir, 'plot.svg');
    const pts = await writeClassScatter(path, vecs, vecs.map((_, i) => i % 3), { seed: 1, title: 'test', classNames: ['original', '+ red', '+ soft'] });
    assert.equal(pts.length, 30);
    const svg = readFileSync(path, 'utf8');
    assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
    const groups = svg.match(/<g class="mark-symbol role-mark [^"]*"/g) ?? [];
    assert.deepEqual(groups.map((g) => /class_(\d+)_marks/.exec(g)![1]), ['0', '1', '2']);
    assert.ok(svg.includes('+ red') && svg.includes('original'), 'legend names the classes');
    const again = join(dir, 'plot2.svg');
    await writeClassScatter(again, vecs, vecs.map((_, i) => i % 3), { seed: 1, title: 'test', classNames: ['original', '+ red', '+ soft'] });
    assert.equal(readFileSync(again, 'utf8'), svg, 'seeded UMAP: same picture');
  });

  describe('the stage runner on the synthetic shop', () => {
    let report: DiversityStageReport;
    let out: string;
    before(async () => {
      out = join(dir, 'stage');
      const stages = new Set<string>();
      report = await runDiversityStage(data, TINY, out, { onProgress: (s) => stages.add(s) });
      assert.ok(['mlm', 'attributes', 'warmup', 'train:div-ori', 'train:div-all', 'plot', 'reconstruct'].every((s) => stages.has(s)), [...stages].join(','));
    });

    test('writes every output; div-ori spreads the classes more than div-all and than before', () => {
      for (const f of [FILES.attributes, FILES.measures, FILES.plotBefore, FILES.plotAfter, FILES.reconstructed, FILES.report, FILES.discriminator, join(FILES.generator, 'model.safetensors'), join(FILES.generator, 'tokenizer.json')]) {
        assert.ok(existsSync(join(out, f)), f);
      }
      assert.equal(report.attributes.attributes.length, 4);
      assert.equal(report.classNames.length, 5);
      assert.ok(!report.interrupted);
      const m = JSON.parse(readFileSync(join(out, FILES.measures), 'utf8')) as DiversityStageReport['measures'];
      assert.deepEqual(Object.keys(m), ['div-ori', 'div-all']);
      const ori = m['div-ori']!;
      const all = m['div-all']!;
      assert.deepEqual(ori.before, all.before, 'both variants start from the same warm-up');
      assert.ok(ori.after.dist > all.after.dist, `div-ori ${ori.after.dist} vs div-all ${all.after.dist}`);
      assert.ok(ori.after.dist > ori.before.dist, `div-ori ${ori.before.dist} -> ${ori.after.dist}`);
      assert.ok(ori.after.js > ori.before.js && ori.after.cos < ori.before.cos);
      for (const k of ['kl', 'tv', 'js', 'cos'] as const) assert.ok(Number.isFinite(ori.after[k]));
      const svg = readFileSync(join(out, FILES.plotAfter), 'utf8');
      assert.equal((svg.match(/role-mark class_\d+_marks/g) ?? []).length, 5, 'one mark group per class');
      const rec = readReconstructedTitles(out);
      assert.equal(rec.size, data.numItems);
      assert.deepEqual([...rec.keys()].sort((a, b) => a - b), Array.from({ length: data.numItems }, (_, i) => i + 1));
      assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the report is plain JSON');
    });

    test('same seed, same measures (training from the same warm-up, rerun in a fresh folder)', async () => {
      const again = join(dir, 'stage-again');
      cpSync(join(out, FILES.attributes), join(again, FILES.attributes));
      cpSync(join(out, FILES.warmup), join(again, FILES.warmup), { recursive: true });
      const r = await runDiversityStage(data, TINY, again, {}, true);
      assert.deepEqual(r.skipped, ['attributes', 'warmup']);
      assert.deepEqual(r.measures, report.measures);
      assert.deepEqual(readFileSync(join(again, FILES.reconstructed), 'utf8'), readFileSync(join(out, FILES.reconstructed), 'utf8'));
    });

    test('resume skips every finished sub-step and rewrites nothing it skipped', async () => {
      const mtime = (f: string) => statSync(join(out, f)).mtimeMs;
      const files = [FILES.attributes, FILES.plotAfter, FILES.reconstructed, join(FILES.generator, 'model.safetensors')];
      const t0 = files.map(mtime);
      const r = await runDiversityStage(data, TINY, out, {}, true);
      assert.deepEqual(r.skipped, ['attributes', 'warmup', 'train:div-ori', 'train:div-all', 'plot', 'reconstruct']);
      assert.deepEqual(files.map(mtime), t0);
      assert.deepEqual(r.measures, report.measures);
      await assert.rejects(runDiversityStage(data, { ...TINY, lambda: 0.3 }, out, {}, true), /field 'lambda'/);
      // A missing output is redone on resume.
      rmSync(join(out, FILES.reconstructed));
      const r2 = await runDiversityStage(data, TINY, out, {}, true);
      assert.ok(!r2.skipped.includes('reconstruct') && existsSync(join(out, FILES.reconstructed)));
    });

    test('an abort returns an interrupted report; resuming finishes the stage', async () => {
      const d = join(dir, 'stage-abort');
      const ac = new AbortController();
      const r = await runDiversityStage(data, TINY, d, { signal: ac.signal, onProgress: (s, done) => { if (s === 'warmup' && done === 5) ac.abort(); } });
      assert.ok(r.interrupted);
      assert.ok(existsSync(join(d, FILES.attributes)) && !existsSync(join(d, FILES.warmupSummary)));
      const r2 = await runDiversityStage(data, TINY, d, {}, true);
      assert.ok(!r2.interrupted);
      assert.deepEqual(r2.skipped, ['attributes']);
      assert.deepEqual(r2.measures, report.measures, 'an interrupted then resumed stage equals the uninterrupted one');
    });
  });
});
