/**
 * KAR's hybrid-expert adaptor (Xi et al. 2023, §3.4): K small MLP experts
 * mixed by a softmax gate map a knowledge vector x (dim inDim) to the
 * recommender's space (dim d):
 *
 *   e_k(x) = W2_k relu(W1_k x + b1_k) + b2_k          (expert k, hidden size `hidden`)
 *   g(x)   = softmax(W_g x)                           (K gate weights)
 *   a(x)   = sum_k g_k(x) e_k(x)
 *
 * The experts run as one [N, inDim] x [inDim, K*hidden] product and one
 * batched [K, N, hidden] x [K, hidden, d] product.
 */
import { tf } from '../../engine/index.js';
import { Linear, type ParamStore } from '../../nn/index.js';

export class HybridExperts {
  private readonly first: Linear;
  private readonly second: tf.Variable;
  private readonly secondBias: tf.Variable;
  private readonly gate: Linear;

  constructor(store: ParamStore, readonly name: string, readonly inDim: number, readonly d: number, readonly experts: number, readonly hidden: number, initStd = 0.02) {
    this.first = new Linear(store, `${name}.experts.fc1`, inDim, experts * hidden);
    this.second = store.add(`${name}.experts.fc2.weight`, [experts, hidden, d], { kind: 'normal', std: initStd });
    this.secondBias = store.add(`${name}.experts.fc2.bias`, [experts, 1, d], { kind: 'zeros' });
    this.gate = new Linear(store, `${name}.gate`, inDim, experts, false);
  }

  /** [N, inDim] -> [N, d]. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const N = x.shape[0];
    const { experts: K, hidden: H } = this;
    const h = tf.transpose(tf.reshape(tf.relu(this.first.apply(x)), [N, K, H]), [1, 0, 2]); // [K, N, H]
    const e = tf.add(tf.matMul(h as tf.Tensor3D, this.second as tf.Tensor3D), this.secondBias); // [K, N, d]
    const g = tf.softmax(this.gate.apply(x)); // [N, K]
    const gk = tf.reshape(tf.transpose(g), [K, N, 1]);
    return tf.sum(tf.mul(e, gk), 0) as tf.Tensor2D;
  }

  /** Gate weights [N, K] (reports, tests). */
  gates(x: tf.Tensor2D): tf.Tensor2D {
    return tf.softmax(this.gate.apply(x)) as tf.Tensor2D;
  }
}
