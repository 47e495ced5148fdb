/**
 * The run layer (docs/DESIGN.md, "Configuration, run layer and methods registry"): run directories (options checked on resume
 * before anything is written), atomic JSON, stages with outputs that make a
 * resume skip them, per-stage timing, peak RSS, paths recorded relative to
 * the data directory or the run. Used by the benchmark
 * (src/experiment/run.ts) and by the method pipelines (src/methods/).
 */
export { readJson, writeJson, writeText } from './files.js';
export { checkRunOptions, openRunDir, type OpenRunDirOptions, safeName } from './dir.js';
export { cachedJson, peakRssMiB, runStages, writeRunReport, type Stage, type StageHooks, type StageOutcome, StageTimer } from './stages.js';
export { portablePath } from './paths.js';
