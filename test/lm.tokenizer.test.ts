/**
 * Tokenizer layer: loading hand-written Hugging Face tokenizer.json files
 * (GPT-2 byte-level BPE, BERT WordPiece, T5-style Unigram) with hand-computed
 * ids, training byte-level BPE and WordPiece, special tokens, save/load, and
 * errors naming file and field.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { dataAvailable, loadDataset } from '../src/data/loaders/index.js';
import {
  addGlmMaskTokens,
  addSentinelTokens,
  GLM_MASK_TOKENS,
  ITEM_ID_TOKEN,
  MASK_TOKEN,
  sentinelTokens,
  Tokenizer,
  TokenizerError,
  trainBpe,
  trainBpeJSON,
  trainWordPiece,
  trainWordPieceJSON,
  USER_ID_TOKEN,
  withRecSpecialTokens,
  type JsonObject,
} from '../src/lm/tokenizer/index.js';

const tmpRoot = mkdtempSync(join(tmpdir(), 'llmrec-tok-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
function tmpDir(): string {
  const d = join(tmpRoot, String(tmpCount++));
  mkdirSync(d, { recursive: true });
  return d;
}

// ---------------------------------------------------------------------------
// Hand-written tokenizers
// ---------------------------------------------------------------------------

/** A tiny GPT-2 style byte-level BPE (only the symbols its tests need). */
function gpt2Json(): JsonObject {
  const vocab = ['h', 'e', 'l', 'o', 'Ġ', 'w', 'r', 'd', 'he', 'll', 'hell', 'hello', 'Ġw', 'or', 'Ġwor', 'ld', 'Ġworld'];
  return {
    version: '1.0',
    added_tokens: [{ id: 17, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld'],
    },
  };
}

/** A tiny uncased BERT WordPiece. */
function bertJson(): JsonObject {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', 'un', '##aff', '##able', ',', '!', 'the', '##s', 'cat'];
  const special = (content: string, id: number): JsonObject => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special('[PAD]', 0), special('[UNK]', 1), special('[CLS]', 2), special('[SEP]', 3), special('[MASK]', 4)],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

const BERT_CONFIG = { do_lower_case: true, unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]', tokenizer_class: 'BertTokenizer' };

/** A tiny T5-style Unigram with Metaspace and `$A </s>`. */
function t5Json(): JsonObject {
  const pieces: [string, number][] = [
    ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2], ['▁hello', -1], ['▁world', -1.5],
    ['h', -3], ['e', -3], ['l', -3], ['o', -3], ['w', -3], ['r', -3], ['d', -3], ['<extra_id_0>', 0],
  ];
  const special = (content: string, id: number): JsonObject => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    added_tokens: [special('<pad>', 0), special('</s>', 1), special('<unk>', 2), special('<extra_id_0>', 13)],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
}

describe('hand-written GPT-2 byte-level BPE', () => {
  const tok = Tokenizer.fromJSON(gpt2Json(), 'gpt2-tiny');

  test('hand-computed ids follow the merge ranks', () => {
    // hello: h e l l o -> he l l o -> he ll o -> hell o -> hello (11)
    // " world": Ġ w o r l d -> Ġw o r l d -> Ġw or l d -> Ġwor l d -> Ġwor ld -> Ġworld (16)
    assert.deepEqual(tok.encode('hello world'), [11, 16]);
    assert.deepEqual(tok.tokenize('hello world'), ['hello', 'Ġworld']);
    assert.deepEqual(tok.encode('hello hello'), [11, 4, 11]); // no "Ġ h" merge: Ġ + hello
    assert.deepEqual(tok.encode('red'), [6, 1, 7]);
    assert.deepEqual(tok.encode('held'), [8, 15]); // he + ld
    assert.deepEqual(tok.encode('hello<|endoftext|>'), [11, 17]);
    assert.equal(tok.vocabSize, 18);
    assert.equal(tok.modelType, 'BPE');
    assert.deepEqual(tok.addedTokens().map((t) => [t.id, t.content, t.special]), [[17, '<|endoftext|>', true]]);
    assert.equal(tok.tokenToId('Ġworld'), 16);
    assert.equal(tok.idToToken(12), 'Ġw');
    assert.equal(tok.idToToken(18), undefined);
    assert.equal(tok.tokenToId('nope'), undefined);
  });

  test('decode round trips and skips special tokens on request', () => {
    for (const s of ['hello world', 'held red', 'hello  world', 'world hello']) assert.equal(tok.decode(tok.encode(s)), s);
    assert.equal(tok.decode([11, 16, 17]), 'hello world<|endoftext|>');
    assert.equal(tok.decode([11, 16, 17], { skipSpecialTokens: true }), 'hello world');
    assert.equal(tok.decode([]), '');
    assert.throws(() => tok.decode([11, 99]), /token id 99 is not in the vocabulary/);
  });

  test('a character outside a unk-less vocabulary is an error, never a dropped or undefined id', () => {
    assert.throws(
      () => tok.encode('hz'),
      (e: unknown) => e instanceof TokenizerError && e.file === 'gpt2-tiny' && e.field === 'model.unk_token' && /"hz"/.test(e.message),
    );
  });
});

