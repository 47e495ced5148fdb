/** Differentiable distances and the diversity loss L_div of GANPrompt stage 1 (methods/ganprompt/diversity.ts). */
import { tf } from '../../../engine/index.js';

/**
 * Dist(z_a, z_b) = alpha (1 - cos(z_a, z_b)) + beta JS(softmax z_a, softmax z_b)
 * for every pair of rows of z [N, d]: [N, N], differentiable (natural log,
 * as eval/metrics.ts). A zero row has cosine 0 there too.
 */
export function pairwiseDistance(zz: tf.Tensor2D, alpha: number, beta: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [N, d] = zz.shape;
    let dist: tf.Tensor = tf.zeros([N, N]);
    if (alpha !== 0) {
      const norm = tf.sqrt(tf.add(tf.sum(tf.square(zz), 1, true), 1e-12));
      const zn = tf.div(zz, norm);
      dist = tf.add(dist, tf.mul(tf.sub(1, tf.matMul(zn, zn, false, true)), alpha));
    }
    if (beta !== 0) {
      const logP = tf.logSoftmax(zz);
      const P = tf.exp(logP);
      const Pa = tf.reshape(P, [N, 1, d]);
      const Pb = tf.reshape(P, [1, N, d]);
      const logM = tf.log(tf.maximum(tf.mul(tf.add(Pa, Pb), 0.5), 1e-30));
      // sum_j P_j log P_j per row (the entropy term), then the cross terms with M.
      const selfTerm = tf.sum(tf.mul(P, logP), 1); // [N]
      const crossA = tf.sum(tf.mul(Pa, logM), 2); // [N, N]
      const crossB = tf.sum(tf.mul(Pb, logM), 2);
      const js = tf.mul(tf.add(tf.sub(tf.reshape(selfTerm, [N, 1]), crossA), tf.sub(tf.reshape(selfTerm, [1, N]), crossB)), 0.5);
      dist = tf.add(dist, tf.mul(js, beta));
    }
    return dist as tf.Tensor2D;
  });
}

/** The 0/1 mask [N, N] of ordered pairs of different classes and their count. */
export function differentClassPairs(classes: ArrayLike<number>): { mask: Float32Array; count: number } {
  const N = classes.length;
  const mask = new Float32Array(N * N);
  let count = 0;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) if (classes[i] !== classes[j]) { mask[i * N + j] = 1; count++; }
  }
  return { mask, count };
}

/**
 * L_div = - mean over the pairs of rows of different classes of Dist (0 when
 * every row has the same class). Minimising it spreads the classes apart.
 */
export function diversityLoss(zz: tf.Tensor2D, classes: ArrayLike<number>, alpha: number, beta: number): tf.Scalar {
  return tf.tidy(() => {
    const N = zz.shape[0];
    if (classes.length !== N) throw new Error(`diversityLoss: ${classes.length} classes for ${N} vectors`);
    const { mask, count } = differentClassPairs(classes);
    if (count === 0 || (alpha === 0 && beta === 0)) return tf.mul(tf.sum(zz), 0) as tf.Scalar;
    const d = pairwiseDistance(zz, alpha, beta);
    return tf.neg(tf.div(tf.sum(tf.mul(d, tf.tensor2d(mask, [N, N]))), count)) as tf.Scalar;
  });
}
