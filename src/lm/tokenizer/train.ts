/**
 * Training of tokenizers whose output is a standard Hugging Face
 * tokenizer.json, loaded back through `Tokenizer.fromJSON` (so the library
 * checks our format):
 *
 * - `trainBpe`: GPT-2 style byte-level BPE (ByteLevel pre-tokenizer with the
 *   GPT-2 regex, the byte-to-unicode alphabet of all 256 bytes, so no unknown
 *   token is ever needed; ByteLevel decoder; a merges list).
 * - `trainWordPiece`: BERT style WordPiece (BertNormalizer, BertPreTokenizer,
 *   `##` continuing subwords, `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B [SEP]`).
 *
 * Both learn merges the way HF's trainers do: pair counts over the unique
 * words weighted by frequency, updated incrementally for the words a merge
 * touches, with a lazy max-heap. Ties in merge selection are broken by the
 * pair's strings (left, then right, code-unit order), so the same corpus and
 * options always give the same tokenizer.json.
 */
import { HfBertNormalizerCtor, HfBertPreTokenizerCtor, HfByteLevelPreTokenizerCtor } from './hf.js';
import { BPE_DEFAULT_SPECIAL_TOKENS, CONVENTIONAL_ROLES, WORDPIECE_DEFAULT_SPECIAL_TOKENS } from './special.js';
import { Tokenizer } from './tokenizer.js';
import type { JsonObject } from './validate.js';

/** Options shared by the trainers. */
export interface TrainOptions {
  /** Target vocabulary size, special tokens and the initial alphabet included. */
  vocabSize: number;
  /** A pair is merged only if it occurs at least this often (weighted by word frequency); default 2. */
  minFrequency?: number;
  /** Special tokens, given ids 0..n-1 in this order (defaults per trainer). */
  specialTokens?: readonly string[];
}

/** Options of `trainBpe`. */
export interface BpeTrainOptions extends TrainOptions {
  /** Prepend a space to each text, as GPT-2's `add_prefix_space` (default false). */
  addPrefixSpace?: boolean;
}

/** Options of `trainWordPiece`. */
export interface WordPieceTrainOptions extends TrainOptions {
  /** Lowercase (and strip accents), as uncased BERT (default true). */
  lowercase?: boolean;
  /** Prefix of word-continuing pieces (default `##`). */
  continuingSubwordPrefix?: string;
  /** Longer words encode as the unknown token (default 100). */
  maxInputCharsPerWord?: number;
}

/** Result of the merge learner: the vocabulary in id order and the merges in rank order. */
interface Learned {
  vocab: string[];
  merges: [string, string][];
}

const PAIR_BASE = 2 ** 24;

