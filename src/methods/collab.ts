/**
 * Collaborative knowledge for the LLM recommenders, from any trained
 * baseline (src/models): user / sequence vectors and item vectors for
 * CoLLM's mapping layer, and GANPrompt's expert guidance text (the
 * collaborative model's top picks among the candidates, docs/METHODS.md §6, stage 2 step 2).
 */
import type { SplitDataset } from '../data/types.js';
import type { Recommender, UserBatch } from '../models/types.js';
import { escapeItemText, fillSlots } from './prompt_text.js';

export interface GuideOptions {
  /** How many of the collaborative model's top candidates are named (default 3). */
  topK: number;
  /** Text with {titles} (the top picks, joined by '; ') and {verdict}. */
  template: string;
  /** {verdict} when the prompt's target is among the top picks / when it is not. */
  among: string;
  notAmong: string;
}

export const DEFAULT_GUIDE: GuideOptions = {
  topK: 3,
  template: 'The recommender system suggests: {titles}. {verdict}',
  among: 'The target item is among its suggestions.',
  notAmong: 'The target item is not among its suggestions.',
};

/** One user's question: history and the candidates being judged. */
export interface Case {
  user: number;
  /** [L] item ids, left-padded with 0. */
  history: Int32Array;
  /** Candidate items; for evaluation the target first. */
  candidates: Int32Array;
}

export class CollabSignal {
  private table: { dim: number; data: Float32Array } | null = null;

  constructor(readonly model: Recommender, readonly data: SplitDataset) {}

  get name(): string {
    return this.model.name;
  }

  private batch(cases: readonly Case[]): UserBatch {
    const L = cases[0]?.history.length ?? 0;
    const history = new Int32Array(cases.length * L);
    const user = new Int32Array(cases.length);
    cases.forEach((c, i) => {
      if (c.history.length !== L) throw new Error(`collaborative signal: histories of different lengths (${c.history.length} vs ${L})`);
      history.set(c.history, i * L);
      user[i] = c.user;
    });
    return { size: cases.length, L, user, history };
  }

  /** Item vectors [(numItems + 1) * dim] (row 0 is padding). */
  itemVectors(): { dim: number; data: Float32Array } {
    if (!this.table) {
      const t = this.model.itemEmbeddings();
      if (!t) throw new Error(`collaborative model '${this.model.name}' has no item embeddings; CoLLM / GANPrompt need one that has (e.g. sasrec, gru4rec, bprmf)`);
      this.table = t;
    }
    return this.table;
  }

  /** User / sequence vectors [cases * dim]. */
  userVectors(cases: readonly Case[]): Float32Array {
    const v = this.model.userEmbedding(this.batch(cases));
    if (!v) throw new Error(`collaborative model '${this.model.name}' has no user embeddings`);
    const dim = this.itemVectors().dim;
    if (v.length !== cases.length * dim) {
      throw new Error(`collaborative model '${this.model.name}': user vectors have width ${v.length / cases.length}, item vectors ${dim}; the mapping layer needs one width`);
    }
    return v;
  }

  /** The model's scores of each case's candidates (all cases need the same number). */
  candidateScores(cases: readonly Case[]): Float32Array {
    const C = cases[0]?.candidates.length ?? 0;
    const cand = new Int32Array(cases.length * C);
    cases.forEach((c, i) => {
      if (c.candidates.length !== C) throw new Error('collaborative signal: cases with different candidate counts');
      cand.set(c.candidates, i * C);
    });
    return this.model.scoreCandidates(this.batch(cases), cand, C);
  }
}

/**
 * Indices of the top-k candidates by score, best first; ties go to the later
 * candidate (pessimistic for the target, which evaluation puts first).
 */
export function topCandidates(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => (scores[b] - scores[a]) || (b - a));
  return idx.slice(0, Math.min(k, idx.length));
}

/**
 * Guidance text for the prompt about candidate `target` (an index into the
 * case's candidates): titles escaped (src/methods/prompt_text.ts), the
 * template filled in one pass.
 */
export function guideText(top: readonly number[], target: number, titleOf: (candidate: number) => string, o: GuideOptions = DEFAULT_GUIDE): string {
  const titles = top.map((k) => escapeItemText(titleOf(k))).join('; ');
  const verdict = top.includes(target) ? o.among : o.notAmong;
  return fillSlots(o.template, { titles, verdict }, 'guide template');
}
