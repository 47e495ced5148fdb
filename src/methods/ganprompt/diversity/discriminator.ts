/** The discriminator of GANPrompt stage 1: a 3-layer MLP over z (methods/ganprompt/diversity.ts). */
import { tf } from '../../../engine/index.js';
import { readSafetensors, writeSafetensors } from '../../../io/safetensors.js';
import { hfActivation } from '../../../lm/families/t5.js';
import { maskedCrossEntropy } from '../../../lm/loss.js';
import { exportStateDict, loadStateDict } from '../../../lm/state_dict.js';
import { Linear, ParamStore } from '../../../nn/index.js';
import { mixSeed } from '../../../util/random.js';
import type { DiscriminatorActivation } from './options.js';

export interface DiscriminatorConfig {
  inDim: number;
  hidden: number;
  numClasses: number;
  activation: DiscriminatorActivation;
}

/** D: logits = W3 act(W2 act(W1 z + b1) + b2) + b3 (fc1, fc2, fc3; torch layout in files). */
export class Discriminator {
  readonly store: ParamStore;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly fc3: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(readonly config: DiscriminatorConfig, seed: number) {
    this.store = new ParamStore(mixSeed(seed, 41));
    const c = config;
    this.fc1 = new Linear(this.store, 'fc1', c.inDim, c.hidden);
    this.fc2 = new Linear(this.store, 'fc2', c.hidden, c.hidden);
    this.fc3 = new Linear(this.store, 'fc3', c.hidden, c.numClasses);
    this.act = hfActivation(c.activation);
  }

  /** Class logits [B, K + 1] of z [B, inDim]. */
  logits(zz: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.fc3.apply(this.act(this.fc2.apply(this.act(this.fc1.apply(zz))))) as tf.Tensor2D);
  }

  /** Mean cross-entropy of the classes. */
  loss(zz: tf.Tensor2D, classes: ArrayLike<number>): tf.Scalar {
    return tf.tidy(() => maskedCrossEntropy(this.logits(zz), classes));
  }

  /** Writes the weights (torch layout) with the config in the metadata, atomically. */
  save(path: string): void {
    writeSafetensors(path, exportStateDict(this.store), { format: 'pt', config: JSON.stringify(this.config) });
  }

  static load(path: string, seed = 0): Discriminator {
    const f = readSafetensors(path);
    const raw = f.metadata?.config;
    if (!raw) throw new Error(`discriminator ${path}: no config in the safetensors metadata`);
    const d = new Discriminator(JSON.parse(raw) as DiscriminatorConfig, seed);
    try {
      loadStateDict(d.store, f.tensors, { source: path });
    } catch (e) {
      d.dispose();
      throw e;
    }
    return d;
  }

  dispose(): void {
    this.store.dispose();
  }
}
