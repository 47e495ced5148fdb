/**
 * Seeded random numbers for initialisation and sampling. Parameters are
 * initialised from these JS arrays, not from backend RNGs, so the same seed
 * gives the same weights on every backend (tests compare wasm against cpu).
 * The generator (mulberry32; next, uint32, normal) is src/util/random.ts.
 */
import { Mulberry32 } from '../util/random.js';

export class Rng extends Mulberry32 {
  /** Seed 0 is mapped to 0x9e3779b9 (mulberry32 itself accepts 0; kept for the recorded weights). */
  constructor(seed: number) {
    super((seed >>> 0) || 0x9e3779b9);
  }
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  uniformArray(n: number, lo: number, hi: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * this.next();
    return a;
  }
  normalArray(n: number, std: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = std * this.normal();
    return a;
  }
  intArray(n: number, lo: number, hi: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.int(lo, hi);
    return a;
  }
}
