/**
 * The listwise blend of two candidate scores, fitted by Newton's method: the
 * stacked start of the collaborative score feature (docs/METHODS.md §5,
 * "Stacked start"). For questions c with C candidates (the target first),
 * s_ck = w * z_ck + g * d_ck, and (w, g) minimise
 *
 *   L(w, g) = mean_c [ log sum_k exp(s_ck) - s_c0 ] + (l2 / 2) (w^2 + g^2),
 *
 * the softmax cross-entropy of the target among its candidates (convex in
 * (w, g); the ridge term keeps it strictly convex when one feature is
 * constant). A ranking loss, so it needs no intercept and no class balance.
 */

export interface BlendOptions {
  /** Ridge weight on (w, g) (default 1e-4). */
  l2?: number;
  /** Newton iterations at most (default 100). */
  maxIter?: number;
  /** Stop when the Newton decrement grad' H^-1 grad / 2 (the loss the step can still gain) is below this (default 1e-12). */
  tol?: number;
}

export interface Blend {
  weight: number;
  gate: number;
  /** L at (weight, gate). */
  loss: number;
  iterations: number;
}

/** L(w, g), its gradient and Hessian (see the file comment). */
export function blendLoss(z: ArrayLike<number>, d: ArrayLike<number>, C: number, w: number, g: number, l2: number): { loss: number; grad: [number, number]; hess: [number, number, number] } {
  const n = z.length / C;
  let loss = 0;
  let gw = 0;
  let gg = 0;
  let hww = 0;
  let hwg = 0;
  let hgg = 0;
  const p = new Float64Array(C);
  for (let c = 0; c < n; c++) {
    const o = c * C;
    let max = -Infinity;
    for (let k = 0; k < C; k++) max = Math.max(max, w * z[o + k] + g * d[o + k]);
    let sum = 0;
    for (let k = 0; k < C; k++) { p[k] = Math.exp(w * z[o + k] + g * d[o + k] - max); sum += p[k]; }
    loss += max + Math.log(sum) - (w * z[o] + g * d[o]);
    let mz = 0;
    let md = 0;
    let mzz = 0;
    let mzd = 0;
    let mdd = 0;
    for (let k = 0; k < C; k++) {
      const q = p[k] / sum;
      mz += q * z[o + k]; md += q * d[o + k];
      mzz += q * z[o + k] * z[o + k]; mzd += q * z[o + k] * d[o + k]; mdd += q * d[o + k] * d[o + k];
    }
    gw += mz - z[o]; gg += md - d[o];
    hww += mzz - mz * mz; hwg += mzd - mz * md; hgg += mdd - md * md;
  }
  return {
    loss: loss / n + (l2 / 2) * (w * w + g * g),
    grad: [gw / n + l2 * w, gg / n + l2 * g],
    hess: [hww / n + l2, hwg / n, hgg / n + l2],
  };
}

/**
 * Fits (w, g) from w = 1, g = 0 (the first feature alone) by damped Newton
 * steps with a backtracking line search, until the Newton decrement is below
 * `tol` or a step no longer lowers the loss; `iterations` counts the steps taken. `z`, `d`: [questions * C] scores,
 * the target at index 0 of each question.
 */
export function fitListwiseBlend(z: ArrayLike<number>, d: ArrayLike<number>, C: number, o: BlendOptions = {}): Blend {
  const l2 = o.l2 ?? 1e-4;
  const maxIter = o.maxIter ?? 100;
  const tol = o.tol ?? 1e-12;
  if (!(Number.isInteger(C) && C >= 2)) throw new Error(`score blend: a question needs at least 2 candidates, got ${C}`);
  if (z.length !== d.length) throw new Error(`score blend: ${z.length} collaborative scores but ${d.length} LM scores`);
  if (z.length === 0 || z.length % C !== 0) throw new Error(`score blend: ${z.length} scores are not a whole number of questions of ${C} candidates`);
  if (!(l2 > 0)) throw new Error(`score blend: l2 must be > 0, got ${l2}`);
  for (let i = 0; i < z.length; i++) {
    if (!Number.isFinite(z[i]) || !Number.isFinite(d[i])) throw new Error(`score blend: score ${i} is not finite (collaborative ${z[i]}, LM ${d[i]})`);
  }
  let w = 1;
  let g = 0;
  let cur = blendLoss(z, d, C, w, g, l2);
  let it = 0;
  for (; it < maxIter; it++) {
    const [a, b] = cur.grad;
    const [hww, hwg, hgg] = cur.hess;
    const det = hww * hgg - hwg * hwg;
    // The Hessian is positive definite (ridge); the step solves H step = grad.
    const sw = (hgg * a - hwg * b) / det;
    const sg = (hww * b - hwg * a) / det;
    const slope = a * sw + b * sg;
    if (slope / 2 < tol) break;
    let t = 1;
    let next = blendLoss(z, d, C, w - sw, g - sg, l2);
    while (next.loss > cur.loss - 1e-4 * t * slope && t > 1e-10) {
      t /= 2;
      next = blendLoss(z, d, C, w - t * sw, g - t * sg, l2);
    }
    // No decrease left at float precision: converged.
    if (next.loss >= cur.loss) break;
    w -= t * sw;
    g -= t * sg;
    cur = next;
  }
  return { weight: w, gate: g, loss: cur.loss, iterations: it };
}
