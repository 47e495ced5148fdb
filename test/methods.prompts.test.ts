/**
 * Prompt templates as data: the shipped file is valid (seen and unseen sets
 * disjoint, required slots present), rendering fills every slot, bad files
 * fail naming the file and the template, answer ids come from the tokenizer,
 * and P(yes) is the two-way softmax of the answer tokens' log-probabilities.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateShop } from '../src/data/synthetic.js';
import { itemSentence } from '../src/data/item_text.js';
import { answerTokenIds, loadTemplates, parseTemplates, pYes, renderExample, renderPrompt, templateSlots } from '../src/methods/prompts.js';
import { Tokenizer, trainBpe, withRecSpecialTokens } from '../src/lm/tokenizer/index.js';
import { LlamaForCausalLM, parseLlamaConfig } from '../src/lm/families/llama.js';
import { nextTokenLogProbs } from '../src/lm/score.js';
import { ready } from './helpers.js';

let dir: string;
describe('prompt templates', () => {
  before(async () => { await ready(); dir = mkdtempSync(join(tmpdir(), 'llmrec-prompts-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the shipped templates: seen and unseen sets, disjoint, unseen ones paraphrase, reorder and change the answer words', () => {
    const t = loadTemplates();
    assert.ok(t.seen.length >= 3 && t.unseen.length >= 3);
    const seenIds = new Set(t.seen.map((x) => x.id));
    assert.ok(t.unseen.every((u) => !seenIds.has(u.id)));
    assert.ok(t.unseen.every((u) => t.seen.every((s) => s.instruction !== u.instruction)), 'unseen instructions are new');
    const order = (x: (typeof t.seen)[number]) => templateSlots(x).filter((s) => s === 'history' || s === 'target').join(',');
    assert.ok(t.unseen.some((u) => order(u) === 'target,history'), 'one unseen template puts the target before the history');
    assert.ok(t.unseen.some((u) => u.answers.yes !== 'Yes'), 'one unseen template uses other answer words');
  });

  test('rendering fills every slot; an empty guide leaves no empty line; the example appends the answer', () => {
    const t = loadTemplates().seen[0];
    const p = renderPrompt(t, { historyTitles: ['Red Lipstick', 'Blue Mascara'], targetTitle: 'Green Nail Polish' });
    assert.ok(p.includes('Red Lipstick, Blue Mascara'));
    assert.ok(p.includes('Green Nail Polish <ItemID>'));
    assert.ok(p.includes('<UserID>'));
    assert.ok(!p.includes('<Guide>'));
    assert.ok(!p.includes('{') && !p.includes('\n\n'));
    assert.ok(p.endsWith('Answer:'));
    const g = renderPrompt(t, { historyTitles: ['A'], targetTitle: 'B', guidance: 'the expert model ranks B first' });
    assert.ok(g.includes('<Guide> the expert model ranks B first'));
    assert.equal(renderExample(t, { historyTitles: ['A'], targetTitle: 'B' }, true), `${renderPrompt(t, { historyTitles: ['A'], targetTitle: 'B' })} Yes`);
    assert.ok(renderExample(t, { historyTitles: ['A'], targetTitle: 'B' }, false).endsWith(' No'));
  });

  test('bad template files fail naming the file, the template and the problem', () => {
    const base = { id: 'a', instruction: 'i', text: '{history} {target}', answers: { yes: 'Yes', no: 'No' } };
    const bad = (over: Record<string, unknown>, re: RegExp, extra: Record<string, unknown> = {}) => {
      const f = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(f, JSON.stringify({ seen: [{ ...base, ...over }], ...extra }));
      assert.throws(() => loadTemplates(f), (e: Error) => e.message.includes(f) && re.test(e.message));
    };
    bad({ text: '{history} {taget}' }, /'a'.*unknown slot \{taget\}/);
    bad({ text: '{history} only' }, /'a' lacks the required slot \{target\}/);
    bad({ answers: { yes: 'Yes', no: 'Yes' } }, /same yes and no answer/);
    bad({ text: '{history} {target} {history}' }, /\{history\} more than once/);
    bad({ answers: { yes: 'Yes' } }, /seen\.0\.answers\.no/);
    bad({}, /identical to seen template 'a'/, { unseen: [{ ...base, id: 'b' }] });
    bad({}, /id 'a' is used twice/, { unseen: [{ ...base, instruction: 'other' }] });
    const nj = join(dir, 'notjson.json');
    writeFileSync(nj, '{');
    assert.throws(() => loadTemplates(nj), /notjson\.json: not valid JSON/);
    assert.throws(() => parseTemplates({ seen: [] }, 'x.json'), /x\.json[\s\S]*seen/);
  });

  test('a SentencePiece tokenizer (LLaMA-2, Mistral): the answer token is the one that follows the prompt, "▁Yes", not a lone "▁"', () => {
    const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    const merges = [['▁', 'A'], ['▁A', 'n'], ['▁An', 's'], ['▁Ans', 'w'], ['▁Answ', 'e'], ['▁Answe', 'r'], ['▁', 'Y'], ['▁Y', 'e'], ['▁Ye', 's'], ['▁', 'N'], ['▁N', 'o'], ['▁', '▁']];
    const vocab = ['<unk>', '<s>', '</s>', ...bytes, '▁', 'A', 'n', 's', 'w', 'e', 'r', ':', 'Y', 'N', 'o', ...merges.map(([a, b]) => a + b)];
    // LLaMA-2's tokenizer.json layout: Prepend + Replace normalizer, no pre-tokenizer, BPE with byte fallback, <s> prepended.
    const tok = Tokenizer.fromJSON({
      version: '1.0', truncation: null, padding: null,
      added_tokens: [special('<unk>', 0), special('<s>', 1), special('</s>', 2)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
      pre_tokenizer: null,
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), merges: merges.map(([a, b]) => `${a} ${b}`) },
    }, 'llama2-like', { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
    assert.equal(tok.tokenToId('▁'), tok.encode(' Yes', { addSpecialTokens: false })[0], 'a lone " Yes" starts with "▁"');
    const t = loadTemplates().seen[0];
    assert.deepEqual(answerTokenIds(tok, t), { yes: tok.tokenToId('▁Yes'), no: tok.tokenToId('▁No') });
    // The id is the token that follows the prompt's own tokens in the training text.
    const x = { historyTitles: ['Answer'], targetTitle: 'Answer' };
    const prompt = tok.encode(renderPrompt(t, x), { addSpecialTokens: false });
    for (const liked of [true, false]) {
      const full = tok.encode(renderExample(t, x, liked), { addSpecialTokens: false });
      assert.deepEqual(full.slice(0, prompt.length), prompt);
      assert.equal(full[prompt.length], liked ? answerTokenIds(tok, t).yes : answerTokenIds(tok, t).no);
    }
  });

  test('answer token ids are looked up from the tokenizer; P(yes) is the softmax over the two answer tokens', () => {
    const shop = generateShop({ users: 20, items: 80, seed: 2 });
    const corpus = [...shop.itemMeta.values()].map((m) => itemSentence(m));
    const { seen, unseen } = loadTemplates();
    const tok = trainBpe([...corpus, ...[...seen, ...unseen].map((t) => renderExample(t, { historyTitles: ['x'], targetTitle: 'y' }, true))], { vocabSize: 500 });
    withRecSpecialTokens(tok);
    for (const t of [...seen, ...unseen]) {
      const ids = answerTokenIds(tok, t);
      assert.notEqual(ids.yes, ids.no);
      assert.equal(tok.decode([ids.yes]).trim()[0], t.answers.yes[0]);
      assert.equal(tok.decode([ids.no]).trim()[0], t.answers.no[0]);
    }
    const model = new LlamaForCausalLM(parseLlamaConfig({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2 }), { seed: 1 });
    const t = seen[0];
    const prompt = renderPrompt(t, { historyTitles: ['a', 'b'], targetTitle: 'c' });
    const lp = nextTokenLogProbs(model, { ids: Int32Array.from(tok.encode(prompt, { addSpecialTokens: false })) });
    const ids = answerTokenIds(tok, t);
    const p = pYes(lp, ids);
    const manual = Math.exp(lp[ids.yes]) / (Math.exp(lp[ids.yes]) + Math.exp(lp[ids.no]));
    assert.ok(Math.abs(p - manual) < 1e-9 && p > 0 && p < 1);
    assert.equal(pYes([0, -1000, 5], { yes: 2, no: 1 }), 1);
    model.dispose();
  });
});