describe('hand-written LLaMA-3 style BPE (Split regex + ByteLevel without regex, [a, b] merges)', () => {
  const base = gpt2Json();
  const model = base.model as JsonObject;
  const llama3 = {
    ...base,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [17], tokens: ['<|endoftext|>'] } },
    },
    model: { ...model, merges: (model.merges as string[]).map((m) => m.split(' ')), ignore_merges: true },
  };
  const tok = Tokenizer.fromJSON(llama3, 'llama3-tiny', { bos_token: '<|endoftext|>' });

  test('same ids as the GPT-2 layout, with the template BOS', () => {
    assert.deepEqual(tok.encode('hello world'), [17, 11, 16]);
    assert.deepEqual(tok.encode('held red', { addSpecialTokens: false }), [8, 15, 4, 6, 1, 7]);
    assert.equal(tok.decode([17, 11, 16], { skipSpecialTokens: true }), 'hello world');
    assert.deepEqual(tok.specialTokens.bos, { token: '<|endoftext|>', id: 17 });
  });
});

describe('hand-written BERT WordPiece', () => {
  const tok = Tokenizer.fromJSON(bertJson(), 'bert-tiny', BERT_CONFIG);

  test('hand-computed ids: lowercasing, accents, punctuation, ## pieces, [CLS]/[SEP]', () => {
    assert.deepEqual(tok.encode('Hello, World!'), [2, 5, 10, 6, 11, 3]);
    assert.deepEqual(tok.tokenize('unaffable cats'), ['[CLS]', 'un', '##aff', '##able', 'cat', '##s', '[SEP]']);
    assert.deepEqual(tok.encode('unaffable cats'), [2, 7, 8, 9, 14, 13, 3]);
    assert.deepEqual(tok.encode('Héllo'), [2, 5, 3]);
    assert.deepEqual(tok.encode('hello dog', { addSpecialTokens: false }), [5, 1]);
    assert.deepEqual(tok.encode('hello', { pair: 'world' }), [2, 5, 3, 6, 3]);
    assert.deepEqual(tok.encodeBatch(['hello', 'the cat']), [[2, 5, 3], [2, 12, 14, 3]]);
  });

  test('decode joins ## pieces and cleans punctuation spaces', () => {
    assert.equal(tok.decode([2, 5, 10, 6, 11, 3], { skipSpecialTokens: true }), 'hello, world!');
    assert.equal(tok.decode([7, 8, 9, 14, 13]), 'unaffable cats');
    assert.equal(tok.decode([2, 5, 3]), '[CLS] hello [SEP]');
    assert.equal(tok.decode([2, 3], { skipSpecialTokens: true }), '');
  });

  test('special tokens come from tokenizer_config.json', () => {
    assert.deepEqual(tok.specialTokens, {
      pad: { token: '[PAD]', id: 0 },
      unk: { token: '[UNK]', id: 1 },
      mask: { token: '[MASK]', id: 4 },
      cls: { token: '[CLS]', id: 2 },
      sep: { token: '[SEP]', id: 3 },
    });
    // Without a config the model's unk_token is still known.
    assert.deepEqual(Tokenizer.fromJSON(bertJson()).specialTokens, { unk: { token: '[UNK]', id: 1 } });
  });

  test('a token already in the vocabulary keeps its id when made special', () => {
    const t = Tokenizer.fromJSON(bertJson(), 'bert-tiny', BERT_CONFIG);
    assert.deepEqual(t.addSpecialTokens(['cat', '[MASK]']), [14, 4]);
    assert.equal(t.vocabSize, 15);
    assert.deepEqual(t.encode('the cat', { addSpecialTokens: false }), [12, 14]);
    assert.equal(t.decode([12, 14], { skipSpecialTokens: true }), 'the');
  });
});

