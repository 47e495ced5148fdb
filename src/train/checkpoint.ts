/**
 * The one training-checkpoint layout (docs/DESIGN.md, "Training"), in the spirit of
 * Hugging Face Trainer's checkpoint-N folders: `<run dir>/checkpoint/` holds
 *
 *   trainer_state.json     format + version, which trainer wrote it, step, epoch,
 *                          loss window, best metric, rng (seed + how draws are derived),
 *                          each optimizer's step and lr, the run's identity (a resume
 *                          with another identity is refused) and trainer-specific state
 *   model.safetensors      the trained tensors (an HF model folder for LMs: + config.json)
 *   best.safetensors       optional: the best weights so far (early stopping)
 *   optimizer.safetensors  AdamW moments: '<optimizer>.m.<param>', '<optimizer>.v.<param>'
 *
 * The folder is written with writeDirAtomic (src/util/fs.ts): a killed write
 * leaves the previous checkpoint in place. If the process dies between the two
 * renames of writeDirAtomic, the previous folder survives as
 * `checkpoint.old-<pid>`; the reader falls back to it.
 *
 * The three layouts of llmrec 0.1 (before this one) are recognised and
 * refused with what to do (oldLayout / OLD_LAYOUTS).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/index.js';
import { killPoint } from '../io/files.js';
import { readSafetensors, type SafeTensor, writeSafetensors } from '../io/safetensors.js';
import type { AdamW } from '../nn/index.js';
import { writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import type { StepLosses } from './loop.js';

export const CHECKPOINT_DIR = 'checkpoint';
export const CHECKPOINT_FORMAT = 'llmrec-training-checkpoint';
export const CHECKPOINT_VERSION = 2;
export const CHECKPOINT_FILES = {
  state: 'trainer_state.json',
  model: 'model.safetensors',
  best: 'best.safetensors',
  optimizer: 'optimizer.safetensors',
} as const;

export interface TrainerState {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  /** Which training wrote it: 'collaborative', 'pretrain', 'yesno', ... */
  trainer: string;
  /** Optimizer steps done. */
  step: number;
  /** The epoch in progress (0 for step-only trainings). */
  epoch: number;
  /** The running-loss window, oldest first. */
  lossWindow: StepLosses[];
  bestMetric: { name: string; value: number; epoch: number } | null;
  /** Every draw of a step is a pure function of (seed, step): the seed and how. */
  rng: { seed: number; scheme: string };
  optimizers: Record<string, { step: number; lr: number }>;
  /** What a resume must match (model, config, options). */
  identity: Record<string, unknown>;
  /** Trainer-specific state (JSON). */
  extra: Record<string, unknown>;
}

export type TrainerStateInput = Omit<TrainerState, 'format' | 'version' | 'optimizers'>;

/** An optimizer and the named variables it updates. */
export interface OptimizerEntry {
  opt: AdamW;
  vars: ReadonlyMap<string, tf.Variable>;
}

export interface CheckpointWrite {
  state: TrainerStateInput;
  /** Named trained tensors (-> model.safetensors), or a writer of an HF model folder. */
  model: ReadonlyMap<string, tf.Variable> | ((dir: string) => void);
  /** Best weights so far by name (shapes from `model` when a variable map). */
  best?: Map<string, SafeTensor>;
  optimizers: Record<string, OptimizerEntry>;
}

export interface LoadedCheckpoint {
  /** The checkpoint folder read. */
  dir: string;
  state: TrainerState;
  model: Map<string, SafeTensor>;
  best: Map<string, SafeTensor> | null;
  optimizer: Map<string, SafeTensor>;
}

/** The layouts of llmrec 0.1, recognised to be refused with a clear message. */
export const OLD_LAYOUTS = {
  'collaborative-0.1': 'checkpoint.safetensors (+ config.json) of the collaborative trainer',
  'pretrain-0.1': 'checkpoint/ with a trainer_state.json of { step, seed } of the LM pre-training',
  'yesno-0.1': 'trainer-checkpoint/ (state.json + trainer.safetensors) of the yes/no training',
} as const;

export type OldLayout = keyof typeof OLD_LAYOUTS;

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new Error(`${path}: unreadable JSON (${(e as Error).message})`, { cause: e });
  }
}

function isNewState(path: string): boolean {
  const j = readJson(path) as { format?: unknown } | null;
  return j !== null && typeof j === 'object' && j.format === CHECKPOINT_FORMAT;
}

