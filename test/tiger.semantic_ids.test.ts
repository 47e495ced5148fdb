/**
 * TIGER semantic ids (src/models/tiger/semantic_ids.ts): RQ-KMeans recovers
 * planted clusters at its first level, collision codes make every id unique,
 * collapse detection fires on degenerate vectors, RQ-VAE trains (loss falls),
 * uses its codebooks and is deterministic by seed.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { Mulberry32 } from '../src/util/random.js';
import { addCollisionCodes, buildSemanticIds, checkCollapse, type VectorMatrix } from '../src/models/tiger/semantic_ids.js';

/** k clusters of m items each in d dimensions: well separated centres, small noise. */
function clustered(k: number, m: number, d: number, seed: number, noise = 0.05): { x: VectorMatrix; label: Int32Array } {
  const rng = new Mulberry32(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => (rng.next() - 0.5) * 10));
  const data = new Float32Array(k * m * d);
  const label = new Int32Array(k * m);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < m; i++) {
      const r = c * m + i;
      label[r] = c;
      for (let j = 0; j < d; j++) data[r * d + j] = centres[c][j] + noise * rng.normal();
    }
  }
  return { x: { rows: k * m, dim: d, data }, label };
}

function ids(codes: Int32Array, n: number, stride: number): string[] {
  return Array.from({ length: n }, (_, i) => Array.from(codes.subarray(i * stride, (i + 1) * stride)).join(','));
}

describe('TIGER semantic ids', () => {
  before(async () => {
    await initEngine();
    if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  });

  it('RQ-KMeans recovers planted clusters at level 0 and gives unique ids', async () => {
    const { x, label } = clustered(8, 30, 16, 7);
    const s = await buildSemanticIds(x, { method: 'rqkmeans', levels: 3, codebookSize: 8, seed: 1 });
    // Level-0 code <-> cluster must be a bijection.
    const map = new Map<number, number>();
    const back = new Map<number, number>();
    for (let i = 0; i < x.rows; i++) {
      const c = s.codes[i * 4];
      const l = label[i];
      if (!map.has(l)) map.set(l, c);
      if (!back.has(c)) back.set(c, l);
      assert.equal(map.get(l), c, `item ${i} of cluster ${l} got code ${c}`);
      assert.equal(back.get(c), l);
    }
    assert.equal(map.size, 8);
    assert.equal(s.stats.levels[0].used, 8);
    assert.ok(Math.abs(s.stats.levels[0].perplexity - 8) < 1e-9);
    assert.equal(new Set(ids(s.codes, x.rows, 4)).size, x.rows, 'ids must be unique');
    assert.deepEqual(checkCollapse(s.stats, 0.1), []);
  });

  it('collision codes make every id unique and count the colliding items', () => {
    // 5 items, levels 2: items 0, 2, 3 share (1, 1); item 1 and 4 are alone.
    const prefix = Int32Array.from([1, 1, 0, 2, 1, 1, 1, 1, 3, 3]);
    const r = addCollisionCodes(prefix, 5, 2, 4);
    assert.deepEqual(Array.from(r.codes), [1, 1, 0, 0, 2, 0, 1, 1, 1, 1, 1, 2, 3, 3, 0]);
    assert.equal(r.collisionRate, 3 / 5);
    assert.equal(r.distinct, 3);
    assert.equal(r.maxGroup, 3);
    assert.throws(() => addCollisionCodes(prefix, 5, 2, 2), /3 items share the codes \(1,1\), more than maxCollisions = 2/);
  });

  it('collapse detection fires on degenerate vectors, with the numbers', async () => {
    const n = 100;
    const data = new Float32Array(n * 4).fill(0.5);
    // Identical vectors: every level uses one code.
    const s = await buildSemanticIds({ rows: n, dim: 4, data }, { method: 'rqkmeans', levels: 2, codebookSize: 16, maxCollisions: 128, seed: 3 });
    assert.equal(s.stats.levels[0].used, 1);
    assert.equal(s.stats.collisionRate, 1);
    assert.throws(() => checkCollapse(s.stats, 0.1), /codebook collapse on 100 items: level 0 uses 1\/16 codes \(usage 0\.063 < minUsage 0\.1/);
    const warned: string[] = [];
    const bad = checkCollapse(s.stats, 0.1, (m) => warned.push(m));
    assert.equal(bad.length, 2);
    assert.equal(warned.length, 1);
    // Too many identical items for the collision space is an error, not a silent id clash.
    await assert.rejects(buildSemanticIds({ rows: n, dim: 4, data }, { method: 'rqkmeans', levels: 2, codebookSize: 16, maxCollisions: 64, seed: 3 }), /100 items share the codes/);
  });

  it('rejects bad vectors with what is wrong', async () => {
    await assert.rejects(buildSemanticIds({ rows: 2, dim: 3, data: new Float32Array(5) }), /hold 5 values, expected 2 x 3/);
    await assert.rejects(buildSemanticIds({ rows: 2, dim: 2, data: Float32Array.from([0, 1, NaN, 2]) }), /item vector 1 has a non-finite value at dimension 0/);
    await assert.rejects(buildSemanticIds({ rows: 2, dim: 2, data: new Float32Array(4) }, { codebookSize: 1 }), /codebookSize must be an integer >= 2/);
  });

  it('RQ-VAE trains, uses its codebooks and is deterministic by seed', async () => {
    const { x } = clustered(16, 20, 24, 11, 0.3);
    const opts = { method: 'rqvae' as const, levels: 3, codebookSize: 16, hidden: [32], latentDim: 8, steps: 400, batchSize: 64, lr: 3e-3, seed: 5, kmeansIters: 10 };
    const losses: number[] = [];
    const a = await buildSemanticIds(x, { ...opts, onStep: (_s, _n, l) => losses.push(l.recon) });
    assert.equal(losses.length, 4);
    assert.ok(losses[3] < losses[0] / 2, `reconstruction loss per 100 steps: ${losses.join(', ')}`);
    assert.ok(a.stats.finalLosses && a.stats.finalLosses.recon < 20, `reconstruction loss ${JSON.stringify(a.stats.finalLosses)}`);
    assert.ok(a.stats.levels[0].used >= 8, `level 0 uses ${a.stats.levels[0].used} codes`);
    assert.deepEqual(checkCollapse(a.stats, 0.1), []);
    assert.equal(new Set(ids(a.codes, x.rows, 4)).size, x.rows);
    const b = await buildSemanticIds(x, opts);
    assert.deepEqual(Array.from(b.codes), Array.from(a.codes));
  });
});
