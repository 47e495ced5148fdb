/**
 * GANPrompt stage 1, attribute generation: the word filter (stop words,
 * non-words), counting once per prompt, top-K by frequency with
 * alphabetical ties, the {category} slot, prompt rendering, option
 * validation, and an end-to-end run of the small MLM on the synthetic shop.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { SplitDataset } from '../src/data/types.js';
import {
  ATTRIBUTE_PROMPT_TEMPLATE, attributePrompts, countAttributeWords, DEFAULT_ATTRIBUTE_OPTIONS, domainWord, historyCategory, isAttributeWord, itemCategory,
  mineAttributes, parseAttributeOptions, STOP_WORDS, topAttributes,
} from '../src/methods/ganprompt/attributes.js';
import { ready } from './helpers.js';

let data: SplitDataset;

describe('GANPrompt attribute mining', () => {
  before(async () => {
    await ready();
    data = applyProtocol(generateShop({ users: 120, items: 80, seed: 5 }), { ratingThreshold: null, kCore: 2, maxHistory: 10, numNegatives: 9, seed: 1 });
  });

  test('isAttributeWord keeps letters and inner hyphens of length >= 3 only', () => {
    for (const w of ['cream', 'Long-lasting', 'hair', 'abc']) assert.ok(isAttributeWord(w), w);
    for (const w of ['ab', '##ing', 'x1', '50ml', '-cream', 'cream-', '.', '', 'é-té', 'a b']) assert.ok(!isAttributeWord(w), w);
    assert.ok(STOP_WORDS.has('the') && STOP_WORDS.has('about') && STOP_WORDS.has('these'));
  });

  test('counting drops stop words and non-words, counts a word once per prompt, top-K by frequency (ties alphabetical)', () => {
    const preds = [
      ['the', 'cream', '##ing', 'a', 'Cream', 'hair'],
      ['Cream', 'x1', 'these', 'of', 'soft'],
      ['hair', 'ab', 'long-lasting', '-x', 'about'],
      ['soft', 'matte', '.', '[UNK]'],
    ];
    const counts = countAttributeWords(preds);
    assert.deepEqual(Object.fromEntries([...counts].sort()), { cream: 2, hair: 2, 'long-lasting': 1, matte: 1, soft: 2 });
    assert.deepEqual(topAttributes(counts, 3), [{ word: 'cream', count: 2 }, { word: 'hair', count: 2 }, { word: 'soft', count: 2 }]);
    assert.deepEqual(topAttributes(counts, 5).map((c) => c.word), ['cream', 'hair', 'soft', 'long-lasting', 'matte']);
    // A custom stop-word list is honoured.
    assert.ok(!countAttributeWords(preds, new Set(['cream'])).has('cream'));
  });

  test('the {category} slot: most common category of the history, else the domain word', () => {
    const a = [...data.itemMeta.entries()].slice(0, 40);
    const cat = (i: number) => itemCategory(data, i)!;
    assert.equal(itemCategory({ ...data, itemMeta: new Map([[1, { title: 'T', attributes: { category: 'Beauty > Skin Care > Face | Gifts' } }]]) }, 1), 'face');
    const [i1] = a[0];
    const i2 = a.find(([i]) => cat(i) !== cat(i1))![0];
    assert.equal(historyCategory(data, [i1, i2, i1]), cat(i1));
    const bare: SplitDataset = { ...data, name: 'ml-100k', itemMeta: new Map() };
    assert.equal(historyCategory(bare, [1, 2]), 'movie');
    assert.equal(domainWord('amazon-beauty'), 'product');
    const genre: SplitDataset = { ...data, itemMeta: new Map([[1, { title: 'T', attributes: { genre: 'Comedy, Drama' } }]]) };
    assert.equal(historyCategory(genre, [1]), 'comedy');
  });

  test('prompts fill the template with the last L training titles and drop the oldest titles to fit the token budget', () => {
    const o = { ...DEFAULT_ATTRIBUTE_OPTIONS, maxUsers: 5, historyLength: 3 };
    const words = (s: string) => s.split(/\s+/).length;
    const ps = attributePrompts(data, o, words);
    assert.equal(ps.length, 5);
    for (const p of ps) {
      assert.match(p, /^The user has bought: .+\. These [^.]+ items are about \[MASK\]\.$/);
      assert.ok(!p.includes('{'));
    }
    const short = attributePrompts(data, { ...o, maxPromptTokens: 16 }, words);
    short.forEach((p, i) => assert.ok(p.length <= ps[i].length && p.endsWith('items are about [MASK].')));
    assert.ok(short.some((p, i) => p.length < ps[i].length), 'some prompt lost its oldest titles');
    assert.equal(ATTRIBUTE_PROMPT_TEMPLATE, 'The user has bought: {titles}. These {category} items are about [MASK].');
  });

  test('options are validated naming the field and round-trip through JSON', () => {
    assert.throws(() => parseAttributeOptions({ numAttributes: 0 }), /field 'numAttributes'/);
    assert.throws(() => parseAttributeOptions({ template: 'no mask here {titles}' }), /field 'template'/);
    assert.throws(() => parseAttributeOptions({ bogus: 1 }), /bogus/);
    assert.deepEqual(parseAttributeOptions(JSON.parse(JSON.stringify(DEFAULT_ATTRIBUTE_OPTIONS))), DEFAULT_ATTRIBUTE_OPTIONS);
  });

  test('end to end on the synthetic shop: a small MLM trained from the titles gives K attributes, seeded', async () => {
    const opts = { numAttributes: 5, maxUsers: 60, mlmSteps: 40, mlmVocabSize: 400, mlmHiddenSize: 32, mlmIntermediateSize: 64, mlmBlockSize: 64, maxPromptTokens: 96, seed: 3 };
    const r = await mineAttributes(data, opts);
    assert.equal(r.attributes.length, 5);
    assert.equal(r.prompts, 60);
    for (const a of r.attributes) assert.ok(isAttributeWord(a) && !STOP_WORDS.has(a), a);
    for (let i = 1; i < r.counts.length; i++) assert.ok(r.counts[i - 1].count >= r.counts[i].count);
    assert.ok(r.examplePrompt.endsWith('items are about [MASK].'));
    assert.equal(r.mlm, 'trained');
    const again = await mineAttributes(data, opts);
    assert.deepEqual(again.counts, r.counts, 'same seed, same attributes and counts');
  });
});
