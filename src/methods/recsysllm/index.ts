/**
 * RecSysLLM (docs/METHODS.md §7): the methods-registry entry. The pipeline is in
 * pipeline.ts; its options in src/config/recsysllm.ts.
 */
import { parseRecSysOptions, type RecSysRunOptions } from '../../config/recsysllm.js';
import type { MethodEntry } from '../types.js';
import { RECSYSLLM_STAGES, renderRecSysReport, runRecSysLLM } from './pipeline.js';

export { renderRecSysReport, runRecSysLLM };

export const recsysllm: MethodEntry<RecSysRunOptions> = {
  name: 'recsysllm',
  description: 'RecSysLLM: entity-aware pre-training, P5 multi-task fine-tuning, trie decoding; beside a plain GLM LM and collaborative baselines',
  config: {
    key: 'recsysllm',
    // P5's protocol: every review kept, the last 20 items, 99 sampled negatives.
    runDefaults: { protocol: { maxHistory: 20, numNegatives: 99, ratingThreshold: null } },
    optionDefaults: {},
    parseOptions: parseRecSysOptions,
  },
  stages: RECSYSLLM_STAGES.map((s) => s.name),
  run: async ({ raw, data }, options, dir, hooks, resume) => {
    const report = await runRecSysLLM(raw, data, options, dir, hooks, resume);
    return { interrupted: report.interrupted, stoppedAfter: report.stoppedAfter, report, markdown: renderRecSysReport(report) };
  },
};
