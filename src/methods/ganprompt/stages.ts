/**
 * The shared stages of the yes/no pipeline (pipeline.ts), before any recipe:
 * the collaborative model, the reference rows on the evaluation users, the
 * language model and the diversity stage (reconstructed titles). Each writes
 * its output into the run directory and is skipped on resume when it exists.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withholdTrainTail } from '../../data/protocol.js';
import { createRecommender, loadRecommender, modelEntry } from '../../models/registry.js';
import type { Recommender } from '../../models/types.js';
import { checkpointValueCount, readConfig } from '../../lm/checkpoint.js';
import { portablePath, readJson, type Stage, writeJson } from '../../run/index.js';
import { evaluatePerUser } from '../../eval/evaluate.js';
import { metricsOfPerUser } from '../../eval/metrics.js';
import { referenceRows } from '../reference.js';
import { trainSmallLm } from '../text_lm/small_lm.js';
import { recTokenizer, recVocabRows } from '../yesno.js';
import { readReconstructedTitles, runDiversityStage } from './diversity.js';
import { type CollabFitSummary, timed, type YesNoRun } from './context.js';
import { PLANS } from './recipes.js';

/** The training summary a collab stage wrote beside its model (absent for folders from elsewhere). */
function readCollabFit(dir: string): CollabFitSummary | undefined {
  const f = join(dir, 'fit.json');
  return existsSync(f) ? readJson<CollabFitSummary>(f) : undefined;
}

/** 1. Collaborative model: loaded (a given folder, or this run's on resume) or trained here. */
export const collabStage: Stage<YesNoRun> = {
  name: 'collab',
  async run(r) {
    const { o, data, log } = r;
    const collabDir = o.collab.dir ?? join(r.dir, 'collab');
    if (o.collab.dir || (r.resume && existsSync(join(collabDir, 'config.json')))) {
      r.collabModel = await loadRecommender(collabDir);
      r.report.collabFit = readCollabFit(collabDir);
      log(`collaborative model: ${r.collabModel.name} loaded from ${collabDir}`);
      return 'done';
    }
    r.collabModel = await timed(r, 'collab', async (): Promise<Recommender> => {
      const m = createRecommender(o.collab.model, o.collab.config);
      const holdOut = o.collab.holdOut;
      log(`collaborative model: training ${o.collab.model} (at most ${o.collab.epochs} epochs, patience ${o.collab.patience}${holdOut ? `; the last ${holdOut} training item(s) of each user withheld` : ''})`);
      const defaults = modelEntry(o.collab.model).fit;
      const lr = o.collab.lr ?? defaults.lr;
      const fit = await m.fit(holdOut ? withholdTrainTail(data, holdOut) : data, {
        ...defaults, lr, epochs: o.collab.epochs, patience: o.collab.patience, validMetric: 'ndcg@5', validProtocol: 'sampled', seed: o.seed, signal: r.hooks.signal,
        onEpoch: (e) => log(`  ${o.collab.model} epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, valid ${Object.entries(e.valid).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`),
      });
      await m.save(collabDir);
      const lastEpoch = fit.epochs.at(-1)?.epoch ?? -1;
      const summary: CollabFitSummary = {
        model: o.collab.model, epochCap: o.collab.epochs, patience: o.collab.patience, epochsRun: fit.epochs.length, bestEpoch: fit.bestEpoch, lastEpoch,
        stoppedEarly: fit.stoppedEarly, capReached: !fit.stoppedEarly && fit.bestEpoch === lastEpoch, validMetric: 'ndcg@5', bestValid: fit.bestValid,
        lr, ...(holdOut ? { holdOut } : {}),
      };
      writeJson(join(collabDir, 'fit.json'), summary);
      if (summary.capReached) log(`  warning: ${o.collab.model}'s best validation epoch is its last (${lastEpoch}); raise collab.epochs`);
      return m;
    });
    r.report.collabFit = readCollabFit(collabDir);
    return r.hooks.signal?.aborted ? 'interrupted' : 'done';
  },
};

