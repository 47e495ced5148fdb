/**
 * The configuration of `llmrec run <method>`: a config file
 *
 *   { "data": {...}, "protocol": {...}, "<method>": { ...method options } }
 *
 * where data/protocol (and output) follow the run schema (run.ts) and the
 * method's object its own options schema (ganprompt.ts, recsysllm.ts). Both
 * parts resolve with the one precedence rule of layers.ts:
 *
 *   built-in defaults < method defaults < config file < flags
 */
import type { RunConfig } from './run.js';
import { parseRunConfig, readRunConfigFile } from './run.js';
import { ConfigError, mergeLayers, origin } from './layers.js';

type Obj = Record<string, unknown>;

/** What a method contributes to its configuration (src/methods/registry.ts holds one per method). */
export interface MethodConfigSpec<O> {
  /** The config file's key holding the method's options ("ganprompt", "recsysllm", ...). */
  key: string;
  /** Method defaults of the run part (e.g. RecSysLLM's protocol keeps every rating). */
  runDefaults: Obj;
  /** Method defaults of the options, above the options schema's own defaults (e.g. TALLRec's recipes). */
  optionDefaults: Obj;
  /** Validates the merged options; errors name `where` and the field path. */
  parseOptions: (raw: unknown, where: string) => O;
}

/** Flags of one `run <method>` invocation, split by part; undefined entries mean "not given". */
export interface MethodFlags {
  run: Obj;
  options: Obj;
}

export interface MethodConfig<O> {
  run: RunConfig;
  options: O;
}

/** Resolves both parts; the run part is validated first (it names the data), then the options. */
export function resolveMethodConfig<O>(spec: MethodConfigSpec<O>, file: string | undefined, flags: MethodFlags): MethodConfig<O> {
  const fromFile = file ? readRunConfigFile(file) : {};
  const { [spec.key]: fileOptions, ...fileRun } = fromFile;
  if (fileOptions !== undefined && (fileOptions === null || typeof fileOptions !== 'object' || Array.isArray(fileOptions))) {
    throw new Error(`${file}: field '${spec.key}' must be an object of ${spec.key} options`);
  }
  const where = origin(file);
  const run = parseRunConfig(mergeLayers(spec.runDefaults, fileRun, flags.run), where);
  const options = spec.parseOptions(mergeLayers(spec.optionDefaults, fileOptions as Obj | undefined, flags.options), `"${spec.key}" of ${where}`);
  checkSampledKs(options, run, `"${spec.key}" of ${where}`);
  return { run, options };
}

/**
 * Methods that rank the sampled candidates (`eval.ks` in their options): every
 * k must be at most 1 + protocol.numNegatives, or HR@k is 1 for any model.
 */
function checkSampledKs(options: unknown, run: RunConfig, where: string): void {
  const ks = (options as { eval?: { ks?: unknown } } | null)?.eval?.ks;
  if (!Array.isArray(ks)) return;
  const candidates = run.protocol.numNegatives + 1;
  for (const k of ks) {
    if (typeof k === 'number' && k > candidates) {
      throw new ConfigError(`invalid options (${where}): field 'eval.ks': k = ${k} is above the ${candidates} candidates of the sampled protocol (1 positive + protocol.numNegatives ${run.protocol.numNegatives}); allowed 1..${candidates}`);
    }
  }
}