/** An llmrec 0.1 checkpoint in `runDir` (path + layout), or null. */
export function oldLayout(runDir: string): { path: string; layout: OldLayout } | null {
  const collab = join(runDir, 'checkpoint.safetensors');
  if (existsSync(collab)) return { path: collab, layout: 'collaborative-0.1' };
  const yesno = join(runDir, 'trainer-checkpoint');
  if (existsSync(join(yesno, 'state.json'))) return { path: yesno, layout: 'yesno-0.1' };
  const pre = join(runDir, CHECKPOINT_DIR, CHECKPOINT_FILES.state);
  if (existsSync(pre) && !isNewState(pre)) return { path: join(runDir, CHECKPOINT_DIR), layout: 'pretrain-0.1' };
  return null;
}

/** The message refusing an old layout: what it is and what to do. */
export function oldLayoutMessage(path: string, layout: OldLayout): string {
  return `${path} was written by llmrec <0.2 (layout '${layout}': ${OLD_LAYOUTS[layout]}), which this version cannot resume; `
    + `start a fresh run directory (or delete ${path}), or finish the run with llmrec 0.1`;
}

/** The folder of the newest complete checkpoint in `runDir` (see the file comment), or null. */
export function findCheckpoint(runDir: string): string | null {
  const dir = join(runDir, CHECKPOINT_DIR);
  const state = join(dir, CHECKPOINT_FILES.state);
  if (existsSync(state)) return isNewState(state) ? dir : null;
  if (!existsSync(runDir)) return null;
  // writeDirAtomic died between its two renames: the previous checkpoint is checkpoint.old-<pid>.
  const old = readdirSync(runDir).filter((f) => f.startsWith(`${CHECKPOINT_DIR}.old-`)).sort();
  for (const f of old) {
    const s = join(runDir, f, CHECKPOINT_FILES.state);
    if (existsSync(s) && isNewState(s)) return join(runDir, f);
  }
  return null;
}

/**
 * Whether `runDir` holds a training checkpoint to resume from: this layout,
 * or an old one (so that a resume refuses it instead of silently starting over).
 */
export function hasCheckpoint(runDir: string): boolean {
  return findCheckpoint(runDir) !== null || oldLayout(runDir) !== null;
}

function f32Of(v: tf.Variable): Float32Array {
  return (v.dataSync() as Float32Array).slice();
}

/** Writes `<runDir>/checkpoint/` atomically (see the file comment). */
export function saveCheckpoint(runDir: string, w: CheckpointWrite): void {
  const optimizers: TrainerState['optimizers'] = {};
  for (const [name, e] of Object.entries(w.optimizers)) optimizers[name] = { step: e.opt.step, lr: e.opt.lr };
  const state: TrainerState = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...w.state, optimizers };
  writeDirAtomic(join(runDir, CHECKPOINT_DIR), (tmp) => {
    if (typeof w.model === 'function') {
      w.model(tmp);
    } else {
      const tensors = new Map<string, SafeTensor>();
      for (const [name, v] of w.model) tensors.set(name, { dtype: 'F32', shape: [...v.shape], data: f32Of(v) });
      writeSafetensors(join(tmp, CHECKPOINT_FILES.model), tensors, { format: CHECKPOINT_FORMAT });
    }
    killPoint('checkpoint-tmp'); // kill -9 suite hooks (src/io/files.ts; no-ops outside tests)
    if (w.best) {
      writeSafetensors(join(tmp, CHECKPOINT_FILES.best), w.best, { format: CHECKPOINT_FORMAT });
      killPoint('checkpoint-best');
    }
    const moments = new Map<string, SafeTensor>();
    for (const [oname, e] of Object.entries(w.optimizers)) {
      for (const [name, v] of e.vars) {
        const m = e.opt.moments(v);
        if (!m) continue; // not updated yet (or frozen)
        moments.set(`${oname}.m.${name}`, { dtype: 'F32', shape: [...v.shape], data: m.m });
        moments.set(`${oname}.v.${name}`, { dtype: 'F32', shape: [...v.shape], data: m.v });
      }
    }
    writeSafetensors(join(tmp, CHECKPOINT_FILES.optimizer), moments, { format: CHECKPOINT_FORMAT });
    writeFileAtomic(join(tmp, CHECKPOINT_FILES.state), JSON.stringify(state, null, 2) + '\n');
    killPoint('checkpoint-before-rename');
  });
  killPoint('checkpoint-after-rename');
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Reads the checkpoint of `runDir` for a resume of trainer `expect.trainer`
 * with identity `expect.identity` (refused when different, or an old layout).
 */