/** A max-heap of (count, pair) with ties broken by the pair's strings. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  constructor(private readonly names: readonly string[]) {}

  get size(): number {
    return this.keys.length;
  }

  /** Whether entry i ranks above entry j. */
  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    if (ci !== cj) return ci > cj;
    const ki = this.keys[i];
    const kj = this.keys[j];
    const li = this.names[Math.floor(ki / PAIR_BASE)];
    const lj = this.names[Math.floor(kj / PAIR_BASE)];
    if (li !== lj) return li < lj;
    return this.names[ki % PAIR_BASE] < this.names[kj % PAIR_BASE];
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastCount = this.counts.pop() as number;
    const lastKey = this.keys.pop() as number;
    if (this.keys.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.keys.length && this.above(l, best)) best = l;
        if (r < this.keys.length && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learns merges over unique words (as symbol strings) with frequencies, until
 * the vocabulary reaches `vocabSize` or no pair is frequent enough. `join`
 * builds the merged token (BPE: concatenation; WordPiece: drops the right
 * side's `##`). A merge whose result already exists reuses its id, as HF does.
 */
function learnMerges(
  words: readonly string[][],
  freqs: readonly number[],
  initial: readonly string[],
  vocabSize: number,
  minFrequency: number,
  join: (a: string, b: string) => string,
): Learned {
  const names: string[] = [...initial];
  const idOf = new Map<string, number>();
  names.forEach((n, i) => idOf.set(n, i));
  const seqs: number[][] = words.map((w) => w.map((s) => idOf.get(s) as number));
  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>();
  const add = (key: number, n: number): void => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + n);
  };
  seqs.forEach((seq, wi) => {
    for (let i = 0; i + 1 < seq.length; i++) {
      const key = seq[i] * PAIR_BASE + seq[i + 1];
      add(key, freqs[wi]);
      const list = where.get(key);
      if (list === undefined) where.set(key, [wi]);
      else if (list[list.length - 1] !== wi) list.push(wi);
    }
  });
  const heap = new PairHeap(names);
  for (const [key, count] of pairCount) heap.push(count, key);

  const merges: [string, string][] = [];
  while (names.length < vocabSize && heap.size > 0) {
    const top = heap.pop();
    const actual = pairCount.get(top.key) ?? 0;
    if (actual !== top.count) {
      if (actual > 0) heap.push(actual, top.key);
      continue;
    }
    if (actual < minFrequency || actual <= 0) break;
    const a = Math.floor(top.key / PAIR_BASE);
    const b = top.key % PAIR_BASE;
    const merged = join(names[a], names[b]);
    let z = idOf.get(merged);
    if (z === undefined) {
      z = names.length;
      names.push(merged);
      idOf.set(merged, z);
    }
    merges.push([names[a], names[b]]);
    const fresh = new Set<number>();
    for (const wi of where.get(top.key) ?? []) {
      const seq = seqs[wi];
      const f = freqs[wi];
      let found = false;
      for (let i = 0; i + 1 < seq.length; i++) {
        if (seq[i] === a && seq[i + 1] === b) {
          found = true;
          break;
        }
      }
      if (!found) continue;
      for (let i = 0; i + 1 < seq.length; i++) add(seq[i] * PAIR_BASE + seq[i + 1], -f);
      const next: number[] = [];
      for (let i = 0; i < seq.length; i++) {
        if (i + 1 < seq.length && seq[i] === a && seq[i + 1] === b) {
          next.push(z);
          i++;
        } else next.push(seq[i]);
      }
      seqs[wi] = next;
      for (let i = 0; i + 1 < next.length; i++) {
        const key = next[i] * PAIR_BASE + next[i + 1];
        add(key, f);
        if (next[i] === z || next[i + 1] === z) {
          fresh.add(key);
          const list = where.get(key);
          if (list === undefined) where.set(key, [wi]);
          else if (list[list.length - 1] !== wi) list.push(wi);
        }
      }
    }
    pairCount.delete(top.key);
    where.delete(top.key);
    for (const key of fresh) {
      const c = pairCount.get(key) ?? 0;
      if (c > 0) heap.push(c, key);
    }
  }
  return { vocab: names, merges };
}

function checkOptions(opts: TrainOptions, specials: readonly string[], who: string): number {
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize <= 0 || opts.vocabSize > PAIR_BASE) {
    throw new RangeError(`${who}: vocabSize must be an integer in 1..${PAIR_BASE}, got ${opts.vocabSize}`);
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isFinite(minFrequency) || minFrequency < 1) throw new RangeError(`${who}: minFrequency must be >= 1, got ${minFrequency}`);
  if (new Set(specials).size !== specials.length) throw new RangeError(`${who}: specialTokens has duplicates`);
  for (const s of specials) if (typeof s !== 'string' || s.length === 0) throw new RangeError(`${who}: special tokens must be non-empty strings`);
  return minFrequency;
}

function addedTokenEntries(specials: readonly string[]): JsonObject[] {
  return specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
}

function roleConfig(specials: readonly string[], extra: JsonObject): JsonObject {
  const config: JsonObject = { tokenizer_class: 'PreTrainedTokenizerFast', ...extra };
  for (const s of specials) {
    const role = CONVENTIONAL_ROLES[s];
    if (role !== undefined && config[`${role}_token`] === undefined) config[`${role}_token`] = s;
  }
  return config;
}

