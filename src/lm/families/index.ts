/**
 * The registration table of language-model families: `model_type` in a
 * Hugging Face config.json → the class that builds it. Checkpoint loading,
 * the CLI and the methods look families up here, never by hand.
 */
import type { ParamStore } from '../../nn/index.js';
import { LlamaForCausalLM, parseLlamaConfig, type ModelInitOptions } from './llama.js';
import { Gpt2LMHeadModel, parseGpt2Config } from './gpt2.js';
import { parseT5Config, T5Model } from './t5.js';
import { BertForMaskedLM, parseBertConfig } from './bert.js';

/** What every family's model offers to checkpoints, LoRA and trainers. */
export interface LanguageModel {
  readonly family: string;
  readonly store: ParamStore;
  /** Tensor names real checkpoints carry that are not parameters here (buffers, tied aliases). */
  stateDictIgnore(name: string): boolean;
  /** The Hugging Face config.json object. */
  configJSON(): Record<string, unknown>;
  dispose(): void;
}

export interface CreateOptions extends ModelInitOptions {
  /** Names the config's origin in errors. */
  source?: string;
}

export interface FamilyEntry {
  /** Family name (`llama`, `gpt2`, ...). */
  family: string;
  /** Hugging Face `model_type` values this family builds. */
  modelTypes: string[];
  kind: 'causal' | 'seq2seq' | 'masked';
  /** Validates a config.json object (HF defaults filled in, sizes bounded: config_util.ts) without building anything. */
  parse(config: Record<string, unknown>, source?: string): Record<string, unknown>;
  create(config: Record<string, unknown>, opts: CreateOptions): LanguageModel;
}

export const FAMILIES: FamilyEntry[] = [
  {
    family: 'llama', modelTypes: ['llama', 'mistral', 'qwen2'], kind: 'causal',
    parse: (c, src) => parseLlamaConfig(c, src),
    create: (c, o) => new LlamaForCausalLM(parseLlamaConfig(c, o.source), o),
  },
  {
    family: 'gpt2', modelTypes: ['gpt2'], kind: 'causal',
    parse: (c, src) => parseGpt2Config(c, src),
    create: (c, o) => new Gpt2LMHeadModel(parseGpt2Config(c, o.source), o),
  },
  {
    family: 't5', modelTypes: ['t5'], kind: 'seq2seq',
    parse: (c, src) => parseT5Config(c, src),
    create: (c, o) => new T5Model(parseT5Config(c, o.source), o),
  },
  {
    family: 'bert', modelTypes: ['bert'], kind: 'masked',
    parse: (c, src) => parseBertConfig(c, src),
    create: (c, o) => new BertForMaskedLM(parseBertConfig(c, o.source), o),
  },
];

export function familyOf(config: Record<string, unknown>, source = 'config'): FamilyEntry {
  const mt = config.model_type;
  if (typeof mt !== 'string') throw new Error(`model config ${source}: field 'model_type' is missing`);
  const f = FAMILIES.find((x) => x.modelTypes.includes(mt));
  if (!f) throw new Error(`model config ${source}: model_type '${mt}' is not supported (supported: ${FAMILIES.flatMap((x) => x.modelTypes).join(', ')})`);
  return f;
}

/** Builds the model a config describes (random or zero weights). */
export function createModel(config: Record<string, unknown>, opts: CreateOptions = {}): LanguageModel {
  return familyOf(config, opts.source).create(config, opts);
}
