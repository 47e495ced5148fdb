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

/**
 * The knowledge side of a KAR model (kar-sasrec, kar-din): the item and user
 * knowledge vectors as non-trainable parameters (`kar.item_knowledge`
 * [items + 1, textDim], `kar.user_knowledge` [users + 1, textDim], filled from
 * `vectors` at build and restored by load), and the two adaptors. A user index
 * outside the training users (an anonymous history when serving) gets the
 * zero last row.
 */
export class KnowledgeTables {
  private readonly itemK: tf.Variable;
  private readonly userK: tf.Variable;
  private readonly itemAd: HybridExperts | null;
  private readonly userAd: HybridExperts | null;

  constructor(store: ParamStore, private readonly numUsers: number, numItems: number, d: number, initStd: number,
    c: { textDim: number; experts: number; expertHidden: number; useItem: boolean; useUser: boolean },
    vectors: { items: Float32Array; users: Float32Array } | null) {
    const { textDim, experts, expertHidden } = c;
    this.itemK = store.add('kar.item_knowledge', [numItems + 1, textDim], { kind: 'zeros' }, false);
    this.userK = store.add('kar.user_knowledge', [numUsers + 1, textDim], { kind: 'zeros' }, false);
    this.itemAd = c.useItem ? new HybridExperts(store, 'kar.item_adaptor', textDim, d, experts, expertHidden, initStd) : null;
    this.userAd = c.useUser ? new HybridExperts(store, 'kar.user_adaptor', textDim, d, experts, expertHidden, initStd) : null;
    if (vectors) {
      const assign = (v: tf.Variable, data: Float32Array) => { const t = tf.tensor(data, v.shape, 'float32'); v.assign(t); t.dispose(); };
      assign(this.itemK, vectors.items);
      const u = new Float32Array((numUsers + 1) * textDim);
      u.set(vectors.users.subarray(0, numUsers * textDim));
      assign(this.userK, u);
    }
  }

  /** A_item(dropout(k_i)) for the ids (any shape), [ids.size, d]; null without the item adaptor. */
  item(ids: tf.Tensor, drop: (x: tf.Tensor) => tf.Tensor): tf.Tensor2D | null {
    if (!this.itemAd) return null;
    return this.itemAd.apply(drop(tf.gather(this.itemK, tf.reshape(ids, [-1]))) as tf.Tensor2D);
  }

  /** A_user(dropout(p_u)) for the users of a batch, [B, d]; null without the user adaptor. */
  user(users: Int32Array, B: number, drop: (x: tf.Tensor) => tf.Tensor): tf.Tensor2D | null {
    if (!this.userAd) return null;
    const rows = new Int32Array(B);
    for (let b = 0; b < B; b++) rows[b] = users[b] >= 0 && users[b] < this.numUsers ? users[b] : this.numUsers;
    return this.userAd.apply(drop(tf.gather(this.userK, tf.tensor1d(rows, 'int32'))) as tf.Tensor2D);
  }
}
