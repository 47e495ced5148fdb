/**
 * Special tokens the recommender methods rely on, and helpers adding them to a
 * tokenizer with Hugging Face `added_tokens` semantics (never split, special).
 */

/** BERT-style mask token (masked item / token prediction). */
export const MASK_TOKEN = '[MASK]';
/** Slot holding a user's collaborative embedding (CoLLM-style prompts). */
export const USER_ID_TOKEN = '<UserID>';
/** Slot holding an item's collaborative embedding (CoLLM-style prompts). */
export const ITEM_ID_TOKEN = '<ItemID>';
/** Slot for a guidance / soft-prompt vector (GANPrompt-style prompts). */
export const GUIDE_TOKEN = '<Guide>';
/** The recommender slots added by `withRecSpecialTokens`, in that order. */
export const REC_SPECIAL_TOKENS: readonly string[] = [USER_ID_TOKEN, ITEM_ID_TOKEN, GUIDE_TOKEN];

/** GLM blank-infilling mask of a short span. */
export const GLM_MASK_TOKEN = '[M]';
/** GLM blank-infilling mask of a sentence. */
export const GLM_SENTENCE_MASK_TOKEN = '[sM]';
/** GLM blank-infilling mask of a long (document-level) span. */
export const GLM_GMASK_TOKEN = '[gM]';
/** The three GLM masks `[M]`, `[sM]`, `[gM]`. */
export const GLM_MASK_TOKENS: readonly string[] = [GLM_MASK_TOKEN, GLM_SENTENCE_MASK_TOKEN, GLM_GMASK_TOKEN];

/** Default special tokens of a trained byte-level BPE: `<s>`, `</s>`, `<pad>`, `<unk>`. */
export const BPE_DEFAULT_SPECIAL_TOKENS: readonly string[] = ['<s>', '</s>', '<pad>', '<unk>'];
/** Special tokens of a trained BERT-style WordPiece: `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`. */
export const WORDPIECE_DEFAULT_SPECIAL_TOKENS: readonly string[] = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** Roles a special token can play (the `<role>_token` keys of `tokenizer_config.json`). */
export type SpecialTokenRole = 'bos' | 'eos' | 'pad' | 'unk' | 'mask' | 'cls' | 'sep';
/** Every role, in a fixed order. */
/**
 * What the helpers below need of a tokenizer (the Tokenizer class of
 * tokenizer.ts has it); structural, so this file does not import tokenizer.ts
 * back.
 */
export interface SpecialTokenHost {
  addSpecialTokens(tokens: readonly string[]): number[];
  readonly specialTokens: Partial<Record<SpecialTokenRole, { id: number }>>;
  setSpecialToken(role: SpecialTokenRole, token: string): number;
}

export const SPECIAL_TOKEN_ROLES: readonly SpecialTokenRole[] = ['bos', 'eos', 'pad', 'unk', 'mask', 'cls', 'sep'];

/** Conventional role of well-known special token strings (used by the trainers). */
export const CONVENTIONAL_ROLES: Readonly<Record<string, SpecialTokenRole>> = {
  '<s>': 'bos',
  '</s>': 'eos',
  '<pad>': 'pad',
  '<unk>': 'unk',
  '<mask>': 'mask',
  '[PAD]': 'pad',
  '[UNK]': 'unk',
  '[CLS]': 'cls',
  '[SEP]': 'sep',
  '[MASK]': 'mask',
};

/** The T5 span sentinel number `i`: `<extra_id_i>`. */
export function sentinelToken(i: number): string {
  if (!Number.isInteger(i) || i < 0) throw new RangeError(`sentinel index must be a non-negative integer, got ${i}`);
  return `<extra_id_${i}>`;
}

/** The first `n` T5 span sentinels `<extra_id_0>`..`<extra_id_{n-1}>`. */
export function sentinelTokens(n: number): string[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sentinel count must be a non-negative integer, got ${n}`);
  return Array.from({ length: n }, (_, i) => sentinelToken(i));
}

/**
 * Adds the T5 span sentinels `<extra_id_0>`..`<extra_id_{n-1}>` as special
 * tokens and returns their ids, indexed by sentinel number. Existing ones keep
 * their ids (a T5 tokenizer already has 100, numbered downwards from the top
 * of the vocabulary); new ones are appended in increasing sentinel order.
 */
export function addSentinelTokens(tok: SpecialTokenHost, n: number): number[] {
  return tok.addSpecialTokens(sentinelTokens(n));
}

/** Ids of the recommender slots and of the mask token. */
export interface RecSpecialTokenIds {
  /** Id of `<UserID>`. */
  user: number;
  /** Id of `<ItemID>`. */
  item: number;
  /** Id of `<Guide>`. */
  guide: number;
  /** Id of the tokenizer's mask token (its own one when it has one, else `[MASK]`). */
  mask: number;
}

/**
 * Adds the recommender slots `<UserID>`, `<ItemID>`, `<Guide>` as special
 * tokens and makes sure the tokenizer has a mask token (keeping its own, e.g.
 * BERT's `[MASK]` or RoBERTa's `<mask>`, else adding `[MASK]` in the `mask`
 * role). Idempotent; returns the ids.
 */
export function withRecSpecialTokens(tok: SpecialTokenHost): RecSpecialTokenIds {
  const [user, item, guide] = tok.addSpecialTokens([...REC_SPECIAL_TOKENS]);
  const mask = tok.specialTokens.mask?.id ?? tok.setSpecialToken('mask', MASK_TOKEN);
  return { user, item, guide, mask };
}

/** Adds the GLM masks `[M]`, `[sM]`, `[gM]` as special tokens; returns their ids in that order. */
export function addGlmMaskTokens(tok: SpecialTokenHost): number[] {
  return tok.addSpecialTokens([...GLM_MASK_TOKENS]);
}
