/**
 * The LLM recommenders a method run saved (`llmrec run tallrec|collm|ganprompt`,
 * docs/SERVING.md, "LLM recipes"), loaded for `POST /v1/rerank`.
 *
 * A method run directory holds options.json (the run's options: recipes, LM,
 * collaborative model, guide, prompt limits), data.json (dataset and
 * protocol), lm/ (or options lm.dir), collab/ (or options collab.dir),
 * adapters/<name>/ (LoRA, PEFT layout) and models/<recipe>/ (mapping/,
 * item_vectors.safetensors, robustness.json once the recipe finished). Each
 * finished recipe becomes a yes/no scorer built exactly as the pipeline's
 * evaluation builds it (src/methods/ganprompt/recipe_stage.ts): the LM with
 * its adapter, the collaborative signal, the mapping layer, the fine-tuned
 * item vectors and the <Guide> text as its plan says
 * (src/methods/ganprompt/recipes.ts PLANS).
 */
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { parseGanPromptOptions, type GanPromptRunOptions, type RecipeName } from '../config/ganprompt.js';
import type { SplitDataset } from '../data/types.js';
import { readSafetensors } from '../io/safetensors.js';
import type { CausalLM } from '../lm/families/decoder.js';
import { loadAdapter } from '../lm/lora.js';
import { loadRecommender } from '../models/registry.js';
import type { Recommender } from '../models/types.js';
import { CollabSignal, DEFAULT_GUIDE, type GuideOptions } from '../methods/collab.js';
import { PLANS } from '../methods/ganprompt/recipes.js';
import { MappingLayer } from '../methods/mapping.js';
import { loadTemplates, type PromptTemplate } from '../methods/prompts.js';
import type { RecipePlan } from '../methods/recipe.js';
import { loadRecLm, recTokenizer, YesNoLlm } from '../methods/yesno.js';
import { readJson, RunLoadError } from './run.js';

export interface LoadedRecipe {
  /** The `model` of /v1/rerank: `<recipe>` (e.g. `ganprompt`, `collm`, `tallrec`, `rec-sm`). */
  id: string;
  recipe: RecipeName;
  /** The report's label (e.g. `GANPrompt`). */
  label: string;
  plan: RecipePlan;
  /** The method run directory it comes from. */
  runDir: string;
  lm: CausalLM;
  yesno: YesNoLlm;
  templates: PromptTemplate[];
  loadSeconds: number;
}

export interface LoadedMethodRun {
  dir: string;
  options: GanPromptRunOptions;
  collab: Recommender;
  recipes: LoadedRecipe[];
}

/** True when `dir` looks like a method run directory (options.json + data.json). */
export function isMethodRun(dir: string): boolean {
  return existsSync(join(dir, 'options.json')) && existsSync(join(dir, 'data.json'));
}

/** A path from options.json: absolute, or relative to the working directory (as the run was started), else to the run directory. */
function optionPath(p: string, dir: string, field: string): string {
  const cands = isAbsolute(p) ? [p] : [resolve(p), resolve(dir, p)];
  const hit = cands.find((c) => existsSync(c));
  if (!hit) throw new RunLoadError(`${join(dir, 'options.json')}: field '${field}': ${cands.join(' or ')} not found`);
  return hit;
}

/**
 * Loads every finished recipe of a method run over `data` (the served
 * benchmark run's data: the method run must have used the same dataset and
 * protocol, checked against its data.json).
 */
