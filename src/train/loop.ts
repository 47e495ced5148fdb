/**
 * The one step loop every training in llmrec runs on (docs/DESIGN.md, "Training"):
 * collaborative models (models/trainer.ts), LM pre-training and so RecSysLLM
 * (lm/pretrain.ts), the yes/no recommenders (methods/yesno/fit.ts) and the
 * GANPrompt diversity GAN (methods/ganprompt/diversity/training.ts).
 *
 * One iteration, in this order:
 *   1. (yieldAt 'before') yield to the event loop, stop if the signal is aborted
 *   2. the learning rate of each scheduled optimizer := schedule(step)
 *   3. spec.step(step): the batch and every optimizer update of the step
 *      (one AdamW for most trainings, D then G for the GAN); gradient clipping
 *      is the optimizer's global-norm clipping (AdamW clipNorm, set by the trainer)
 *   4. the losses must be finite; step += 1; the loss window takes them
 *   5. onStep (progress reports)
 *   6. (yieldAt 'after') stop if aborted, else yield and check again
 *   7. a periodic checkpoint every `checkpointEvery` steps (not at the last step)
 *   8. onEpochEnd when step is a multiple of stepsPerEpoch, awaited ('stop':
 *      early stopping; 'interrupt': the signal cut the epoch end short, e.g. a
 *      validation, and the run ends interrupted at this epoch boundary, before
 *      afterStep; the trainer redoes that epoch end when it resumes there)
 *   9. afterStep (e.g. held-out evaluation)
 * When the loop ends: checkpoint(step, 'interrupt') after an abort before the
 * last step or an interrupted epoch end, else checkpoint(step, 'end'); each
 * trainer decides what it writes. An abort noticed after the last step (and
 * its epoch end) is not an interruption.
 *
 * The loop draws no random numbers and does no floating-point work of its
 * own besides the loss window, so a trainer moved onto it keeps its numbers.
 */
import type { AdamW } from '../nn/index.js';
import type { LrSchedule } from './schedule.js';

/** The losses of one step by name ('loss' for single-objective trainings). */
export type StepLosses = Record<string, number>;

/** The losses of the last `size` steps, for running means (restored on resume). */
export class LossWindow {
  private readonly rows: StepLosses[] = [];

  constructor(readonly size: number, rows: readonly StepLosses[] = []) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`LossWindow: size must be an integer >= 1, got ${size}`);
    for (const r of rows) this.push(r);
  }

  push(r: StepLosses): void {
    this.rows.push({ ...r });
    if (this.rows.length > this.size) this.rows.shift();
  }

  get length(): number {
    return this.rows.length;
  }

  /** Mean of `key` over the window, summed in step order from 0 (0 when empty). */
  mean(key = 'loss'): number {
    return this.rows.reduce((a, r) => a + r[key], 0) / Math.max(1, this.rows.length);
  }

  /** Mean of every key of the first row ({} when empty). */
  means(): StepLosses {
    const out: StepLosses = {};
    for (const k of Object.keys(this.rows[0] ?? {})) out[k] = this.rows.reduce((a, r) => a + r[k], 0) / this.rows.length;
    return out;
  }

  /** The rows, oldest first (for the trainer state JSON). */
  toJSON(): StepLosses[] {
    return this.rows.map((r) => ({ ...r }));
  }
}

export type CheckpointReason = 'periodic' | 'interrupt' | 'end';

/** What an epoch end tells the loop: go on (void), 'stop' (early stopping) or 'interrupt' (cut short by the signal). */
export type EpochEnd = 'stop' | 'interrupt' | void;

export interface StepInfo {
  /** Steps done (1-based after the first step). */
  step: number;
  maxSteps: number;
  losses: StepLosses;
  /** Learning rate of the first scheduled optimizer (undefined without a schedule). */
  lr: number | undefined;
}

