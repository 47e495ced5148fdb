/**
 * Typed facade over the parts of `@huggingface/tokenizers` that llmrec uses.
 * The package's own .d.ts files use extension-less relative imports, which
 * TypeScript's NodeNext resolution cannot follow (its exports come out
 * untyped), so the shapes we rely on are declared here once.
 */
import * as lib from '@huggingface/tokenizers';

/** The library's tokenizer model (BPE, WordPiece, Unigram). */
export interface HfModel {
  /** Token strings by id (added tokens included, at their ids). */
  vocab: string[];
  /** The unknown token, when the model has one. */
  unk_token?: string;
  /** Splits pre-tokens into model tokens. */
  encode(tokens: string[]): string[];
}

/** The library's encoding of one text. */
export interface HfEncoding {
  ids: number[];
  tokens: string[];
}

/** The library's tokenizer. */
export interface HfTokenizer {
  model: HfModel | null;
  encode(text: string, options: { text_pair: string | null; add_special_tokens: boolean }): HfEncoding;
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}

/** The library's ByteLevel pre-tokenizer (GPT-2 regex, byte-to-unicode map). */
export interface HfByteLevelPreTokenizer {
  /** Byte value -> its printable unicode symbol. */
  byte_encoder: Record<number, string>;
  /** The GPT-2 split regex (global, unicode). */
  pattern: RegExp;
  pre_tokenize_text(text: string): string[];
}

/** The library's BERT normalizer. */
export interface HfNormalizer {
  normalize(text: string): string;
}

/** The library's BERT pre-tokenizer (whitespace and punctuation split). */
export interface HfPreTokenizer {
  pre_tokenize_text(text: string): string[];
}

/** Every runtime export of the package (most are invisible to the type checker, see above). */
const exported = lib as unknown as Record<string, unknown>;

function ctor<T>(name: string): T {
  const c = exported[name];
  if (typeof c !== 'function') throw new Error(`@huggingface/tokenizers does not export ${name}; the installed version is incompatible`);
  return c as T;
}

/** `new Tokenizer(tokenizerJson, tokenizerConfig)`. */
export const HfTokenizerCtor = ctor<new (tokenizer: object, config: object) => HfTokenizer>('Tokenizer');
/** `new ByteLevelPreTokenizer(config)`. */
export const HfByteLevelPreTokenizerCtor = ctor<new (config: object) => HfByteLevelPreTokenizer>('ByteLevelPreTokenizer');
/** `new BertNormalizer(config)`. */
export const HfBertNormalizerCtor = ctor<new (config: object) => HfNormalizer>('BertNormalizer');
/** `new BertPreTokenizer()`. */
export const HfBertPreTokenizerCtor = ctor<new () => HfPreTokenizer>('BertPreTokenizer');
