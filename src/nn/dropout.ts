/**
 * Seeded inverted dropout for modules that are not recommenders (the LM
 * families, LoRA adapters): one stream per module, re-seeded from the store's
 * `dropoutStream`.
 */
import { dropoutMask, tf } from '../engine/index.js';
import { mixSeed } from '../util/random.js';
import type { ParamStore } from './params.js';
import { Rng } from './rng.js';

/**
 * Inverted dropout with masks from a seeded stream. The stream is re-seeded
 * from (seed, store.dropoutStream) whenever a trainer moves the store to a
 * new stream (pre-training sets it to the step), so the masks of step s are
 * a function of (seed, s, call order) and a resumed run draws the same masks
 * as an uninterrupted one. The drop test is u < rate for u = float32(t / 2^32),
 * t the stream's next 32-bit draw, one per element; the masks are made by the
 * dropout-mask kernel (draw 'single32', src/engine/kernels/dropout.ts: SIMD
 * on the wasm backend), the same bits as the JS loop they replaced.
 */
export class SeededDropout {
  private rng: Rng;
  private stream = 0;
  constructor(private readonly seed: number, private readonly store?: ParamStore) {
    this.rng = new Rng(seed);
  }
  /** x unchanged when rate <= 0; else x * mask / (1 - rate). */
  apply(x: tf.Tensor, rate: number): tf.Tensor {
    if (rate <= 0) return x;
    return tf.mul(x, this.mask(x.shape, rate));
  }

  /**
   * The next multipliers of `shape`: 0 with probability `rate`, 1 / (1 - rate)
   * otherwise (what `apply` multiplies by; an attention keep mask).
   */
  mask(shape: number[], rate: number): tf.Tensor {
    if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
    if (this.store && this.store.dropoutStream !== this.stream) {
      this.stream = this.store.dropoutStream;
      this.rng = new Rng(mixSeed(this.seed, this.stream));
    }
    const size = shape.reduce((a, b) => a * b, 1);
    return dropoutMask(shape, rate, this.rng.take(size), 'single32');
  }
}
