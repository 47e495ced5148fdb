/**
 * Collaborative item vectors for TIGER's semantic ids (src/models/tiger/cooc.ts):
 * items that co-occur in training sequences end up close (two planted
 * communities are separated by k-means), only the training rows count
 * (validation and test rows cannot move a vector), items without training
 * co-occurrence get zero rows, a seed fixes the vectors, the text/collaborative
 * mix has the stated norms, and TIGER's `collabShare` uses them and refuses
 * bad values.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, tf } from '../src/engine/index.js';
import { Mulberry32 } from '../src/util/random.js';
import { coocVectors, mixVectors } from '../src/models/tiger/cooc.js';
import { kmeans, type VectorMatrix } from '../src/models/tiger/semantic_ids.js';
import { Tiger } from '../src/models/tiger/model.js';
import { loadRecommender } from '../src/models/registry.js';
import { cosine } from '../src/eval/metrics/distribution.js';
import type { SplitDataset } from '../src/data/types.js';
import { BASE_FIT, patternData } from './fixtures/pattern_data.js';


const L = 4;

/**
 * 40 users, each walking at random inside one community: items 1-10 (even
 * users) or 11-20 (odd users), 12 steps. Item 21 never occurs in training.
 */
function communities(): Pick<SplitDataset, 'numItems' | 'train'> {
  const rng = new Mulberry32(11);
  const user: number[] = [];
  const history: number[] = [];
  const target: number[] = [];
  for (let u = 0; u < 40; u++) {
    const base = u % 2 === 0 ? 0 : 10;
    const seq = Array.from({ length: 12 }, () => base + 1 + Math.floor(rng.next() * 10));
    for (let t = 1; t < seq.length; t++) {
      const h = seq.slice(Math.max(0, t - L), t);
      user.push(u);
      history.push(...new Array<number>(L - h.length).fill(0), ...h);
      target.push(seq[t]);
    }
  }
  return {
    numItems: 21,
    train: { count: target.length, L, user: Int32Array.from(user), history: Int32Array.from(history), target: Int32Array.from(target) },
  };
}

function row(m: VectorMatrix, i: number): Float32Array {
  return m.data.subarray(i * m.dim, (i + 1) * m.dim);
}

const OPTS = { dim: 4, window: 2, iters: 4, seed: 5 };

