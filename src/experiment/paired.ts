/**
 * Paired significance between the models of a benchmark run (docs/METHODS.md
 * §2.6): the run keeps each model's per-user test ranks
 * (models/<label>/test-<protocol>.users.json) and tests every model against
 * the reference models (`eval.pairedAgainst`, default: the config's Pop
 * models) on the same users, with the sign-flip test and the bootstrap
 * interval of src/eval/significance.ts. The tests go to significance.json
 * and to a table of results.md.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { perUserFromJson, perUserMetric, type PerUserRanking, sameUsers } from '../eval/metrics.js';
import { pairedTestCells } from '../eval/report.js';
import { pairedTest, type PairedTest } from '../eval/significance.js';
import { readJson, writeJson } from '../run/index.js';
import { type ModelSpec, type RunConfig, modelSpecs } from '../config/run.js';

/** One model against one reference model under one protocol. */
export interface BenchmarkPaired {
  protocol: 'sampled' | 'full';
  model: string;
  against: string;
  /** Per metric (AUC on the sampled protocol, NDCG at the largest cut-off). */
  tests: Record<string, PairedTest>;
}

/** significance.json of a run directory. */
export interface BenchmarkSignificance {
  pairs: BenchmarkPaired[];
  /** Models without a per-user file (evaluated by an llmrec that did not keep them): not tested. */
  missing: string[];
}

/** The per-user file of a model's test evaluation under a protocol, relative to the run directory. */
export function perUserFile(label: string, protocol: 'sampled' | 'full'): string {
  return join('models', label, `test-${protocol}.users.json`);
}

/** Writes a model's per-user test ranks (atomically). */
export function writePerUser(dir: string, label: string, protocol: 'sampled' | 'full', p: PerUserRanking): void {
  writeJson(join(dir, perUserFile(label, protocol)), p);
}

/** The reference labels: `eval.pairedAgainst`, or every model named 'pop' in the config. */
export function pairedReferences(cfg: RunConfig, specs: readonly ModelSpec[] = modelSpecs(cfg)): string[] {
  if (cfg.eval.pairedAgainst) {
    cfg.eval.pairedAgainst.forEach((label, i, all) => {
      if (!specs.some((s) => s.label === label)) throw new Error(`eval.pairedAgainst[${i}]: no model labelled '${label}' in the run's config (${specs.map((s) => s.label).join(', ')})`);
      if (all.indexOf(label) < i) throw new Error(`eval.pairedAgainst[${i}]: '${label}' appears twice`);
    });
    return cfg.eval.pairedAgainst;
  }
  return specs.filter((s) => s.name === 'pop').map((s) => s.label);
}

/** The metrics tested under a protocol: AUC (sampled) and the NDCG at the largest cut-off. */
export function pairedMetrics(cfg: RunConfig, protocol: 'sampled' | 'full'): string[] {
  const ks = protocol === 'full' ? cfg.eval.fullKs : cfg.eval.ks;
  return [...(protocol === 'sampled' ? ['auc'] : []), `ndcg@${Math.max(...ks)}`];
}

function readPerUser(dir: string, label: string, protocol: 'sampled' | 'full'): PerUserRanking | null {
  const rel = perUserFile(label, protocol);
  const file = join(dir, rel);
  if (!existsSync(file)) return null;
  const p = perUserFromJson(readJson<unknown>(file));
  if (!p) throw new Error(`${rel}: not a per-user evaluation (fields users, rank and auc: lists of one length; ranks from 1, AUCs in [0, 1] or null)`);
  return p;
}

/**
 * Every model of `labels` against every reference model, under each
 * protocol, from the per-user files in `dir`; models without a file are
 * listed in `missing`. Two files that do not hold the same users in the same
 * order are refused with both named.
 */
export function benchmarkSignificance(dir: string, cfg: RunConfig, labels: readonly string[]): BenchmarkSignificance {
  const refs = pairedReferences(cfg);
  const pairs: BenchmarkPaired[] = [];
  const missing = new Set<string>();
  for (const protocol of cfg.eval.protocols) {
    const per = new Map<string, PerUserRanking>();
    for (const label of labels) {
      const p = readPerUser(dir, label, protocol);
      if (p) per.set(label, p);
      else missing.add(label);
    }
    for (const [j, against] of refs.entries()) {
      const b = per.get(against);
      if (!b) continue;
      // Not against itself, nor against a reference it was already the reference of: the reverse pair is the same test.
      const done = refs.slice(0, j + 1);
      for (const model of labels) {
        const a = per.get(model);
        if (!a || done.includes(model)) continue;
        if (!sameUsers(a.users, b.users)) {
          throw new Error(`${perUserFile(model, protocol)} and ${perUserFile(against, protocol)}: not the same users in the same order`);
        }
        const tests: Record<string, PairedTest> = {};
        for (const metric of pairedMetrics(cfg, protocol)) tests[metric] = pairedTest(perUserMetric(a, metric), perUserMetric(b, metric), { seed: cfg.train.seed });
        pairs.push({ protocol, model, against, tests });
      }
    }
  }
  return { pairs, missing: [...missing] };
}

/** Writes significance.json. */
export function writeSignificance(dir: string, s: BenchmarkSignificance): void {
  writeJson(join(dir, 'significance.json'), s);
}

/** The results.md section of the paired tests (none without pairs or missing models). */
export function significanceLines(s: BenchmarkSignificance | null): string[] {
  if (!s || (s.pairs.length === 0 && s.missing.length === 0)) return [];
  const out = ['## Paired against the reference models (test users; sign-flip test, 95 % bootstrap interval of the difference; docs/METHODS.md §2.6)', ''];
  if (s.pairs.length) {
    out.push('| protocol | model | against | metric | model | reference | difference | 95 % interval | p | users |', '|---|---|---|---|---:|---:|---:|---|---:|---:|');
    for (const g of s.pairs) {
      for (const [metric, t] of Object.entries(g.tests)) {
        out.push(`| ${g.protocol} | ${g.model} | ${g.against} | ${metric.toUpperCase()} | ${pairedTestCells(t)} |`);
      }
    }
    out.push('');
  }
  if (s.missing.length) out.push(`Not tested (no per-user file: evaluated before llmrec kept them; evaluate again to test): ${s.missing.join(', ')}.`, '');
  return out;
}
