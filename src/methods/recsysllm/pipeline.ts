/**
 * `llmrec run recsysllm`: RecSysLLM end to end (docs/METHODS.md §7) as a list of
 * named stages run by the run layer (src/run/):
 *
 *   tokenizer   byte-level BPE on train-split text              stages.ts
 *   variants    per variant (recsysllm = entity-aware, plain =
 *               GLM without the entity-aware mechanisms):
 *               pre-training -> multi-task fine-tuning ->
 *               evaluation per family and template (seen/unseen) stages.ts
 *   baselines   constant rating predictors; Random, Pop and
 *               collaborative models on the same users          baselines.ts
 *
 * Layout of the run directory:
 *   options.json, data.json, tokenizer.json
 *   <variant>/pretrain/   checkpoint/ while training, then config.json + model.safetensors + result.json
 *   <variant>/finetune/   same
 *   <variant>/eval/<family>.<seen|unseen>.<i>.json   one file per template (resume skips finished ones)
 *   baselines.json, report.json, report.md
 */
import type { RawDataset, SplitDataset } from '../../data/types.js';
import { parseRecSysOptions } from '../../config/recsysllm.js';
import { openRunDir, runDataIdentity, runStages, type StageHooks } from '../../run/index.js';
import { baselinesStage } from './baselines.js';
import { newRecSysRun, type RecSysReport } from './context.js';
import { writeReport } from './report.js';
import { tokenizerStage, variantsStage } from './stages.js';

export type { BaselineRow, RecSysReport, StageResult, VariantReport } from './context.js';
export { ratingBaselines } from './baselines.js';
export { meanMetrics, renderRecSysReport } from './report.js';
export { intraPositionsFor, VARIANT_LABELS } from './stages.js';
/** Hooks of the pipeline (the run layer's). */
export type RecSysHooks = StageHooks;

/** The stages in order (the order of every RNG draw; do not reorder). */
export const RECSYSLLM_STAGES = [tokenizerStage, variantsStage, baselinesStage] as const;

/** Runs (or resumes) the pipeline into `dir`; writes and returns the report. */
export async function runRecSysLLM(raw: RawDataset, data: SplitDataset, rawOpts: unknown, dir: string, hooks: StageHooks = {}, resume = false): Promise<RecSysReport> {
  const o = parseRecSysOptions(rawOpts);
  // Evaluation size, baselines and variants may change on resume; training options must match.
  // Checked before any write (options, data identity), then locked (src/run/dir.ts).
  openRunDir(dir, o, { mutable: ['eval', 'baselines', 'variants'], resume, data: runDataIdentity(data), log: hooks.log });
  const run = newRecSysRun(raw, data, o, dir, hooks, resume);
  const end = await runStages(RECSYSLLM_STAGES, run, hooks.until);
  if (end === 'interrupted') run.report.interrupted = true;
  if (end === 'stopped') run.report.stoppedAfter = hooks.until;
  return writeReport(run);
}