describe('hand-written T5-style Unigram + Metaspace', () => {
  const tok = Tokenizer.fromJSON(t5Json(), 't5-tiny', { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' });

  test('Viterbi segmentation, </s> appended, unknown piece -> <unk>', () => {
    // "▁hello▁world": ▁hello (-1) + ▁world (-1.5) beats every split into characters.
    assert.deepEqual(tok.encode('hello world'), [4, 5, 1]);
    assert.deepEqual(tok.encode('hello world', { addSpecialTokens: false }), [4, 5]);
    const ids = tok.encode('hello xd', { addSpecialTokens: false });
    assert.deepEqual(ids, [4, 3, 2, 12]); // ▁hello ▁ <unk>(x) d
    assert.equal(tok.decode([4, 5, 1], { skipSpecialTokens: true }), 'hello world');
    assert.deepEqual(tok.specialTokens.eos, { token: '</s>', id: 1 });
  });

  test('sentinels: existing ones keep their ids, new ones are appended', () => {
    const t = Tokenizer.fromJSON(t5Json(), 't5-tiny');
    assert.deepEqual(sentinelTokens(3), ['<extra_id_0>', '<extra_id_1>', '<extra_id_2>']);
    assert.deepEqual(addSentinelTokens(t, 3), [13, 14, 15]);
    assert.deepEqual(addSentinelTokens(t, 3), [13, 14, 15]);
    assert.deepEqual(t.encode('hello <extra_id_1> world', { addSpecialTokens: false }), [4, 3, 14, 5]);
  });
});

// ---------------------------------------------------------------------------
// Trained byte-level BPE
// ---------------------------------------------------------------------------

const SMALL_CORPUS = [
  'the quick brown fox jumps over the lazy dog',
  'the lazy dog sleeps',
  'a quick brown dog',
  'café crème brûlée',
  '東京の天気 東京タワー',
  'new lipstick 💄 and nail polish 💅',
  'the the the quick quick',
];

describe('trained byte-level BPE', () => {
  const tok = trainBpe(SMALL_CORPUS, { vocabSize: 300, minFrequency: 2 });

  test('layout: special tokens, 256 bytes, merges; GPT-2 components', () => {
    const json = tok.toJSON();
    const model = json.model as { type: string; vocab: Record<string, number>; merges: string[] };
    assert.equal(model.type, 'BPE');
    assert.deepEqual((json.pre_tokenizer as JsonObject).type, 'ByteLevel');
    assert.deepEqual((json.decoder as JsonObject).type, 'ByteLevel');
    assert.equal(model.vocab['<s>'], 0);
    assert.equal(model.vocab['<unk>'], 3);
    assert.equal(model.vocab['!'], 4); // first byte symbol in code-point order
    assert.equal(Object.keys(model.vocab).length, 4 + 256 + model.merges.length);
    assert.ok(model.merges.length > 0 && tok.vocabSize <= 300);
    // "the" occurs 6 times (3 as "the", 3 as "Ġthe"): "h e" and "t h" tie at 6, "h e" < "t h" wins; then "t he" (6).
    assert.deepEqual(model.merges.slice(0, 2), ['h e', 't he']);
    assert.deepEqual(tok.tokenize(' the'), ['Ġthe']);
    assert.deepEqual(tok.specialTokens, {
      bos: { token: '<s>', id: 0 },
      eos: { token: '</s>', id: 1 },
      pad: { token: '<pad>', id: 2 },
      unk: { token: '<unk>', id: 3 },
    });
  });

  test('decode(encode(s)) === s for ASCII, accents, CJK, emoji and whitespace runs', () => {
    const cases = [
      'Hello, World!',
      'café crème brûlée à la carte',
      '東京の天気は晴れ',
      '💄💅 🎉 family: 👨‍👩‍👧',
      '  leading and trailing  ',
      'tabs\tand\nnew\r\nlines   and    runs',
      'never seen: Ωmega ∑ ℵ \u0000 \uFFFD',
      '',
    ];
    for (const s of cases) {
      const ids = tok.encode(s);
      assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize), `ids of ${JSON.stringify(s)}`);
      assert.equal(tok.decode(ids), s);
    }
  });

  test('vocabSize is respected exactly when the corpus has enough pairs', () => {
    const sents = shopSentences();
    for (const vocabSize of [300, 700]) assert.equal(trainBpe(sents, { vocabSize }).vocabSize, vocabSize);
    assert.throws(() => trainBpe(SMALL_CORPUS, { vocabSize: 100 }), /below the 4 special tokens \+ 256 byte symbols/);
  });

  test('merges match a naive re-counting BPE (incremental counts are exact)', () => {
    const corpus = shopSentences().slice(0, 150).filter((s) => /^[\x20-\x7e]*$/.test(s));
    const { tokenizer } = trainBpeJSON(corpus, { vocabSize: 260 + 200, minFrequency: 2 });
    const ours = (tokenizer.model as { merges: string[] }).merges;
    assert.equal(ours.length, 200);
    assert.deepEqual(ours, naiveBpeMerges(corpus, ours.length, 2));
  });

  test('determinism: same corpus and options give the same JSON, whatever the corpus order', () => {
    const a = trainBpeJSON(SMALL_CORPUS, { vocabSize: 300 });
    const b = trainBpeJSON(SMALL_CORPUS, { vocabSize: 300 });
    const c = trainBpeJSON([...SMALL_CORPUS].reverse(), { vocabSize: 300 });
    assert.equal(JSON.stringify(a), JSON.stringify(b));
    assert.equal(JSON.stringify(a), JSON.stringify(c));
  });

  test('save -> fromFile gives the same ids and files', () => {
    const dir = tmpDir();
    const t = trainBpe(SMALL_CORPUS, { vocabSize: 300 });
    const file = t.save(dir);
    assert.equal(file, join(dir, 'tokenizer.json'));
    const back = Tokenizer.fromFile(dir);
    for (const s of SMALL_CORPUS) assert.deepEqual(back.encode(s), t.encode(s));
    assert.deepEqual(back.toJSON(), t.toJSON());
    assert.deepEqual(back.specialTokens, t.specialTokens);
    const cfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as JsonObject;
    assert.equal(cfg.bos_token, '<s>');
    assert.equal(cfg.tokenizer_class, 'PreTrainedTokenizerFast');
    // A .json path saves there (config beside it) and loads back by file path.
    const file2 = t.save(join(dir, 'sub', 'my_tok.json'));
    assert.deepEqual(Tokenizer.fromFile(file2).encode('the lazy fox'), t.encode('the lazy fox'));
  });
});

