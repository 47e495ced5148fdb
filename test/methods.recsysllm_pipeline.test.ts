/**
 * `runRecSysLLM` end to end on a small synthetic shop (which has ratings and
 * review text, so every family runs): both variants pre-train, fine-tune and
 * are evaluated on seen and unseen templates; trie-constrained answers are
 * 100% real items; baselines sit beside the ranking families; a resumed run
 * reuses every stage and reproduces the report; an interrupted pre-training
 * resumes to the same model; options are validated with the field named.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { RawDataset, SplitDataset } from '../src/data/types.js';
import { parseRecSysOptions } from '../src/config/recsysllm.js';
import { meanMetrics, ratingBaselines, runRecSysLLM } from '../src/methods/recsysllm/pipeline.js';
import { ready } from './helpers.js';

const OPTS = {
  tokenizer: { vocabSize: 500 },
  model: { hiddenSize: 16, layers: 1, heads: 2 },
  text: { maxDocTokens: 96, maxEntityTokens: 12 },
  prompt: { maxPromptTokens: 120, maxAnswerTokens: 12 },
  pretrain: { steps: 6, batchSize: 4, checkpointEvery: 3 },
  finetune: { steps: 6, batchSize: 4, checkpointEvery: 3 },
  eval: { users: 3, beams: 10 },
  baselines: { models: ['bprmf'], epochs: 1 },
};

let raw: RawDataset;
let data: SplitDataset;
let dir: string;
describe('RecSysLLM pipeline', () => {
  before(async () => {
    await ready();
    raw = generateShop({ users: 60, items: 300, seed: 6 });
    data = applyProtocol(raw, { ratingThreshold: null, kCore: 3, maxHistory: 20, numNegatives: 99, seed: 5 });
    dir = mkdtempSync(join(tmpdir(), 'llmrec-rs-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('options: defaults, unknown or bad fields named', () => {
    const o = parseRecSysOptions({});
    assert.deepEqual(o.variants, ['recsysllm', 'plain']);
    assert.deepEqual(o.sampling.shares, [0.1, 0.3, 0.6]);
    assert.throws(() => parseRecSysOptions({ pretrian: {} }), /pretrian/);
    assert.throws(() => parseRecSysOptions({ sampling: { shares: [0.5, 0.5, 0.5] } }), /sum to 1/);
    assert.throws(() => parseRecSysOptions({ families: ['rating', 'poetry'] }), /families\.1/);
  });

  test('constant rating predictors against hand-computed values', () => {
    // Training ratings 5, 4, 4 (mean 13/3, mode 4); test ratings 2 (user 0) and 5 (user 1).
    const d = {
      trainSeqs: [Int32Array.of(1, 2), Int32Array.of(3)],
      sequences: [Int32Array.of(1, 2, 7, 8), Int32Array.of(3, 6, 9)],
      test: { user: Int32Array.of(0, 1), target: Int32Array.of(8, 9) },
    } as unknown as SplitDataset;
    const ratings = new Map([['0:1', 5], ['0:2', 4], ['1:3', 4], ['0:8', 2], ['1:9', 5]]);
    const [mean, mode] = ratingBaselines({ data: d, ratings }, [0, 1]);
    const m = 13 / 3;
    assert.ok(Math.abs(mean.rating!.rmse - Math.sqrt(((m - 2) ** 2 + (m - 5) ** 2) / 2)) < 1e-12);
    assert.ok(Math.abs(mean.rating!.mae - ((m - 2) + (5 - m)) / 2) < 1e-12);
    assert.equal(mode.model, 'training mode (4)');
    assert.ok(Math.abs(mode.rating!.rmse - Math.sqrt((4 + 1) / 2)) < 1e-12);
    assert.equal(mode.rating!.mae, 1.5);
  });

  test('every family on both variants, seen and unseen; 100% real items with the trie; resume reproduces the report', async () => {
    const a = join(dir, 'a');
    const r = await runRecSysLLM(raw, data, OPTS, a);
    assert.equal(r.interrupted, false);
    assert.deepEqual(r.families, ['rating', 'sequential', 'direct', 'explanation', 'review']);
    for (const v of r.variants) {
      assert.ok(v.pretrain && v.pretrain.steps === 6 && v.pretrain.peakRssMiB > 0);
      for (const f of r.families) {
        assert.ok(meanMetrics(v.results, f, true), `${v.variant} ${f} seen`);
        assert.ok(meanMetrics(v.results, f, false), `${v.variant} ${f} unseen`);
      }
      for (const x of v.results.filter((y) => y.family === 'sequential')) {
        assert.equal(x.metrics.realShareTrie, 1);
        assert.ok(x.metrics.realShareFree >= 0 && x.metrics.realShareFree <= 1);
      }
      const rating = meanMetrics(v.results, 'rating', true)!;
      assert.ok(rating.rmse >= rating.mae && rating.mae >= 0 && rating.rmse <= 4);
    }
    const ranking = r.baselines.filter((b) => !b.rating);
    assert.deepEqual(ranking.map((b) => b.model), ['random', 'pop', 'bprmf']);
    assert.ok(ranking.every((b) => b.sequential && b.direct));
    // The rating family has constant predictors beside it (training mean and mode).
    const constant = r.baselines.filter((b) => b.rating);
    assert.equal(constant.length, 2);
    assert.match(constant[0].model, /^training mean/);
    assert.ok(constant.every((b) => b.rating!.rmse >= b.rating!.mae && b.rating!.mae >= 0));
    assert.match(readFileSync(join(a, 'report.md'), 'utf8'), /\| training mode \(\d\) \| - \|/);
    const md = readFileSync(join(a, 'report.md'), 'utf8');
    assert.match(md, /## review summarisation/);
    assert.match(md, /RecSysLLM \(entity-aware\) \| unseen/);
    assert.ok(existsSync(join(a, 'recsysllm', 'finetune', 'model.safetensors')));
    // Resume: every stage reused, same numbers.
    const again = await runRecSysLLM(raw, data, OPTS, a, {}, true);
    assert.deepEqual(again.variants.map((v) => v.results.map((x) => x.metrics)), r.variants.map((v) => v.results.map((x) => x.metrics)));
    assert.equal(again.seconds['recsysllm.pretrain'], undefined);
    await assert.rejects(runRecSysLLM(raw, data, { ...OPTS, seed: 9 }, a, {}, true), /different options/);
  });

  test('an interrupted pre-training resumes to the same model as an uninterrupted one', async () => {
    const opts = { ...OPTS, variants: ['recsysllm'], families: ['sequential'], eval: { users: 2, beams: 10, unconstrained: false } };
    const full = await runRecSysLLM(raw, data, opts, join(dir, 'full'));
    const ctl = new AbortController();
    const b = join(dir, 'interrupted');
    const first = await runRecSysLLM(raw, data, opts, b, {
      signal: ctl.signal, progress: (what, done) => { if (what.startsWith('recsysllm pretrain') && done === 4) ctl.abort(); },
    });
    assert.equal(first.interrupted, true);
    const second = await runRecSysLLM(raw, data, opts, b, {}, true);
    assert.equal(second.interrupted, false);
    const sa = readFileSync(join(dir, 'full', 'recsysllm', 'finetune', 'model.safetensors'));
    const sb = readFileSync(join(b, 'recsysllm', 'finetune', 'model.safetensors'));
    assert.ok(sa.equals(sb), 'the resumed model equals the uninterrupted one byte for byte');
    assert.deepEqual(second.variants[0].results.map((x) => x.metrics), full.variants[0].results.map((x) => x.metrics));
  });
});
