/**
 * Item text entering prompts (issue 15, "Prompt integrity"; docs/METHODS.md §4-7):
 *
 * - `escapeItemText` is THE one escaping rule for every title, attribute and
 *   review put into a yes/no, guidance, diversity or RecSysLLM prompt. It
 *   neutralises (a) special tokens of the tokenizer (and the well-known ones
 *   of src/lm/tokenizer/special.ts), so a title can never produce a
 *   `<UserID>`/`<ItemID>`/`</s>`/`[MASK]`/`<Guide>` id, and (b) template slot
 *   syntax `{` `}`, so a title can never read as a slot. Text without either
 *   comes back unchanged (clean data encodes to the same ids as before).
 * - `fillSlots` is THE one template filler: all `{name}` slots in one pass
 *   with a function replacer, so values are inserted literally (`$'`, `$&`
 *   and `{verdict}` inside a value are never interpreted) and never rescanned.
 *
 * Neutralising a special token inserts a space after its first character
 * (`<ItemID>` -> `< ItemID>`, `[MASK]` -> `[ MASK]`): readable, ASCII, and
 * no longer matched by the tokenizer's added-token pass. Braces become
 * parentheses. The private-use characters used as slot markers while
 * assembling prompts (SLOT_MARK_*) are removed.
 */
import {
  BPE_DEFAULT_SPECIAL_TOKENS, GLM_MASK_TOKENS, MASK_TOKEN, REC_SPECIAL_TOKENS, WORDPIECE_DEFAULT_SPECIAL_TOKENS, type Tokenizer,
} from '../lm/tokenizer/index.js';

/** Marker of the <UserID> slot while a prompt is assembled (never in escaped item text). */
export const SLOT_MARK_USER = '\uE000';
/** Marker of the <ItemID> slot while a prompt is assembled (never in escaped item text). */
export const SLOT_MARK_ITEM = '\uE001';

/** Special token strings neutralised in every item text, whatever the tokenizer: src/lm/tokenizer/special.ts plus GLM's span tokens and RoBERTa's mask. */
export const KNOWN_SPECIAL_TOKENS: readonly string[] = [
  ...REC_SPECIAL_TOKENS, MASK_TOKEN, '<mask>', ...GLM_MASK_TOKENS, '[S]', '[E]', ...BPE_DEFAULT_SPECIAL_TOKENS, ...WORDPIECE_DEFAULT_SPECIAL_TOKENS,
];

const SENTINEL = /<extra_id_(\d+)>/g;

/** The special token strings of a tokenizer (its special added tokens) together with KNOWN_SPECIAL_TOKENS. */
export function specialTokenStrings(tok?: Tokenizer): string[] {
  const out = new Set(KNOWN_SPECIAL_TOKENS);
  if (tok) for (const t of tok.addedTokens()) if (t.special && t.content.length > 1) out.add(t.content);
  // Longest first, so a token containing another is broken as a whole.
  return [...out].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

const defaultSpecials = specialTokenStrings();

function breakToken(s: string): string {
  return `${s[0]} ${s.slice(1)}`;
}

/**
 * The one escaping rule for item text entering a prompt (see the file
 * comment). `specials` defaults to KNOWN_SPECIAL_TOKENS; pass
 * `specialTokenStrings(tok)` to cover a tokenizer's own added tokens too.
 */
export function escapeItemText(text: string, specials: readonly string[] = defaultSpecials): string {
  let s = text.replace(/[\uE000\uE001]/g, '').replace(/\{/g, '(').replace(/\}/g, ')').replace(SENTINEL, (m) => breakToken(m));
  // Inserting a space can only break occurrences; loop until none is left
  // (a bounded number of passes: each pass strictly lowers the occurrences of a space-free token).
  for (let pass = 0; pass < 8; pass++) {
    let changed = false;
    for (const t of specials) {
      if (t.length < 2 || !s.includes(t)) continue;
      s = s.split(t).join(breakToken(t));
      changed = true;
    }
    if (!changed) return s;
  }
  throw new Error(`escapeItemText: could not neutralise the special tokens in ${JSON.stringify(text.slice(0, 80))}`);
}

/**
 * Fills every `{name}` slot of `template` in one pass. Values are inserted
 * literally and not rescanned. A slot missing from `values` is an error
 * naming `where`, unless `keepUnknown` (then it stays as written).
 */
export function fillSlots(template: string, values: Readonly<Record<string, string>>, where = 'template', keepUnknown = false): string {
  return template.replace(/\{(\w+)\}/g, (m: string, k: string) => {
    if (Object.hasOwn(values, k)) return values[k];
    if (keepUnknown) return m;
    throw new Error(`${where}: no value for the slot {${k}} (have ${Object.keys(values).map((x) => `{${x}}`).join(' ') || 'none'})`);
  });
}