// ---------------------------------------------------------------------------
// Trained WordPiece
// ---------------------------------------------------------------------------

describe('trained WordPiece', () => {
  const corpus = ['The Cat sat on the Mat.', 'the cats are sitting', 'A cat, a hat; THE BAT!', 'cats and hats and bats', 'sitting cats'];
  const tok = trainWordPiece(corpus, { vocabSize: 80, minFrequency: 2 });

  test('BERT layout: specials first, lowercasing, ## continuing pieces, [CLS]/[SEP], [UNK]', () => {
    const json = tok.toJSON();
    const vocab = (json.model as { vocab: Record<string, number> }).vocab;
    assert.deepEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => vocab[t]), [0, 1, 2, 3, 4]);
    assert.ok(tok.vocabSize <= 80);
    assert.deepEqual(tok.encode('THE CAT'), tok.encode('the cat'));
    const tokens = tok.tokenize('the cats');
    assert.deepEqual(tokens, ['[CLS]', 'the', 'cats', '[SEP]']);
    // An unseen word is built from a word-initial piece and ## continuations.
    const pieces = tok.tokenize('mats', { addSpecialTokens: false });
    assert.ok(pieces.length > 1 && !pieces[0].startsWith('##') && pieces.slice(1).every((p) => p.startsWith('##')), pieces.join(' '));
    assert.equal(pieces.map((p) => p.replace(/^##/, '')).join(''), 'mats');
    assert.deepEqual(tok.tokenize('the', { addSpecialTokens: false }), ['the']);
    // 'z' never occurs in the corpus: the word becomes [UNK]; so does an emoji.
    assert.deepEqual(tok.encode('zebra 😀', { addSpecialTokens: false }), [1, 1]);
    assert.deepEqual(tok.encode('cat', { pair: 'hat' }).filter((id) => id === 3).length, 2);
    assert.equal(tok.decode(tok.encode('The cats, sitting!'), { skipSpecialTokens: true }), 'the cats, sitting!');
    assert.equal(tok.specialTokens.mask?.id, 4);
    assert.equal(tok.specialTokens.cls?.id, 2);
  });

  test('deterministic, and lowercase: false keeps case', () => {
    assert.equal(JSON.stringify(trainWordPieceJSON(corpus, { vocabSize: 80 })), JSON.stringify(trainWordPieceJSON(corpus, { vocabSize: 80 })));
    const cased = trainWordPiece(corpus, { vocabSize: 80, lowercase: false });
    assert.notDeepEqual(cased.encode('THE'), cased.encode('the'));
  });
});

// ---------------------------------------------------------------------------
// Special tokens
// ---------------------------------------------------------------------------

describe('special tokens', () => {
  test('added special tokens are never split and survive save/load (BPE)', () => {
    const tok = trainBpe(SMALL_CORPUS, { vocabSize: 300 });
    const before = tok.vocabSize;
    const ids = withRecSpecialTokens(tok);
    assert.deepEqual(ids, { user: before, item: before + 1, guide: before + 2, mask: before + 3 });
    assert.deepEqual(withRecSpecialTokens(tok), ids); // idempotent
    assert.equal(tok.vocabSize, before + 4);
    assert.equal(tok.specialTokens.mask?.token, MASK_TOKEN);

    const enc = tok.encode('buy <ItemID> now');
    assert.equal(enc.filter((id) => id === ids.item).length, 1);
    const pieces = tok.tokenize('buy <ItemID> now');
    assert.equal(pieces.filter((p) => p === ITEM_ID_TOKEN).length, 1);
    assert.ok(pieces.every((p) => p === ITEM_ID_TOKEN || !p.includes('<')), pieces.join(' '));
    assert.equal(tok.decode(enc), 'buy <ItemID> now');
    assert.equal(tok.decode(enc, { skipSpecialTokens: true }), 'buy  now');
    assert.deepEqual(tok.encode('<UserID><ItemID>'), [ids.user, ids.item]);

    const glm = addGlmMaskTokens(tok);
    assert.deepEqual(glm, [before + 4, before + 5, before + 6]);
    assert.deepEqual(tok.encode(GLM_MASK_TOKENS.join(' ')), [glm[0], tok.tokenToId('Ġ'), glm[1], tok.tokenToId('Ġ'), glm[2]]);

    const dir = tmpDir();
    tok.save(dir);
    const back = Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    assert.deepEqual(back.encode('buy <ItemID> now'), enc);
    assert.equal(back.tokenToId(USER_ID_TOKEN), ids.user);
    assert.equal(back.vocabSize, tok.vocabSize);
    assert.deepEqual(back.specialTokens, tok.specialTokens);
    assert.deepEqual(withRecSpecialTokens(back), ids);
  });

  test('added special tokens are never split (WordPiece, with lowercasing normalizer)', () => {
    const tok = Tokenizer.fromJSON(bertJson(), 'bert-tiny', BERT_CONFIG);
    const ids = withRecSpecialTokens(tok);
    assert.deepEqual(ids, { user: 15, item: 16, guide: 17, mask: 4 }); // BERT's own [MASK] is kept
    assert.deepEqual(tok.encode('hello <ItemID> world'), [2, 5, 16, 6, 3]);
    assert.deepEqual(tok.encode('<UserID>,<Guide>', { addSpecialTokens: false }), [15, 10, 17]);
    const dir = tmpDir();
    tok.save(dir);
    assert.deepEqual(Tokenizer.fromFile(dir).encode('hello <ItemID> world'), [2, 5, 16, 6, 3]);
  });

  test('setSpecialToken gives GPT-2 a pad token', () => {
    const tok = Tokenizer.fromJSON(gpt2Json(), 'gpt2-tiny');
    assert.equal(tok.specialTokens.pad, undefined);
    assert.equal(tok.setSpecialToken('pad', '<pad>'), 18);
    assert.deepEqual(tok.specialTokens.pad, { token: '<pad>', id: 18 });
    assert.equal(tok.configJSON().pad_token, '<pad>');
    assert.throws(() => tok.addSpecialTokens(['']), /non-empty/);
  });
});

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

function writeTokenizer(content: string, config?: string): string {
  const dir = tmpDir();
  writeFileSync(join(dir, 'tokenizer.json'), content);
  if (config !== undefined) writeFileSync(join(dir, 'tokenizer_config.json'), config);
  return dir;
}

function expectError(fn: () => unknown, file: string, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected TokenizerError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.equal(e.field, field);
    assert.ok(e.message.includes(file) && e.message.includes(field), e.message);
    return true;
  });
}

