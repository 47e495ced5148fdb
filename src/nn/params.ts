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
      case 'normal': values = this.rng.normalArray(n, init.std); break;
      case 'uniform': values = this.rng.uniformArray(n, -init.limit, init.limit); break;
    }
    const init0 = tf.tensor(values, shape, 'float32');
    const v = tf.variable(init0, trainable, `${name}#${variableCounter++}`);
    init0.dispose(); // the variable holds its own reference to the data
    this.vars.set(name, v);
    return v;
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
  }
}
