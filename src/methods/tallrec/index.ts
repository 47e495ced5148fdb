/**
 * TALLRec (Bao et al., 2023): LoRA on yes/no questions built from the first
 * training template and original titles, no collaborative signal. Runs the
 * shared stages of the yes/no pipeline (data, collaborative model for the
 * reference rows, LM) and TALLRec's recipe only.
 */
import { type GanPromptRunOptions, parseGanPromptOptions } from '../../config/ganprompt.js';
import { GANPROMPT_STAGES, renderGanPromptReport, runGanPrompt } from '../ganprompt/pipeline.js';
import { YES_NO_RUN_DEFAULTS } from '../ganprompt/index.js';
import type { MethodEntry } from '../types.js';

/** The recipes `llmrec run tallrec` may build. */
export const TALLREC_RECIPES = ['tallrec', 'tallrec-multi'] as const;

export const tallrec: MethodEntry<GanPromptRunOptions> = {
  name: 'tallrec',
  description: 'TALLRec: LoRA-tuned yes/no recommendation (first training template, original titles)',
  config: {
    key: 'tallrec',
    runDefaults: YES_NO_RUN_DEFAULTS,
    optionDefaults: { recipes: ['tallrec'] },
    parseOptions: (raw, where) => {
      const o = parseGanPromptOptions(raw, where);
      const bad = o.recipes.filter((r) => !(TALLREC_RECIPES as readonly string[]).includes(r));
      if (bad.length) throw new Error(`invalid "tallrec" options (${where}):\n  field 'recipes': ${bad.join(', ')} is not a TALLRec recipe (${TALLREC_RECIPES.join(', ')})`);
      return o;
    },
  },
  stages: GANPROMPT_STAGES.map((s) => s.name),
  run: async ({ data }, options, dir, hooks, resume) => {
    const report = await runGanPrompt(data, options, dir, hooks, resume);
    return { interrupted: report.interrupted, stoppedAfter: report.stoppedAfter, report, markdown: renderGanPromptReport(report) };
  },
};
