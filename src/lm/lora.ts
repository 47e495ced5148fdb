/**
 * LoRA adapters with PEFT's semantics and on-disk layout:
 *  - target modules by name: a list matches a module whose name equals an
 *    entry or ends with `.entry`; a string is a regular expression that must
 *    match the whole module name (PEFT's `target_modules`);
 *  - A Kaiming-uniform, B zeros, scaling lora_alpha / r, dropout on the input;
 *  - the base model is frozen, only A and B train;
 *  - merge / unmerge;
 *  - adapter-only files: `adapter_config.json` + `adapter_model.safetensors`
 *    with tensors named `base_model.model.<module>.lora_A.weight` ([r, in])
 *    and `...lora_B.weight` ([out, r]).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Linear } from '../nn/index.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { exportStateDict, loadStateDict } from './state_dict.js';
import { parseConfig } from './families/config_util.js';
import type { LanguageModel } from './families/index.js';

export const PeftLoraConfigSchema = z.looseObject({
  peft_type: z.literal('LORA').default('LORA'),
  task_type: z.string().nullable().default('CAUSAL_LM'),
  r: z.number().int().positive().default(8),
  lora_alpha: z.number().positive().default(8),
  lora_dropout: z.number().min(0).max(1).default(0),
  target_modules: z.union([z.array(z.string()).min(1), z.string()]),
  bias: z.literal('none').default('none'),
  fan_in_fan_out: z.boolean().default(false),
  base_model_name_or_path: z.string().nullable().default(null),
  inference_mode: z.boolean().default(false),
  modules_to_save: z.null().default(null),
});

export type PeftLoraConfig = z.output<typeof PeftLoraConfigSchema>;

export function parseLoraConfig(json: unknown, source?: string): PeftLoraConfig {
  return parseConfig(PeftLoraConfigSchema, json, source);
}

const PREFIX = 'base_model.model.';

/** Does `name` match PEFT's target_modules? */
export function matchesTarget(name: string, target: string[] | string): boolean {
  if (typeof target === 'string') return new RegExp(`^(?:${target})$`).test(name);
  return target.some((t) => name === t || name.endsWith(`.${t}`));
}

/** The model's Linear layers, by name. */
export function linearModules(model: LanguageModel): Map<string, Linear> {
  const out = new Map<string, Linear>();
  for (const [name, m] of model.store.modules) if (m instanceof Linear) out.set(name, m);
  return out;
}

/**
 * Adds adapters to every targeted Linear, freezes everything else, and
 * returns the adapted module names. Throws when nothing matches.
 */
export function applyLora(model: LanguageModel, cfg: PeftLoraConfig): string[] {
  const targets = [...linearModules(model)].filter(([name]) => matchesTarget(name, cfg.target_modules));
  if (targets.length === 0) {
    const names = [...linearModules(model).keys()];
    throw new Error(`LoRA target_modules ${JSON.stringify(cfg.target_modules)} match no Linear layer of this ${model.family} model (e.g. ${names.slice(0, 6).join(', ')})`);
  }
  model.store.setTrainable(() => true, false);
  for (const [, lin] of targets) {
    lin.addLora(model.store, { r: cfg.r, alpha: cfg.lora_alpha, dropout: cfg.lora_dropout });
  }
  model.store.setTrainable((n) => n.includes('.lora_A.') || n.includes('.lora_B.'), true);
  return targets.map(([n]) => n);
}

function adapted(model: LanguageModel): Linear[] {
  return [...linearModules(model).values()].filter((l) => l.A);
}

export function mergeLora(model: LanguageModel): void {
  for (const l of adapted(model)) l.merge();
}

export function unmergeLora(model: LanguageModel): void {
  for (const l of adapted(model)) l.unmerge();
}

/** Removes every adapter; with `merge` the adapters stay folded into the weights (PEFT's merge_and_unload). */
export function removeLora(model: LanguageModel, merge = false): void {
  for (const l of adapted(model)) {
    if (merge) l.merge();
    l.removeLora(merge);
  }
  model.store.setTrainable(() => true, true);
}

/** Writes adapter_config.json and adapter_model.safetensors (adapter weights only). */
export function saveAdapter(model: LanguageModel, cfg: PeftLoraConfig, dir: string): void {
  const sd = exportStateDict(model.store, (n) => n.includes('.lora_A.') || n.includes('.lora_B.'));
  if (sd.size === 0) throw new Error('saveAdapter: the model has no LoRA adapter');
  const renamed = new Map([...sd].map(([n, t]) => [PREFIX + n, t]));
  writeSafetensors(join(dir, 'adapter_model.safetensors'), renamed, { format: 'pt' });
  writeFileAtomic(join(dir, 'adapter_config.json'), JSON.stringify(cfg, null, 2) + '\n');
}

/** Reads an adapter folder, adds its adapters to `model` and loads their weights. */
export function loadAdapter(model: LanguageModel, dir: string): PeftLoraConfig {
  const cfgPath = join(dir, 'adapter_config.json');
  if (!existsSync(cfgPath)) throw new Error(`adapter ${dir}: no adapter_config.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`adapter ${cfgPath}: ${(e as Error).message}`, { cause: e });
  }
  const cfg = parseLoraConfig(raw, cfgPath);
  const file = join(dir, 'adapter_model.safetensors');
  const { tensors } = readSafetensors(file);
  const stripped = new Map([...tensors].map(([n, t]) => {
    // PEFT may also write the adapter name (`.lora_A.default.weight`).
    const name = (n.startsWith(PREFIX) ? n.slice(PREFIX.length) : n).replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight');
    return [name, t] as const;
  }));
  const modules = applyLora(model, cfg);
  try {
    const want = new Set(modules.flatMap((m) => [`${m}.lora_A.weight`, `${m}.lora_B.weight`]));
    const missing = [...want].filter((n) => !stripped.has(n));
    if (missing.length > 0) throw new Error(`adapter ${file}: missing ${missing.length} tensor(s): ${missing.slice(0, 6).join(', ')}`);
    const extra = [...stripped.keys()].filter((n) => !want.has(n));
    if (extra.length > 0) throw new Error(`adapter ${file}: tensor(s) for modules the config does not target: ${extra.slice(0, 6).join(', ')}`);
    loadStateDict(model.store, stripped, { strict: false, source: file });
  } catch (e) {
    removeLora(model);
    throw e;
  }
  return cfg;
}
