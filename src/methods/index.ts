/**
 * llmrec/methods: the LLM recommenders: the yes/no recommender of TALLRec,
 * CoLLM and GANPrompt (docs/METHODS.md §4-6) with its prompt templates and
 * mapping layer, and the GANPrompt and RecSysLLM pipelines (§6, §7).
 */
export { YesNoLlm, yesNoExamples, DEFAULT_PROMPT_OPTIONS } from './yesno.js';
export type { YesNoPromptOptions, YesNoExample, YesNoFitOptions, YesNoFitResult } from './yesno.js';
export { loadTemplates, parseTemplates, renderPrompt, DEFAULT_TEMPLATES } from './prompts.js';
export type { PromptTemplate, TemplateSet, PromptInput } from './prompts.js';
export { MappingLayer } from './mapping.js';
export type { MappingConfig } from './mapping.js';
export { guideText, topCandidates, DEFAULT_GUIDE } from './collab.js';
export type { GuideOptions, CollabSignal } from './collab.js';
export { METHODS, methodEntry, methodNames } from './registry.js';
export type { MethodEntry, MethodInput, MethodResult } from './types.js';
export { parseGanPromptOptions, parseRecSysOptions } from '../config/index.js';
export type { GanPromptRunOptions, RecSysRunOptions } from '../config/index.js';
export { runGanPrompt, renderGanPromptReport } from './ganprompt/pipeline.js';
export type { GanPromptReport } from './ganprompt/pipeline.js';
export { mineAttributes } from './ganprompt/attributes.js';
export { runRecSysLLM, renderRecSysReport } from './recsysllm/pipeline.js';
export type { RecSysReport } from './recsysllm/pipeline.js';