export interface LoopSpec {
  /** Names the training in error messages. */
  name: string;
  /** Total steps of the run. */
  maxSteps: number;
  /** Steps already done (resume); default 0. */
  startStep?: number;
  /** Steps per epoch: onEpochEnd runs when step is a multiple of it. */
  stepsPerEpoch?: number;
  signal?: AbortSignal;
  /**
   * Where the loop yields to the event loop (so a SIGINT handler can abort):
   * 'before' each step (an abort before the first step trains nothing; default)
   * or 'after' each step (the collaborative trainer: abort checked right after a batch).
   */
  yieldAt?: 'before' | 'after';
  /** Learning-rate schedule set on these optimizers before each step. */
  lr?: { optimizers: readonly AdamW[]; schedule: LrSchedule };
  /** The running-loss window (default: a fresh window of 50 steps). */
  window?: LossWindow;
  /** One training step (0-based `step`): every optimizer update; returns the losses. */
  step(step: number): StepLosses;
  /** The error of a non-finite loss (default: "<name>: loss became x at step s (lower the learning rate?)"). */
  nonFinite?: (step: number, key: string, value: number) => string;
  onStep?(s: StepInfo): void;
  /** Periodic checkpoints every this many steps (0/undefined: none). */
  checkpointEvery?: number;
  checkpoint?(step: number, reason: CheckpointReason): void;
  /**
   * After the last step of an epoch (0-based epoch), awaited: 'stop' ends the
   * run (early stopping), 'interrupt' ends it interrupted (the epoch end did
   * not finish: the signal aborted it).
   */
  onEpochEnd?(epoch: number): EpochEnd | Promise<EpochEnd>;
  afterStep?(step: number): void;
}

export interface LoopResult {
  /** Steps done in total (including those before a resume). */
  step: number;
  /** Steps run by this call. */
  stepsRun: number;
  interrupted: boolean;
  /** onEpochEnd returned 'stop'. */
  stopped: boolean;
  window: LossWindow;
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function checkSpec(s: LoopSpec): void {
  const int = (k: string, x: number | undefined, min: number) => {
    if (x !== undefined && (!Number.isInteger(x) || x < min)) throw new Error(`${s.name}: ${k} must be an integer >= ${min}, got ${x}`);
  };
  int('maxSteps', s.maxSteps, 0);
  int('startStep', s.startStep, 0);
  int('stepsPerEpoch', s.stepsPerEpoch, 1);
  int('checkpointEvery', s.checkpointEvery, 0);
}

/** Runs the steps of `spec` (see the file comment). */
export async function runLoop(spec: LoopSpec): Promise<LoopResult> {
  checkSpec(spec);
  const window = spec.window ?? new LossWindow(50);
  const before = (spec.yieldAt ?? 'before') === 'before';
  const aborted = () => spec.signal?.aborted === true;
  const start = spec.startStep ?? 0;
  let step = start;
  let interrupted = false;
  let stopped = false;
  while (step < spec.maxSteps) {
    if (before) {
      await yieldToEventLoop();
      if (aborted()) { interrupted = true; break; }
    }
    let lr: number | undefined;
    if (spec.lr) {
      lr = spec.lr.schedule(step);
      for (const o of spec.lr.optimizers) o.lr = lr;
    }
    const losses = spec.step(step);
    for (const [k, v] of Object.entries(losses)) {
      if (!Number.isFinite(v)) throw new Error(spec.nonFinite ? spec.nonFinite(step, k, v) : `${spec.name}: loss became ${v} at step ${step} (lower the learning rate?)`);
    }
    step++;
    window.push(losses);
    spec.onStep?.({ step, maxSteps: spec.maxSteps, losses, lr });
    let abort = false;
    if (!before) {
      if (aborted()) abort = true;
      else {
        await yieldToEventLoop();
        abort = aborted();
      }
    }
    if (spec.checkpointEvery && step % spec.checkpointEvery === 0 && step < spec.maxSteps) spec.checkpoint?.(step, 'periodic');
    const end = spec.stepsPerEpoch && step % spec.stepsPerEpoch === 0 ? await spec.onEpochEnd?.(step / spec.stepsPerEpoch - 1) : undefined;
    if (end === 'interrupt') { interrupted = true; break; }
    if (end === 'stop') stopped = true;
    spec.afterStep?.(step);
    if (stopped) break;
    if (abort) { interrupted = step < spec.maxSteps; break; }
  }
  spec.checkpoint?.(step, interrupted ? 'interrupt' : 'end');
  return { step, stepsRun: step - start, interrupted, stopped, window };
}
