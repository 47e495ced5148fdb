/**
 * LLMRank's prompt styles (Hou et al. 2023, "Large Language Models are
 * Zero-Shot Rankers for Recommender Systems"; summarised in
 * docs/LLM.md): the history in order, the numbered candidates, and
 * an instruction to rank them.
 *
 * - sequential: the history in interaction order;
 * - recency: the same plus "Note that my most recently <verb> <noun> is X";
 * - in-context: one demonstration built from the user's own history ("if I
 *   had <verb> h_1..h_{n-1}, you should recommend h_n"), then the request.
 *
 * `mode: 'generate'` ends with the output instruction (one title per line);
 * `mode: 'score'` ends with a cue after which each candidate title is
 * scored as a continuation (for backends with continuation log-probs).
 */

export type PromptStyle = 'sequential' | 'recency' | 'in-context';
export const PROMPT_STYLES: readonly PromptStyle[] = ['sequential', 'recency', 'in-context'];

export interface PromptWords {
  /** Plural noun of items ('movies', 'products', 'items'). */
  noun: string;
  /** Past participle of the interaction ('watched', 'bought', 'interacted with'). */
  verb: string;
  /** Infinitive of the interaction ('watch', 'buy'). */
  verbBase: string;
}

export const DEFAULT_WORDS: PromptWords = { noun: 'items', verb: 'interacted with', verbBase: 'interact with' };
export const MOVIE_WORDS: PromptWords = { noun: 'movies', verb: 'watched', verbBase: 'watch' };

/** The cue of score mode; a candidate title follows it directly. */
export function scoreCue(w: PromptWords): string {
  return `The ${w.noun.replace(/s$/, '')} I would like to ${w.verbBase} next is:\n`;
}

function numbered(titles: readonly string[], first: number): string {
  return titles.map((t, i) => `${i + first}. ${t}`).join('\n');
}

/**
 * The prompt of one presentation: `history` titles oldest first,
 * `candidates` titles in presented order (labelled from `firstLabel`, default 1).
 */
export function buildRankPrompt(style: PromptStyle, history: readonly string[], candidates: readonly string[], o: { words?: PromptWords; mode?: 'generate' | 'score'; firstLabel?: number } = {}): string {
  const w = o.words ?? DEFAULT_WORDS;
  const first = o.firstLabel ?? 1;
  const m = candidates.length;
  if (history.length === 0) throw new Error('buildRankPrompt: empty history');
  if (m === 0) throw new Error('buildRankPrompt: no candidates');
  let head: string;
  if (style === 'in-context' && history.length >= 2) {
    const demo = history.slice(0, -1);
    const last = history[history.length - 1];
    head = `If I've ${w.verb} the following ${w.noun} in the past in order:\n${numbered(demo, first)}\n` +
      `then you should recommend ${last} to me, and now that I've ${w.verb} ${last}, then:\n`;
  } else {
    head = `I've ${w.verb} the following ${w.noun} in the past in order:\n${numbered(history, first)}\n`;
  }
  let s = `${head}\nNow there are ${m} candidate ${w.noun} that I can ${w.verbBase} next:\n${numbered(candidates, first)}\n`;
  if (style === 'recency') s += `Note that my most recently ${w.verb} ${w.noun.replace(/s$/, '')} is ${history[history.length - 1]}.\n`;
  s += `Please rank these ${m} ${w.noun} by measuring the possibilities that I would like to ${w.verbBase} next most, according to my history.\n`;
  if ((o.mode ?? 'generate') === 'score') return s + scoreCue(w);
  return s + `Please show me your ranking results with order numbers, one ${w.noun.replace(/s$/, '')} per line. ` +
    `You MUST rank the given candidate ${w.noun}; do not name ${w.noun} that are not in the candidate list.\nRanking:\n`;
}
