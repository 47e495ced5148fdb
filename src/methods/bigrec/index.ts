/**
 * BIGRec (docs/LLM.md "BIGRec"): the methods-registry entry. Fine-tuning in
 * finetune.ts, grounding in grounding.ts, the run in pipeline.ts, options in
 * src/config/bigrec.ts.
 */
import { type BigRecRunOptions, parseBigRecOptions } from '../../config/bigrec.js';
import type { MethodEntry } from '../types.js';
import { type BigRecReport, renderBigRecReport, runBigRec } from './pipeline.js';

export { type BigRecReport, renderBigRecReport, runBigRec };
export * from './finetune.js';
export * from './grounding.js';

export const bigrec: MethodEntry<BigRecRunOptions> = {
  name: 'bigrec',
  description: 'BIGRec: the LM fine-tuned to generate the next title, grounded to real items by embedding distance (popularity / collaborative re-weighting), beside trie decoding, Random, Pop and the collaborative model',
  config: { key: 'bigrec', runDefaults: {}, optionDefaults: {}, parseOptions: parseBigRecOptions },
  run: async ({ data }, options, dir, hooks, resume) => {
    const report = await runBigRec(data, options, dir, hooks, resume);
    return { interrupted: report.interrupted, report, markdown: renderBigRecReport(report) };
  },
};