describe('TIGER collaborative item vectors', () => {
  before(async () => {
    await initEngine();
    if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  });

  it('puts co-occurring items together: two communities, k-means separates them', () => {
    const data = communities();
    const v = coocVectors(data, OPTS);
    assert.equal(v.rows, 21);
    assert.equal(v.dim, 4);
    let within = 0;
    let across = 0;
    let nw = 0;
    let na = 0;
    for (let a = 0; a < 20; a++) {
      for (let b = a + 1; b < 20; b++) {
        const c = cosine(row(v, a), row(v, b));
        if ((a < 10) === (b < 10)) {
          within += c;
          nw++;
        } else {
          across += c;
          na++;
        }
      }
    }
    within /= nw;
    across /= na;
    assert.ok(within > 0.5 && within - across > 0.5, `mean cosine within ${within.toFixed(3)}, across ${across.toFixed(3)}`);
    const { assign } = kmeans(v.data.slice(0, 20 * v.dim), 20, v.dim, 2, 20, 3);
    for (let i = 1; i < 10; i++) assert.equal(assign[i], assign[0], `item ${i + 1}`);
    for (let i = 10; i < 20; i++) assert.notEqual(assign[i], assign[0], `item ${i + 1}`);
  });

  it('uses the training rows only; an item without training co-occurrence is a zero row', () => {
    const data = communities();
    const v = coocVectors(data, OPTS);
    assert.equal(v.isolated, 1);
    assert.ok(row(v, 20).every((x) => x === 0), 'item 21');
    // Validation and test rows (here: every cross-community transition, item 21 as target) change nothing.
    const evalRows = { count: 2, L, user: Int32Array.from([0, 1]), history: Int32Array.from([0, 0, 1, 11, 0, 0, 12, 2]), target: Int32Array.from([21, 21]), negatives: new Int32Array(0), numNegatives: 0 };
    const full = { ...data, valid: evalRows, test: evalRows } as unknown as SplitDataset;
    assert.deepEqual(coocVectors(full, OPTS).data, v.data);
  });

  it('is fixed by its seed', () => {
    const data = communities();
    assert.deepEqual(coocVectors(data, OPTS).data, coocVectors(data, OPTS).data);
    assert.notDeepEqual(coocVectors(data, { ...OPTS, seed: 6 }).data, coocVectors(data, OPTS).data);
  });

  it('mixes text and collaborative rows with the stated share of the squared norm', () => {
    const text: VectorMatrix = { rows: 3, dim: 2, data: Float32Array.from([3, 4, 0, 0, 1, 0]) };
    const co: VectorMatrix = { rows: 3, dim: 3, data: Float32Array.from([0, 2, 0, 1, 1, 1, 0, 0, 0]) };
    const m = mixVectors(text, co, 0.25);
    assert.equal(m.dim, 5);
    const sq = (i: number, from: number, to: number) => Array.from(m.data.subarray(i * 5 + from, i * 5 + to)).reduce((s, x) => s + x * x, 0);
    assert.ok(Math.abs(sq(0, 0, 2) - 0.75) < 1e-6 && Math.abs(sq(0, 2, 5) - 0.25) < 1e-6);
    assert.ok(Math.abs(m.data[0] - 0.6 * Math.sqrt(0.75)) < 1e-6);
    assert.equal(sq(1, 0, 2), 0, 'a zero text row stays zero');
    assert.ok(Math.abs(sq(1, 2, 5) - 0.25) < 1e-6);
    assert.equal(sq(2, 2, 5), 0, 'a zero collaborative row stays zero');
    const only = mixVectors(text, co, 1);
    assert.equal(only.dim, 3);
    assert.throws(() => mixVectors(text, co, 0), /share must be in \(0, 1\]/);
    assert.throws(() => mixVectors(text, { rows: 2, dim: 3, data: new Float32Array(6) }, 0.5), /3 text rows against 2/);
    assert.throws(() => coocVectors(communities(), { ...OPTS, dim: 0 }), /dim must be an integer >= 1/);
  });

  it('TIGER with collabShare builds its ids on the mixed vectors; bad values are refused by name', async () => {
    assert.throws(() => new Tiger({ collabShare: 1.5 }), /collabShare' must be in \[0, 1\]/);
    assert.throws(() => new Tiger({ collabShare: 'half' }), /collabShare' must be number/);
    assert.throws(() => new Tiger({ collabWindow: 0 }), /collabWindow' must be an integer >= 1/);
    const data = patternData();
    const lines: string[] = [];
    const text = (d: SplitDataset): VectorMatrix => ({ rows: d.numItems, dim: 3, data: Float32Array.from({ length: d.numItems * 3 }, (_, i) => Math.sin(i + 1)) });
    const m = new Tiger({
      idMethod: 'rqkmeans', levels: 2, codebookSize: 4, maxCollisions: 16, kmeansIters: 5, collabShare: 0.5, collabDim: 4, collabWindow: 2,
      dModel: 16, dKv: 8, numHeads: 2, dFf: 32, numLayers: 1, dropout: 0, maxItems: 3, beams: 10, beamChunk: 8,
    }, { itemVectors: text, log: (l) => lines.push(l) });
    await m.fit(data, { ...BASE_FIT, epochs: 1 });
    assert.ok(lines.some((l) => /collaborative vectors \(PPMI of the training rows, window 2, dim 4\)/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /item vectors 40 x 7 /.test(l)), 'text 3 + collaborative 4 columns');
    // Items 21..40 never occur in the pattern data: zero collaborative rows, counted.
    assert.ok(lines.some((l) => /20 items without training co-occurrence/.test(l)), lines.join('\n'));
    // The saved model loads (the k-means codebooks are [4, 7]: the vector width is not the codebook size) and scores the same.
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-tiger-cooc-'));
    try {
      await m.save(dir);
      const loaded = await loadRecommender(dir);
      const users = { size: 4, L: data.test.L, user: data.test.user.subarray(0, 4), history: data.test.history.subarray(0, 4 * data.test.L) };
      assert.deepEqual(Array.from(loaded.scoreAll(users)), Array.from(m.scoreAll(users)));
      loaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      m.dispose();
    }
  });
});
