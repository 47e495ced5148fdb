/**
 * Seeded inverted dropout for modules that are not recommenders (the LM
 * families, LoRA adapters): one stream per module, re-seeded from the store's
 * `dropoutStream`.
 */
import { tf } from '../engine/index.js';
import { mixSeed } from '../util/random.js';
import type { ParamStore } from './params.js';
import { Rng } from './rng.js';

/**
 * Inverted dropout with masks from a seeded stream. The stream is re-seeded
 * from (seed, store.dropoutStream) whenever a trainer moves the store to a
 * new stream (pre-training sets it to the step), so the masks of step s are
 * a function of (seed, s, call order) and a resumed run draws the same masks
 * as an uninterrupted one. The drop test is u < rate for u uniform in [0, 1).
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
    if (rate >= 1) throw new Error(`dropout rate must be < 1, got ${rate}`);
    if (this.store && this.store.dropoutStream !== this.stream) {
      this.stream = this.store.dropoutStream;
      this.rng = new Rng(mixSeed(this.seed, this.stream));
    }
    const keep = 1 / (1 - rate);
    const u = this.rng.uniformArray(x.size, 0, 1);
    for (let i = 0; i < u.length; i++) u[i] = u[i] < rate ? 0 : keep;
    return tf.mul(x, tf.tensor(u, x.shape, 'float32'));
  }
}