function countWords(corpus: Iterable<string>, split: (text: string) => string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of corpus) {
    if (typeof text !== 'string') throw new TypeError(`corpus entries must be strings, got ${typeof text}`);
    for (const w of split(text)) if (w.length > 0) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return counts;
}

const byCodeUnits = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/**
 * The tokenizer.json of a GPT-2 style byte-level BPE trained on `corpus`,
 * plus its tokenizer_config.json. Vocabulary: the special tokens (ids
 * 0..n-1), the 256 byte symbols in code-point order, then one token per merge.
 */
export function trainBpeJSON(corpus: Iterable<string>, opts: BpeTrainOptions): { tokenizer: JsonObject; config: JsonObject } {
  const specials = opts.specialTokens ?? BPE_DEFAULT_SPECIAL_TOKENS;
  const minFrequency = checkOptions(opts, specials, 'trainBpe');
  const addPrefixSpace = opts.addPrefixSpace ?? false;
  const preConfig = { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true };
  const pre = new HfByteLevelPreTokenizerCtor(preConfig);
  const alphabet = Object.values(pre.byte_encoder).sort(byCodeUnits);
  const initial = [...specials, ...alphabet.filter((c) => !specials.includes(c))];
  if (opts.vocabSize < initial.length) {
    throw new RangeError(`trainBpe: vocabSize ${opts.vocabSize} is below the ${specials.length} special tokens + 256 byte symbols`);
  }
  // Split with the library's own GPT-2 regex, count the raw pieces, and map
  // only the unique ones to byte symbols (what pre_tokenize_text does per piece).
  const pattern = new RegExp(pre.pattern.source, pre.pattern.flags);
  const raw = countWords(corpus, (t) => (addPrefixSpace && !t.startsWith(' ') ? ' ' + t : t).match(pattern) ?? []);
  const byteSymbol = Array.from({ length: 256 }, (_, b) => pre.byte_encoder[b]);
  const utf8 = new TextEncoder();
  const counts = new Map<string, number>();
  for (const [piece, n] of raw) {
    let w = '';
    for (const b of utf8.encode(piece)) w += byteSymbol[b];
    counts.set(w, (counts.get(w) ?? 0) + n);
  }
  const words = [...counts.keys()];
  const learned = learnMerges(
    words.map((w) => Array.from(w)),
    words.map((w) => counts.get(w) as number),
    initial,
    opts.vocabSize,
    minFrequency,
    (a, b) => a + b,
  );
  const tokenizer: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokenEntries(specials),
    normalizer: null,
    pre_tokenizer: preConfig,
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(learned.vocab.map((t, i) => [t, i])),
      // Byte-level symbols never contain a space, so the classic "a b" form is unambiguous.
      merges: learned.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = roleConfig(specials, { add_prefix_space: addPrefixSpace, clean_up_tokenization_spaces: false });
  return { tokenizer, config };
}

/** A GPT-2 style byte-level BPE trained on `corpus` (see `trainBpeJSON`). */
export function trainBpe(corpus: Iterable<string>, opts: BpeTrainOptions): Tokenizer {
  const { tokenizer, config } = trainBpeJSON(corpus, opts);
  return Tokenizer.fromJSON(tokenizer, 'trainBpe', config);
}

/**
 * The tokenizer.json of a BERT style WordPiece trained on `corpus`, plus its
 * tokenizer_config.json. Vocabulary: the special tokens, the alphabet (word
 * initial characters and their `##` continuing forms, code-unit order), then
 * one token per merge. When the alphabet alone exceeds the vocabulary, the
 * most frequent symbols are kept and words with the others are left out of
 * training (they encode as `[UNK]`).
 */
