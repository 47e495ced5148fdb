/**
 * The engine benchmark's pieces (src/bench/run.ts, torch.ts, workloads.ts,
 * gemm.ts), without timing anything: the PyTorch interpreters tried and the
 * choice of the fastest, the SASRec top-10 inference workload against a
 * brute-force top-k of its own scores, the attention GEMM shapes, and the
 * PyTorch twin's new cases (when torch is importable).
 */
import assert from 'node:assert/strict';
import { delimiter } from 'node:path';
import { describe, it } from 'node:test';
import { attentionGemmShape, gemmFlops } from '../src/bench/gemm.js';
import { DEBIAN_PYTHON, fastestTorch, runTorch, torchAvailable, torchPythons } from '../src/bench/torch.js';
import { INFERENCE_CASES, makeInferenceWorkload } from '../src/bench/run.js';
import { sasrecTopKWorkload } from '../src/bench/workloads.js';
import { ready } from './helpers.js';

await ready();

describe('PyTorch references', () => {
  it('tries LLMREC_TORCH_PYTHON entries first, then Debian python3, without duplicates', () => {
    assert.deepEqual(torchPythons(undefined), [DEBIAN_PYTHON]);
    assert.deepEqual(torchPythons(''), [DEBIAN_PYTHON]);
    assert.deepEqual(torchPythons('/opt/py/bin/python'), ['/opt/py/bin/python', DEBIAN_PYTHON]);
    assert.deepEqual(torchPythons(['/a/python', DEBIAN_PYTHON, '/a/python', '/b/python'].join(delimiter)), ['/a/python', DEBIAN_PYTHON, '/b/python']);
  });

  it('takes the ratio against the fastest PyTorch', () => {
    assert.equal(fastestTorch([]), null);
    const best = fastestTorch([
      { python: '/usr/bin/python3', version: '1.13.0', ms: 12, threads: '2' },
      { python: '/opt/py/bin/python', version: '2.5.1', ms: 7, threads: '1' },
      { python: '/x/python', version: '2.1.0', ms: 9, threads: '1' },
    ]);
    assert.equal(best?.version, '2.5.1');
  });

  it('reports an interpreter that does not exist, naming it', () => {
    const r = torchAvailable('/nonexistent/python3');
    assert.equal(r.ok, false);
    assert.match(r.reason!, /\/nonexistent\/python3 not found/);
  });
});

describe('SASRec top-k inference workload', () => {
  it('returns, per user, the k best items by its own scores, never the padding id', () => {
    const k = 5;
    const s = { B: 6, L: 8, d: 16, items: 40, blocks: 2, padPrefix: 3, k };
    const w = sasrecTopKWorkload(s, 3);
    try {
      const top = w.run();
      const scores = w.scores();
      assert.equal(top.length, s.B * k);
      for (let b = 0; b < s.B; b++) {
        // Column j scores item id j + 1.
        const row = Array.from(scores.subarray(b * s.items, (b + 1) * s.items));
        const want = row.map((v, j) => [v, j + 1] as const).sort((x, y) => y[0] - x[0]).slice(0, k).map(([, id]) => id);
        const got = Array.from(top.subarray(b * k, (b + 1) * k));
        assert.ok(got.every((id) => id >= 1 && id <= s.items), `user ${b}: ids ${got} outside 1..${s.items}`);
        // Ties aside, the same ids in the same order; compare by score to allow exact ties.
        assert.deepEqual(got.map((id) => row[id - 1]), want.map((id) => row[id - 1]), `user ${b}`);
      }
      // Inference is deterministic (no dropout).
      assert.deepEqual(Array.from(w.run()), Array.from(top));
    } finally {
      w.dispose();
    }
  });

  it('rejects k larger than the catalogue', () => {
    assert.throws(() => sasrecTopKWorkload({ B: 1, L: 2, d: 4, items: 3, k: 4 }), /k = 4 exceeds the 3 items/);
  });

  it('every inference case builds its workload under its own name', () => {
    for (const c of INFERENCE_CASES) {
      const w = makeInferenceWorkload(c);
      assert.equal(w.name, c);
      w.dispose();
    }
  });
});

describe('attention GEMM shapes', () => {
  it('scores Q Kᵀ and context P V have the attention flops', () => {
    const s = attentionGemmShape('attn_scores', 256, 50, 64);
    assert.deepEqual(s, { batch: 256, M: 50, N: 50, K: 64, tA: false, tB: true });
    const c = attentionGemmShape('attn_context', 256, 50, 64);
    assert.deepEqual(c, { batch: 256, M: 50, N: 64, K: 50, tA: false, tB: false });
    assert.equal(gemmFlops(s), 2 * 256 * 50 * 50 * 64);
    assert.equal(gemmFlops(c), gemmFlops(s));
  });
});

const torch = torchAvailable();
describe('bench/torch_ref.py new cases', { skip: torch.ok ? false : `PyTorch unavailable: ${torch.reason}` }, () => {
  it('runs the attention GEMM variants and reports their flops', () => {
    for (const v of ['attn_scores', 'attn_context']) {
      const r = runTorch(['--case', 'gemm', '--size', '10', '--variant', v, '--batch', '3', '--dim', '4', '--threads', '1', '--steps', '1', '--warmup', '0']);
      assert.equal(r.case, 'gemm');
      assert.ok(r.ms_median > 0 && (r.gflops ?? 0) > 0);
    }
  });
});
