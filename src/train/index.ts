/** The training loop and checkpoint layout shared by every training (docs/DESIGN.md, "Training"). */
export { LossWindow, runLoop, yieldToEventLoop, type CheckpointReason, type EpochEnd, type LoopResult, type LoopSpec, type StepInfo, type StepLosses } from './loop.js';
export {
  CHECKPOINT_DIR, CHECKPOINT_FILES, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, OLD_LAYOUTS, checkpointTensor, findCheckpoint, hasCheckpoint,
  loadCheckpoint, oldLayout, oldLayoutMessage, restoreOptimizer, restoreVariables, saveCheckpoint,
  type CheckpointWrite, type LoadedCheckpoint, type OldLayout, type OptimizerEntry, type TrainerState, type TrainerStateInput,
} from './checkpoint.js';
export { warmupCosine, warmupCosineSchedule, type LrSchedule } from './schedule.js';
