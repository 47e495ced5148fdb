/**
 * The recipe kit of a yes/no run (recipe_stage.ts builds it; the mapping step
 * and the recipe evaluation read it), in a module of its own so those files
 * do not import recipe_stage.ts back.
 */
import type { CausalLM } from '../../lm/families/decoder.js';
import type { PeftLoraConfig } from '../../lm/lora.js';
import type { Tokenizer } from '../../lm/tokenizer/index.js';
import type { Case } from '../collab.js';
import type { PromptTemplate } from '../prompts.js';
import type { TitleSource, YesNoFitOptions, YesNoLlm } from '../yesno.js';
import type { YesNoRun } from './context.js';

/** What the recipes of one run share: the LM loader, the model factory, the training questions, the LoRA config. */
export interface RecipeKit {
  run: YesNoRun;
  /** The run's tokenizer (that of its LM folder). */
  tokenizer: Tokenizer;
  /** The run's LM, or a fully fine-tuned copy saved in `dir` (an adapter step with variables 'full'). */
  loadLm(dir?: string): CausalLM;
  makeModel(lm: CausalLM, plan: { guide: boolean; ids: boolean; idTokens?: boolean }): YesNoLlm;
  titleSources(m: YesNoLlm, titles: 'original' | 'mixed'): { titles: TitleSource; alternativeTitles?: TitleSource; alternativeShare?: number };
  trainedTemplates(which: 'first' | 'all'): PromptTemplate[];
  loraCases: Case[];
  mapCases: Case[];
  /** Validation questions for early stopping of each step (empty: no validation). */
  loraValid: Case[];
  mapValid: Case[];
  /** Early-stopping options of a step of `m` on its training templates (undefined without validation questions). */
  validation(m: YesNoLlm, cases: readonly Case[], templates: readonly PromptTemplate[], patience: number, stepsPerEpoch: number, label: string): YesNoFitOptions['validation'];
  loraCfg: PeftLoraConfig;
  adapterDir(name: string): string;
  /** Adapters this run trained (reused by later recipes even without resume). */
  madeHere: Set<string>;
}
