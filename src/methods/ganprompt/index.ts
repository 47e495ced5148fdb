/**
 * GANPrompt (docs/METHODS.md §4-6): the methods-registry entry. The pipeline is
 * in pipeline.ts; its options in src/config/ganprompt.ts.
 */
import { type GanPromptRunOptions, parseGanPromptOptions } from '../../config/ganprompt.js';
import type { MethodEntry } from '../types.js';
import { GANPROMPT_STAGES, renderGanPromptReport, runGanPrompt } from './pipeline.js';

export { renderGanPromptReport, runGanPrompt };

/** Protocol of the yes/no recommenders: the last 10 items, 9 stored negatives per target (TALLRec / CoLLM / GANPrompt). */
export const YES_NO_RUN_DEFAULTS = { protocol: { maxHistory: 10, numNegatives: 9 } };

export const ganprompt: MethodEntry<GanPromptRunOptions> = {
  name: 'ganprompt',
  description: 'GANPrompt with TALLRec, CoLLM, the ablations and the prompt-robustness evaluation',
  config: { key: 'ganprompt', runDefaults: YES_NO_RUN_DEFAULTS, optionDefaults: {}, parseOptions: parseGanPromptOptions },
  stages: GANPROMPT_STAGES.map((s) => s.name),
  run: async ({ data }, options, dir, hooks, resume) => {
    const report = await runGanPrompt(data, options, dir, hooks, resume);
    return { interrupted: report.interrupted, stoppedAfter: report.stoppedAfter, report, markdown: renderGanPromptReport(report) };
  },
};
