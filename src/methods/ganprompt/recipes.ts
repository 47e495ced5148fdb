/**
 * GANPrompt's recipes and its ablations (docs/METHODS.md §6, stage 2 ablations), beside TALLRec's
 * and CoLLM's (their own folders): the table the yes/no pipeline runs.
 *
 *   ganprompt    step 1: LoRA on every training template with original and
 *                reconstructed (diversified) titles and the <Guide> text;
 *                step 2: the mapping layer (= ablation Rec-lora).
 *   rec-ori      mapping layer only (guide + vectors, no LoRA).
 *   rec-col      no collaborative signal: step-1 LoRA on diversified prompts
 *                without guide or vectors.
 *   rec-sm       collaborative item vectors fine-tuned + mapping, no LoRA.
 *   rec-lora&sm  GANPrompt's adapter + mapping + item vectors fine-tuned.
 *   rec-noguide  GANPrompt without its <Guide> slot (not in the paper;
 *                docs/METHODS.md §6): Rec-col's adapter + the mapping layer,
 *                i.e. CoLLM on the diversified prompts.
 */
import type { RecipeName } from '../../config/ganprompt.js';
import { COLLM } from '../collm/recipe.js';
import type { AdapterSpec, RecipePlan, RecipeSet } from '../recipe.js';
import { TALLREC } from '../tallrec/recipe.js';

export const GANPROMPT: RecipeSet = {
  recipes: {
    ganprompt: { adapter: 'gp', mapping: true, itemTable: false, guide: true, templates: 'all', titles: 'mixed', label: 'GANPrompt', ablation: false },
    'rec-ori': { mapping: true, itemTable: false, guide: true, templates: 'all', titles: 'mixed', label: 'rec-ori', ablation: true },
    'rec-col': { adapter: 'gp-noguide', mapping: false, itemTable: false, guide: false, templates: 'all', titles: 'mixed', label: 'rec-col', ablation: true },
    'rec-sm': { mapping: true, itemTable: true, guide: true, templates: 'all', titles: 'mixed', label: 'rec-sm', ablation: true },
    'rec-lora&sm': { adapter: 'gp', mapping: true, itemTable: true, guide: true, templates: 'all', titles: 'mixed', label: 'rec-lora&sm', ablation: true },
    'rec-noguide': { adapter: 'gp-noguide', mapping: true, itemTable: false, guide: false, templates: 'all', titles: 'mixed', label: 'rec-noguide', ablation: true },
  },
  adapters: {
    gp: { guide: true, idTokens: true, templates: 'all', titles: 'mixed' },
    'gp-noguide': { guide: false, idTokens: false, templates: 'all', titles: 'mixed' },
  },
};

/** The ablation names of docs/METHODS.md §6, stage 2 ablations (rec-lora is GANPrompt itself; rec-noguide this project's). */
export const ABLATION_LABELS: Record<string, string> = { 'rec-ori': 'Rec-ori', 'rec-col': 'Rec-col', ganprompt: 'Rec-lora (GANPrompt)', 'rec-sm': 'Rec-sm', 'rec-lora&sm': 'Rec-lora&sm', 'rec-noguide': 'Rec-lora without guide' };

/** Every recipe the yes/no pipeline can build, by name. */
export const PLANS: Record<RecipeName, RecipePlan> = { ...TALLREC.recipes, ...COLLM.recipes, ...GANPROMPT.recipes } as Record<RecipeName, RecipePlan>;
export const ADAPTERS: Record<string, AdapterSpec> = { ...TALLREC.adapters, ...COLLM.adapters, ...GANPROMPT.adapters };
