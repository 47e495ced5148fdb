/**
 * The tokenizer of llmrec: any Hugging Face `tokenizer.json` (byte-level BPE
 * as GPT-2 / LLaMA-3 / Qwen2, WordPiece as BERT, Unigram + Metaspace as T5),
 * run by `@huggingface/tokenizers` (a pure-JS port of HF tokenizers). This
 * class owns the JSON (so it can add special tokens and save it back),
 * validates it with errors naming file and field, and guards every id it
 * returns: no `undefined`, no silently dropped characters.
 *
 * Decoding follows the Rust `tokenizers` library: no transformers-style
 * "clean up tokenization spaces" unless `tokenizer_config.json` sets
 * `clean_up_tokenization_spaces: true`, so byte-level tokenizers round-trip
 * text exactly.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FileKindError, readRegularText } from '../../io/files.js';
import { writeFileAtomic } from '../../util/fs.js';
import { TokenizerError } from './errors.js';
import { type HfTokenizer, HfTokenizerCtor } from './hf.js';
import { SPECIAL_TOKEN_ROLES, type SpecialTokenRole } from './special.js';
import { configTokenString, type JsonObject, validateTokenizerConfig, validateTokenizerJSON } from './validate.js';

/** File name of the tokenizer itself inside a model folder. */
export const TOKENIZER_FILE = 'tokenizer.json';
/** File name of the transformers-side settings beside it. */
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** A special token: its string and its id. */
export interface SpecialTokenRef {
  token: string;
  id: number;
}

/** The tokenizer's special tokens by role (a role is absent when the tokenizer has no such token). */
export type SpecialTokens = Partial<Record<SpecialTokenRole, SpecialTokenRef>>;

/** Options of `encode` / `encodeBatch`. */
export interface EncodeOptions {
  /** Apply the post-processor's template (e.g. BERT's `[CLS] $A [SEP]`); default true, as in HF. */
  addSpecialTokens?: boolean;
  /** Second sequence of a pair (the template's `$B`). */
  pair?: string;
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Leave out special tokens (added tokens marked `special`); default false. */
  skipSpecialTokens?: boolean;
}

/** An entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenJSON {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Largest tokenizer file read (LLaMA-3's tokenizer.json is 9 MB). */
export const MAX_TOKENIZER_FILE_BYTES = 256 * 2 ** 20;

/** Reads a tokenizer JSON file: a regular file only (no FIFO, device), bounded in size (src/io/files.ts). */
function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readRegularText(path, 'tokenizer file', MAX_TOKENIZER_FILE_BYTES);
  } catch (e) {
    const detail = e instanceof FileKindError ? e.message.slice(path.length + 2) : (e as Error).message;
    throw new TokenizerError(path, '(file)', `cannot read: ${detail}`, { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // V8's JSON messages quote the text (which may be any file): keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new TokenizerError(path, '(json)', `not valid JSON${pos ? ` (at byte ${pos[1]})` : ''}`, { cause: e });
  }
}

/** Config with every `<role>_token` and `additional_special_tokens` entry reduced to strings, as the library expects. */
function libraryConfig(config: JsonObject): JsonObject {
  const out: JsonObject = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true };
  for (const role of SPECIAL_TOKEN_ROLES) {
    const k = `${role}_token`;
    const s = configTokenString(config[k]);
    if (s === undefined) delete out[k];
    else out[k] = s;
  }
  if (Array.isArray(config.additional_special_tokens)) {
    out.additional_special_tokens = config.additional_special_tokens.map(configTokenString).filter((s): s is string => s !== undefined);
  }
  return out;
}

/** A loaded tokenizer; see the module doc. */
export class Tokenizer {
  /** Where it came from: a file path, or a label for in-memory JSON. */
  readonly source: string;
  private json: JsonObject;
  private config: JsonObject;
  private hf!: HfTokenizer;
  private specials: SpecialTokens = {};

  private constructor(json: JsonObject, config: JsonObject, source: string) {
    this.source = source;
    this.json = json;
    this.config = config;
    this.rebuild();
  }

