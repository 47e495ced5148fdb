/**
 * The configuration layer (docs/DESIGN.md, "Configuration, run layer and methods registry"): every run schema of the project in
 * one place, one precedence rule (layers.ts), one error formatter
 * (src/util/validate.ts).
 */
export { ConfigError, deepMerge, given, mergeLayers, origin, ratingThresholdFlag, readConfigFile, resolveLayers } from './layers.js';
export { checkFullRankingKs, type DataSectionConfig, DataSectionSchema, type ModelSpec, modelSpecs, parseRunConfig, portableRunConfig, ProtocolSchema, readRunConfigFile, rebaseDataPaths, type RunConfig, RunConfigSchema, resolveRunConfig, SYNTHETIC_BOUNDS, SyntheticSchema } from './run.js';
export { type MethodConfig, type MethodConfigSpec, type MethodFlags, resolveMethodConfig } from './method.js';
export * from './ganprompt.js';
export * from './recsysllm.js';
export * from './small_lm.js';
export { ModelNameSchema } from './models.js';
export * from './llmrank.js';
export * from './bigrec.js';
