/**
 * 5.-6. of the yes/no pipeline (pipeline.ts): each recipe of the run
 * (recipes.ts) = its adapter (a LoRA step, trained once and shared by the
 * recipes that name it) + its mapping step + the robustness evaluation on
 * trained and unseen templates. Outputs per recipe in models/<recipe>/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPretrained, readConfig } from '../../lm/checkpoint.js';
import { familyOf } from '../../lm/families/index.js';
import type { CausalLM } from '../../lm/families/decoder.js';
import { applyLora, loadAdapter, parseLoraConfig, saveAdapter } from '../../lm/lora.js';
import type { RecipeName } from '../../config/ganprompt.js';
import { readJson, type Stage, writeJson } from '../../run/index.js';
import { CollabSignal } from '../collab.js';
import type { AdapterSpec, RecipePlan } from '../recipe.js';
import { yesNoExamples, YesNoLlm } from '../yesno.js';
import { trainCases, type YesNoRun } from './context.js';
import { writeReport } from './report.js';
import { ADAPTERS, PLANS } from './recipes.js';
import { evaluateRecipe } from './recipe_eval.js';
import { trainMapping } from './mapping_step.js';
import type { RecipeKit } from './kit.js';

export type { RecipeKit } from './kit.js';

/** Default LoRA targets per family: every attention and MLP projection. */
export const LORA_TARGETS: Record<string, string[]> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'],
};


export function recipeKit(run: YesNoRun): RecipeKit {
  const { o, data, lmDir, tok, collabModel } = run;
  if (!lmDir || !tok || !collabModel) throw new Error('recipes: the LM and collaborative stages did not run');
  const loraCases = trainCases(run, run.loraStage.users, 201);
  const mapCases = trainCases(run, run.mapStage.users, 202);
  const family = familyOf(readConfig(lmDir), lmDir).family;
  const targets = o.lora.targets ?? LORA_TARGETS[family];
  if (!targets) throw new Error(`LoRA: no default target modules for the '${family}' family; set lora.targets`);
  return {
    run, loraCases, mapCases, madeHere: new Set(),
    loadLm: () => {
      const m = loadPretrained(lmDir).model as unknown as CausalLM;
      if (typeof m.forward !== 'function' || !('hiddenSize' in m)) throw new Error(`${lmDir}: not a causal LM`);
      return m;
    },
    makeModel: (lm, plan) => {
      const m = new YesNoLlm(lm, tok, data, { maxTitleTokens: o.maxTitleTokens, maxPromptTokens: o.maxPromptTokens, idVectors: plan.ids, idTokens: plan.idTokens ?? false, guide: plan.guide ? run.guide : null });
      m.collab = new CollabSignal(collabModel, data);
      return m;
    },
    titleSources: (m, titles) => {
      if (titles === 'original') return { titles: m.originalTitles };
      const rec = run.reconstructed;
      if (!rec) throw new Error('mixed titles need the diversity stage');
      return { titles: m.originalTitles, alternativeTitles: (i) => rec.get(i) || m.originalTitles(i), alternativeShare: o.reconstructedShare };
    },
    trainedTemplates: (which) => (which === 'first' ? [run.templates.seen[0]] : run.templates.seen),
    // Dropout 0 keeps training reproducible (the adapter dropout is not seeded).
    loraCfg: parseLoraConfig({ r: o.lora.r, lora_alpha: o.lora.alpha, target_modules: targets, lora_dropout: 0 }),
    adapterDir: (name) => join(run.dir, 'adapters', name),
  };
}

