/**
 * Bootstrapping against position bias (LLMRank, Hou et al. 2023): the
 * candidates are presented in several orders, each order's ranking is
 * mapped back to the candidates, and the rankings are merged by Borda count
 * (an item at rank r of m gets m - r points, r from 0). Position bias is
 * measured as how often each *presented* position is ranked first.
 */

/**
 * Borda points of m items from rankings (each a list of item ids 0..m-1,
 * best first; a ranking may be partial: unranked items get 0 points from it).
 */
export function bordaPoints(rankings: readonly (readonly number[])[], m: number): Float64Array {
  const pts = new Float64Array(m);
  rankings.forEach((r, k) => {
    const seen = new Set<number>();
    r.forEach((item, rank) => {
      if (!Number.isInteger(item) || item < 0 || item >= m) throw new RangeError(`borda: ranking ${k} holds item ${item} outside 0..${m - 1}`);
      if (seen.has(item)) throw new Error(`borda: ranking ${k} holds item ${item} twice`);
      seen.add(item);
      pts[item] += m - rank;
    });
  });
  return pts;
}

/** Items by Borda points, best first; ties broken by `tieOrder` (default item id ascending). */
export function bordaRanking(rankings: readonly (readonly number[])[], m: number, tieOrder?: readonly number[]): number[] {
  const pts = bordaPoints(rankings, m);
  const tie = new Float64Array(m);
  if (tieOrder) tieOrder.forEach((item, pos) => { tie[item] = pos; });
  else for (let i = 0; i < m; i++) tie[i] = i;
  return Array.from({ length: m }, (_, i) => i).sort((a, b) => pts[b] - pts[a] || tie[a] - tie[b]);
}

/** Counts of the presented position ranked first, over many presentations. */
export class PositionBias {
  readonly firstCounts: Float64Array;
  presentations = 0;

  constructor(readonly m: number) {
    this.firstCounts = new Float64Array(m);
  }

  /** `presentedFirst`: the 0-based presented position of the candidate the model ranked first. */
  add(presentedFirst: number): void {
    if (!Number.isInteger(presentedFirst) || presentedFirst < 0 || presentedFirst >= this.m) throw new RangeError(`position ${presentedFirst} outside 0..${this.m - 1}`);
    this.firstCounts[presentedFirst]++;
    this.presentations++;
  }

  /** Share of presentations whose first pick was at each position (uniform = 1/m each). */
  shares(): number[] {
    return Array.from(this.firstCounts, (c) => (this.presentations ? c / this.presentations : 0));
  }

  /**
   * Pearson's chi-square statistic of the first-pick counts against the
   * uniform distribution (m - 1 degrees of freedom; 0 = no measured bias).
   */
  chiSquare(): number {
    if (this.presentations === 0) return 0;
    const e = this.presentations / this.m;
    let x = 0;
    for (const c of this.firstCounts) x += ((c - e) * (c - e)) / e;
    return x;
  }

  toJSON(): { m: number; presentations: number; firstCounts: number[]; shares: number[]; chiSquare: number } {
    return { m: this.m, presentations: this.presentations, firstCounts: Array.from(this.firstCounts), shares: this.shares(), chiSquare: this.chiSquare() };
  }
}
