/**
 * The Markdown report of the yes/no pipeline (report.md beside report.json):
 * accuracy beside the reference rows, robustness on trained vs unseen
 * templates, the ablations, the diversity stage, the cost.
 */
import { pairedTestCells } from '../../eval/report.js';
import type { MetricValues } from '../../eval/types.js';
import { trainingStop } from '../../experiment/run.js';
import { stoppedLines, writeRunReport } from '../../run/index.js';
import type { GanPromptReport, OpeningCost, YesNoRun } from './context.js';
import { ABLATION_LABELS, PLANS } from './recipes.js';

const f4 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(4));
const METRIC_COLS = ['auc', 'hr@1', 'hr@3', 'hr@5', 'ndcg@3', 'ndcg@5', 'mrr@3', 'mrr@5'];
/** Report label of a recipe that is not an ablation (the accuracy rows list only these). */
const LABEL: Record<string, string> = Object.fromEntries(Object.entries(PLANS).filter(([, p]) => !p.ablation).map(([k, p]) => [k, p.label]));
/** Row name of any recipe: its model label, else its ablation label (Rec-ori, ...). */
const rowName = (recipe: string): string => LABEL[recipe] ?? ABLATION_LABELS[recipe] ?? recipe;

export function renderGanPromptReport(r: GanPromptReport): string {
  const cols = METRIC_COLS;
  const head = `| model | ${cols.map((c) => c.toUpperCase()).join(' | ')} |\n|---|${cols.map(() => '---').join('|')}|`;
  const row = (name: string, m: MetricValues) => `| ${name} | ${cols.map((c) => f4(m[c])).join(' | ')} |`;
  const lines: string[] = [];
  lines.push(`# GANPrompt pipeline: ${r.dataset}`, '', ...stoppedLines(r.stoppedAfter));
  lines.push(`${r.stats.users} users, ${r.stats.items} items, ${r.stats.interactions} interactions (sparsity ${r.stats.sparsity.toFixed(5)}, mean history ${r.stats.meanHistory.toFixed(2)}). Evaluation: ${r.evalUsers} test users (seeded sample), target + 9 stored negatives each, the same for every row.`, '');
  lines.push('## Accuracy (LLM rows: mean over the templates each model was trained on)', '', head);
  for (const b of r.baselines) lines.push(row(b.model, b.metrics));
  for (const l of r.llm.filter((x) => LABEL[x.recipe])) lines.push(row(`${LABEL[l.recipe]} (trained templates)`, l.robustness.trained.mean));
  for (const l of r.llm.filter((x) => LABEL[x.recipe] && x.robustness.unseen.templates.length)) lines.push(row(`${LABEL[l.recipe]} (unseen templates)`, l.robustness.unseen.mean));
  const sig = r.llm.filter((l) => l.significance?.length);
  if (sig.length) {
    // The goal metrics: AUC and the NDCG of the largest cut-off up to 5 (every NDCG@k is in report.json).
    const ndcg = `ndcg@${Math.max(...r.options.eval.ks.filter((k) => k <= 5), Math.min(...r.options.eval.ks))}`;
    lines.push('', `## Against the reference rows (paired over the same test users: sign-flip test, 95 % bootstrap interval of the difference; AUC and ${ndcg.toUpperCase()} here, every NDCG@k in report.json)`, '');
    lines.push('| model | against | metric | model | reference | difference | 95 % interval | p | users |', '|---|---|---|---|---|---|---|---|---|');
    for (const l of sig) {
      for (const g of l.significance!) {
        for (const metric of ['auc', ndcg]) {
          const t = g.tests[metric];
          if (!t) continue;
          lines.push(`| ${rowName(l.recipe)} (trained templates) | ${g.against} | ${metric.toUpperCase()} | ${pairedTestCells(t)} |`);
        }
      }
    }
  }
  lines.push('', '## Robustness: trained vs unseen templates (mean ± std over templates; drop = trained - unseen)', '');
  lines.push('| model | trained templates | AUC trained | AUC unseen | AUC drop | HR@1 trained | HR@1 unseen | HR@1 drop | NDCG@5 drop |', '|---|---|---|---|---|---|---|---|---|');
  for (const l of r.llm.filter((x) => x.robustness.unseen.templates.length)) {
    const R = l.robustness;
    const pm = (k: string, g: typeof R.trained) => `${f4(g.mean[k])} ± ${f4(g.std[k])}`;
    lines.push(`| ${rowName(l.recipe)} | ${R.trained.templates.join(', ')} | ${pm('auc', R.trained)} | ${pm('auc', R.unseen)} | ${f4(R.drop.auc)} | ${pm('hr@1', R.trained)} | ${pm('hr@1', R.unseen)} | ${f4(R.drop['hr@1'])} | ${f4(R.drop['ndcg@5'])} |`);
  }
  lines.push('', '### Per template', '', `| model | template | group | ${cols.map((c) => c.toUpperCase()).join(' | ')} |`, `|---|---|---|${cols.map(() => '---').join('|')}|`);
  for (const l of r.llm) for (const t of l.robustness.perTemplate) lines.push(`| ${rowName(l.recipe)} | ${t.template} | ${t.group} | ${cols.map((c) => f4(t.metrics[c])).join(' | ')} |`);
  const abl = r.llm.filter((l) => ABLATION_LABELS[l.recipe]);
  if (abl.length) {
    lines.push('', '## Recommendation ablations (mean over trained templates; unseen in brackets)', '', '| variant | AUC | HR@1 | HR@3 | NDCG@5 | MRR@5 | AUC unseen |', '|---|---|---|---|---|---|---|');
    for (const l of abl) {
      const m = l.robustness.trained.mean;
      lines.push(`| ${ABLATION_LABELS[l.recipe]} | ${f4(m.auc)} | ${f4(m['hr@1'])} | ${f4(m['hr@3'])} | ${f4(m['ndcg@5'])} | ${f4(m['mrr@5'])} | ${l.robustness.unseen.templates.length ? f4(l.robustness.unseen.mean.auc) : '-'} |`);
    }
  }
  if (r.diversity) {
    const d = r.diversity;
    lines.push('', '## Stage 1: diversity encoder', '', `Attributes (top ${d.attributes.counts.length} masked-LM words): ${d.attributes.counts.map((a) => `${a.word} (${a.count})`).join(', ')}.`, '');
    lines.push('| variant | KL before | KL after | TV before | TV after | JS before | JS after | cos before | cos after |', '|---|---|---|---|---|---|---|---|---|');
    for (const [v, m] of Object.entries(d.measures)) {
      if (!m) continue;
      lines.push(`| ${v} | ${f4(m.before.kl)} | ${f4(m.after.kl)} | ${f4(m.before.tv)} | ${f4(m.after.tv)} | ${f4(m.before.js)} | ${f4(m.after.js)} | ${f4(m.before.cos)} | ${f4(m.after.cos)} |`);
    }
    const plots = Object.entries(d.files).filter(([, f]) => f.endsWith('.svg'));
    if (plots.length) lines.push('', `Plots: ${plots.map(([k, f]) => `${k}: \`${f}\``).join(', ')}.`);
  }
  lines.push('', '## Training (every choice on validation: early stopping on validation AUC of validation targets vs their stored negatives; no test item)', '');
  if (r.collabFit) {
    const c = r.collabFit;
    const stop = trainingStop({ name: c.model, fit: { epochs: c.epochsRun, bestEpoch: c.bestEpoch, stoppedEarly: c.stoppedEarly, interrupted: false } }, { epochs: c.epochCap, patience: c.patience });
    lines.push(`Collaborative model ${c.model}: cap ${c.epochCap} epochs, patience ${c.patience}; ran ${c.epochsRun}, best epoch ${c.bestEpoch}, last ${c.lastEpoch}: ${stop.text}; best validation ${c.validMetric} ${f4(c.bestValid[c.validMetric])}.`, '');
  }
  lines.push('| recipe | step | variables | questions | examples | steps | epochs run | best epoch | last epoch | initial valid AUC | best valid AUC | stopped early | seconds |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  // An adapter shared by recipes (CoLLM on TALLRec's) was trained once: later recipes name it instead of repeating its row.
  const adapterOwner = new Map<string, string>();
  for (const l of r.llm) {
    for (const [step, raw] of Object.entries(l.training)) {
      const t = raw as Record<string, unknown>;
      const name = rowName(l.recipe);
      if (step === 'lora' && typeof t.adapter === 'string') {
        const owner = adapterOwner.get(t.adapter);
        if (owner !== undefined) {
          lines.push(`| ${name} | ${step} | reused: ${owner}'s adapter '${t.adapter}' (row above) | - | - | - | - | - | - | - | - | - | - |`);
          continue;
        }
        adapterOwner.set(t.adapter, name);
      }
      const n = (k: string) => (typeof t[k] === 'number' ? String(Math.round((t[k] as number) * 1000) / 1000) : '-');
      const vars = typeof t.variables === 'string' ? t.variables : t.variables ? Object.entries(t.variables as Record<string, boolean>).filter(([, v]) => v).map(([k]) => k).join('+') : '-';
      const w = typeof t.scoreWeight === 'number' ? ` (w ${t.scoreWeight.toFixed(3)}${typeof t.lmGate === 'number' ? `, LM gate ${t.lmGate.toFixed(3)}` : ''})` : '';
      lines.push(`| ${name} | ${step} | ${vars}${w} | ${n('questions')} | ${n('examples')} | ${n('steps')} | ${Array.isArray(t.epochs) ? t.epochs.length : '-'} | ${t.bestEpoch === -1 && typeof t.initialValid === 'number' ? 'initial' : n('bestEpoch')} | ${n('lastEpoch')} | ${f4(t.initialValid as number | undefined)} | ${f4(t.bestValid as number | undefined)} | ${t.stoppedEarly === undefined ? '-' : t.stoppedEarly ? 'yes' : 'no'} | ${n('seconds')} |`);
    }
  }
  // Reference rows on a LoRA step's validation users: its validation AUC read against Random, Pop and the collaborative model.
  const referenced = new Set<string>();
  for (const l of r.llm) {
    const lora = (l.training as Record<string, { adapter?: string; validReference?: Array<{ model: string; metrics: MetricValues }> }>).lora;
    const ref = lora?.validReference;
    if (!ref?.length || referenced.has(lora.adapter ?? l.recipe)) continue;
    referenced.add(lora.adapter ?? l.recipe);
    lines.push('', `Validation AUC of the reference models on the validation users and candidates of ${rowName(l.recipe)}'s ${lora.adapter ? `adapter '${lora.adapter}'` : 'LoRA step'}: ${ref.map((x) => `${x.model} ${f4(x.metrics.auc)}`).join(', ')}.`);
  }
  lines.push('', '## Cost', '');
  const earlier = r.earlierOpenings ?? [];
  const cost = (c: OpeningCost) => {
    const rss = Object.entries(c.peakRssAfterMiB ?? {});
    return `Peak RSS ${c.peakRssMiB.toFixed(0)} MiB${rss.length ? ` (peak so far at the end of each stage: ${rss.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}. Seconds per stage: ${Object.entries(c.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ') || 'none (every output was there)'}.`;
  };
  if (earlier.length === 0) lines.push(cost(r), '');
  else {
    // Each opening ran the stages whose outputs were missing (or made with other options), so a stage's time is in the opening that made it.
    lines.push(`This run directory was opened ${earlier.length + 1} times; each opening ran the stages whose outputs were not there yet.`, '');
    earlier.forEach((c, i) => lines.push(`- Opening ${i + 1}${c.interrupted ? ' (interrupted)' : c.stoppedAfter ? ` (stopped after '${c.stoppedAfter}')` : ''}: ${cost(c)}`));
    lines.push(`- Opening ${earlier.length + 1} (this report): ${cost(r)}`, '');
  }
  return lines.join('\n');
}

/** Writes report.json and report.md (after every recipe, so an interrupted run keeps its rows). */
export function writeReport(run: YesNoRun): GanPromptReport {
  return writeRunReport(run.dir, run.report, renderGanPromptReport);
}