export function loadCheckpoint(runDir: string, expect: { trainer: string; identity: Record<string, unknown> }): LoadedCheckpoint {
  const dir = findCheckpoint(runDir);
  if (!dir) {
    const old = oldLayout(runDir);
    if (old) throw new Error(oldLayoutMessage(old.path, old.layout));
    throw new Error(`resume: no training checkpoint in ${runDir} (expected ${join(runDir, CHECKPOINT_DIR, CHECKPOINT_FILES.state)})`);
  }
  const statePath = join(dir, CHECKPOINT_FILES.state);
  const state = readJson(statePath) as TrainerState;
  if (state.version !== CHECKPOINT_VERSION) throw new Error(`${statePath}: field 'version' is ${String(state.version)}, this llmrec reads version ${CHECKPOINT_VERSION}`);
  for (const [k, t] of [['trainer', 'string'], ['step', 'number'], ['epoch', 'number'], ['lossWindow', 'object'], ['identity', 'object'], ['extra', 'object'], ['optimizers', 'object']] as const) {
    if (typeof state[k] !== t || state[k] === null) throw new Error(`${statePath}: field '${k}' missing or not a ${t}`);
  }
  const mismatch: string[] = [];
  if (state.trainer !== expect.trainer) mismatch.push(`trainer '${state.trainer}' vs '${expect.trainer}'`);
  for (const k of new Set([...Object.keys(state.identity), ...Object.keys(expect.identity)])) {
    if (!same(state.identity[k], expect.identity[k])) mismatch.push(`${k} ${JSON.stringify(state.identity[k])} vs ${JSON.stringify(expect.identity[k])}`);
  }
  if (mismatch.length) throw new Error(`cannot resume from ${dir}: it was written by a different run (${mismatch.join('; ')})`);
  const read = (f: string) => (existsSync(join(dir, f)) ? readSafetensors(join(dir, f)).tensors : null);
  return { dir, state, model: read(CHECKPOINT_FILES.model) ?? new Map(), best: read(CHECKPOINT_FILES.best), optimizer: read(CHECKPOINT_FILES.optimizer) ?? new Map() };
}

/** A tensor of a loaded checkpoint, checked against a variable's shape. */
export function checkpointTensor(ck: LoadedCheckpoint, tensors: Map<string, SafeTensor>, key: string, v: tf.Variable, file: string): Float32Array {
  const t = tensors.get(key);
  if (!t || t.dtype !== 'F32' || t.shape.length !== v.shape.length || t.shape.some((s, i) => s !== v.shape[i])) {
    throw new Error(`${join(ck.dir, file)}: tensor '${key}' missing or not F32 ${JSON.stringify(v.shape)}`);
  }
  return t.data as Float32Array;
}

/** Assigns model.safetensors tensors to the named variables (every one must be there). */
export function restoreVariables(ck: LoadedCheckpoint, vars: ReadonlyMap<string, tf.Variable>): void {
  for (const [name, v] of vars) {
    const t = tf.tensor(checkpointTensor(ck, ck.model, name, v, CHECKPOINT_FILES.model), v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}

/** Restores optimizer `name` (step and the moments of its variables) from a loaded checkpoint. */
export function restoreOptimizer(ck: LoadedCheckpoint, name: string, e: OptimizerEntry): void {
  const s = ck.state.optimizers[name];
  if (!s) throw new Error(`${join(ck.dir, CHECKPOINT_FILES.state)}: no optimizer '${name}' (has ${Object.keys(ck.state.optimizers).join(', ') || 'none'})`);
  const moments = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
  for (const [p, v] of e.vars) {
    if (!ck.optimizer.has(`${name}.m.${p}`)) continue; // never updated
    moments.set(v, {
      m: checkpointTensor(ck, ck.optimizer, `${name}.m.${p}`, v, CHECKPOINT_FILES.optimizer),
      v: checkpointTensor(ck, ck.optimizer, `${name}.v.${p}`, v, CHECKPOINT_FILES.optimizer),
    });
  }
  e.opt.loadState(s.step, moments);
  e.opt.lr = s.lr;
}
