/**
 * Learning-rate schedules of the training loop (docs/DESIGN.md, "Training"). The loop
 * sets `opt.lr = schedule(step)` on the scheduled optimizers before each step.
 */

/** A learning rate per (0-based) step. */
export type LrSchedule = (step: number) => number;

/**
 * Linear warmup from 0 to `lr` over `warmup` steps (step s gets lr (s + 1) / warmup),
 * then cosine decay to `minRatio * lr` at `total`.
 */
export function warmupCosine(step: number, lr: number, warmup: number, total: number, minRatio = 0.1): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const p = Math.min(1, (step - warmup) / span);
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * p)));
}

/** The warmup + cosine schedule of a run of `total` steps as an LrSchedule. */
export function warmupCosineSchedule(lr: number, warmup: number, total: number, minRatio = 0.1): LrSchedule {
  return (step) => warmupCosine(step, lr, warmup, total, minRatio);
}
