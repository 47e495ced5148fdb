/**
 * The prompt-robustness summary: per-template metrics grouped into trained
 * and unseen templates, population mean and standard deviation per group,
 * absolute and relative drop — checked against hand-computed values.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateRobustness, summarise } from '../src/eval/robustness.js';

describe('robustness evaluation', () => {
  test('mean, population std, drop and relative drop (hand-computed)', async () => {
    const values: Record<string, number> = { a: 0.8, b: 0.6, x: 0.5, y: 0.7, z: 0.3, o: 0.1 };
    const seen: string[] = [];
    const r = await evaluateRobustness({ trained: ['a', 'b'], unseen: ['x', 'y', 'z'], other: ['o'] }, (id) => { seen.push(id); return { auc: values[id], 'hr@1': values[id] / 2 }; });
    assert.deepEqual(seen, ['a', 'b', 'x', 'y', 'z', 'o'], 'every template evaluated once');
    assert.ok(Math.abs(r.trained.mean.auc - 0.7) < 1e-12);
    assert.ok(Math.abs(r.trained.std.auc - 0.1) < 1e-12);
    assert.ok(Math.abs(r.unseen.mean.auc - 0.5) < 1e-12);
    // population std of 0.5, 0.7, 0.3: sqrt((0 + 0.04 + 0.04) / 3)
    assert.ok(Math.abs(r.unseen.std.auc - Math.sqrt(0.08 / 3)) < 1e-12);
    assert.ok(Math.abs(r.drop.auc - 0.2) < 1e-12);
    assert.ok(Math.abs(r.relativeDrop.auc - 0.2 / 0.7) < 1e-12);
    assert.ok(Math.abs(r.drop['hr@1'] - 0.1) < 1e-12);
    assert.equal(r.perTemplate.find((t) => t.template === 'o')!.group, 'other');
    assert.equal(summarise([{ template: 'a', group: 'trained', metrics: { auc: 0.4 } }]).std.auc, 0);
  });

  test('needs both groups, disjoint', async () => {
    await assert.rejects(evaluateRobustness({ trained: ['a'], unseen: [] }, () => ({ auc: 1 })), /at least one/);
    await assert.rejects(evaluateRobustness({ trained: ['a'], unseen: ['a'] }, () => ({ auc: 1 })), /both trained and unseen/);
  });
});
