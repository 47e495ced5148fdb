/**
 * The mapping step of a recipe (CoLLM's step 2, GANPrompt's and the
 * ablations'): the mapping layer (and, for rec-sm / rec-lora&sm, the
 * collaborative item vectors) trained with the LM (and its adapter) frozen.
 * Outputs: models/<recipe>/mapping/, item_vectors.safetensors,
 * mapping-training.json (reused on resume).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.js';
import type { RecipeName } from '../../config/ganprompt.js';
import { readJson, writeJson } from '../../run/index.js';
import { mixSeed } from '../../util/random.js';
import { MappingLayer } from '../mapping.js';
import type { RecipePlan } from '../recipe.js';
import { stageSteps, withinCaseSpread, yesNoExamples, type YesNoLlm } from '../yesno.js';
import type { RecipeKit } from './kit.js';
import { stepSeed, timed } from './context.js';
import { chooseScoreStart, type ScoreStart } from './score_start.js';

/** Trains (or on resume reloads) the mapping of `m`; returns its training summary. */
export async function trainMapping(kit: RecipeKit, recipe: RecipeName, plan: RecipePlan, m: YesNoLlm, rdir: string): Promise<Record<string, unknown> | 'interrupted'> {
  const { run } = kit;
  const { o, mapStage, hooks, log } = run;
  const mdir = join(rdir, 'mapping');
  const tableFile = join(rdir, 'item_vectors.safetensors');
  const summaryFile = join(rdir, 'mapping-training.json');
  const weightFile = join(rdir, 'score_feature.json');
  const itemTable = mapStage.itemVectors === 'recipe' ? plan.itemTable : mapStage.itemVectors === 'always';
  const done = run.resume && MappingLayer.exists(mdir) && existsSync(summaryFile) && (!itemTable || existsSync(tableFile)) && (!mapStage.scoreFeature || existsSync(weightFile));
  if (done) {
    m.mapping = MappingLayer.load(mdir);
    if (itemTable) m.initItemTable(readSafetensors(tableFile).tensors.get('item_vectors')!.data as Float32Array);
    if (mapStage.scoreFeature) {
      const f = readJson<{ weight: number; gate?: number }>(weightFile);
      // A file without 'gate' is from the earlier formulation l(yes) - l(no) + w * z (gate 1).
      m.initScoreFeature(f.weight, f.gate ?? 1);
    }
    return readJson(summaryFile);
  }
  m.mapping = new MappingLayer({ inputDim: m.collab!.itemVectors().dim, outputDim: m.lm.hiddenSize, residual: o.mappingResidual }, mixSeed(stepSeed(o), 303));
  const templates = kit.trainedTemplates(plan.templates);
  // The score feature starts at the collaborative model (LM gate 0); early stopping compares every epoch with that start.
  // The gate's step scale: the LM's spread of l(yes) - l(no) among a question's candidates (z has spread 1), on training questions.
  let gateScale = 1;
  if (mapStage.scoreFeature) {
    const sample = kit.mapCases.slice(0, 50);
    const spread = withinCaseSpread(m.score(sample, templates[0], m.originalTitles), sample[0].candidates.length);
    gateScale = spread > 1e-6 ? 1 / spread : 1;
    log(`${recipe}: LM spread of l(yes) - l(no) among candidates ${spread.toFixed(4)} on ${sample.length} training questions (LM gate step scale ${gateScale.toFixed(3)})`);
    m.initScoreFeature(mapStage.scoreWeightInit, 0, gateScale);
  }
  const ex = yesNoExamples(kit.mapCases, mapStage.negativesPerPositive, mixSeed(stepSeed(o), 1));
  const { perEpoch, steps, scheduleSteps, warmupSteps } = stageSteps(ex.length, mapStage);
  const validation = kit.validation(m, kit.mapValid, templates, mapStage.patience, perEpoch, `${recipe} mapping`);
  let start: ScoreStart | undefined;
  if (mapStage.scoreFeature && mapStage.scoreStart === 'stacked') {
    const chosen = await chooseScoreStart(m, kit.mapCases, templates, m.originalTitles, { weight0: mapStage.scoreWeightInit, gateScale, validate: validation?.validate, signal: hooks.signal });
    if (!chosen) return 'interrupted';
    start = chosen;
    const v = start.collabValid === undefined ? '' : `; valid AUC ${start.collabValid.toFixed(4)} collaborative, ${start.stackedValid!.toFixed(4)} stacked`;
    log(`${recipe}: stacked start w ${start.fitted.weight.toFixed(4)}, g ${start.fitted.gate.toFixed(4)} (listwise loss ${start.fitted.loss.toFixed(4)}, ${start.fitted.iterations} Newton steps, ${start.fitted.questions} questions${v}): starts from the ${start.chosen === 'stacked' ? 'stacked' : 'collaborative'} one`);
  }
  const parts = [mapStage.mapping && 'mapping layer', itemTable && 'item vectors', mapStage.scoreFeature && 'score-feature weight'].filter(Boolean).join(' + ');
  log(`${recipe}: ${parts}, ${kit.mapCases.length} questions, ${ex.length} examples, at most ${steps} steps (${perEpoch} per epoch${scheduleSteps === steps ? '' : `; learning rate scheduled over ${scheduleSteps}`}), ${kit.mapValid.length} validation users`);
  const r = await timed(run, `mapping:${recipe}`, () => m.fit(kit.mapCases, ex, {
    steps, scheduleSteps, batchSize: mapStage.batchSize, lr: mapStage.lr, weightDecay: mapStage.weightDecay, warmupSteps, loss: mapStage.loss, seed: mixSeed(stepSeed(o), 2),
    templates, ...kit.titleSources(m, plan.titles), vars: m.trainables({ mapping: mapStage.mapping, itemTable, scoreWeight: mapStage.scoreFeature }),
    checkpointDir: rdir, checkpointEvery: 100, resume: run.resume, signal: hooks.signal,
    // The chosen start was just validated by chooseScoreStart: the loop does not validate it again.
    validation: validation && start?.collabValid !== undefined ? { ...validation, initial: start.chosen === 'stacked' ? start.stackedValid : start.collabValid } : validation,
    onStep: (s, n, l) => { hooks.progress?.(`${recipe} mapping`, s, n); if (s % 100 === 0 || s === n) log(`  ${recipe} mapping step ${s}/${n}: loss ${l.toFixed(4)}`); },
  }));
  if (r.interrupted) return 'interrupted';
  m.mapping.save(mdir);
  if (itemTable) writeSafetensors(tableFile, { item_vectors: { dtype: 'F32', shape: [...m.itemTable!.shape], data: (m.itemTable!.dataSync() as Float32Array).slice() } });
  const sf = m.scoreFeatureValues();
  const weight = sf?.weight;
  const gate = sf?.gate;
  if (sf) {
    writeJson(weightFile, {
      ...sf, score: 'weight * z + gate * (l(yes) - l(no))', feature: 'z: collaborative score z-scored among the candidates', init: { weight: start?.weight ?? mapStage.scoreWeightInit, gate: start?.gate ?? 0 }, gateStepScale: gateScale,
    });
  }
  const summary = {
    ...r, trainSource: o.trainSource, questionSource: mapStage.questions, questions: kit.mapCases.length, validUsers: kit.mapValid.length, examples: ex.length,
    variables: { mapping: mapStage.mapping, itemVectors: itemTable, scoreFeature: mapStage.scoreFeature }, ...(weight !== undefined ? { scoreWeight: weight, lmGate: gate } : {}), ...(start ? { scoreStart: start } : {}),
  };
  writeJson(summaryFile, summary);
  return summary;
}