describe('malformed tokenizer files', () => {
  test('bad JSON, missing model, unknown model type name file and field', () => {
    let dir = writeTokenizer('{"model": {');
    expectError(() => Tokenizer.fromFile(dir), join(dir, 'tokenizer.json'), '(json)');
    dir = writeTokenizer(JSON.stringify({ version: '1.0', added_tokens: [] }));
    expectError(() => Tokenizer.fromFile(dir), join(dir, 'tokenizer.json'), 'model');
    dir = writeTokenizer(JSON.stringify({ model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' } }));
    expectError(() => Tokenizer.fromFile(dir), join(dir, 'tokenizer.json'), 'model.type');
    assert.throws(() => Tokenizer.fromFile(dir), /unknown or unsupported model type "WordLevel"/);
    expectError(() => Tokenizer.fromJSON({ model: { vocab: { a: 0 } } }, 'x.json'), 'x.json', 'model.type');
    expectError(() => Tokenizer.fromJSON([], 'x.json'), 'x.json', '(root)');
  });

  test('bad fields deeper in the file', () => {
    const j = gpt2Json();
    expectError(() => Tokenizer.fromJSON({ ...j, added_tokens: [{ id: -1, content: 'x' }] }, 'a.json'), 'a.json', 'added_tokens[0].id');
    expectError(() => Tokenizer.fromJSON({ ...j, added_tokens: [{ id: 3 }] }, 'a.json'), 'a.json', 'added_tokens[0].content');
    const seq = { type: 'Sequence', pretokenizers: [{ type: 'ByteLevel' }, { type: 'UnicodeScripts' }] };
    expectError(() => Tokenizer.fromJSON({ ...j, pre_tokenizer: seq }, 'a.json'), 'a.json', 'pre_tokenizer.pretokenizers[1].type');
    expectError(() => Tokenizer.fromJSON({ ...j, decoder: { kind: 'ByteLevel' } }, 'a.json'), 'a.json', 'decoder.type');
    const model = j.model as JsonObject;
    expectError(() => Tokenizer.fromJSON({ ...j, model: { ...model, merges: ['hello'] } }, 'a.json'), 'a.json', 'model.merges[0]');
    expectError(() => Tokenizer.fromJSON({ ...j, model: { ...model, vocab: { h: 0, e: 'one' } } }, 'a.json'), 'a.json', 'model.vocab["e"]');
    expectError(() => Tokenizer.fromJSON({ ...j, model: { ...model, unk_token: '<unk>' } }, 'a.json'), 'a.json', 'model.unk_token');
    const b = bertJson();
    expectError(() => Tokenizer.fromJSON({ ...b, model: { ...(b.model as JsonObject), unk_token: '<oov>' } }, 'b.json'), 'b.json', 'model.unk_token');
    const t = t5Json();
    expectError(() => Tokenizer.fromJSON({ ...t, model: { ...(t.model as JsonObject), unk_id: null } }, 't.json'), 't.json', 'model.unk_id');
  });

  test('missing files and a malformed tokenizer_config.json are named', () => {
    const empty = tmpDir();
    expectError(() => Tokenizer.fromFile(empty), join(empty, 'tokenizer.json'), '(file)');
    expectError(() => Tokenizer.fromFile(join(empty, 'nope.json')), join(empty, 'nope.json'), '(file)');
    let dir = writeTokenizer(JSON.stringify(bertJson()), '{"mask_token": ');
    expectError(() => Tokenizer.fromFile(dir), join(dir, 'tokenizer_config.json'), '(json)');
    dir = writeTokenizer(JSON.stringify(bertJson()), JSON.stringify({ mask_token: 5 }));
    expectError(() => Tokenizer.fromFile(dir), join(dir, 'tokenizer_config.json'), 'mask_token');
    // AddedToken-style config entries are accepted.
    dir = writeTokenizer(JSON.stringify(bertJson()), JSON.stringify({ mask_token: { content: '[MASK]', __type: 'AddedToken' }, add_bos_token: false }));
    assert.deepEqual(Tokenizer.fromFile(dir).specialTokens.mask, { token: '[MASK]', id: 4 });
  });
});

// ---------------------------------------------------------------------------
// Real data
// ---------------------------------------------------------------------------

let shopCache: string[] | undefined;
/** Item sentences (`Title: ...; Brand: ...; Category: ...`) of the default synthetic shop. */
function shopSentences(): string[] {
  shopCache ??= [...generateShop().itemMeta.values()].map((m) => itemSentence(m));
  return shopCache;
}

/** Reference BPE on ASCII text: re-counts every pair for every merge. */
function naiveBpeMerges(corpus: readonly string[], nMerges: number, minFrequency: number): string[] {
  const re = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const counts = new Map<string, number>();
  for (const s of corpus) for (const w of s.match(re) ?? []) counts.set(w.replace(/ /g, 'Ġ'), (counts.get(w.replace(/ /g, 'Ġ')) ?? 0) + 1);
  const words = [...counts].map(([w, c]) => ({ syms: Array.from(w), c }));
  const merges: string[] = [];
  while (merges.length < nMerges) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) for (let i = 0; i + 1 < syms.length; i++) pairs.set(`${syms[i]} ${syms[i + 1]}`, (pairs.get(`${syms[i]} ${syms[i + 1]}`) ?? 0) + c);
    let best: [string, string] | undefined;
    let bestCount = 0;
    for (const [k, c] of pairs) {
      const [a, b] = k.split(' ');
      if (c > bestCount || (c === bestCount && best !== undefined && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (best === undefined || bestCount < minFrequency) break;
    const [a, b] = best;
    merges.push(`${a} ${b}`);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return merges;
}

describe('real data', () => {
  test('BPE on the synthetic shop item sentences', (t) => {
    const sents = shopSentences();
    const t0 = performance.now();
    const tok = trainBpe(sents, { vocabSize: 1200 });
    const ms = performance.now() - t0;
    t.diagnostic(`trained BPE (vocab 1200) on ${sents.length} synthetic-shop item sentences in ${ms.toFixed(0)} ms`);
    assert.equal(tok.vocabSize, 1200);
    let total = 0;
    for (const s of sents) {
      const ids = tok.encode(s);
      total += ids.length;
      assert.equal(tok.decode(ids), s);
    }
    const chars = sents.reduce((a, s) => a + s.length, 0);
    t.diagnostic(`${(chars / total).toFixed(2)} characters per token`);
    assert.ok(chars / total > 3, `compression ${chars / total}`);
    // The field labels and brand names of every sentence are single tokens.
    for (const w of ['Title', ':', ' Brand', ' Category', ' Price', ' >']) assert.equal(tok.encode(w).length, 1, w);
    const brands = new Map<string, number>();
    for (const m of generateShop().itemMeta.values()) {
      const brand = m.attributes.brand;
      if (brand !== undefined) brands.set(brand, (brands.get(brand) ?? 0) + 1);
    }
    const top = [...brands].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
    assert.ok(top.length > 0);
    for (const [brand] of top) if (!brand.includes(' ')) assert.equal(tok.encode(` ${brand}`).length, 1, brand);
  });

  test('BPE on amazon-beauty titles', async (t) => {
    if (!dataAvailable('amazon-beauty')) {
      t.skip('amazon-beauty not found under the data root (set LLMREC_DATA_DIR); skipping the real-title test');
      return;
    }
    const d = await loadDataset('amazon-beauty');
    const titles = [...d.itemMeta.values()].map((m) => m.title).filter((s) => s.length > 0);
    const t0 = performance.now();
    const tok = trainBpe(titles, { vocabSize: 8000 });
    const ms = performance.now() - t0;
    t.diagnostic(`trained BPE (vocab 8000) on ${titles.length} amazon-beauty titles in ${ms.toFixed(0)} ms`);
    assert.ok(titles.length > 10000);
    assert.equal(tok.vocabSize, 8000);
    for (const s of titles.slice(0, 500)) assert.equal(tok.decode(tok.encode(s)), s);
    for (const w of [' Nail', ' Hair', ' Cream', ' Ounce']) assert.equal(tok.encode(w).length, 1, w);
  });
});