export function trainWordPieceJSON(corpus: Iterable<string>, opts: WordPieceTrainOptions): { tokenizer: JsonObject; config: JsonObject } {
  const specials = opts.specialTokens ?? WORDPIECE_DEFAULT_SPECIAL_TOKENS;
  const minFrequency = checkOptions(opts, specials, 'trainWordPiece');
  const unk = specials.includes('[UNK]') ? '[UNK]' : specials.find((s) => CONVENTIONAL_ROLES[s] === 'unk');
  if (unk === undefined) throw new RangeError('trainWordPiece: specialTokens must include an unknown token ([UNK] or <unk>)');
  const prefix = opts.continuingSubwordPrefix ?? '##';
  if (prefix.length === 0) throw new RangeError('trainWordPiece: continuingSubwordPrefix must be non-empty');
  const lowercase = opts.lowercase ?? true;
  const normConfig = { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase };
  const normalizer = new HfBertNormalizerCtor(normConfig);
  const pre = new HfBertPreTokenizerCtor();
  const counts = countWords(corpus, (t) => pre.pre_tokenize_text(normalizer.normalize(t)));

  const symbolsOf = (w: string): string[] => Array.from(w).map((c, i) => (i === 0 ? c : prefix + c));
  const symbolFreq = new Map<string, number>();
  for (const [w, n] of counts) for (const s of symbolsOf(w)) symbolFreq.set(s, (symbolFreq.get(s) ?? 0) + n);
  let alphabet = [...symbolFreq.keys()].filter((s) => !specials.includes(s));
  const room = opts.vocabSize - specials.length;
  if (room < 0) throw new RangeError(`trainWordPiece: vocabSize ${opts.vocabSize} is below the ${specials.length} special tokens`);
  if (alphabet.length > room) {
    alphabet = alphabet
      .sort((x, y) => (symbolFreq.get(y) as number) - (symbolFreq.get(x) as number) || byCodeUnits(x, y))
      .slice(0, room);
  }
  alphabet.sort(byCodeUnits);
  const known = new Set(alphabet);
  const words: string[][] = [];
  const freqs: number[] = [];
  for (const [w, n] of counts) {
    const syms = symbolsOf(w);
    if (syms.length <= (opts.maxInputCharsPerWord ?? 100) && syms.every((s) => known.has(s) || specials.includes(s))) {
      words.push(syms);
      freqs.push(n);
    }
  }
  const learned = learnMerges(words, freqs, [...specials, ...alphabet], opts.vocabSize, minFrequency, (a, b) => a + b.slice(prefix.length));
  const cls = specials.includes('[CLS]') ? '[CLS]' : undefined;
  const sep = specials.includes('[SEP]') ? '[SEP]' : undefined;
  const special = (t: string, typeId: number): JsonObject => ({ SpecialToken: { id: t, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number): JsonObject => ({ Sequence: { id, type_id: typeId } });
  const postProcessor =
    cls !== undefined && sep !== undefined
      ? {
          type: 'TemplateProcessing',
          single: [special(cls, 0), seq('A', 0), special(sep, 0)],
          pair: [special(cls, 0), seq('A', 0), special(sep, 0), seq('B', 1), special(sep, 1)],
          special_tokens: Object.fromEntries(
            [cls, sep].map((t) => [t, { id: t, ids: [specials.indexOf(t)], tokens: [t] }]),
          ),
        }
      : null;
  const tokenizer: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokenEntries(specials),
    normalizer: normConfig,
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: postProcessor,
    decoder: { type: 'WordPiece', prefix, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: prefix,
      max_input_chars_per_word: opts.maxInputCharsPerWord ?? 100,
      vocab: Object.fromEntries(learned.vocab.map((t, i) => [t, i])),
    },
  };
  const config = roleConfig(specials, { do_lower_case: lowercase, clean_up_tokenization_spaces: true });
  return { tokenizer, config };
}

/** A BERT style WordPiece trained on `corpus` (see `trainWordPieceJSON`). */
export function trainWordPiece(corpus: Iterable<string>, opts: WordPieceTrainOptions): Tokenizer {
  const { tokenizer, config } = trainWordPieceJSON(corpus, opts);
  return Tokenizer.fromJSON(tokenizer, 'trainWordPiece', config);
}
