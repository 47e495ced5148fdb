/**
 * Parsing an LLM's ranking output into a ranking of the presented
 * candidates (LLMRank, Hou et al. 2023; docs/LLM.md). The output is
 * free text: numbered lines ("1. Toy Story (1995)"), bullets, a JSON array of
 * titles or of candidate numbers, candidate references ("[3]", "candidate 3"),
 * misspelt or cut titles, repeats, chatter. Nothing here throws on text:
 * every line is matched to a candidate or counted as unmatched, repeats are
 * counted and skipped, candidates never mentioned are appended in presented
 * order and counted as missing, so the result is always a full permutation.
 *
 * Matching per line, first hit wins:
 *  1. exact title (case, punctuation and spacing ignored);
 *  2. a candidate reference: a bare number or "[n]" / "candidate n" / "item n"
 *     (n as labelled in the prompt, 1-based by default);
 *  3. fuzzy title: the candidate whose normalised title is contained in the
 *     line (or contains it, for cut titles of >= 8 characters), else the best
 *     character-bigram Dice similarity >= `fuzzyThreshold` (default 0.6).
 */

export interface ParseOptions {
  /** Number of the first candidate in the prompt's list (default 1). */
  firstLabel?: number;
  /** Minimum Dice similarity of a fuzzy title match (default 0.6). */
  fuzzyThreshold?: number;
}

/** What a parse counted (summed over outputs in the report's ParseTotals). */
export interface ParseCounts {
  /** Candidates the output ranked itself (the rest were appended). */
  ranked: number;
  exact: number;
  byLabel: number;
  fuzzy: number;
  /** Lines naming a candidate already ranked. */
  duplicates: number;
  /** Candidates the output never named (appended in presented order). */
  missing: number;
  /** Non-empty lines that matched no candidate (free text). */
  unmatchedLines: number;
}

export interface ParsedRanking extends ParseCounts {
  /** Candidate positions (0-based, presented order), best first: a permutation of 0..m-1. */
  ranking: number[];
}

/** Lowercase letters and digits, single spaces ("Toy Story (1995)" -> "toy story 1995"). */
export function normalizeTitle(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

function bigrams(s: string): Map<string, number> {
  const m = new Map<string, number>();
  const t = s.replace(/ /g, '');
  for (let i = 0; i + 1 < t.length; i++) {
    const g = t.slice(i, i + 2);
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/** Sørensen–Dice coefficient of character bigrams (spaces ignored), in [0, 1]. */
export function diceSimilarity(a: string, b: string): number {
  const A = bigrams(a);
  const B = bigrams(b);
  let na = 0;
  let nb = 0;
  let both = 0;
  for (const v of A.values()) na += v;
  for (const [g, v] of B) {
    nb += v;
    both += Math.min(v, A.get(g) ?? 0);
  }
  return na + nb === 0 ? 0 : (2 * both) / (na + nb);
}

/** The output split into candidate lines (a JSON array gives one line per element). */
function outputLines(text: string): string[] {
  const t = text.trim();
  if (t.startsWith('[')) {
    try {
      const j: unknown = JSON.parse(t);
      if (Array.isArray(j)) return j.map((x) => (typeof x === 'string' || typeof x === 'number' ? String(x) : JSON.stringify(x)));
    } catch {
      // not JSON: fall through to lines
    }
  }
  // Lines; a single line holding "1. A 2. B ..." is split before each order number.
  return t.split(/\r?\n/).flatMap((line) => line.split(/\s(?=\d{1,3}[.)]\s)/));
}

const LEADING_RANK = /^\s*(?:[-*•>]+\s*)?(?:(?:rank|top)?\s*#?\d{1,3}\s*[.):-]\s*)?/i;
const LABEL_ONLY = /^\s*(?:[-*•>]+\s*)?(?:(?:rank|top)?\s*#?\d{1,3}\s*[.):-]\s*)?(?:\[\s*(\d{1,3})\s*\]|(?:candidate|item|movie|no\.?|number)\s*#?\s*(\d{1,3})|#?(\d{1,3}))\s*[.)]?\s*$/i;

/** Parses `text` against the candidate titles in presented order (see the module doc). */
export function parseRanking(text: string, candidates: readonly string[], opts: ParseOptions = {}): ParsedRanking {
  const m = candidates.length;
  const first = opts.firstLabel ?? 1;
  const threshold = opts.fuzzyThreshold ?? 0.6;
  const norm = candidates.map(normalizeTitle);
  const byNorm = new Map<string, number>();
  norm.forEach((n, i) => { if (!byNorm.has(n)) byNorm.set(n, i); });
  const taken = new Array<boolean>(m).fill(false);
  const out: ParsedRanking = { ranking: [], ranked: 0, exact: 0, byLabel: 0, fuzzy: 0, duplicates: 0, missing: 0, unmatchedLines: 0 };
  const take = (i: number, how: 'exact' | 'byLabel' | 'fuzzy'): void => {
    if (taken[i]) { out.duplicates++; return; }
    taken[i] = true;
    out.ranking.push(i);
    out[how]++;
  };
  for (const raw of outputLines(typeof text === 'string' ? text : '')) {
    if (raw.trim() === '') continue;
    const withRank = normalizeTitle(raw);
    const body = normalizeTitle(raw.replace(LEADING_RANK, ''));
    const exact = byNorm.get(body) ?? byNorm.get(withRank);
    if (exact !== undefined) { take(exact, 'exact'); continue; }
    const lab = LABEL_ONLY.exec(raw);
    if (lab) {
      const n = Number(lab[1] ?? lab[2] ?? lab[3]);
      const i = n - first;
      if (i >= 0 && i < m) { take(i, 'byLabel'); continue; }
    }
    if (body.length === 0) { out.unmatchedLines++; continue; }
    // Containment: the longest candidate title inside the line, or a cut title (>= 8 chars) inside a candidate.
    let best = -1;
    let bestLen = 0;
    norm.forEach((n, i) => {
      if (n.length === 0) return;
      const inLine = ` ${body} `.includes(` ${n} `);
      const cut = body.length >= 8 && n.startsWith(body);
      const len = inLine ? n.length : cut ? body.length : 0;
      if (len > bestLen || (len === bestLen && len > 0 && taken[best] && !taken[i])) { best = i; bestLen = len; }
    });
    if (best < 0) {
      let bestSim = threshold;
      norm.forEach((n, i) => {
        const s = diceSimilarity(body, n);
        if (s > bestSim || (s === bestSim && best >= 0 && taken[best] && !taken[i])) { bestSim = s; best = i; }
      });
    }
    if (best >= 0) take(best, 'fuzzy');
    else out.unmatchedLines++;
  }
  out.ranked = out.ranking.length;
  for (let i = 0; i < m; i++) {
    if (!taken[i]) { out.ranking.push(i); out.missing++; }
  }
  return out;
}
