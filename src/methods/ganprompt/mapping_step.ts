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
import { yesNoExamples, type YesNoLlm } from '../yesno.js';
import type { RecipeKit } from './kit.js';

/** Trains (or on resume reloads) the mapping of `m`; returns its training summary. */
export async function trainMapping(kit: RecipeKit, recipe: RecipeName, plan: RecipePlan, m: YesNoLlm, rdir: string): Promise<Record<string, unknown> | 'interrupted'> {
  const { run } = kit;
  const { o, mapStage, hooks, log } = run;
  const mdir = join(rdir, 'mapping');
  const tableFile = join(rdir, 'item_vectors.safetensors');
  const summaryFile = join(rdir, 'mapping-training.json');
  const done = run.resume && MappingLayer.exists(mdir) && existsSync(summaryFile) && (!plan.itemTable || existsSync(tableFile));
  if (done) {
    m.mapping = MappingLayer.load(mdir);
    if (plan.itemTable) m.initItemTable(readSafetensors(tableFile).tensors.get('item_vectors')!.data as Float32Array);
    return readJson(summaryFile);
  }
  m.mapping = new MappingLayer({ inputDim: m.collab!.itemVectors().dim, outputDim: m.lm.hiddenSize, residual: o.mappingResidual }, mixSeed(o.seed, 303));
  const ex = yesNoExamples(kit.mapCases, mapStage.negativesPerPositive, mixSeed(o.seed, 1));
  const steps = Math.ceil((mapStage.epochs * ex.length) / mapStage.batchSize);
  log(`${recipe}: mapping layer${plan.itemTable ? ' + item vectors' : ''}, ${ex.length} examples, ${steps} steps`);
  const r = await run.timer.timed(`mapping:${recipe}`, () => m.fit(kit.mapCases, ex, {
    steps, batchSize: mapStage.batchSize, lr: mapStage.lr, weightDecay: 0, warmupSteps: Math.min(50, Math.ceil(steps / 10)), loss: mapStage.loss, seed: mixSeed(o.seed, 2),
    templates: kit.trainedTemplates(plan.templates), ...kit.titleSources(m, plan.titles), vars: m.trainables({ mapping: true, itemTable: plan.itemTable }),
    checkpointDir: rdir, checkpointEvery: 100, resume: run.resume, signal: hooks.signal,
    onStep: (s, n, l) => { hooks.progress?.(`${recipe} mapping`, s, n); if (s % 100 === 0 || s === n) log(`  ${recipe} mapping step ${s}/${n}: loss ${l.toFixed(4)}`); },
  }));
  if (r.interrupted) return 'interrupted';
  m.mapping.save(mdir);
  if (plan.itemTable) writeSafetensors(tableFile, { item_vectors: { dtype: 'F32', shape: [...m.itemTable!.shape], data: (m.itemTable!.dataSync() as Float32Array).slice() } });
  const summary = { ...r, examples: ex.length };
  writeJson(summaryFile, summary);
  return summary;
}
