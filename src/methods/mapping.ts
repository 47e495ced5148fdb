/**
 * CoLLM's mapping layer g: R^d_cf -> R^d_model, two Linear layers with a GELU
 * between them, mapping a collaborative model's user / item vectors into a
 * language model's input-embedding space (docs/METHODS.md §5). Saved as
 * `mapping.safetensors` + `mapping_config.json` (PyTorch names and layouts).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { tf } from '../engine/index.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { Linear, ParamStore } from '../nn/index.js';
import { hfActivation } from '../lm/families/common.js';
import { exportStateDict, loadStateDict } from '../lm/state_dict.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseConfig } from '../lm/families/config_util.js';

export const MappingConfigSchema = z.object({
  inputDim: z.number().int().positive(),
  outputDim: z.number().int().positive(),
  /** Width of the hidden layer (default: outputDim). */
  hiddenDim: z.number().int().positive().optional(),
  activation: z.string().default('gelu'),
  /**
   * Residual injection: the slot gets its placeholder token's embedding plus
   * g(e) instead of g(e) alone, and the output layer starts at zero, so
   * adding the mapping does not change the model until it is trained.
   */
  residual: z.boolean().default(true),
});
export type MappingConfig = z.output<typeof MappingConfigSchema>;

const CONFIG_FILE = 'mapping_config.json';
const WEIGHTS_FILE = 'mapping.safetensors';

export class MappingLayer {
  readonly store: ParamStore;
  readonly config: MappingConfig;
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: Partial<MappingConfig> & Pick<MappingConfig, 'inputDim' | 'outputDim'>, seed = 0) {
    this.config = parseConfig(MappingConfigSchema, config, 'mapping config');
    this.store = new ParamStore(seed);
    const h = this.config.hiddenDim ?? this.config.outputDim;
    this.fc1 = new Linear(this.store, 'fc1', this.config.inputDim, h);
    this.fc2 = this.config.residual
      ? new Linear(this.store, 'fc2', h, this.config.outputDim, true, 'out_in', { kind: 'zeros' })
      : new Linear(this.store, 'fc2', h, this.config.outputDim);
    this.act = hfActivation(this.config.activation);
  }

  /** x [n, inputDim] -> [n, outputDim]. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (x.shape[1] !== this.config.inputDim) throw new Error(`mapping layer: input has width ${x.shape[1]}, expected ${this.config.inputDim}`);
    return this.fc2.apply(this.act(this.fc1.apply(x))) as tf.Tensor2D;
  }

  variables(): tf.Variable[] {
    return [...this.store.vars.values()];
  }

  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, WEIGHTS_FILE), exportStateDict(this.store), { format: 'pt' });
    writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(this.config, null, 2) + '\n');
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, CONFIG_FILE)) && existsSync(join(dir, WEIGHTS_FILE));
  }

  static load(dir: string): MappingLayer {
    const cfgPath = join(dir, CONFIG_FILE);
    if (!existsSync(cfgPath)) throw new Error(`mapping layer ${dir}: no ${CONFIG_FILE}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
    } catch (e) {
      throw new Error(`mapping layer ${cfgPath}: ${(e as Error).message}`, { cause: e });
    }
    const m = new MappingLayer(parseConfig(MappingConfigSchema, raw, cfgPath));
    const file = join(dir, WEIGHTS_FILE);
    loadStateDict(m.store, readSafetensors(file).tensors, { source: file });
    return m;
  }

  dispose(): void {
    this.store.dispose();
  }
}
