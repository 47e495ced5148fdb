/**
 * `runGanPrompt` end to end on a small synthetic shop: every stage runs and
 * writes its output (collaborative model, LM, diversity stage, adapters,
 * mapping layers, per-template evaluations, report.md/json with the
 * robustness summary and the baselines on the same users); a resumed run
 * skips finished stages and reproduces the report; an interrupted run
 * resumes to the same numbers; options are validated with the field named.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import { parseGanPromptOptions } from '../src/config/ganprompt.js';
import { runGanPrompt } from '../src/methods/ganprompt/pipeline.js';
import { renderGanPromptReport } from '../src/methods/ganprompt/report.js';
import { subsetSplit } from '../src/data/subset.js';
import { rankingMetrics } from '../src/methods/reference.js';
import { STAGE_KEY_FILE } from '../src/run/index.js';
import { ready } from './helpers.js';
import { writeLm } from './serve.fixture.js';

const OPTS = {
  lm: { small: { steps: 30, hiddenSize: 32, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 64, vocabSize: 700, blockSize: 64 } },
  collab: { model: 'bprmf', epochs: 2, config: { d: 16 } },
  loraStage: { users: 40, questionsPerUser: 1, epochs: 2, validUsers: 10 }, mappingStage: { users: 40, questionsPerUser: 1, epochs: 2, validUsers: 10, scoreFeature: true }, eval: { users: 20 },
  recipes: ['tallrec', 'collm', 'ganprompt', 'rec-sm'],
  diversity: { trainSamples: 60, heldOutSamples: 24, warmupSteps: 6, steps: 4, tokenizerVocabSize: 400, dModel: 16, dKv: 8, dFf: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, ablations: ['div-ori', 'div-all'], attributes: { mlmSteps: 10, maxUsers: 40, mlmVocabSize: 300, mlmHiddenSize: 16, mlmIntermediateSize: 32 } },
};

let data: SplitDataset;
let dir: string;
describe('GANPrompt pipeline', () => {
  before(async () => {
    await ready();
    data = applyProtocol(generateShop({ users: 120, items: 200, seed: 11 }), { ratingThreshold: null, kCore: 3, maxHistory: 10, numNegatives: 9, seed: 5 });
    dir = mkdtempSync(join(tmpdir(), 'llmrec-gp-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('options: defaults filled, unknown or bad fields named', () => {
    const o = parseGanPromptOptions({});
    assert.equal(o.collab.model, 'sasrec');
    assert.equal(o.maxTitleTokens, 20);
    assert.throws(() => parseGanPromptOptions({ evl: {} }), /evl/);
    assert.throws(() => parseGanPromptOptions({ recipes: ['tallrec', 'nope'] }), /recipes\.1/);
  });

  test('ranking metrics of yes/no scores: target at candidate 0, pessimistic ties', () => {
    const m = rankingMetrics(Float32Array.from([0.9, 0.1, 0.2, 0.5, 0.5, 0.5]), 3, [1, 3]);
    // user 1: rank 1, AUC 1; user 2: all tied -> rank 3, AUC 0.5.
    assert.equal(m['hr@1'], 0.5);
    assert.equal(m.auc, 0.75);
    assert.equal(m['mrr@3'], (1 + 1 / 3) / 2);
    const sub = subsetSplit(data, 'test', [2, 0]);
    assert.equal(sub.test.count, 2);
    assert.equal(sub.test.target[0], data.test.target[2]);
    assert.deepEqual(Array.from(sub.test.negatives.subarray(9, 18)), Array.from(data.test.negatives.subarray(0, 9)));
  });

  test('runs every stage, writes the report; resume skips finished stages; an interrupted run resumes to the same numbers', async () => {
    const a = join(dir, 'a');
    const r = await runGanPrompt(data, OPTS, a);
    assert.equal(r.interrupted, false);
    for (const f of ['report.md', 'report.json', 'collab/config.json', 'lm/config.json', 'adapters/tallrec/adapter_config.json', 'adapters/gp/adapter_config.json',
      'models/collm/mapping/mapping.safetensors', 'models/rec-sm/item_vectors.safetensors', 'models/ganprompt/eval/unseen-reordered.json', 'diversity/umap-after.svg']) {
      assert.ok(existsSync(join(a, f)), f);
    }
    assert.deepEqual(r.llm.map((l) => l.recipe), ['tallrec', 'collm', 'ganprompt', 'rec-sm']);
    const gp = r.llm.find((l) => l.recipe === 'ganprompt')!.robustness;
    assert.deepEqual(gp.trained.templates, ['seen-1', 'seen-2', 'seen-3']);
    assert.equal(gp.unseen.templates.length, 3);
    assert.ok(Math.abs(gp.drop.auc - (gp.trained.mean.auc - gp.unseen.mean.auc)) < 1e-12);
    // GANPrompt's adapter records how often its guide names the target (training positions by default); TALLRec's has no guide.
    const gpTraining = JSON.parse(readFileSync(join(a, 'adapters/gp/training.json'), 'utf8')) as { questionSource: string; guideHits: { train: number; valid: number } };
    assert.equal(gpTraining.questionSource, 'train');
    for (const v of Object.values(gpTraining.guideHits)) assert.ok(v >= 0 && v <= 1, `${v}`);
    assert.equal((JSON.parse(readFileSync(join(a, 'adapters/tallrec/training.json'), 'utf8')) as { guideHits?: unknown }).guideHits, undefined);
    const tall = r.llm.find((l) => l.recipe === 'tallrec')!.robustness;
    assert.deepEqual(tall.trained.templates, ['seen-1']);
    assert.deepEqual(r.baselines.map((b) => b.model).slice(0, 2), ['random', 'pop']);
    for (const l of r.llm) for (const t of l.robustness.perTemplate) assert.ok(t.metrics.auc >= 0 && t.metrics.auc <= 1);
    // Paired tests against every reference row: per user, the recipe's mean over its trained templates, so the
    // means are the report's "seen" value and the row's, on the same users.
    const src = r.baselines.find((x) => x.model.endsWith('(collaborative source)'))!;
    for (const l of r.llm) {
      const sig = l.significance!;
      assert.deepEqual(sig.map((g) => g.against), r.baselines.map((b) => b.model), l.recipe);
      assert.deepEqual(sig.filter((g) => g.source).map((g) => g.against), [src.model]);
      for (const [j, g] of sig.entries()) {
        assert.equal(g.users, r.evalUsers);
        assert.deepEqual(Object.keys(g.tests), ['auc', ...r.options.eval.ks.map((k) => `ndcg@${k}`)]);
        for (const [k, t] of Object.entries(g.tests)) {
          assert.ok(Math.abs(t.meanA - l.robustness.trained.mean[k]) < 1e-12, `${l.recipe} ${k}`);
          assert.ok(Math.abs(t.meanB - r.baselines[j].metrics[k]) < 1e-12, `${l.recipe} ${g.against} ${k}`);
          assert.ok(t.pValue > 0 && t.pValue <= 1 && t.ci95[0] <= t.ci95[1], `${l.recipe} ${k}`);
        }
      }
    }
    assert.ok(existsSync(join(a, 'models/ganprompt/eval/seen-2.users.json')));
    const md = readFileSync(join(a, 'report.md'), 'utf8');
    assert.match(md, /## Against the reference rows/);
    assert.match(md, new RegExp(`\\| GANPrompt \\(trained templates\\) \\| ${src.model.replace(/[()]/g, '\\$&')} \\| AUC \\|`));
    assert.match(md, /Robustness/);
    assert.match(md, /Recommendation ablations/);
    // CoLLM reuses TALLRec's adapter: its training row names it once, not a second copy of TALLRec's numbers.
    const loraRows = md.split('\n').filter((l) => /^\| [^|]+ \| lora \|/.test(l));
    assert.equal(loraRows.filter((l) => l.startsWith('| TALLRec | lora |') && !l.includes('reused')).length, 1, loraRows.join('\n'));
    assert.ok(loraRows.some((l) => l.startsWith('| CoLLM | lora | reused: TALLRec\'s adapter \'tallrec\'')), loraRows.join('\n'));
    assert.equal((r.llm.find((l) => l.recipe === 'collm')!.training.lora as { adapter?: string }).adapter, 'tallrec');
    // The LoRA step's validation users also score Random, Pop and the collaborative model (reported once per adapter).
    const ref = (r.llm.find((l) => l.recipe === 'tallrec')!.training.lora as { validReference?: Array<{ model: string; metrics: { auc: number } }> }).validReference!;
    assert.deepEqual(ref.map((x) => x.model), ['random', 'pop', r.collabFit!.model]);
    for (const x of ref) assert.ok(x.metrics.auc >= 0 && x.metrics.auc <= 1, `${x.model} ${x.metrics.auc}`);
    assert.equal(md.split('\n').filter((l) => l.startsWith("Validation AUC of the reference models on the validation users and candidates of TALLRec's adapter 'tallrec': random ")).length, 1);
    // Ablation rows carry their ablation label; a collaborative fit that patience ended at the cap says so.
    assert.match(md, /\n\| Rec-sm \| seen-1 \|/);
    assert.ok(r.collabFit, 'the collaborative model was trained here');
    const atCap = renderGanPromptReport({ ...r, collabFit: { ...r.collabFit, stoppedEarly: true, capReached: false, epochsRun: r.collabFit.epochCap } });
    const cf = r.collabFit;
    // The benchmark's wording (trainingStop, src/experiment/run.ts): patience at the cap, early stop, the cap while improving.
    assert.match(atCap, new RegExp(`ran ${cf.epochCap}, best epoch ${cf.bestEpoch}, last ${cf.lastEpoch}: patience ran out at the cap \\(best \\+ ${cf.epochCap - 1 - cf.bestEpoch}\\)`));
    assert.match(renderGanPromptReport({ ...r, collabFit: { ...cf, stoppedEarly: true, capReached: false, epochsRun: cf.epochCap - 1 } }), /: early stop \(best \+ \d+\)/);
    assert.match(renderGanPromptReport({ ...r, collabFit: { ...cf, stoppedEarly: false, capReached: true, epochsRun: cf.epochCap, bestEpoch: cf.epochCap - 1 } }), /: \*\*cap reached while improving\*\*/);

    const r2 = await runGanPrompt(data, OPTS, a, {}, true);
    assert.ok(!Object.keys(r2.seconds).some((k) => k.startsWith('lora:') || k.startsWith('mapping:') || k.startsWith('eval:') || k === 'lm'), `nothing retrained: ${Object.keys(r2.seconds)}`);
    assert.deepEqual(r2.llm, r.llm);
    // The first opening's cost is carried on: its stages' seconds and peaks, as its own report had them.
    assert.deepEqual(r2.earlierOpenings, [{ seconds: r.seconds, peakRssMiB: r.peakRssMiB, peakRssAfterMiB: r.peakRssAfterMiB, interrupted: false }]);
    assert.match(readFileSync(join(a, 'report.md'), 'utf8'), /opened 2 times[^]*- Opening 1: Peak RSS \d+ MiB[^]*lora:tallrec [\d.]+[^]*- Opening 2 \(this report\)/);
    // A report.json that does not hold them: said, and the run goes on with this opening's cost only.
    writeFileSync(join(a, 'report.json'), JSON.stringify({ seconds: { lm: 'slow' }, peakRssMiB: 1 }));
    const said: string[] = [];
    const r2a = await runGanPrompt(data, OPTS, a, { log: (x) => said.push(x) }, true);
    assert.ok(said.some((x) => /report\.json: the earlier openings' cost is not readable \(seconds: not an object of numbers\)/.test(x)), said.join('\n'));
    assert.equal(r2a.earlierOpenings, undefined);
    assert.deepEqual(r2a.llm, r.llm);
    // A run made before per-user ranks were kept: the template is scored again on resume, to the same numbers.
    rmSync(join(a, 'models/collm/eval/seen-1.users.json'));
    // ... and one whose per-user file does not fit the evaluation users (hand-edited, truncated): scored again too.
    writeFileSync(join(a, 'models/tallrec/eval/unseen-paraphrase.users.json'), JSON.stringify({ users: [1], rank: [1], auc: [1] }));
    const logged: string[] = [];
    const r2b = await runGanPrompt(data, OPTS, a, { log: (x) => logged.push(x) }, true);
    assert.ok(logged.some((x) => /collm on seen-1: models\/collm\/eval\/seen-1\.users\.json missing .*scored again/.test(x)), logged.join('\n'));
    assert.ok(logged.some((x) => /tallrec on unseen-paraphrase: models\/tallrec\/eval\/unseen-paraphrase\.users\.json does not hold a rank and an AUC for each of the 20 evaluation users in order: scored again/.test(x)), logged.join('\n'));
    assert.ok(existsSync(join(a, 'models/collm/eval/seen-1.users.json')));
    assert.deepEqual(r2b.llm, r.llm);

    // Stopped after stage 1 (--until), then interrupted in an adapter, then resumed: the same numbers as the run in one go.
    const b = join(dir, 'b');
    const r0 = await runGanPrompt(data, OPTS, b, { until: 'diversity' });
    assert.equal(r0.stoppedAfter, 'diversity');
    assert.equal(r0.interrupted, false);
    assert.deepEqual(r0.llm, []);
    assert.ok(existsSync(join(b, 'diversity', 'reconstructed.json')) && existsSync(join(b, 'report.json')));
    assert.equal(existsSync(join(b, 'adapters')), false, 'no stage after diversity ran');
    assert.match(readFileSync(join(b, 'report.md'), 'utf8'), /Stopped after stage 'diversity' \(`--until`\): the later stages have not run/);
    const ac = new AbortController();
    const r3 = await runGanPrompt(data, OPTS, b, { signal: ac.signal, progress: (what, done) => { if (what === 'lora gp' && done === 2) ac.abort(); } }, true);
    assert.ok(r3.diversity?.skipped.includes('warmup'), 'the resume reuses stage 1');
    assert.equal(r3.interrupted, true);
    const r4 = await runGanPrompt(data, OPTS, b, {}, true);
    assert.equal(r4.interrupted, false);
    // Three openings: stopped after stage 1, interrupted in the adapter (its seconds kept), then this one.
    assert.deepEqual(r4.earlierOpenings!.map((x) => [x.stoppedAfter, x.interrupted]), [['diversity', false], [undefined, true]]);
    assert.deepEqual(r4.earlierOpenings![1].seconds, r3.seconds);
    assert.ok(Object.keys(r3.seconds).includes('lora:tallrec') && Object.keys(r0.seconds).includes('collab'), `${Object.keys(r3.seconds)} / ${Object.keys(r0.seconds)}`);
    assert.match(readFileSync(join(b, 'report.md'), 'utf8'), /- Opening 1 \(stopped after 'diversity'\): [^]*- Opening 2 \(interrupted\): [^]*- Opening 3 \(this report\): /);
    assert.equal(r4.stoppedAfter, undefined, 'a resumed run that went through is not marked stopped');
    assert.deepEqual(r4.llm.map((l) => l.robustness.perTemplate), r.llm.map((l) => l.robustness.perTemplate));
    await assert.rejects(runGanPrompt(data, { ...OPTS, seed: 1 }, b, {}, true), /different options/);

    // Interrupted in the middle of an evaluation (a template's scoring, after 3 of its 20 questions): the templates scored
    // before it are kept, that one is not written, and the resume scores the rest to the same numbers.
    const c = join(dir, 'c');
    const stop = new AbortController();
    const r5 = await runGanPrompt(data, OPTS, c, { signal: stop.signal, progress: (what, done) => { if (what === 'tallrec eval unseen-paraphrase' && done === 3) stop.abort(); } });
    assert.equal(r5.interrupted, true);
    assert.ok(existsSync(join(c, 'models/tallrec/eval/seen-1.json')), 'the trained template scored before the interruption is kept');
    assert.equal(existsSync(join(c, 'models/tallrec/eval/unseen-paraphrase.json')), false, 'the interrupted template is not written');
    assert.equal(existsSync(join(c, 'models/collm')), false, 'no later recipe ran');
    const r6 = await runGanPrompt(data, OPTS, c, {}, true);
    assert.equal(r6.interrupted, false);
    assert.deepEqual(r6.llm.map((l) => l.robustness.perTemplate), r.llm.map((l) => l.robustness.perTemplate));
  });

  test("GANPrompt without its guide (rec-noguide): Rec-col's adapter, trained once, then the mapping layer; no guide anywhere", async () => {
    const d = join(dir, 'noguide');
    const r = await runGanPrompt(data, { ...OPTS, recipes: ['rec-col', 'rec-noguide'] }, d);
    assert.deepEqual(r.llm.map((l) => l.recipe), ['rec-col', 'rec-noguide']);
    assert.deepEqual(Object.keys(r.seconds).filter((k) => k.startsWith('lora:')), ['lora:gp-noguide'], 'one adapter for both');
    const ng = r.llm.find((l) => l.recipe === 'rec-noguide')!;
    assert.equal((ng.training.lora as { adapter: string }).adapter, 'gp-noguide');
    assert.ok(ng.training.mapping && existsSync(join(d, 'models/rec-noguide/mapping/mapping.safetensors')));
    assert.equal(r.llm.find((l) => l.recipe === 'rec-col')!.training.mapping, undefined);
    const adapter = JSON.parse(readFileSync(join(d, 'adapters/gp-noguide/training.json'), 'utf8')) as { guide: boolean; guideHits?: unknown; templates: string[] };
    assert.equal(adapter.guide, false);
    assert.equal(adapter.guideHits, undefined);
    assert.deepEqual(adapter.templates, ['seen-1', 'seen-2', 'seen-3']);
    assert.match(readFileSync(join(d, 'report.md'), 'utf8'), /\| Rec-lora without guide \|/);
    assert.ok(!parseGanPromptOptions({}).recipes.includes('rec-noguide'), 'not a default recipe');
  });

  test("the collaborative offset: GANPrompt's adapter trains beside z and records w and g; TALLRec's adapter is not touched by it", async () => {
    const d = join(dir, 'offset');
    const opts = { ...OPTS, recipes: ['tallrec', 'ganprompt'], diversity: { ...OPTS.diversity, ablations: ['div-ori'] } };
    const r = await runGanPrompt(data, { ...opts, loraStage: { ...opts.loraStage, collabOffset: true } }, d);
    type Training = { initialValid: number; collabOffset?: { init: number; weight: number; gate: number } };
    const read = (name: string) => JSON.parse(readFileSync(join(d, 'adapters', name, 'training.json'), 'utf8')) as Training;
    const withOffset = read('gp');
    const o = withOffset.collabOffset!;
    assert.ok(o.init > 0 && Number.isFinite(o.weight) && Number.isFinite(o.gate), JSON.stringify(o));
    assert.notDeepEqual([o.weight, o.gate], [o.init, 1], 'w and g trained with the adapter');
    assert.equal(read('tallrec').collabOffset, undefined);
    assert.ok(r.llm.find((l) => l.recipe === 'ganprompt')!.training.mapping);
    // Without the offset only the guided adapter (and its recipe) is made again; its start no longer has z in it.
    const r2 = await runGanPrompt(data, opts, d, {}, true);
    const made = Object.keys(r2.seconds).filter((k) => k.startsWith('lora:'));
    assert.deepEqual(made, ['lora:gp']);
    const plain = read('gp');
    assert.equal(plain.collabOffset, undefined);
    assert.notEqual(plain.initialValid, withOffset.initialValid, 'the offset adapter validates w * z + g * (l(yes) - l(no))');
  });

  test('stepSeed: the adapter and mapping steps train otherwise on the same questions and users; absent, it is seed', async () => {
    const opts = { ...OPTS, recipes: ['collm'] };
    const read = (d: string, f: string) => JSON.parse(readFileSync(join(d, f), 'utf8')) as { questions: number; validReference: unknown; epochs: Array<{ loss: number }> };
    const runs = [];
    for (const [i, extra] of [{}, { stepSeed: 2024 }, { stepSeed: 7 }].entries()) {
      const d = join(dir, `step-seed-${i}`);
      runs.push({ d, r: await runGanPrompt(data, { ...opts, ...extra }, d) });
    }
    const [absent, same, other] = runs;
    assert.equal(absent.r.options.seed, 2024);
    const losses = (d: string, f: string) => read(d, f).epochs.map((e) => e.loss);
    assert.deepEqual(same.r.llm.map((l) => l.robustness), absent.r.llm.map((l) => l.robustness), 'stepSeed = seed: the same numbers as without it');
    assert.deepEqual(losses(same.d, 'models/collm/mapping-training.json'), losses(absent.d, 'models/collm/mapping-training.json'));
    // Another step seed: the same evaluation rows and validation users, other training.
    assert.deepEqual(other.r.baselines, absent.r.baselines);
    for (const f of ['adapters/tallrec/training.json', 'models/collm/mapping-training.json']) {
      assert.equal(read(other.d, f).questions, read(absent.d, f).questions, f);
      assert.notDeepEqual(losses(other.d, f), losses(absent.d, f), `${f}: other examples and draws`);
    }
    assert.deepEqual(read(other.d, 'adapters/tallrec/training.json').validReference, read(absent.d, 'adapters/tallrec/training.json').validReference, 'the same validation users');
    assert.throws(() => parseGanPromptOptions({ stepSeed: 1.5 }), /stepSeed/);
  });

  test('a fully fine-tuned adapter is a whole LM folder: a second run warm-starts from it with lm.dir', async () => {
    const first = join(dir, 'full-ft');
    const opts = { ...OPTS, recipes: ['tallrec'], loraStage: { ...OPTS.loraStage, variables: 'full' } };
    await runGanPrompt(data, opts, first);
    const adapter = join(first, 'adapters/tallrec');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(adapter, f)), f);
    assert.deepEqual(JSON.parse(readFileSync(join(adapter, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(first, 'lm/tokenizer.json'), 'utf8')), 'the LM\'s tokenizer');
    const tuned = JSON.parse(readFileSync(join(adapter, 'training.json'), 'utf8')) as { bestValid: number; initialValid: number };
    // The second run starts from the kept weights: before training, its adapter scores what the first one kept, on the same validation users.
    const second = join(dir, 'warm');
    await runGanPrompt(data, { ...opts, lm: { ...OPTS.lm, dir: adapter } }, second);
    const warm = JSON.parse(readFileSync(join(second, 'adapters/tallrec/training.json'), 'utf8')) as { initialValid: number };
    assert.ok(Math.abs(warm.initialValid - tuned.bestValid) < 1e-9, `${warm.initialValid} vs ${tuned.bestValid}`);
    assert.notEqual(tuned.bestValid, tuned.initialValid, 'the first run kept a trained epoch');
  });

  test('a pretrained LM brought with lm.dir (a GPT-2 without the recommender slots): TALLRec, CoLLM and GANPrompt train on it, the slots are added and its embeddings grow; the folder stays as brought', async () => {
    const lmDir = join(dir, 'pretrained');
    writeLm(lmDir, data, 'pretrained');
    const files = ['tokenizer.json', 'config.json', 'model.safetensors'].map((f) => readFileSync(join(lmDir, f)));
    const rows = (JSON.parse(files[1].toString('utf8')) as { vocab_size: number }).vocab_size;
    const logs: string[] = [];
    const out = join(dir, 'pretrained-run');
    const r = await runGanPrompt(data, { ...OPTS, lm: { dir: lmDir }, recipes: ['tallrec', 'collm', 'ganprompt'], diversity: { ...OPTS.diversity, ablations: ['div-ori'] } }, out, { log: (l) => logs.push(l) });
    assert.equal(r.interrupted, false);
    assert.ok(logs.some((l) => l.includes('lacks <UserID>, <ItemID>, <Guide>') && l.includes(`grow from ${rows} to ${rows + 3} rows`)), logs.join('\n'));
    assert.deepEqual(r.llm.map((l) => l.recipe), ['tallrec', 'collm', 'ganprompt']);
    for (const l of r.llm) for (const t of l.robustness.perTemplate) assert.ok(t.metrics.auc >= 0 && t.metrics.auc <= 1, `${l.recipe} ${t.template}`);
    // LoRA on GPT-2's modules (the default targets of its family).
    for (const a of ['tallrec', 'gp']) {
      const cfg = JSON.parse(readFileSync(join(out, 'adapters', a, 'adapter_config.json'), 'utf8')) as { target_modules: string[] };
      assert.deepEqual(cfg.target_modules, ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], a);
    }
    ['tokenizer.json', 'config.json', 'model.safetensors'].forEach((f, i) => assert.ok(readFileSync(join(lmDir, f)).equals(files[i]), `${f} unchanged`));
  });

  test('an lm.dir the yes/no methods cannot train on is refused before the run writes anything, naming the field', async () => {
    const bert = join(dir, 'bert-lm');
    mkdirSync(bert, { recursive: true });
    writeFileSync(join(bert, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 10, hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 4 }));
    const noTok = join(dir, 'no-tokenizer-lm');
    writeLm(noTok, data, 'pretrained');
    rmSync(join(noTok, 'tokenizer.json'));
    const refused = async (lmDir: string, why: RegExp) => {
      const out = join(dir, 'refused');
      await assert.rejects(runGanPrompt(data, { ...OPTS, lm: { dir: lmDir }, recipes: ['tallrec'] }, out), why);
      assert.ok(!existsSync(out), `${lmDir}: nothing written`);
    };
    await refused(join(dir, 'nowhere'), /lm\.dir .*nowhere: no such folder/);
    await refused(bert, /lm\.dir .*bert-lm: checkpoint .*neither model\.safetensors/);
    await refused(noTok, /lm\.dir .*no-tokenizer-lm: no tokenizer\.json/);
    writeFileSync(join(bert, 'model.safetensors'), '');
    await refused(bert, /lm\.dir .*bert-lm: a bert model \(masked\); the yes\/no methods need a causal LM/);
  });

  test('resume with other LoRA or mapping settings: only the outputs made with the old ones are made again (stage keys)', async () => {
    const c = join(dir, 'c');
    const base = { ...OPTS, recipes: ['tallrec', 'collm'] };
    const r = await runGanPrompt(data, base, c);
    const row = (x: typeof r, recipe: string) => x.llm.find((l) => l.recipe === recipe)!;
    assert.ok(existsSync(join(c, 'models/collm', STAGE_KEY_FILE)) && existsSync(join(c, 'adapters/tallrec', STAGE_KEY_FILE)));
    const logs: string[] = [];
    // Other mapping settings: CoLLM's mapping and evaluation again; TALLRec's adapter (shared by CoLLM) and evaluation kept.
    const moreMapping = { ...base, mappingStage: { ...base.mappingStage, epochs: 3 } };
    const r2 = await runGanPrompt(data, moreMapping, c, { log: (s) => logs.push(s) }, true);
    const keys = Object.keys(r2.seconds);
    assert.ok(keys.includes('mapping:collm') && keys.includes('eval:collm'), `collm made again: ${keys}`);
    assert.ok(!keys.some((k) => k.startsWith('lora:') || k === 'eval:tallrec'), `adapter and tallrec kept: ${keys}`);
    assert.deepEqual(row(r2, 'tallrec'), row(r, 'tallrec'));
    assert.ok(logs.some((l) => /recipe 'collm'.*mappingStage\.epochs: 2 in the run, 3 now.*made again/.test(l)), logs.join('\n'));
    // A folder without a stage key (made before stage keys) carries the options of the previous opening (epochs 3):
    // back to 2 epochs, CoLLM is made again and gives the first run's numbers (seeded).
    for (const f of ['models/collm', 'models/tallrec', 'adapters/tallrec']) rmSync(join(c, f, STAGE_KEY_FILE));
    const r3 = await runGanPrompt(data, base, c, {}, true);
    assert.ok(Object.keys(r3.seconds).includes('mapping:collm') && !Object.keys(r3.seconds).some((k) => k.startsWith('lora:') || k === 'eval:tallrec'), `${Object.keys(r3.seconds)}`);
    assert.deepEqual(row(r3, 'collm').robustness, row(r, 'collm').robustness);
    // Guide dropout concerns guided adapters only: TALLRec's adapter (and CoLLM on it) is kept, nothing is made again.
    const rg = await runGanPrompt(data, { ...base, loraStage: { ...base.loraStage, guideDropout: 0.5 } }, c, {}, true);
    assert.ok(!Object.keys(rg.seconds).some((k) => k.startsWith('lora:') || k.startsWith('mapping:') || k.startsWith('eval:')), `${Object.keys(rg.seconds)}`);
    // Other LoRA settings: the adapter and the recipe using it are made again (recipes may shrink on resume).
    const r4 = await runGanPrompt(data, { ...base, recipes: ['tallrec'], loraStage: { ...base.loraStage, epochs: 1 } }, c, {}, true);
    assert.ok(Object.keys(r4.seconds).includes('lora:tallrec') && Object.keys(r4.seconds).includes('eval:tallrec'), `${Object.keys(r4.seconds)}`);
    const t4 = JSON.parse(readFileSync(join(c, 'adapters/tallrec/training.json'), 'utf8')) as { lastEpoch: number };
    assert.ok(t4.lastEpoch <= 0, `one epoch: ${t4.lastEpoch}`);
    // Anything else still refuses the resume, before any write.
    await assert.rejects(runGanPrompt(data, { ...base, eval: { users: 21 } }, c, {}, true), /different options/);
  });
});
