/**
 * 5.-6. of the yes/no pipeline (pipeline.ts): each recipe of the run
 * (recipes.ts) = its adapter (a LoRA step, trained once and shared by the
 * recipes that name it) + its mapping step + the robustness evaluation on
 * trained and unseen templates. Outputs per recipe in models/<recipe>/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readConfig, savePretrained } from '../../lm/checkpoint.js';
import { familyOf } from '../../lm/families/index.js';
import { applyLora, loadAdapter, parseLoraConfig, saveAdapter } from '../../lm/lora.js';
import type { RecipeName } from '../../config/ganprompt.js';
import { openStageDir, readJson, type Stage, writeJson } from '../../run/index.js';
import { CollabSignal } from '../collab.js';
import type { AdapterSpec, RecipePlan } from '../recipe.js';
import { loadRecLm, stageSteps, yesNoExamples, YesNoLlm } from '../yesno.js';
import { QUESTION_SALTS, type StageOptionsView, stageValidSplit, stepQuestions, stepSeed, timed, type YesNoRun } from './context.js';
import { metricsOn, rankingMetrics, referenceRows } from '../reference.js';
import type { MetricValues } from '../../eval/types.js';
import { writeReport } from './report.js';
import { ADAPTERS, PLANS } from './recipes.js';
import { evaluateRecipe } from './recipe_eval.js';
import { trainMapping } from './mapping_step.js';
import { collabOffsetStart } from './score_start.js';
import type { RecipeKit } from './kit.js';

export type { RecipeKit } from './kit.js';

/**
 * Random, Pop and the collaborative model on the LoRA step's validation users
 * (the same targets and stored negatives its early stopping scores), so a
 * step's validation AUC can be read against them without a test row.
 */
export async function validReference(run: YesNoRun): Promise<Array<{ model: string; metrics: MetricValues }>> {
  const sub = stageValidSplit(run, run.loraStage, QUESTION_SALTS.loraValid);
  if (!sub || !run.collabModel) return [];
  return referenceRows(run.data, { seed: run.o.seed, fitted: [{ label: run.collabModel.name, model: run.collabModel }] },
    (m) => ({ metrics: metricsOn(m, sub, 'valid', { protocol: 'sampled', ks: run.o.eval.ks }) }));
}

/** Default LoRA targets per family: every attention and MLP projection. */
export const LORA_TARGETS: Record<string, string[]> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  gpt2: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'],
};


