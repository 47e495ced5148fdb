/**
 * A TextSeq model with a cold bias (src/models/textseq.ts, docs/METHODS.md
 * §3.10) served as any other model (docs/SERVING.md): its user and item
 * vectors carry b as one extra dimension, so the server's precomputed top-k
 * and its per-request GEMM give the model's own ranking, cold items lifted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disposeRun, loadRun, precomputedTopK, rankBatch, seenOf, testHistory, userBatch, type LoadedRun } from '../src/serve/run.js';
import { writeRun } from './serve.fixture.js';

describe('serving a TextSeq model with a cold bias', () => {
  let dir = '';
  let run: LoadedRun;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-textseq-'));
    await writeRun(dir, [{ label: 'ts', name: 'textseq', config: { d: 16, blocks: 1, textDim: 32, coldBias: 2 } }]);
    run = await loadRun(dir, () => {}, { precomputeK: 20 });
  });
  after(() => {
    disposeRun(run);
    rmSync(dir, { recursive: true, force: true });
  });

  test('precomputed and per-request top-k equal the model\'s scoreAll ranking', () => {
    const m = run.models.find((x) => x.label === 'ts')!;
    assert.equal(m.items!.dim, 17); // d + the cold-bias dimension
    let compared = 0;
    for (const user of [0, 7, 31, 44, 52]) {
      const hist = testHistory(run.data, user);
      const scores = m.model.scoreAll(userBatch([user], [hist], m.L));
      const skip = seenOf(run, user);
      const ranked = Array.from({ length: run.data.numItems }, (_, j) => j + 1)
        .filter((i) => !skip.includes(i))
        .sort((a, b) => scores[b] - scores[a] || a - b);
      // GEMM paths (OpenBLAS, wasm) round differently from tfjs: compare only where no near-tie sits inside the top 10.
      if (ranked.slice(0, 11).some((it, r) => r > 0 && Math.abs(scores[ranked[r - 1]] - scores[it]) < 1e-4)) continue;
      const expected = ranked.slice(0, 10);
      const pre = precomputedTopK(m, user, 10, skip)!;
      assert.deepEqual(pre.map((s) => s.item), expected, `user ${user}, precomputed`);
      const [adhoc] = rankBatch(m, [{ user: null, history: hist, k: 10, skip }]);
      assert.deepEqual(adhoc.map((s) => s.item), expected, `user ${user}, ad-hoc history`);
      compared++;
    }
    assert.ok(compared >= 2, `only ${compared} users without near-ties`);
  });
});