  /**
   * Loads a tokenizer.json, given its path or the folder holding it; a
   * `tokenizer_config.json` beside it is read when present.
   */
  static fromFile(path: string): Tokenizer {
    if (!existsSync(path)) throw new TokenizerError(path, '(file)', 'does not exist');
    const file = statSync(path).isDirectory() ? join(path, TOKENIZER_FILE) : path;
    if (!existsSync(file)) throw new TokenizerError(file, '(file)', 'does not exist');
    const json = readJsonFile(file);
    const configPath = join(dirname(file), TOKENIZER_CONFIG_FILE);
    const config = existsSync(configPath) ? validateTokenizerConfig(readJsonFile(configPath), configPath) : {};
    return new Tokenizer(validateTokenizerJSON(json, file), config, file);
  }

  /**
   * Builds a tokenizer from a parsed tokenizer.json (deep-copied) and an
   * optional parsed tokenizer_config.json. `source` labels errors.
   */
  static fromJSON(json: unknown, source = '<json>', config?: unknown): Tokenizer {
    const cfg = config === undefined ? {} : validateTokenizerConfig(config, `${source} (${TOKENIZER_CONFIG_FILE})`);
    return new Tokenizer(validateTokenizerJSON(json, source), cfg, source);
  }

  /** Re-creates the library tokenizer from the JSON (after loading or adding tokens). */
  private rebuild(): void {
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizerCtor(this.json, libraryConfig(this.config));
    } catch (e) {
      if (e instanceof TokenizerError) throw e;
      throw new TokenizerError(this.source, '(tokenizer)', `@huggingface/tokenizers rejected it: ${(e as Error).message}`, { cause: e });
    }
    this.guardModel(hf);
    this.hf = hf;
    this.specials = this.findSpecialTokens();
  }

  /**
   * A BPE model without unk_token drops characters missing from its vocabulary
   * in the library; make that an error instead (byte-level vocabularies hold
   * every byte, so they never hit it).
   */
  private guardModel(hf: HfTokenizer): void {
    const model = hf.model;
    const cfg = this.json.model as JsonObject;
    if (model === null || cfg.type !== 'BPE' || (typeof cfg.unk_token === 'string' && cfg.unk_token !== '')) return;
    const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';
    if (cfg.byte_fallback === true || nonEmpty(cfg.end_of_word_suffix) || nonEmpty(cfg.continuing_subword_suffix)) return;
    const encode = model.encode.bind(model);
    const source = this.source;
    model.encode = (tokens: string[]): string[] => {
      const out = encode(tokens);
      if (out.join('') !== tokens.join('')) {
        const bad = tokens.find((t) => encode([t]).join('') !== t) ?? tokens.join('');
        throw new TokenizerError(source, 'model.unk_token', `text piece ${JSON.stringify(bad)} has characters outside model.vocab and the model has no unk_token`);
      }
      return out;
    };
  }

  private findSpecialTokens(): SpecialTokens {
    const out: SpecialTokens = {};
    for (const role of SPECIAL_TOKEN_ROLES) {
      const token = configTokenString(this.config[`${role}_token`]);
      const id = token === undefined ? undefined : this.tokenToId(token);
      if (token !== undefined && id !== undefined) out[role] = { token, id };
    }
    if (out.unk === undefined) {
      const model = this.json.model as JsonObject;
      const unk = model.type === 'Unigram' ? this.hf.model?.unk_token : configTokenString(model.unk_token);
      const id = unk === undefined ? undefined : this.tokenToId(unk);
      if (unk !== undefined && id !== undefined) out.unk = { token: unk, id };
    }
    return out;
  }

  /** Special tokens by role, from tokenizer_config.json (and the model's unk token). */
  get specialTokens(): SpecialTokens {
    return { ...this.specials };
  }

  /** Number of ids: one more than the largest id of the vocabulary and the added tokens (the embedding table size). */
  get vocabSize(): number {
    return this.hf.model?.vocab.length ?? 0;
  }

  /** The model type: 'BPE', 'WordPiece' or 'Unigram'. */
  get modelType(): string {
    return String((this.json.model as JsonObject).type);
  }

  /** Id of a token (vocabulary or added), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Token string of an id, or undefined when out of range. */
  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.hf.id_to_token(id) : undefined;
  }

  /** The token strings `text` splits into (special tokens of the template included when `addSpecialTokens`). */
  tokenize(text: string, opts: EncodeOptions = {}): string[] {
    return this.encodeFull(text, opts).tokens;
  }

  /** Token ids of `text` (and `opts.pair`); the post-processor's special tokens are added unless `addSpecialTokens: false`. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeFull(text, opts).ids;
  }

  /** `encode` of each text. */
  encodeBatch(texts: readonly string[], opts: EncodeOptions = {}): number[][] {
    return texts.map((t) => this.encode(t, opts));
  }

  private encodeFull(text: string, opts: EncodeOptions): { ids: number[]; tokens: string[] } {
    if (typeof text !== 'string') throw new TypeError(`encode expects a string, got ${typeof text}`);
    const enc = this.hf.encode(text, { text_pair: opts.pair ?? null, add_special_tokens: opts.addSpecialTokens ?? true });
    for (let i = 0; i < enc.ids.length; i++) {
      const id = enc.ids[i];
      if (!Number.isInteger(id)) {
        throw new TokenizerError(this.source, 'model.unk_token', `token ${JSON.stringify(enc.tokens[i])} has no id and the model has no usable unk_token`);
      }
    }
    return { ids: enc.ids, tokens: enc.tokens };
  }

  /** Text of `ids`; throws a RangeError on an id outside the vocabulary. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (this.idToToken(id) === undefined) throw new RangeError(`${this.source}: token id ${id} is not in the vocabulary (size ${this.vocabSize})`);
    }
    const skip = opts.skipSpecialTokens ?? false;
    return this.hf.decode([...ids], { skip_special_tokens: skip, clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces === true });
  }

  /** A copy of tokenizer.json's `added_tokens`. */
  addedTokens(): AddedTokenJSON[] {
    return (this.json.added_tokens as AddedTokenJSON[]).map((t) => ({ ...t }));
  }

  /**
   * Adds special tokens with HF `added_tokens` semantics (matched before any
   * normalisation or splitting, so never split; `special: true`, so
   * `skipSpecialTokens` drops them). A new token gets the next free id; a
   * token already in the vocabulary keeps its id; an existing added token is
   * marked special. Returns the ids, in the order given.
   */
  addSpecialTokens(tokens: readonly string[]): number[] {
    const before = this.json.added_tokens as AddedTokenJSON[];
    const added = before.map((t) => ({ ...t }));
    const ids: number[] = [];
    let next = this.vocabSize;
    let changed = false;
    for (const token of tokens) {
      if (typeof token !== 'string' || token.length === 0) throw new TypeError(`special tokens must be non-empty strings, got ${JSON.stringify(token)}`);
      const existing = added.find((t) => t.content === token);
      if (existing !== undefined) {
        if (!existing.special) {
          existing.special = true;
          existing.normalized = false;
          changed = true;
        }
        ids.push(existing.id);
        continue;
      }
      const id = this.hf.token_to_id(token) ?? next++;
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      ids.push(id);
      changed = true;
    }
    if (changed) {
      this.json.added_tokens = added;
      try {
        this.rebuild();
      } catch (e) {
        this.json.added_tokens = before;
        this.rebuild();
        throw e;
      }
    }
    return ids;
  }

  /**
   * Makes `token` the tokenizer's `role` token (e.g. a pad token for GPT-2):
   * adds it as a special token when needed and records it in
   * tokenizer_config.json. Returns its id.
   */
  setSpecialToken(role: SpecialTokenRole, token: string): number {
    const [id] = this.addSpecialTokens([token]);
    this.config[`${role}_token`] = token;
    this.specials = this.findSpecialTokens();
    return id;
  }

  /** A deep copy of the tokenizer.json object (with the tokens added so far). */
  toJSON(): JsonObject {
    return structuredClone(this.json);
  }

  /** A deep copy of the tokenizer_config.json object (empty when none was given). */
  configJSON(): JsonObject {
    return structuredClone(this.config);
  }

  /**
   * Writes tokenizer.json (to `pathOrDir` when it ends in `.json`, else into
   * that folder) and tokenizer_config.json beside it, each atomically.
   * Returns the path of tokenizer.json.
   */
  save(pathOrDir: string): string {
    const file = pathOrDir.endsWith('.json') ? pathOrDir : join(pathOrDir, TOKENIZER_FILE);
    const config: JsonObject = { ...this.config };
    if (config.tokenizer_class === undefined) config.tokenizer_class = 'PreTrainedTokenizerFast';
    const added = this.json.added_tokens as AddedTokenJSON[];
    config.added_tokens_decoder = Object.fromEntries(
      [...added].sort((a, b) => a.id - b.id).map(({ id, ...rest }) => [String(id), rest]),
    );
    writeFileAtomic(file, JSON.stringify(this.json, null, 2) + '\n');
    writeFileAtomic(join(dirname(file), TOKENIZER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
    return file;
  }
}
