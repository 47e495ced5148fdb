/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter), as torch.optim.AdamW:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p = p - lr * wd * p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * With weightDecay = 0 it is Adam. Optional global-norm gradient clipping.
 */
import { adamwStep, tf } from '../engine/index.js';

export interface AdamWConfig {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global L2 norm of the gradients to this value (off when undefined). */
  clipNorm?: number;
}

export class AdamW {
  private readonly m = new Map<tf.Variable, tf.Variable>();
  private readonly v = new Map<tf.Variable, tf.Variable>();
  private t = 0;
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly clipNorm?: number;

  constructor(cfg: AdamWConfig) {
    this.lr = cfg.lr;
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 0.01;
    this.clipNorm = cfg.clipNorm;
  }

  get step(): number {
    return this.t;
  }

  /**
   * Computes loss and gradients of `lossFn` w.r.t. `vars`, updates them, and
   * returns the loss value. Everything intermediate is disposed.
   */
  minimize(lossFn: () => tf.Scalar, vars: tf.Variable[]): number {
    const { value, grads } = tf.variableGrads(lossFn, vars);
    const loss = value.dataSync()[0];
    value.dispose();
    this.apply(vars.map((v) => grads[v.name]), vars);
    for (const g of Object.values(grads)) g.dispose();
    return loss;
  }

  apply(grads: tf.Tensor[], vars: tf.Variable[]): void {
    this.t += 1;
    const t = this.t;
    tf.tidy(() => {
      let gradScale = 1;
      if (this.clipNorm !== undefined) {
        const norm = Math.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
        gradScale = Math.min(1, this.clipNorm / (norm + 1e-6));
      }
      const attrs = {
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay,
        bc1: 1 - Math.pow(this.beta1, t), bc2: 1 - Math.pow(this.beta2, t), gradScale,
      };
      for (let i = 0; i < vars.length; i++) {
        const p = vars[i];
        let m = this.m.get(p);
        let v = this.v.get(p);
        if (!m || !v) {
          m = tf.keep(tf.variable(tf.zerosLike(p), false));
          v = tf.keep(tf.variable(tf.zerosLike(p), false));
          this.m.set(p, m);
          this.v.set(p, v);
        }
        const [p1, m1, v1] = adamwStep(p, grads[i], m, v, attrs);
        m.assign(m1);
        v.assign(v1);
        p.assign(p1);
      }
    });
  }

  /** First and second moments of a parameter (copies), or undefined before its first update. */
  moments(p: tf.Variable): { m: Float32Array; v: Float32Array } | undefined {
    const m = this.m.get(p);
    const v = this.v.get(p);
    if (!m || !v) return undefined;
    return { m: (m.dataSync() as Float32Array).slice(), v: (v.dataSync() as Float32Array).slice() };
  }

  /** Restores the optimizer state (for checkpoints): the step count and the moments of each parameter given. */
  loadState(step: number, moments: Map<tf.Variable, { m: Float32Array; v: Float32Array }>): void {
    if (!Number.isInteger(step) || step < 0) throw new Error(`AdamW.loadState: step must be a non-negative integer, got ${step}`);
    this.dispose();
    const mk = (p: tf.Variable, data: Float32Array) => {
      if (data.length !== p.size) throw new Error(`AdamW.loadState: moment of ${p.name} has ${data.length} values, expected ${p.size}`);
      return tf.tidy(() => tf.variable(tf.tensor(data, p.shape, 'float32'), false));
    };
    for (const [p, st] of moments) {
      this.m.set(p, mk(p, st.m));
      this.v.set(p, mk(p, st.v));
    }
    this.t = step;
  }

  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
