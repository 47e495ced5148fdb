/** Learning-rate schedules. */

/** Linear warmup from 0 to `lr` over `warmup` steps, then cosine decay to `minRatio * lr` at `total`. */
export function warmupCosine(step: number, lr: number, warmup: number, total: number, minRatio = 0.1): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const p = Math.min(1, (step - warmup) / span);
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * p)));
}