export async function loadMethodRun(dirArg: string, data: SplitDataset, log: (l: string) => void = () => {}): Promise<LoadedMethodRun> {
  const dir = resolve(dirArg);
  const optionsFile = join(dir, 'options.json');
  let options: GanPromptRunOptions;
  try {
    options = parseGanPromptOptions(readJson(optionsFile), optionsFile);
  } catch (e) {
    if (e instanceof RunLoadError) throw e;
    throw new RunLoadError(`${optionsFile}: not the options of a yes/no method run (tallrec, collm, ganprompt): ${(e as Error).message}`);
  }
  const dataFile = join(dir, 'data.json');
  const d = readJson(dataFile) as { dataset?: string; stats?: { users?: number; items?: number } };
  if (d.dataset !== data.name || d.stats?.users !== data.numUsers || d.stats?.items !== data.numItems) {
    throw new RunLoadError(`${dataFile}: field 'dataset': the method run used ${d.dataset} (${d.stats?.users} users, ${d.stats?.items} items), but the served run has ${data.name} (${data.numUsers} users, ${data.numItems} items); serve it beside the benchmark run of the same data and protocol`);
  }
  const lmDir = options.lm.dir ? optionPath(options.lm.dir, dir, 'lm.dir') : join(dir, 'lm');
  const collabDir = options.collab.dir ? optionPath(options.collab.dir, dir, 'collab.dir') : join(dir, 'collab');
  if (!existsSync(join(lmDir, 'config.json'))) throw new RunLoadError(`${lmDir}: no LM folder (config.json) in the method run`);
  const tok = recTokenizer(lmDir).tokenizer;
  const collab = await loadRecommender(collabDir);
  const guide: GuideOptions = { ...DEFAULT_GUIDE, ...Object.fromEntries(Object.entries(options.guide).filter(([, v]) => v !== undefined)) };
  const set = loadTemplates(options.templates);
  const templates = [...set.seen, ...set.unseen];
  const recipes: LoadedRecipe[] = [];
  try {
    for (const recipe of options.recipes) {
      const rdir = join(dir, 'models', recipe);
      if (!existsSync(join(rdir, 'robustness.json'))) { log(`recipe ${recipe}: not finished in ${dir} (no models/${recipe}/robustness.json), not served`); continue; }
      const t0 = performance.now();
      const plan = PLANS[recipe];
      const lm = loadRecLm(lmDir, tok);
      try {
        if (plan.adapter) loadAdapter(lm, join(dir, 'adapters', plan.adapter));
        lm.store.setTrainable(() => false, false);
        const m = new YesNoLlm(lm, tok, data, { maxTitleTokens: options.maxTitleTokens, maxPromptTokens: options.maxPromptTokens, idVectors: plan.mapping, idTokens: false, guide: plan.guide ? guide : null });
        m.collab = new CollabSignal(collab, data);
        if (plan.mapping) m.mapping = MappingLayer.load(join(rdir, 'mapping'));
        // What the mapping stage saved is served as saved: the item table (plan.itemTable or
        // mappingStage.itemVectors 'always') and the collaborative score feature's weight w and LM
        // gate g (w * z + g * (l(yes) - l(no)), docs/METHODS.md §5), each when its file is there.
        if (plan.itemTable || existsSync(join(rdir, 'item_vectors.safetensors'))) {
          const file = join(rdir, 'item_vectors.safetensors');
          const t = readSafetensors(file).tensors.get('item_vectors');
          if (!t) throw new RunLoadError(`${file}: no tensor 'item_vectors'`);
          m.initItemTable(t.data as Float32Array);
        }
        const weightFile = join(rdir, 'score_feature.json');
        if (existsSync(weightFile)) {
          const { weight: w, gate: g } = readJson(weightFile) as { weight?: unknown; gate?: unknown };
          if (typeof w !== 'number' || !Number.isFinite(w)) throw new RunLoadError(`${weightFile}: field 'weight': expected a finite number`);
          if (g !== undefined && (typeof g !== 'number' || !Number.isFinite(g))) throw new RunLoadError(`${weightFile}: field 'gate': expected a finite number`);
          // No 'gate': a run of the earlier formulation l(yes) - l(no) + w * z (gate 1).
          m.initScoreFeature(w, g ?? 1);
        }
        recipes.push({ id: recipe, recipe, label: plan.label, plan, runDir: dir, lm, yesno: m, templates, loadSeconds: (performance.now() - t0) / 1000 });
        log(`recipe ${recipe} (${plan.label}) of ${basename(dir)}: loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      } catch (e) {
        lm.dispose();
        throw e;
      }
    }
  } catch (e) {
    disposeMethodRun({ dir, options, collab, recipes });
    throw e;
  }
  return { dir, options, collab, recipes };
}

export function disposeMethodRun(r: LoadedMethodRun): void {
  for (const x of r.recipes) {
    x.yesno.mapping?.dispose();
    x.yesno.dispose();
    x.lm.dispose();
  }
  r.collab.dispose();
}
