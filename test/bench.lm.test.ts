/**
 * The LM benchmark cases (src/bench/lm.ts) on a tiny shape: records are
 * well-formed, and llmrec, PyTorch (bench/lm_ref.py) and onnxruntime compute
 * the same candidate scores and first training loss from the same weights.
 * A correctness guard, not a timing test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  buildLmBenchModel, LM_BENCH_SHAPES, LM_BENCH_TINY, lmBenchConfig, lmBenchInputs, runLmBench, runTorchLm,
  timeOursScore, timeOursTrain, writeCheckpoint, writeLmInputs, type LlamaCppReference, type LmBenchRecord,
} from '../src/bench/lm.js';
import { torchAvailable } from '../src/bench/torch.js';
import { onnxRuntimeAvailable } from '../src/lm/interop/onnx.js';
import { scoreContinuations } from '../src/lm/score.js';
import { assertCloseArrays, ready } from './helpers.js';

const torchCheck = torchAvailable();
const ortCheck = await onnxRuntimeAvailable();
const noTorch = torchCheck.ok ? false : `python3-torch not available: ${torchCheck.reason}`;

function checkRecord(r: LmBenchRecord): void {
  assert.ok(r.kind === 'lm_train' || r.kind === 'lm_score', r.kind);
  assert.equal(r.name, `${r.kind}_${LM_BENCH_TINY.label}`);
  assert.equal(r.unit, r.kind === 'lm_train' ? 'tokens/s' : 'candidates/s');
  assert.ok(r.ours_ms > 0 && Number.isFinite(r.ours_ms), `ours_ms ${r.ours_ms}`);
  assert.ok(r.ours_per_s > 0, `ours_per_s ${r.ours_per_s}`);
  assert.ok(typeof r.engine_path === 'string' && r.shape.length > 0);
  if (r.reference_ms === null) {
    assert.equal(r.ratio, null);
    assert.equal(r.reference_per_s, null);
    assert.ok(r.reference_note, `${r.name} vs ${r.reference}: a null reference needs a note`);
  } else {
    assert.ok(r.reference_ms > 0 && r.reference_per_s! > 0);
    // ratio > 1 means slower than the reference: ours_ms / reference_ms.
    assert.ok(Math.abs(r.ratio! - r.ours_ms / r.reference_ms) <= 0.01 * r.ratio! + 1e-3, `${r.name}: ratio ${r.ratio}`);
  }
}

describe('LM benchmark cases', () => {
  before(ready);

  test('shapes are the documented ones and build valid configs', () => {
    assert.deepEqual(LM_BENCH_SHAPES.map((s) => [s.label, s.hidden, s.heads, s.layers]), [['d128', 128, 4, 2], ['d512', 512, 8, 4]]);
    for (const s of [...LM_BENCH_SHAPES, LM_BENCH_TINY]) {
      const c = lmBenchConfig(s);
      assert.equal(c.hidden_size, s.hidden);
      assert.equal((c.hidden_size as number) % (c.num_attention_heads as number), 0);
    }
    const x = lmBenchInputs(LM_BENCH_TINY);
    assert.equal(x.trainIds.length, LM_BENCH_TINY.trainBatch * LM_BENCH_TINY.trainSeq);
    assert.equal(x.candidates.length, LM_BENCH_TINY.candidates);
    assert.ok(x.candidates.every((c) => c.length === LM_BENCH_TINY.candidateLen));
  });

  test('llmrec timings: scores equal scoreContinuations, training lowers the loss', () => {
    const s = LM_BENCH_TINY;
    const x = lmBenchInputs(s);
    const m = buildLmBenchModel(s);
    const sc = timeOursScore(m, x, 0, 2);
    assert.equal(sc.times.length, 2);
    assert.deepEqual(Array.from(sc.scores), Array.from(scoreContinuations(m, { ids: x.prompt }, x.candidates).logProb));
    const tr = timeOursTrain(m, s, x, 1, 4);
    assert.equal(tr.losses.length, 5);
    assert.ok(tr.losses[4] < tr.losses[0], `loss ${tr.losses[0]} -> ${tr.losses[4]}`);
    m.dispose();
  });

  test('PyTorch computes the same scores and first loss from the same weights', { skip: noTorch }, () => {
    const s = LM_BENCH_TINY;
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-lmbench-test-'));
    try {
      const x = lmBenchInputs(s, 5);
      const m = buildLmBenchModel(s, 5);
      writeCheckpoint(m, dir);
      writeLmInputs(dir, s, x);
      const ours = timeOursScore(m, x, 0, 1).scores;
      const tr = timeOursTrain(m, s, x, 0, 1);
      m.dispose();
      const r = runTorchLm(dir, { steps: 1, warmup: 0, threads: '1' });
      assert.equal(r.threads, '1');
      assertCloseArrays(r.score!.scores, ours, { atol: 2e-4, rtol: 1e-5 }, 'scores');
      assert.ok(new Set(ours.map((v) => Math.round(v * 100))).size > 1, 'the tiny shape should give distinct scores');
      assertCloseArrays([r.train!.loss_first], [tr.losses[0]], { atol: 1e-4, rtol: 1e-5 }, 'first loss');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('runLmBench (quick, tiny shape): well-formed records against every reference', { skip: noTorch }, async (t) => {
    const lines: string[] = [];
    const records = await runLmBench({ quick: true, shapes: [LM_BENCH_TINY], steps: 2, warmup: 1, referenceThreads: [1], log: (l) => lines.push(l) });
    for (const r of records) checkRecord(r);
    const byRef = new Map(records.filter((r) => r.kind === 'lm_score').map((r) => [r.reference, r]));
    assert.equal(records.filter((r) => r.kind === 'lm_train').length, 1);
    assert.deepEqual([...byRef.keys()].sort(), ['llama.cpp', 'onnxruntime', 'pytorch']);
    const train = records.find((r) => r.kind === 'lm_train')!;
    assert.notEqual(train.reference_ms, null, train.reference_note);
    assert.ok(Math.abs(train.reference_loss_first! - train.loss_first!) < 1e-3, `loss ${train.loss_first} vs torch ${train.reference_loss_first}`);
    for (const r of byRef.values()) {
      if (r.reference === 'onnxruntime' && !ortCheck.ok) { assert.equal(r.reference_ms, null); continue; }
      if (r.reference === 'llama.cpp' && r.reference_ms === null && /node-llama-cpp/.test(r.reference_note ?? '')) {
        t.diagnostic(`llama.cpp reference unavailable: ${r.reference_note}`);
        continue;
      }
      assert.notEqual(r.reference_ms, null, `${r.reference}: ${r.reference_note}`);
      assert.ok(r.max_abs_score_diff! < 2e-4, `${r.reference}: max |score diff| ${r.max_abs_score_diff}`);
    }
    assert.ok(lines.some((l) => l.includes('lm_score_tiny')));
  });

  test('an injected llama.cpp reference is used; a failing one leaves a note', async () => {
    // A stand-in exercising the injection point: it scores with llmrec itself.
    let resets = 0;
    const standIn: LlamaCppReference = {
      label: 'stand-in (llmrec)',
      open: async (model) => ({
        scoreContinuations: async (prompt, cands) => scoreContinuations(model, { ids: prompt }, cands).logProb,
        reset: async () => { resets++; },
        dispose: () => undefined,
      }),
    };
    const ok = await runLmBench({ shapes: [LM_BENCH_TINY], steps: 2, warmup: 1, references: ['llama.cpp'], llamaCpp: standIn, log: () => undefined });
    assert.equal(ok.length, 1);
    checkRecord(ok[0]);
    assert.equal(ok[0].reference, 'llama.cpp');
    assert.equal(ok[0].reference_version, 'stand-in (llmrec)');
    assert.equal(ok[0].max_abs_score_diff, 0);
    assert.equal(resets, 3);
    const broken: LlamaCppReference = { open: async () => { throw new Error('no binding here'); } };
    const bad = await runLmBench({ shapes: [LM_BENCH_TINY], steps: 1, warmup: 0, references: ['llama.cpp'], llamaCpp: broken, log: () => undefined });
    assert.equal(bad.length, 1);
    checkRecord(bad[0]);
    assert.equal(bad[0].reference_ms, null);
    assert.match(bad[0].reference_note!, /no binding here/);
  });
});
