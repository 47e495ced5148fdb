/**
 * Recipes of the yes/no LLM recommenders (TALLRec, CoLLM, GANPrompt and its
 * ablations): what each builds from the shared stages of the yes/no pipeline
 * (src/methods/ganprompt/pipeline.ts). Each method keeps its own recipes in
 * its folder (tallrec/recipe.ts, collm/recipe.ts, ganprompt/recipes.ts).
 */

/** One LoRA step, trained once and shared by the recipes that name it. */
export interface AdapterSpec {
  /** The <Guide> text in the prompts. */
  guide: boolean;
  /** The prompts keep <UserID>/<ItemID> as plain tokens (a mapping step follows; TALLRec's and CoLLM's step 1 has none). */
  idTokens: boolean;
  /** Templates trained on: the first training template or all of them. */
  templates: 'first' | 'all';
  /** Original titles only, or mixed with the diversity stage's reconstructed titles. */
  titles: 'original' | 'mixed';
}

export interface RecipePlan {
  /** Adapter (a key of the adapters table), or none. */
  adapter?: string;
  /** Mapping layer step: collaborative user/item vectors into the prompt. */
  mapping: boolean;
  /** Collaborative item vectors fine-tuned with the mapping layer. */
  itemTable: boolean;
  guide: boolean;
  templates: 'first' | 'all';
  titles: 'original' | 'mixed';
  /** Row label in reports. */
  label: string;
  /** An ablation (docs/METHODS.md §6, stage 2 ablations): may be evaluated on its training templates only (ablationTemplates). */
  ablation: boolean;
}

/** The recipes and adapters one method contributes. */
export interface RecipeSet {
  recipes: Record<string, RecipePlan>;
  adapters: Record<string, AdapterSpec>;
}