/** The LoRA step of an adapter; its training.json on disk is reused on resume or when this run made it. */
export async function ensureAdapter(kit: RecipeKit, name: string): Promise<Record<string, unknown>> {
  const { run } = kit;
  const { o, loraStage, hooks, log } = run;
  const out = kit.adapterDir(name);
  if ((run.resume || kit.madeHere.has(name)) && existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'training.json'))) return readJson(join(out, 'training.json'));
  mkdirSync(out, { recursive: true });
  const spec: AdapterSpec = ADAPTERS[name];
  const lm = kit.loadLm();
  try {
    applyLora(lm, kit.loraCfg);
    const m = kit.makeModel(lm, { guide: spec.guide, ids: false, idTokens: spec.idTokens });
    const ex = yesNoExamples(kit.loraCases, loraStage.negativesPerPositive, o.seed);
    const steps = Math.ceil((loraStage.epochs * ex.length) / loraStage.batchSize);
    log(`LoRA '${name}': ${ex.length} examples, ${steps} steps`);
    const r = await run.timer.timed(`lora:${name}`, () => m.fit(kit.loraCases, ex, {
      steps, batchSize: loraStage.batchSize, lr: loraStage.lr, weightDecay: 0, warmupSteps: Math.min(50, Math.ceil(steps / 10)), loss: loraStage.loss, seed: o.seed,
      templates: kit.trainedTemplates(spec.templates), ...kit.titleSources(m, spec.titles), vars: m.trainables({ lora: true }),
      checkpointDir: out, checkpointEvery: 100, resume: run.resume, signal: hooks.signal,
      onStep: (s, n, l) => { hooks.progress?.(`lora ${name}`, s, n); if (s % 100 === 0 || s === n) log(`  lora ${name} step ${s}/${n}: loss ${l.toFixed(4)}`); },
    }));
    if (r.interrupted) return { interrupted: true };
    saveAdapter(lm, kit.loraCfg, out);
    const info = { ...r, examples: ex.length, templates: kit.trainedTemplates(spec.templates).map((t) => t.id), guide: spec.guide, idTokens: spec.idTokens, titles: spec.titles };
    writeJson(join(out, 'training.json'), info);
    kit.madeHere.add(name);
    return info;
  } finally {
    lm.dispose();
  }
}

/** One recipe: adapter, then (with the adapter loaded and frozen) the mapping step and the evaluation. */
async function runRecipe(kit: RecipeKit, recipe: RecipeName): Promise<'done' | 'interrupted'> {
  const { run } = kit;
  const plan: RecipePlan = PLANS[recipe];
  const rdir = join(run.dir, 'models', recipe);
  mkdirSync(rdir, { recursive: true });
  const training: Record<string, unknown> = {};
  if (plan.adapter) {
    training.lora = await ensureAdapter(kit, plan.adapter);
    if ((training.lora as { interrupted?: boolean }).interrupted) return 'interrupted';
  }
  const lm = kit.loadLm();
  let m: YesNoLlm | undefined;
  try {
    if (plan.adapter) loadAdapter(lm, kit.adapterDir(plan.adapter));
    lm.store.setTrainable(() => false, false);
    m = kit.makeModel(lm, { guide: plan.guide, ids: plan.mapping });
    if (plan.mapping) {
      const mapping = await trainMapping(kit, recipe, plan, m, rdir);
      if (mapping === 'interrupted') return 'interrupted';
      training.mapping = mapping;
    }
    const robustness = await evaluateRecipe(kit, recipe, plan, m, rdir);
    run.report.llm = run.report.llm.filter((x) => x.recipe !== recipe).concat([{ recipe, robustness, training }]);
    writeJson(join(rdir, 'robustness.json'), robustness);
    writeReport(run);
    return 'done';
  } finally {
    m?.mapping?.dispose();
    m?.dispose();
    lm.dispose();
  }
}

/** 5.-6. Every recipe of the run in order; stops at an interruption. */
export const recipesStage: Stage<YesNoRun> = {
  name: 'recipes',
  async run(r) {
    const kit = recipeKit(r);
    for (const recipe of r.o.recipes) {
      if (r.hooks.signal?.aborted) return 'interrupted';
      if ((await runRecipe(kit, recipe)) === 'interrupted') return 'interrupted';
    }
    return 'done';
  },
};
