/**
 * `llmrec run ganprompt` (and `run tallrec`, `run collm`): the whole GANPrompt
 * study as one staged, checkpointed, resumable pipeline (docs/METHODS.md §4-6),
 * a list of named stages run by the run layer (src/run/):
 *
 *   collab      collaborative model (trained here or loaded)      stages.ts
 *   baselines   Random, Pop, collaborative rows on the same users stages.ts
 *   lm          the language model (given, or the small LM)       stages.ts
 *   diversity   stage 1: diversity encoder, reconstructed titles  stages.ts
 *   recipes     per recipe: adapter -> mapping -> robustness eval recipe_stage.ts
 *
 * Every stage writes its output into the run directory atomically and is
 * skipped on `resume` when its output exists. The recipes (TALLRec's in
 * src/methods/tallrec/recipe.ts, CoLLM's in src/methods/collm/recipe.ts,
 * GANPrompt's and the ablations' in recipes.ts) say which adapter, mapping
 * and templates each model uses.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SplitDataset } from '../../data/types.js';
import { type GanPromptRunOptions, parseGanPromptOptions } from '../../config/ganprompt.js';
import { openRunDir, readJson, runDataIdentity, runStages, type StageHooks } from '../../run/index.js';
import { earlierOpenings, type GanPromptReport, newYesNoRun, type YesNoRun } from './context.js';
import { writeReport } from './report.js';
import { recipesStage } from './recipe_stage.js';
import { baselinesStage, collabStage, diversityStage, lmStage } from './stages.js';
import { checkRecLmFolder } from '../yesno.js';

export type { GanPromptReport, LlmRow, OpeningCost } from './context.js';
export { LORA_TARGETS } from './recipe_stage.js';
export { renderGanPromptReport } from './report.js';
export { ABLATION_LABELS } from './recipes.js';
/** Hooks of the pipeline (the run layer's). */
export type PipelineHooks = StageHooks;

/** Options that may change when a run directory is resumed. */
export const MUTABLE_OPTIONS = ['recipes', 'baselines', 'ablationTemplates', 'lora', 'loraStage', 'mappingStage', 'mappingResidual'] as const;

/** The stages in order (the order of every RNG draw; do not reorder). */
export const GANPROMPT_STAGES = [collabStage, baselinesStage, lmStage, diversityStage, recipesStage] as const;

/**
 * Runs (or resumes) the pipeline into `dir`. Returns the report (also written
 * as report.json / report.md in `dir`).
 */
export async function runGanPrompt(data: SplitDataset, raw: unknown, dir: string, hooks: StageHooks = {}, resume = false): Promise<GanPromptReport> {
  const o: GanPromptRunOptions = parseGanPromptOptions(raw);
  if (o.lm.dir !== undefined) checkRecLmFolder(o.lm.dir); // before the collaborative model trains for nothing
  // The options of the directory's last opening, read before they are replaced: outputs made before stage keys carry them.
  const optionsFile = join(dir, 'options.json');
  const stored = resume && existsSync(optionsFile) ? readJson<unknown>(optionsFile) : undefined;
  // Recipes, baselines and the ablations' templates may change on resume (they add rows); so may the LoRA and mapping
  // settings: the recipe stage redoes the adapters and recipes made with other ones (their stage keys, recipe_stage.ts).
  // Everything else must match. Checked before any write (options, data identity), then locked (src/run/dir.ts).
  openRunDir(dir, o, { mutable: [...MUTABLE_OPTIONS], resume, data: runDataIdentity(data), log: hooks.log });
  let previous: GanPromptRunOptions | undefined;
  try {
    previous = stored === undefined ? undefined : parseGanPromptOptions(stored);
  } catch (e) {
    hooks.log?.(`${optionsFile}: earlier options not readable by this llmrec (${(e as Error).message.split('\n')[0]}); outputs without a stage key are taken as made with the current ones`);
  }
  const run: YesNoRun = newYesNoRun(data, o, dir, hooks, resume, previous);
  // The cost of earlier openings: this opening's report replaces report.json, so it carries them on.
  const reportFile = join(dir, 'report.json');
  if (resume && existsSync(reportFile)) {
    try {
      run.report.earlierOpenings = earlierOpenings(readJson<unknown>(reportFile));
    } catch (e) {
      hooks.log?.(`${reportFile}: the earlier openings' cost is not readable (${(e as Error).message.split('\n')[0]}); this report has this opening's only`);
    }
  }
  try {
    const end = await runStages(GANPROMPT_STAGES, run, hooks.until);
    if (end === 'interrupted') run.report.interrupted = true;
    if (end === 'stopped') run.report.stoppedAfter = hooks.until;
  } finally {
    run.collabModel?.dispose();
  }
  return writeReport(run);
}
