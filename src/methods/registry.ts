/**
 * The methods registry, beside the models registry (src/models/registry.ts):
 * an explicit table from a method name to its entry (description, options
 * schema + method defaults, and the entry point that runs it). `llmrec run
 * <name>` resolves the configuration with the entry's spec
 * (src/config/method.ts) and calls `entry.run`.
 *
 * To add a method: give it a folder under src/methods/ with an index.ts
 * exporting its MethodEntry (see types.ts), then add one row to METHODS.
 */
import { bigrec } from './bigrec/index.js';
import { collm } from './collm/index.js';
import { ganprompt } from './ganprompt/index.js';
import { llmrank } from './llmrank/method.js';
import { recsysllm } from './recsysllm/index.js';
import { tallrec } from './tallrec/index.js';
import type { MethodEntry } from './types.js';

// Each entry keeps its own options type; the table only needs the common shape.
const entry = <O>(e: MethodEntry<O>): MethodEntry<unknown> => e as unknown as MethodEntry<unknown>;

export const METHODS: Readonly<Record<string, MethodEntry<unknown>>> = {
  tallrec: entry(tallrec),
  collm: entry(collm),
  ganprompt: entry(ganprompt),
  recsysllm: entry(recsysllm),
  llmrank: entry(llmrank),
  bigrec: entry(bigrec),
};

export function methodNames(): string[] {
  return Object.keys(METHODS);
}

export function methodEntry(name: string): MethodEntry<unknown> {
  const e = METHODS[name];
  if (!e) throw new Error(`unknown method '${name}' (known: ${methodNames().join(', ')})`);
  return e;
}
