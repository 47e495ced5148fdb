/**
 * TALLRec's recipes: LoRA on the first training template, original titles,
 * no collaborative signal; and a control (not run by default) trained on
 * every training template with original titles, to separate the effect of
 * several templates from that of reconstructed titles (GANPrompt).
 */
import type { RecipeSet } from '../recipe.js';

export const TALLREC: RecipeSet = {
  recipes: {
    tallrec: { adapter: 'tallrec', mapping: false, itemTable: false, guide: false, templates: 'first', titles: 'original', label: 'TALLRec', ablation: false },
    'tallrec-multi': { adapter: 'multi', mapping: false, itemTable: false, guide: false, templates: 'all', titles: 'original', label: 'TALLRec (all training templates)', ablation: false },
  },
  adapters: {
    tallrec: { guide: false, idTokens: false, templates: 'first', titles: 'original' },
    multi: { guide: false, idTokens: false, templates: 'all', titles: 'original' },
  },
};
