/**
 * The shared checkpoint layout (src/train/checkpoint.ts): round trip, identity
 * check, atomicity (a write killed mid-way, or between the two renames of
 * writeDirAtomic, leaves the previous checkpoint readable) and the refusal of
 * the three llmrec 0.1 layouts, directly and through the trainings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tf } from '../src/engine/index.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { AdamW } from '../src/nn/index.js';
import { createRecommender } from '../src/models/registry.js';
import { parseT5Config, T5Model } from '../src/lm/families/t5.js';
import { hasCheckpoint as hasPretrainCheckpoint, pretrain } from '../src/lm/pretrain.js';
import {
  CHECKPOINT_DIR, CHECKPOINT_FORMAT, findCheckpoint, hasCheckpoint, loadCheckpoint, oldLayout, restoreOptimizer, restoreVariables, saveCheckpoint,
  type CheckpointWrite,
} from '../src/train/index.js';
import { BASE_FIT, patternData } from './fixtures/pattern_data.js';
import { ready } from './helpers.js';

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'llmrec-train-ckpt-')); dirs.push(d); return d; };
before(async () => { await ready(); });
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const STATE = { trainer: 'toy', epoch: 1, lossWindow: [{ loss: 2 }, { loss: 1.5 }], bestMetric: { name: 'ndcg@10', value: 0.25, epoch: 0 }, rng: { seed: 3, scheme: 'toy' }, identity: { seed: 3, model: 'x' }, extra: { note: 'kept' } };

function trained(values: number[]) {
  const w = tf.variable(tf.tensor2d(values, [2, 2]), true, `ck-w-${Math.random()}`);
  const opt = new AdamW({ lr: 0.1 });
  opt.minimize(() => tf.sum(tf.square(w)), [w]);
  return { w, opt };
}

function contents(w: tf.Variable, opt: AdamW, step: number): CheckpointWrite {
  return { state: { ...STATE, step }, model: new Map([['w', w]]), best: new Map([['w', { dtype: 'F32', shape: [2, 2], data: Float32Array.of(9, 8, 7, 6) }]]), optimizers: { adamw: { opt, vars: new Map([['w', w]]) } } };
}

describe('checkpoint layout', () => {
  test('round trip: tensors, best weights, optimizer moments and step, trainer state', () => {
    const dir = tmp();
    const { w, opt } = trained([1, 2, 3, 4]);
    saveCheckpoint(dir, contents(w, opt, 7));
    assert.deepEqual(readdirSync(join(dir, CHECKPOINT_DIR)).sort(), ['best.safetensors', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    const json = JSON.parse(readFileSync(join(dir, CHECKPOINT_DIR, 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json.format, CHECKPOINT_FORMAT);
    assert.equal(json.version, 2);
    assert.deepEqual(json.optimizers, { adamw: { step: 1, lr: 0.1 } });
    assert.equal(hasCheckpoint(dir), true);

    const w2 = tf.variable(tf.zeros([2, 2]), true, `ck-w2-${Math.random()}`);
    const opt2 = new AdamW({ lr: 0.5 });
    const ck = loadCheckpoint(dir, { trainer: 'toy', identity: { model: 'x', seed: 3 } });
    assert.deepEqual({ ...ck.state, format: undefined, version: undefined, optimizers: undefined }, { ...STATE, step: 7, format: undefined, version: undefined, optimizers: undefined });
    restoreVariables(ck, new Map([['w', w2]]));
    restoreOptimizer(ck, 'adamw', { opt: opt2, vars: new Map([['w', w2]]) });
    assert.deepEqual(Array.from(w2.dataSync()), Array.from(w.dataSync()));
    assert.equal(opt2.step, 1);
    assert.equal(opt2.lr, 0.1);
    assert.deepEqual(opt2.moments(w2), opt.moments(w));
    assert.deepEqual(Array.from(ck.best!.get('w')!.data as Float32Array), [9, 8, 7, 6]);
    assert.throws(() => restoreOptimizer(ck, 'other', { opt: opt2, vars: new Map() }), /no optimizer 'other' \(has adamw\)/);
    assert.throws(() => loadCheckpoint(dir, { trainer: 'toy', identity: { model: 'y', seed: 3 } }), /cannot resume from .* different run \(model "x" vs "y"\)/);
    assert.throws(() => loadCheckpoint(dir, { trainer: 'pretrain', identity: { model: 'x', seed: 3 } }), /different run \(trainer 'toy' vs 'pretrain'\)/);
    assert.throws(() => loadCheckpoint(tmp(), { trainer: 'toy', identity: {} }), /no training checkpoint in/);
    for (const x of [w, w2]) x.dispose();
    opt.dispose();
    opt2.dispose();
  });

  test('atomicity: a failed write leaves the previous checkpoint; so does a death between the renames', () => {
    const dir = tmp();
    const { w, opt } = trained([1, 2, 3, 4]);
    saveCheckpoint(dir, contents(w, opt, 1));
    const before = Array.from(w.dataSync());
    w.assign(tf.tensor2d([5, 6, 7, 8], [2, 2]));
    assert.throws(() => saveCheckpoint(dir, { ...contents(w, opt, 2), model: (d) => { writeFileSync(join(d, 'model.safetensors'), 'half'); throw new Error('disk full'); } }), /disk full/);
    let ck = loadCheckpoint(dir, { trainer: 'toy', identity: STATE.identity });
    assert.equal(ck.state.step, 1);
    assert.deepEqual(Array.from(ck.model.get('w')!.data as Float32Array), before);
    assert.deepEqual(readdirSync(dir), [CHECKPOINT_DIR], 'no temp folder left');
    // writeDirAtomic renames checkpoint -> checkpoint.old-<pid>, then tmp -> checkpoint: a death in between.
    renameSync(join(dir, CHECKPOINT_DIR), join(dir, `${CHECKPOINT_DIR}.old-4242`));
    mkdirSync(join(dir, `${CHECKPOINT_DIR}.tmp-4242`));
    assert.equal(findCheckpoint(dir), join(dir, `${CHECKPOINT_DIR}.old-4242`));
    ck = loadCheckpoint(dir, { trainer: 'toy', identity: STATE.identity });
    assert.equal(ck.state.step, 1);
    // The next save puts a complete checkpoint back in place.
    saveCheckpoint(dir, contents(w, opt, 3));
    assert.equal(loadCheckpoint(dir, { trainer: 'toy', identity: STATE.identity }).state.step, 3);
    w.dispose();
    opt.dispose();
  });

  test('a process killed (SIGKILL) in the middle of a checkpoint write leaves the previous one readable', () => {
    const dir = tmp();
    const { w, opt } = trained([1, 2, 3, 4]);
    saveCheckpoint(dir, contents(w, opt, 5));
    const script = join(tmp(), 'kill.mts');
    const ckMod = resolve('src/train/checkpoint.ts');
    writeFileSync(script, `
      import { writeFileSync } from 'node:fs';
      import { join } from 'node:path';
      const { saveCheckpoint } = await import(${JSON.stringify(ckMod)});
      const { initEngine } = await import(${JSON.stringify(resolve('src/engine/index.ts'))});
      await initEngine();
      saveCheckpoint(${JSON.stringify(dir)}, {
        state: { trainer: 'toy', step: 6, epoch: 0, lossWindow: [], bestMetric: null, rng: { seed: 0, scheme: '' }, identity: {}, extra: {} },
        model: (d) => { writeFileSync(join(d, 'model.safetensors'), 'partial'); process.kill(process.pid, 'SIGKILL'); },
        optimizers: {},
      });
    `);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', env: { ...process.env, LLMREC_NATIVE: 'off' } });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const ck = loadCheckpoint(dir, { trainer: 'toy', identity: STATE.identity });
    assert.equal(ck.state.step, 5);
    assert.deepEqual(Array.from(ck.model.get('w')!.data as Float32Array), Array.from(w.dataSync()));
    w.dispose();
    opt.dispose();
  });
});

describe('llmrec 0.1 layouts are refused with what to do', () => {
  const refusal = (layout: string) => new RegExp(`was written by llmrec <0\\.2 \\(layout '${layout}'.*start a fresh run directory .*or finish the run with llmrec 0\\.1`);

  function oldCollab(dir: string): void {
    writeSafetensors(join(dir, 'checkpoint.safetensors'), { 'param/x': { dtype: 'F32', shape: [1], data: Float32Array.of(0) } }, { format: 'llmrec-checkpoint', state: '{}' });
  }
  function oldPretrain(dir: string): void {
    mkdirSync(join(dir, 'checkpoint'), { recursive: true });
    writeFileSync(join(dir, 'checkpoint', 'trainer_state.json'), JSON.stringify({ step: 4, seed: 0 }) + '\n');
  }
  function oldYesNo(dir: string): void {
    mkdirSync(join(dir, 'trainer-checkpoint'), { recursive: true });
    writeFileSync(join(dir, 'trainer-checkpoint', 'state.json'), JSON.stringify({ step: 4, seed: 0 }) + '\n');
  }

  test('each layout is recognised; a resume refuses it', () => {
    for (const [make, layout] of [[oldCollab, 'collaborative-0.1'], [oldPretrain, 'pretrain-0.1'], [oldYesNo, 'yesno-0.1']] as const) {
      const dir = tmp();
      make(dir);
      assert.equal(oldLayout(dir)?.layout, layout);
      assert.equal(hasCheckpoint(dir), true, `${layout}: a resume must see it (and refuse it) rather than start over`);
      assert.equal(findCheckpoint(dir), null);
      assert.throws(() => loadCheckpoint(dir, { trainer: 'toy', identity: {} }), refusal(layout));
    }
  });

  test('the collaborative trainer refuses an old checkpoint.safetensors on resume and leaves it alone', async () => {
    const dir = tmp();
    oldCollab(dir);
    const m = createRecommender('bprmf', { d: 8 });
    await assert.rejects(m.fit(patternData(), { ...BASE_FIT, checkpointDir: dir, resume: true }), refusal('collaborative-0.1'));
    assert.ok(existsSync(join(dir, 'checkpoint.safetensors')));
    m.dispose();
  });

  test('the LM pre-training refuses an old checkpoint/ (and hasCheckpoint sees it)', async () => {
    const dir = tmp();
    oldPretrain(dir);
    assert.equal(hasPretrainCheckpoint(dir), true);
    const model = new T5Model(parseT5Config({ vocab_size: 16, d_model: 8, d_kv: 4, num_heads: 2, d_ff: 8, num_layers: 1, num_decoder_layers: 1, pad_token_id: 0, eos_token_id: 1 }), { seed: 1 });
    const objective = { name: 'unused', loss: (): tf.Scalar => { throw new Error('no step may run'); } };
    await assert.rejects(pretrain(model, objective, [Int32Array.of(2, 3)], [], { blockSize: 2, batchSize: 1, lr: 1e-3, warmupSteps: 1, maxSteps: 2 }, dir, true), refusal('pretrain-0.1'));
    model.dispose();
  });
});
