/**
 * The shared step loop (src/train/loop.ts) and schedule (src/train/schedule.ts):
 * schedule values by hand, clipping by hand, the order of the hooks, the loss
 * window, abort/stop rules, and an interrupted + resumed run equal to a straight one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/index.js';
import { ready } from './helpers.js';
import { AdamW } from '../src/nn/index.js';
import { hasCheckpoint, loadCheckpoint, LossWindow, restoreOptimizer, restoreVariables, runLoop, saveCheckpoint, warmupCosine, warmupCosineSchedule } from '../src/train/index.js';
import { Mulberry32, mixSeed } from '../src/util/random.js';

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'llmrec-train-loop-')); dirs.push(d); return d; };
before(async () => { await ready(); });
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('schedule', () => {
  test('warmup + cosine by hand', () => {
    // lr 1, 4 warmup steps, 12 steps in all, floor 0.1.
    assert.equal(warmupCosine(0, 1, 4, 12), 0.25);
    assert.equal(warmupCosine(1, 1, 4, 12), 0.5);
    assert.equal(warmupCosine(3, 1, 4, 12), 1);
    assert.equal(warmupCosine(4, 1, 4, 12), 1); // p = 0
    assert.ok(Math.abs(warmupCosine(8, 1, 4, 12) - 0.55) < 1e-15); // p = 1/2: 0.1 + 0.9 * 0.5 * (1 + 0)
    assert.ok(Math.abs(warmupCosine(12, 1, 4, 12) - 0.1) < 1e-15); // p = 1
    assert.ok(Math.abs(warmupCosine(30, 1, 4, 12) - 0.1) < 1e-15); // clamped after the end
    assert.equal(warmupCosine(0, 2e-3, 0, 10), 2e-3); // no warm-up
    const s = warmupCosineSchedule(1, 4, 12);
    for (let k = 0; k < 14; k++) assert.equal(s(k), warmupCosine(k, 1, 4, 12));
  });

  test('the loop sets the scheduled rate on every scheduled optimizer before each step', async () => {
    const a = new AdamW({ lr: 9 });
    const b = new AdamW({ lr: 9 });
    const seen: Array<[number, number, number]> = [];
    await runLoop({
      name: 't', maxSteps: 6, lr: { optimizers: [a, b], schedule: warmupCosineSchedule(1, 2, 6) },
      step: (s) => { seen.push([s, a.lr, b.lr]); return { loss: 0 }; },
    });
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5].map((s) => [s, warmupCosine(s, 1, 2, 6), warmupCosine(s, 1, 2, 6)]));
  });
});

describe('clipping', () => {
  test('global-norm clipping scales the gradient by clipNorm / (norm + 1e-6) (first moments by hand)', () => {
    const v = tf.variable(tf.tensor1d([0, 0]), true, 'clip-test');
    const c = tf.tensor1d([3, 4]); // gradient of sum(w * c) is c, norm 5
    for (const [clip, scale] of [[1, 1 / (5 + 1e-6)], [10, 1], [undefined, 1]] as const) {
      const opt = new AdamW({ lr: 0.1, weightDecay: 0, clipNorm: clip });
      opt.minimize(() => tf.sum(tf.mul(v, c)), [v]);
      const m = opt.moments(v)!;
      // m_1 = (1 - beta1) g, v_1 = (1 - beta2) g^2 with g the clipped gradient.
      assert.ok(Math.abs(m.m[0] - 0.1 * 3 * scale) < 1e-7 && Math.abs(m.m[1] - 0.1 * 4 * scale) < 1e-7, `clip ${clip}: m ${m.m}`);
      assert.ok(Math.abs(m.v[1] - 0.001 * (4 * scale) ** 2) < 1e-7, `clip ${clip}: v ${m.v}`);
      opt.dispose();
    }
    v.dispose();
    c.dispose();
  });
});

describe('loop', () => {
  test('hooks run in the documented order', async () => {
    const ev: string[] = [];
    const r = await runLoop({
      name: 't', maxSteps: 6, stepsPerEpoch: 3, checkpointEvery: 2,
      lr: { optimizers: [], schedule: (s) => { ev.push(`lr${s}`); return 1; } },
      step: (s) => { ev.push(`step${s}`); return { loss: s }; },
      onStep: (i) => ev.push(`onStep${i.step}`),
      checkpoint: (s, why) => ev.push(`ckpt${s}:${why}`),
      onEpochEnd: (e) => { ev.push(`epoch${e}`); },
      afterStep: (s) => ev.push(`after${s}`),
    });
    assert.deepEqual(ev, [
      'lr0', 'step0', 'onStep1', 'after1',
      'lr1', 'step1', 'onStep2', 'ckpt2:periodic', 'after2',
      'lr2', 'step2', 'onStep3', 'epoch0', 'after3',
      'lr3', 'step3', 'onStep4', 'ckpt4:periodic', 'after4',
      'lr4', 'step4', 'onStep5', 'after5',
      'lr5', 'step5', 'onStep6', 'epoch1', 'after6', // no periodic checkpoint at the last step
      'ckpt6:end',
    ]);
    assert.deepEqual({ step: r.step, stepsRun: r.stepsRun, interrupted: r.interrupted, stopped: r.stopped }, { step: 6, stepsRun: 6, interrupted: false, stopped: false });
  });

  test('loss window: running means of the last n steps, restorable', () => {
    const w = new LossWindow(3);
    assert.equal(w.mean(), 0);
    assert.deepEqual(w.means(), {});
    for (let k = 1; k <= 5; k++) w.push({ loss: k, aux: 10 * k });
    assert.equal(w.length, 3);
    assert.equal(w.mean('loss'), (3 + 4 + 5) / 3);
    assert.deepEqual(w.means(), { loss: 4, aux: 40 });
    const again = new LossWindow(3, JSON.parse(JSON.stringify(w)) as Array<Record<string, number>>);
    assert.deepEqual(again.toJSON(), w.toJSON());
    again.push({ loss: 6, aux: 60 });
    assert.equal(again.mean(), 5);
    assert.throws(() => new LossWindow(0), /size must be an integer >= 1/);
  });

  test('abort, early stop and non-finite losses', async () => {
    const ac = new AbortController();
    ac.abort();
    const why: string[] = [];
    const r0 = await runLoop({ name: 't', maxSteps: 5, signal: ac.signal, step: () => ({ loss: 1 }), checkpoint: (_s, w) => why.push(w) });
    assert.deepEqual([r0.step, r0.interrupted, why], [0, true, ['interrupt']], "'before': an aborted signal trains nothing");
    const r1 = await runLoop({ name: 't', maxSteps: 5, signal: ac.signal, yieldAt: 'after', step: () => ({ loss: 1 }) });
    assert.deepEqual([r1.step, r1.interrupted], [1, true], "'after': the abort is seen after the step");
    const late = new AbortController();
    const r2 = await runLoop({ name: 't', maxSteps: 3, signal: late.signal, yieldAt: 'after', step: () => ({ loss: 1 }), onStep: (i) => { if (i.step === 3) late.abort(); } });
    assert.deepEqual([r2.step, r2.interrupted], [3, false], 'an abort after the last step is no interruption');
    const r3 = await runLoop({ name: 't', maxSteps: 10, stepsPerEpoch: 2, step: () => ({ loss: 1 }), onEpochEnd: (e) => (e === 1 ? 'stop' : undefined) });
    assert.deepEqual([r3.step, r3.stopped, r3.interrupted], [4, true, false]);
    // An awaited epoch end: 'stop' as before; 'interrupt' (its validation aborted) ends the run interrupted at the
    // epoch boundary, before afterStep, even at the last step.
    const later = () => new Promise<void>((res) => setTimeout(res, 1));
    const r4 = await runLoop({ name: 't', maxSteps: 10, stepsPerEpoch: 2, step: () => ({ loss: 1 }), onEpochEnd: async (e) => { await later(); return e === 2 ? 'stop' : undefined; } });
    assert.deepEqual([r4.step, r4.stopped, r4.interrupted], [6, true, false]);
    for (const [maxSteps, at] of [[10, 1], [4, 1]]) {
      const seen: string[] = [];
      const r5 = await runLoop({
        name: 't', maxSteps, stepsPerEpoch: 2, step: () => ({ loss: 1 }),
        onEpochEnd: async (e) => { await later(); seen.push(`end ${e}`); return e === at ? 'interrupt' : undefined; },
        afterStep: (st) => seen.push(`after ${st}`), checkpoint: (st, w) => seen.push(`${w} ${st}`),
      });
      assert.deepEqual([r5.step, r5.interrupted, r5.stopped], [4, true, false], `maxSteps ${maxSteps}`);
      assert.deepEqual(seen, ['after 1', 'end 0', 'after 2', 'after 3', 'end 1', 'interrupt 4'], `maxSteps ${maxSteps}`);
    }
    await assert.rejects(runLoop({ name: 'toy', maxSteps: 3, step: (s) => ({ loss: s === 1 ? NaN : 1 }) }), /toy: loss became NaN at step 1/);
    await assert.rejects(runLoop({ name: 'toy', maxSteps: 3, step: () => ({ a: 1, b: Infinity }), nonFinite: (s, k, v) => `${k}=${v}@${s}` }), /b=Infinity@0/);
    await assert.rejects(runLoop({ name: 'toy', maxSteps: 1.5, step: () => ({ loss: 1 }) }), /toy: maxSteps must be an integer >= 0/);
  });

  /**
   * A toy training with two optimizers per step (as the GAN): w fits a seeded
   * target per step, u fits w; checkpoints in the shared layout.
   */
  async function toyRun(dir: string | undefined, steps: number, resume: boolean, abortAt?: number) {
    const w = tf.variable(tf.zeros([4]), true, `toy-w-${Math.random()}`);
    const u = tf.variable(tf.zeros([4]), true, `toy-u-${Math.random()}`);
    const optA = new AdamW({ lr: 0.05, weightDecay: 0.01, clipNorm: 0.5 });
    const optB = new AdamW({ lr: 0.02, weightDecay: 0 });
    const vars = new Map([['w', w], ['u', u]]);
    const optimizers = { a: { opt: optA, vars: new Map([['w', w]]) }, b: { opt: optB, vars: new Map([['u', u]]) } };
    const identity = { seed: 5, steps };
    let start = 0;
    let window = new LossWindow(4);
    if (resume && dir && hasCheckpoint(dir)) {
      const ck = loadCheckpoint(dir, { trainer: 'toy', identity });
      restoreVariables(ck, vars);
      restoreOptimizer(ck, 'a', optimizers.a);
      restoreOptimizer(ck, 'b', optimizers.b);
      start = ck.state.step;
      window = new LossWindow(4, ck.state.lossWindow);
    }
    const ac = new AbortController();
    const losses: number[] = [];
    const r = await runLoop({
      name: 'toy', maxSteps: steps, startStep: start, signal: ac.signal, window, checkpointEvery: 3,
      lr: { optimizers: [optA], schedule: warmupCosineSchedule(0.05, 2, steps) },
      step: (s) => {
        const rng = new Mulberry32(mixSeed(5, s));
        const target = tf.tensor1d(Float32Array.from({ length: 4 }, () => rng.next()));
        const a = optA.minimize(() => tf.mean(tf.square(tf.sub(w, target))), [w]);
        const b = optB.minimize(() => tf.mean(tf.square(tf.sub(u, w))), [u]);
        target.dispose();
        return { a, b };
      },
      onStep: (i) => { losses.push(i.losses.a); if (i.step === abortAt) ac.abort(); },
      checkpoint: (s, why) => {
        if (!dir || (why === 'end' && s === start)) return;
        saveCheckpoint(dir, { state: { trainer: 'toy', step: s, epoch: 0, lossWindow: window.toJSON(), bestMetric: null, rng: { seed: 5, scheme: 'mixSeed(5, step)' }, identity, extra: {} }, model: vars, optimizers });
      },
    });
    const out = { r, losses, w: Array.from(w.dataSync()), u: Array.from(u.dataSync()), means: r.window.means() };
    for (const x of [w, u]) x.dispose();
    optA.dispose();
    optB.dispose();
    return out;
  }

  test('interrupted + resumed = straight: same weights, optimizer states and loss window (two optimizers per step)', async () => {
    const straight = await toyRun(undefined, 12, false);
    const dir = tmp();
    const first = await toyRun(dir, 12, false, 7);
    assert.equal(first.r.interrupted, true);
    assert.equal(first.r.step, 7);
    const second = await toyRun(dir, 12, true);
    assert.equal(second.r.step, 12);
    assert.equal(second.r.stepsRun, 5);
    assert.deepEqual([...first.losses, ...second.losses], straight.losses);
    assert.deepEqual(second.w, straight.w);
    assert.deepEqual(second.u, straight.u);
    assert.deepEqual(second.means, straight.means, 'the loss window survives the resume');
    await assert.rejects(toyRun(dir, 13, true), /cannot resume from .*different run \(steps 12 vs 13\)/);
  });
});
