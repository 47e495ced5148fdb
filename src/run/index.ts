/**
 * The run layer (docs/DESIGN.md, "Configuration, run layer and methods registry"): run directories (options and data
 * checked on resume before anything is written, one lock per directory, temp
 * files of killed writes cleaned; docs/HOSTILE.md), safe names for every path
 * component from the user, atomic JSON, stages with outputs that make a
 * resume skip them, per-stage timing, peak RSS, paths recorded relative to
 * the data directory or the run. Used by the benchmark
 * (src/experiment/run.ts) and by the method pipelines (src/methods/).
 */
export { readJson, writeJson, writeText } from './files.js';
export {
  checkRunData, checkRunOptions, cleanStaleTemps, differences, commitRunDir, openRunDir, type OpenRunDirOptions, prepareRunDir, RUN_FILE, type RunDataIdentity, safeName,
} from './dir.js';
export { runDataIdentity } from './data_identity.js';
export { acquireRunLock, heldLock, LOCK_FILE, LOCK_OWNER_ENV, type LockInfo, pidAlive, readLock, RunLock, RunLockError } from './lock.js';
export { checkSafeName, runPath, SAFE_NAME_MAX, SafeNameSchema, sanitizeName, showName, UnsafeNameError, unsafeNameReason } from './names.js';
export { cachedJson, checkUntil, peakRssMiB, stoppedLines, runStages, writeRunReport, type Stage, type StageHooks, type StageOutcome, type StagesEnd, StageTimer } from './stages.js';
export { portablePath } from './paths.js';
export { openStageDir, resetStageDir, STAGE_KEY_FILE, staleStageKey, writeStageKey } from './stage_key.js';
