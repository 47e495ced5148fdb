/**
 * CoLLM (Zhang et al., 2023): TALLRec's adapter (LoRA without collaborative
 * tokens), then a mapping layer that feeds <UserID>/<ItemID> vectors of a
 * collaborative model into the prompt. Runs the shared stages of the yes/no
 * pipeline (data, collaborative model, LM) and CoLLM's recipe only.
 */
import { type GanPromptRunOptions, parseGanPromptOptions } from '../../config/ganprompt.js';
import { GANPROMPT_STAGES, renderGanPromptReport, runGanPrompt } from '../ganprompt/pipeline.js';
import { YES_NO_RUN_DEFAULTS } from '../ganprompt/index.js';
import type { MethodEntry } from '../types.js';

/** The recipes `llmrec run collm` may build. */
export const COLLM_RECIPES = ['collm'] as const;

export const collm: MethodEntry<GanPromptRunOptions> = {
  name: 'collm',
  description: "CoLLM: TALLRec's adapter + a mapping layer for collaborative user/item vectors in the prompt",
  config: {
    key: 'collm',
    runDefaults: YES_NO_RUN_DEFAULTS,
    optionDefaults: { recipes: ['collm'] },
    parseOptions: (raw, where) => {
      const o = parseGanPromptOptions(raw, where);
      const bad = o.recipes.filter((r) => !(COLLM_RECIPES as readonly string[]).includes(r));
      if (bad.length) throw new Error(`invalid "collm" options (${where}):\n  field 'recipes': ${bad.join(', ')} is not a CoLLM recipe (${COLLM_RECIPES.join(', ')})`);
      return o;
    },
  },
  stages: GANPROMPT_STAGES.map((s) => s.name),
  run: async ({ data }, options, dir, hooks, resume) => {
    const report = await runGanPrompt(data, options, dir, hooks, resume);
    return { interrupted: report.interrupted, stoppedAfter: report.stoppedAfter, report, markdown: renderGanPromptReport(report) };
  },
};
