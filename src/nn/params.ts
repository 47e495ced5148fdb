/**
 * Named parameters: a flat, ordered map from dotted names (as in Hugging Face
 * state dicts, e.g. "layers.0.attn.q.weight") to tf.Variables, with a
 * trainable flag per parameter. Modules register into one store, so saving,
 * loading, freezing and counting are one place.
 */
import { tf } from '../engine/index.js';
import { Rng } from './rng.js';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; limit: number };

let variableCounter = 0;

export class ParamStore {
  readonly vars = new Map<string, tf.Variable>();
  /**
   * Parameters stored here as the transpose of their Hugging Face / PyTorch
   * layout: nn.Linear keeps weight as [out, in], llmrec's Linear as [in, out].
   * Checkpoint readers and writers transpose exactly these names.
   */
  readonly transposed = new Set<string>();
  /** Modules by name (Linear layers register here, so adapters can find them). */
  readonly modules = new Map<string, object>();
  /** Training mode: modules apply their dropout (e.g. LoRA's) only when true. */
  training = false;
  /**
   * Dropout stream: seeded dropout re-seeds from (its seed, this value) when
   * it changes. Trainers set it to the step, so masks do not depend on how
   * many steps ran in this process (exact resume).
   */
  dropoutStream = 0;
  private readonly rng: Rng;

  constructor(seed = 0) {
    this.rng = new Rng(seed);
  }

  add(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter '${name}' is already registered`);
    const n = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    switch (init.kind) {
      case 'zeros': values = new Float32Array(n); break;
      case 'ones': values = new Float32Array(n).fill(1); break;
      case 'normal': values = init.std === 0 ? new Float32Array(n) : this.rng.normalArray(n, init.std); break;
      case 'uniform': values = this.rng.uniformArray(n, -init.limit, init.limit); break;
    }
    const init0 = tf.tensor(values, shape, 'float32');
    const v = tf.variable(init0, trainable, `${name}#${variableCounter++}`);
    init0.dispose(); // the variable holds its own reference to the data
    this.vars.set(name, v);
    return v;
  }

  /** Marks a registered 2-D parameter as stored transposed relative to the PyTorch layout. */
  markTransposed(name: string): void {
    const v = this.get(name);
    if (v.rank !== 2) throw new Error(`markTransposed: parameter '${name}' has rank ${v.rank}, expected 2`);
    this.transposed.add(name);
  }

  /** Unregisters and disposes a parameter. */
  remove(name: string): void {
    const v = this.vars.get(name);
    if (!v) throw new Error(`unknown parameter '${name}'`);
    v.dispose();
    this.vars.delete(name);
    this.transposed.delete(name);
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`unknown parameter '${name}'`);
    return v;
  }

  trainable(): tf.Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  /** Freezes (or unfreezes) every parameter whose name matches. */
  setTrainable(match: (name: string) => boolean, trainable: boolean): void {
    for (const [name, v] of this.vars) if (match(name)) v.trainable = trainable;
  }

  count(onlyTrainable = false): number {
    let n = 0;
    for (const v of this.vars.values()) if (!onlyTrainable || v.trainable) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.transposed.clear();
    this.modules.clear();
  }
}