/** 2. Reference rows on the evaluation users: Random, Pop, the collaborative model, and any saved ones. */
export const baselinesStage: Stage<YesNoRun> = {
  name: 'baselines',
  async run(r) {
    const { o, collabModel } = r;
    if (!collabModel) throw new Error('baselines: the collaborative stage did not run');
    await timed(r, 'baselines', async () => {
      const label = `${collabModel.name} (collaborative source)`;
      // Each model scored once: its per-user ranks (for the recipes' paired tests) and their means (its row).
      const rows = await referenceRows(r.data, {
        seed: o.seed,
        fitted: [{ label, model: collabModel }],
        dirs: o.baselines.map((dir) => ({ dir, label: (m: Recommender) => m.name })),
      }, (m) => {
        const values = evaluatePerUser(m, r.evalData, 'test', { protocol: 'sampled', ks: o.eval.ks });
        return { metrics: metricsOfPerUser(values, o.eval.ks), values };
      });
      r.report.baselines = rows.map(({ model, metrics }) => ({ model, metrics }));
      writeJson(join(r.dir, 'baselines.json'), r.report.baselines);
      r.referencePerUser = rows.map(({ model, values }) => ({ label: model, values, source: model === label }));
    });
    return 'done';
  },
};

/** 3. The language model: a given folder, or the small LM trained on the data (with the templates' wording). */
export const lmStage: Stage<YesNoRun> = {
  name: 'lm',
  async run(r) {
    const { o, templates, log } = r;
    const extraDocs = [...templates.seen, ...templates.unseen].flatMap((t) => [t.instruction, `Answer: ${t.answers.yes}`, `Answer: ${t.answers.no}`]);
    const lmDir = o.lm.dir ?? join(r.dir, 'lm');
    if (!o.lm.dir && !(r.resume && existsSync(join(lmDir, 'report.json')))) {
      const res = await timed(r, 'lm', () => trainSmallLm(r.data, { ...o.lm.small, seed: o.seed, evalUsers: 0, extraDocuments: extraDocs.concat(Array<string>(50).fill(extraDocs.join('\n'))) }, lmDir, {
        signal: r.hooks.signal, log,
        onStep: (s) => r.hooks.progress?.('lm', s.step, s.maxSteps),
      }, r.resume && existsSync(join(lmDir, 'checkpoint'))));
      if (res.training.interrupted) return 'interrupted';
      log(`LM: ${res.parameters} parameters, held-out perplexity ${res.training.heldOutPerplexity.toFixed(2)}`);
    }
    r.lmDir = lmDir;
    r.report.lm.dir = portablePath(lmDir, r.dir);
    r.report.lm.parameters = checkpointValueCount(lmDir);
    const { tokenizer, added } = recTokenizer(lmDir);
    if (added.length > 0) {
      const rows = readConfig(lmDir).vocab_size;
      const need = recVocabRows(tokenizer);
      log(`LM ${portablePath(lmDir, r.dir)}: its tokenizer lacks ${added.join(', ')}, added as special tokens (${need} ids); ${typeof rows === 'number' && rows < need ? `the token embeddings grow from ${rows} to ${need} rows, the new ones at the mean row` : `the model's ${rows} embedding rows already cover them`}`);
    }
    r.tok = tokenizer;
    return 'done';
  },
};

/** 4. Stage 1 of GANPrompt: the diversity encoder and reconstructed titles (only when a recipe mixes them in). */
export const diversityStage: Stage<YesNoRun> = {
  name: 'diversity',
  async run(r) {
    if (!r.o.recipes.some((name) => PLANS[name].titles === 'mixed')) return 'done';
    const divDir = join(r.dir, 'diversity');
    const div = await timed(r, 'diversity', () => runDiversityStage(r.data, { seed: r.o.seed, ...r.o.diversity }, divDir, {
      signal: r.hooks.signal, onProgress: (s, d, t) => r.hooks.progress?.(`diversity ${s}`, d, t),
    }, r.resume));
    r.report.diversity = div;
    if (div.interrupted) return 'interrupted';
    r.reconstructed = readReconstructedTitles(divDir);
    r.log(`stage 1: attributes ${div.attributes.attributes.join(', ')}; ${r.reconstructed.size} reconstructed titles`);
    return 'done';
  },
};
