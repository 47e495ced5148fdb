/**
 * CoLLM's recipe: TALLRec's adapter frozen (CoLLM step 1 = LoRA without
 * collaborative tokens), then the mapping layer trained with <UserID>/<ItemID>
 * vectors of the collaborative model (step 2).
 */
import type { RecipeSet } from '../recipe.js';
import { TALLREC } from '../tallrec/recipe.js';

export const COLLM: RecipeSet = {
  recipes: {
    collm: { adapter: 'tallrec', mapping: true, itemTable: false, guide: false, templates: 'first', titles: 'original', label: 'CoLLM', ablation: false },
  },
  adapters: { tallrec: TALLREC.adapters.tallrec },
};
