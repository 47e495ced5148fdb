/**
 * The seeded PRNG of the synthetic shop (../synthetic.ts): mulberry32 with the
 * samplers the generator needs.
 */
import { Mulberry32 } from '../../util/random.js';

/** The shop's seeded PRNG: mulberry32 (src/util/random.ts, seed used as given) with the samplers the generator needs. */
export class ShopRng extends Mulberry32 {
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Exponential with the given mean. */
  exp(mean: number): number {
    let u = 0;
    while (u === 0) u = this.next();
    return -Math.log(u) * mean;
  }
  /** Gamma(shape, 1) (Marsaglia-Tsang; boosted for shape < 1). */
  gamma(shape: number): number {
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = this.next();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }
  /** A Dirichlet draw with the given concentration parameters (sums to 1). */
  dirichlet(alpha: ArrayLike<number>): Float64Array {
    const out = new Float64Array(alpha.length);
    let sum = 0;
    for (let k = 0; k < alpha.length; k++) {
      out[k] = Math.max(this.gamma(alpha[k]), 1e-12);
      sum += out[k];
    }
    for (let k = 0; k < out.length; k++) out[k] /= sum;
    return out;
  }
  /** Index drawn proportionally to non-negative weights; -1 when they sum to 0. */
  pick(weights: ArrayLike<number>, n: number = weights.length): number {
    let total = 0;
    for (let k = 0; k < n; k++) total += weights[k];
    if (!(total > 0)) return -1;
    let r = this.next() * total;
    for (let k = 0; k < n; k++) {
      r -= weights[k];
      if (r < 0) return k;
    }
    for (let k = n - 1; k >= 0; k--) if (weights[k] > 0) return k;
    return -1;
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let k = a.length - 1; k > 0; k--) {
      const j = this.int(k + 1);
      const t = a[k];
      a[k] = a[j];
      a[j] = t;
    }
    return a;
  }
}