export function recipeKit(run: YesNoRun): RecipeKit {
  const { o, data, lmDir, tok, collabModel } = run;
  if (!lmDir || !tok || !collabModel) throw new Error('recipes: the LM and collaborative stages did not run');
  const { loraCases, mapCases, loraValid, mapValid } = stepQuestions(run);
  const family = familyOf(readConfig(lmDir), lmDir).family;
  const targets = o.lora.targets ?? LORA_TARGETS[family];
  if (!targets) throw new Error(`LoRA: no default target modules for the '${family}' family; set lora.targets`);
  return {
    run, tokenizer: tok, loraCases, mapCases, loraValid, mapValid, madeHere: new Set(),
    loadLm: (dir = lmDir) => loadRecLm(dir, tok),
    validation: (m, cases, templates, patience, stepsPerEpoch, label) => {
      if (cases.length === 0) return undefined;
      const C = cases[0].candidates.length;
      return {
        metric: 'auc', patience, stepsPerEpoch,
        // Mean validation AUC over the step's training templates (validation targets vs their stored negatives; no test
        // item); null when the signal aborts it (a SIGINT during a validation stops the run within a question).
        validate: async (signal) => {
          let sum = 0;
          for (const t of templates) {
            const scores = await m.scoreInterruptible(cases, t, m.originalTitles, { signal });
            if (!scores) return null;
            sum += rankingMetrics(scores, C, [1]).auc;
          }
          return sum / templates.length;
        },
        onInitial: (v) => run.log(`  ${label} before training: valid AUC ${v.toFixed(4)} (an epoch must beat it to be kept)`),
        onEpoch: (e) => run.log(`  ${label} epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, valid AUC ${e.valid.toFixed(4)}${e.best ? ' (best)' : ''}`),
      };
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

/**
 * The stage key of an adapter (src/run/stage_key.ts): the options its LoRA or
 * full fine-tuning step trains with that may change on resume (guide dropout
 * and the collaborative offset only for a guided adapter: the others do not
 * use them).
 */
export function adapterKey(v: StageOptionsView, name: string): Record<string, unknown> {
  const { guideDropout: _dropout, collabOffset: _offset, ...unguided } = v.loraStage;
  return { adapter: name, loraStage: ADAPTERS[name].guide ? v.loraStage : unguided, lora: v.loraStage.variables === 'full' ? null : v.o.lora };
}

/** The stage key of a recipe's folder models/<recipe>/ (mapping, evaluation): its adapter's key and its mapping options. */
export function recipeKey(v: StageOptionsView, recipe: RecipeName): Record<string, unknown> {
  const plan = PLANS[recipe];
  return {
    recipe, adapter: plan.adapter ? adapterKey(v, plan.adapter) : null,
    mapping: plan.mapping ? { mappingStage: v.mapStage, residual: v.o.mappingResidual } : null,
  };
}

/** The LoRA step of an adapter; its training.json on disk is reused on resume (if its stage key matches) or when this run made it. */
export async function ensureAdapter(kit: RecipeKit, name: string): Promise<Record<string, unknown>> {
  const { run } = kit;
  const { o, loraStage, hooks, log } = run;
  const out = kit.adapterDir(name);
  if (!kit.madeHere.has(name)) openStageDir(out, adapterKey(run, name), { resume: run.resume, previous: run.previous && adapterKey(run.previous, name), what: `adapter '${name}'`, log: run.log });
  if ((run.resume || kit.madeHere.has(name)) && isTrainedAdapter(out) && existsSync(join(out, 'training.json'))) return readJson(join(out, 'training.json'));
  mkdirSync(out, { recursive: true });
  const spec: AdapterSpec = ADAPTERS[name];
  const full = loraStage.variables === 'full';
  // The name of this step in the log and progress events: what it trains.
  const stepLabel = full ? 'full' : 'lora';
  const lm = kit.loadLm();
  // Disposed with the LM: the collaborative offset's w and g are variables of the model.
  let model: YesNoLlm | undefined;
  try {
    if (!full) applyLora(lm, kit.loraCfg);
    const m = model = kit.makeModel(lm, { guide: spec.guide, ids: false, idTokens: spec.idTokens });
    const ex = yesNoExamples(kit.loraCases, loraStage.negativesPerPositive, stepSeed(o));
    const { perEpoch, steps, scheduleSteps, warmupSteps } = stageSteps(ex.length, loraStage);
    const templates = kit.trainedTemplates(spec.templates);
    log(`${full ? 'full fine-tuning' : 'LoRA'} '${name}': ${kit.loraCases.length} questions, ${ex.length} examples, at most ${steps} steps (${perEpoch} per epoch${scheduleSteps === steps ? '' : `; learning rate scheduled over ${scheduleSteps}`}), ${kit.loraValid.length} validation users`);
    const reference = await validReference(run);
    if (reference.length) log(`  validation AUC on the same users and candidates: ${reference.map((x) => `${x.model} ${x.metrics.auc.toFixed(4)}`).join(', ')}`);
    // How often the guide names the liked item: on in-sample training targets an adapter learns to copy it (docs/METHODS.md §6).
    const guideHits = spec.guide ? { train: m.guideHitRate(kit.loraCases), valid: m.guideHitRate(kit.loraValid) } : undefined;
    const guideDropout = spec.guide ? loraStage.guideDropout : undefined;
    if (guideHits) log(`  the guide names the target in ${(100 * guideHits.train).toFixed(1)} % of training questions, ${(100 * guideHits.valid).toFixed(1)} % of validation questions${guideDropout ? `; guide dropout ${guideDropout}` : ''}`);
    // The collaborative offset: the adapter (and its validation) scores w * z + g * (l(yes) - l(no)) (docs/METHODS.md §6).
    const offset = spec.guide && loraStage.collabOffset ? { init: collabOffsetStart(m, kit.loraCases) } : undefined;
    if (offset) log(`  collaborative offset: trains on w * z + g * (l(yes) - l(no)) from w ${offset.init.toFixed(4)} (z alone fitted on the training questions), g 1`);
    const r = await timed(run, `lora:${name}`, () => m.fit(kit.loraCases, ex, {
      steps, scheduleSteps, batchSize: loraStage.batchSize, lr: loraStage.lr, weightDecay: loraStage.weightDecay, warmupSteps, loss: loraStage.loss, seed: stepSeed(o),
      templates, ...kit.titleSources(m, spec.titles), vars: m.trainables({ ...(full ? { lm: true } : { lora: true }), scoreWeight: offset !== undefined }),
      ...(guideDropout ? { guideDropout } : {}),
      checkpointDir: out, checkpointEvery: 100, resume: run.resume, signal: hooks.signal,
      validation: kit.validation(m, kit.loraValid, templates, loraStage.patience, perEpoch, `${stepLabel} ${name}`),
      onStep: (s, n, l) => { hooks.progress?.(`${stepLabel} ${name}`, s, n); if (s % 100 === 0 || s === n) log(`  ${stepLabel} ${name} step ${s}/${n}: loss ${l.toFixed(4)}`); },
    }));
    if (r.interrupted) return { interrupted: true };
    const offsetInfo = offset && { ...offset, ...m.scoreFeatureValues()! };
    // A fully fine-tuned adapter is a whole LM folder, tokenizer included, so `--lm` (or `serve --lm`) takes it as it is.
    if (full) { savePretrained(lm, out); kit.tokenizer.save(out); }
    else saveAdapter(lm, kit.loraCfg, out);
    const info = {
      ...r, variables: loraStage.variables, trainSource: o.trainSource, questionSource: loraStage.questions ?? 'train', questions: kit.loraCases.length, validUsers: kit.loraValid.length, examples: ex.length,
      templates: templates.map((t) => t.id), guide: spec.guide, ...(guideDropout ? { guideDropout } : {}), ...(offsetInfo ? { collabOffset: offsetInfo } : {}), idTokens: spec.idTokens, titles: spec.titles,
      ...(reference.length ? { validReference: reference } : {}), ...(guideHits ? { guideHits } : {}),
    };
    writeJson(join(out, 'training.json'), info);
    kit.madeHere.add(name);
    return info;
  } finally {
    model?.dispose();
    lm.dispose();
  }
}

/** Whether an adapter folder holds a finished LoRA adapter or a fully fine-tuned LM. */
function isTrainedAdapter(dir: string): boolean {
  return existsSync(join(dir, 'adapter_config.json')) || (existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors')));
}

/** One recipe: adapter, then (with the adapter loaded and frozen) the mapping step and the evaluation. */
async function runRecipe(kit: RecipeKit, recipe: RecipeName): Promise<'done' | 'interrupted'> {
  const { run } = kit;
  const plan: RecipePlan = PLANS[recipe];
  const rdir = join(run.dir, 'models', recipe);
  // Before the adapter: a recipe folder made with another adapter or other mapping settings is made again.
  openStageDir(rdir, recipeKey(run, recipe), { resume: run.resume, previous: run.previous && recipeKey(run.previous, recipe), what: `recipe '${recipe}' (models/${recipe})`, log: run.log });
  const training: Record<string, unknown> = {};
  if (plan.adapter) {
    const lora = await ensureAdapter(kit, plan.adapter);
    if ((lora as { interrupted?: boolean }).interrupted) return 'interrupted';
    // Which adapter: recipes that share one (TALLRec and CoLLM) report its training once.
    training.lora = { ...lora, adapter: plan.adapter };
  }
  // A fully fine-tuned adapter step saved a whole LM (config.json + model.safetensors); a LoRA one adapter files.
  const fullDir = plan.adapter && !existsSync(join(kit.adapterDir(plan.adapter), 'adapter_config.json')) ? kit.adapterDir(plan.adapter) : undefined;
  const lm = kit.loadLm(fullDir);
  let m: YesNoLlm | undefined;
  try {
    if (plan.adapter && !fullDir) loadAdapter(lm, kit.adapterDir(plan.adapter));
    lm.store.setTrainable(() => false, false);
    m = kit.makeModel(lm, { guide: plan.guide, ids: plan.mapping });
    if (plan.mapping) {
      const mapping = await trainMapping(kit, recipe, plan, m, rdir);
      if (mapping === 'interrupted') return 'interrupted';
      training.mapping = mapping;
    }
    const evaluation = await evaluateRecipe(kit, recipe, plan, m, rdir);
    if (evaluation === 'interrupted') return 'interrupted';
    const { robustness, significance } = evaluation;
    run.report.llm = run.report.llm.filter((x) => x.recipe !== recipe).concat([{ recipe, robustness, training, ...(significance ? { significance } : {}) }]);
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
