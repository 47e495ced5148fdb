/**
 * The Markdown report of a RecSysLLM run (report.md beside report.json): the
 * families that ran, the models' cost, and per family the mean over templates
 * (seen / unseen) beside the reference rows.
 */
import type { FamilyResult } from './evaluate.js';
import { stoppedLines, writeRunReport } from '../../run/index.js';
import type { RecSysReport, RecSysRun } from './context.js';
import { FAMILIES, type Family, FAMILY_LABELS } from './tasks.js';

function fmt(x: number | undefined, d = 4): string {
  return x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d);
}

export const FAMILY_METRICS: Record<Family, string[]> = {
  rating: ['rmse', 'mae'],
  sequential: ['hr@5', 'ndcg@5', 'hr@10', 'ndcg@10', 'realShareTrie', 'realShareFree', 'hr@10Free'],
  direct: ['hr@1', 'hr@5', 'ndcg@5', 'hr@10', 'ndcg@10'],
  explanation: ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l'],
  review: ['bleu-2', 'rouge-1', 'rouge-2', 'rouge-l'],
};

/** Mean of each metric over a variant's templates of one family, seen or unseen. */
export function meanMetrics(results: readonly FamilyResult[], family: Family, seen: boolean): Record<string, number> | undefined {
  const rs = results.filter((r) => r.family === family && r.seen === seen);
  if (rs.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const k of FAMILY_METRICS[family]) {
    const v = rs.map((r) => r.metrics[k]).filter((x) => x !== undefined && !Number.isNaN(x));
    if (v.length) out[k] = v.reduce((a, b) => a + b, 0) / v.length;
  }
  return out;
}

export function renderRecSysReport(r: RecSysReport): string {
  const L: string[] = [`# RecSysLLM on ${r.dataset}`, '', ...stoppedLines(r.stoppedAfter)];
  L.push(`${r.stats.users} users, ${r.stats.items} items, ${r.stats.interactions} interactions; evaluation on ${r.evalUsers} sampled test users (the same for every model).`, '');
  L.push('| family | runs here? |', '|---|---|');
  for (const f of FAMILIES) L.push(`| ${FAMILY_LABELS[f]} | ${r.support[f] ? `no: ${r.support[f]}` : r.families.includes(f) ? 'yes' : 'not selected'} |`);
  L.push('');
  L.push('| model | parameters | pre-training s | tokens/s | peak RSS MiB | fine-tuning s |', '|---|---|---|---|---|---|');
  for (const v of r.variants) L.push(`| ${v.label} | ${(v.parameters / 1e6).toFixed(2)}M | ${fmt(v.pretrain?.seconds, 0)} | ${fmt(v.pretrain?.tokensPerSecond, 0)} | ${fmt(v.pretrain?.peakRssMiB, 0)} | ${fmt(v.finetune?.seconds, 0)} |`);
  L.push('');
  for (const f of r.families) {
    const keys = FAMILY_METRICS[f].filter((k) => r.variants.some((v) => v.results.some((x) => x.family === f && x.metrics[k] !== undefined)));
    L.push(`## ${FAMILY_LABELS[f]}`, '', `Mean over templates. ${f === 'explanation' || f === 'review' ? 'BLEU and ROUGE (F1) in percent.' : ''}`, '');
    L.push(`| model | templates | ${keys.join(' | ')} |`, `|---|---|${keys.map(() => '---').join('|')}|`);
    if (f === 'rating') {
      for (const b of r.baselines) if (b.rating) L.push(`| ${b.model} | - | ${keys.map((k) => fmt(b.rating![k])).join(' | ')} |`);
    }
    if (f === 'sequential' || f === 'direct') {
      for (const b of r.baselines) {
        const m = f === 'sequential' ? b.sequential : b.direct;
        if (m) L.push(`| ${b.model} | - | ${keys.map((k) => fmt(m[k])).join(' | ')} |`);
      }
    }
    for (const v of r.variants) {
      for (const seen of [true, false]) {
        const m = meanMetrics(v.results, f, seen);
        if (m) L.push(`| ${v.label} | ${seen ? 'seen' : 'unseen'} | ${keys.map((k) => fmt(m[k])).join(' | ')} |`);
      }
    }
    L.push('');
  }
  if (r.families.includes('sequential')) {
    L.push('Baselines rank all items with the history excluded (full ranking); the LMs generate 20 beams over the item trie and drop history items. realShareTrie / realShareFree: share of generated answers that are real items with / without the trie; hr@10Free: HR@10 of the unconstrained search.', '');
  }
  L.push(`Stage seconds: ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; peak RSS ${r.peakRssMiB.toFixed(0)} MiB.`, '');
  return L.join('\n');
}

export function writeReport(run: RecSysRun): RecSysReport {
  return writeRunReport(run.dir, run.report, renderRecSysReport);
}
