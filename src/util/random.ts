/**
 * Seeded random numbers: the one mulberry32 generator behind every seeded
 * draw of the project, and the two seed hashes that derive sub-stream seeds.
 *
 * The generator classes of the layers are thin subclasses of `Mulberry32`
 * that add their own samplers and keep their own seeding rule:
 *   - `Rng` (src/nn/rng.ts: weight initialisation, tests) maps seed 0 to 0x9e3779b9;
 *   - `SeededRng` (src/data/protocol.ts: negatives, batches) and `ShopRng`
 *     (src/data/synthetic.ts: the synthetic shop) use the seed as given.
 * Dropout masks (`dropoutMultipliers`, `fillDropoutMultipliers32`) run the
 * same step inline through `mulberry32Mix`.
 *
 * Every output here is part of the recorded results (datasets, negatives,
 * initial weights, dropout masks): changing any constant changes them.
 */

/** The Weyl increment of mulberry32's 32-bit state. */
export const MULBERRY32_INCREMENT = 0x6d2b79f5;

/**
 * mulberry32's output function: a well-mixed uint32 of an (already advanced)
 * state. The state may be given signed or unsigned (the same 32 bits give the
 * same output).
 */
export function mulberry32Mix(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/**
 * A mulberry32 generator (32-bit state). The state starts at `state >>> 0`
 * exactly (no remapping of 0: a subclass that wants one does it before
 * calling super).
 */
export class Mulberry32 {
  private s: number;
  constructor(state: number) {
    this.s = state >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    this.s = (this.s + MULBERRY32_INCREMENT) >>> 0;
    return mulberry32Mix(this.s);
  }
  /**
   * Skips the next n draws and returns the state they start from: draw i
   * (0-based) of them is mulberry32Mix(state + (i + 1) * increment), which is
   * how a dropout-mask kernel makes them (`fillDropoutMultipliers32`).
   */
  take(n: number): number {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`draws to take must be a non-negative integer, got ${n}`);
    const from = this.s;
    this.s = (this.s + Math.imul(n % 4294967296, MULBERRY32_INCREMENT)) >>> 0;
    return from;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * Inverted-dropout multipliers: n values, each 0 with probability `rate`
 * (rounded to 1/65536) and 65536 / (65536 - round(rate * 65536)) otherwise,
 * from mulberry32 started at `seed` (two 16-bit draws per step). The masks of
 * the neural models (src/models/neural.ts), attention dropout and the
 * benchmark workloads, made as tensors by `dropoutMask` (src/engine/ops.ts):
 * on the wasm backend the project's SIMD module writes the same values in
 * place on the heap (native/wasm/gemm.c `dropout_mask`); this loop is the
 * reference and the other backends' path. No tfjs random op
 * (tf.randomUniform draws in JS and then needs a compare, a cast and a
 * division on the tensor).
 */
export function dropoutMultipliers(n: number, rate: number, seed: number): Float32Array {
  return fillDropoutMultipliers(new Float32Array(n), rate, seed);
}

/** `dropoutMultipliers` written into `out` (its length is n); returns `out`. */
export function fillDropoutMultipliers(out: Float32Array, rate: number, seed: number): Float32Array {
  const { thr, keep } = dropoutThreshold(rate);
  const n = out.length;
  let s = seed | 0;
  for (let i = 0; i < n; i += 2) {
    s = (s + MULBERRY32_INCREMENT) | 0;
    const t = mulberry32Mix(s);
    out[i] = (t & 0xffff) < thr ? 0 : keep;
    if (i + 1 < n) out[i + 1] = t >>> 16 < thr ? 0 : keep;
  }
  return out;
}

/** The 16-bit drop threshold round(rate * 65536) and the kept value 65536 / (65536 - thr) of a rate in [0, 1). */
export function dropoutThreshold(rate: number): { thr: number; keep: number } {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  const thr = Math.round(rate * 65536);
  if (thr >= 65536) throw new Error(`dropout rate ${rate} rounds to 1 (65536/65536)`);
  return { thr, keep: 65536 / (65536 - thr) };
}

/**
 * The drop threshold of one 32-bit draw t: t is dropped when float32(t / 2^32)
 * < rate, which (float32 rounding being monotone) is t < thr for the smallest
 * thr with float32(thr / 2^32) >= rate (below 2^32: float32((2^32 - 1) / 2^32)
 * is 1, above every rate). keep is float32(1 / (1 - rate)). These are exactly
 * the values of the LM families' first dropout loop (a Float32Array of uniform
 * draws u, then u < rate ? 0 : 1 / (1 - rate)), so the masks stayed bit for
 * bit the same when that loop moved into a kernel.
 */
export function dropoutThreshold32(rate: number): { thr: number; keep: number } {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  let lo = 0;
  let hi = 4294967295;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (Math.fround(mid / 4294967296) >= rate) hi = mid;
    else lo = mid + 1;
  }
  return { thr: lo, keep: Math.fround(1 / (1 - rate)) };
}

/**
 * Dropout multipliers from one mulberry32 draw per element: element i is 0
 * when mulberry32Mix(state + (i + 1) * increment) < thr (`dropoutThreshold32`)
 * and keep otherwise; `state` is the generator state before the first draw
 * (`Mulberry32.take`). The reference of the 'single32' draw of the
 * dropout-mask kernel (native/wasm/gemm.c `dropout_mask32`). Returns `out`.
 */
export function fillDropoutMultipliers32(out: Float32Array, rate: number, state: number): Float32Array {
  const { thr, keep } = dropoutThreshold32(rate);
  let s = state | 0;
  for (let i = 0; i < out.length; i++) {
    s = (s + MULBERRY32_INCREMENT) | 0;
    out[i] = mulberry32Mix(s) < thr ? 0 : keep;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Seed hashes. Two different functions, both kept bit-exact: `mixSeed` seeds
// the protocol's negatives, the training batches, dropout, weight init and the
// Random model; `mixSeedShop` seeds the sub-streams of the synthetic shop.
// Unifying them would change the synthetic dataset or every sampled negative.
// ---------------------------------------------------------------------------

/**
 * Mixes a seed with a stream id into a well-spread 32-bit state (splitmix32-style
 * finaliser). The seed hash of the protocol, the trainer and the models.
 */
export function mixSeed(seed: number, stream: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(Math.trunc(stream) + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Hash of a seed and a stream id (murmur3 finaliser), to derive the independent
 * sub-streams of the synthetic shop (src/data/synthetic.ts: catalog, users,
 * simulation). Not interchangeable with `mixSeed`: other constants, other values.
 */
export function mixSeedShop(seed: number, stream: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
