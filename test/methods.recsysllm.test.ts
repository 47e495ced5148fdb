/**
 * RecSysLLM parts: behaviour sampling (10/30/60 over long/medium/short
 * term), textualisation with entities, masking that never splits an entity
 * at the three levels (and does for the plain ablation), the infilling
 * example with 2-D positions against a hand-built one, the model's
 * bidirectional Part A and its save/load, dynamic intra-positions, trie
 * decoding that only emits real items, answer scoring equal to the
 * teacher-forced loss, and the task prompts (templates checked, blank in
 * place, no test item in training instances).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { tf } from '../src/engine/index.js';
import { applyProtocol } from '../src/data/protocol.js';
import { generateShop } from '../src/data/synthetic.js';
import type { ItemMeta, SplitDataset } from '../src/data/types.js';
import { IGNORE_INDEX, maskedCrossEntropy } from '../src/lm/loss.js';
import { trainBpe, type Tokenizer } from '../src/lm/tokenizer/index.js';
import { TokenTrie } from '../src/lm/trie.js';
import { Mulberry32 } from '../src/util/random.js';
import { decodePrompt, generateAnswer, intraPositionOf, scoreAnswers } from '../src/methods/recsysllm/decode.js';
import { intraModeFor, itemTrie, words } from '../src/methods/recsysllm/evaluate.js';
import {
  corruptDocument, DEFAULT_MASKING, documentSpan, entitySpans, type GlmTokens, infillingExample, type MaskingOptions, padExamples, sentenceSpans, type Span,
} from '../src/methods/recsysllm/masking.js';
import { glmTokens, RecSysLM } from '../src/methods/recsysllm/model.js';
import { infillingLoss, pretrainExample } from '../src/methods/recsysllm/objective.js';
import {
  checkTemplate, DEFAULT_PROMPT, FAMILIES, loadTaskTemplates, parseTaskTemplates, ratingsOf, renderTask, type TaskData, testInstances, trainingInstance, trainingRefs,
} from '../src/methods/recsysllm/tasks.js';
import {
  DEFAULT_BEHAVIOUR_SAMPLING, type EncodedDoc, fitDocument, sampleBehaviours, SegmentEncoder, userDocument,
} from '../src/methods/recsysllm/text.js';
import { ready } from './helpers.js';

const T: GlmTokens = { mask: 90, sentenceMask: 91, gMask: 92, start: 93, end: 94, pad: 0 };

/** A document of sentences, each [word, entity(len), word]; entity lengths vary. */
function syntheticDoc(rng: Mulberry32, sentences: number): EncodedDoc {
  const d: EncodedDoc = { ids: [], entity: [], sentence: [] };
  let e = 0;
  for (let s = 0; s < sentences; s++) {
    d.ids.push(1); d.entity.push(-1); d.sentence.push(s);
    const len = 1 + Math.floor(rng.next() * 5);
    for (let k = 0; k < len; k++) { d.ids.push(10 + k); d.entity.push(e); d.sentence.push(s); }
    e++;
    d.ids.push(2); d.entity.push(-1); d.sentence.push(s);
  }
  return d;
}

function splitsEntity(doc: EncodedDoc, spans: readonly Span[]): boolean {
  for (const sp of spans) {
    for (const edge of [sp.start, sp.end]) {
      if (edge > 0 && edge < doc.ids.length && doc.entity[edge] >= 0 && doc.entity[edge] === doc.entity[edge - 1]) return true;
    }
  }
  return false;
}

describe('behaviour sampling', () => {
  test('10% / 30% / 60% of the sample from the long / medium / short-term thirds, in time order', () => {
    const history = Array.from({ length: 30 }, (_, i) => 100 + i);
    for (let seed = 1; seed < 20; seed++) {
      const s = sampleBehaviours(history, DEFAULT_BEHAVIOUR_SAMPLING, new Mulberry32(seed));
      assert.equal(s.length, 10);
      const part = (x: number) => (x - 100 < 10 ? 0 : x - 100 < 20 ? 1 : 2);
      assert.deepEqual([0, 1, 2].map((p) => s.filter((x) => part(x) === p).length), [1, 3, 6]);
      assert.deepEqual(s, [...s].sort((a, b) => a - b));
      assert.equal(new Set(s).size, 10);
    }
  });

  test('split points are options; a short history is kept whole; a small part passes its surplus on', () => {
    const history = Array.from({ length: 20 }, (_, i) => i);
    const s = sampleBehaviours(history, { size: 10, shares: [0.1, 0.3, 0.6], splits: [0.5, 0.9] }, new Mulberry32(3));
    // Short-term part [18, 20) holds 2 of the wanted 6: the surplus goes to the medium part [10, 18).
    assert.equal(s.filter((x) => x >= 18).length, 2);
    assert.equal(s.filter((x) => x < 10).length, 1);
    assert.equal(s.filter((x) => x >= 10 && x < 18).length, 7);
    assert.deepEqual(sampleBehaviours([5, 6, 7], DEFAULT_BEHAVIOUR_SAMPLING, new Mulberry32(1)), [5, 6, 7]);
  });
});

describe('textualisation', () => {
  test('titles and attribute values are entities; encoding numbers entities and sentences; fitting keeps recent sentences', () => {
    const meta = new Map<number, ItemMeta>([[1, { title: 'Red Lipstick', attributes: { genre: 'Makeup' } }], [2, { title: 'Blue Soap', attributes: {} }]]);
    const doc = userDocument([1, 2], meta, { itemAttributes: ['genre'] }, { age: '25' });
    assert.deepEqual(doc[1].filter((s) => s.entity).map((s) => s.text), ['Red Lipstick', 'Makeup']);
    assert.deepEqual(doc[0].filter((s) => s.entity).map((s) => s.text), ['25']);
    assert.equal(doc[2].map((s) => s.text).join(''), ' Then bought Blue Soap.');
    // A character-level encoder: one token per character.
    const enc = new SegmentEncoder((s) => Array.from(s, (ch) => ch.charCodeAt(0)), 4);
    const e = enc.document(doc);
    assert.equal(e.ids.length, e.entity.length);
    // Entity 1 = 'Red Lipstick' cut to 4 tokens.
    assert.equal(e.entity.filter((x) => x === 1).length, 4);
    assert.deepEqual([...new Set(e.sentence)], [0, 1, 2]);
    const fitted = fitDocument(doc, enc, 40, true);
    assert.ok(fitted.ids.length <= 40);
    assert.equal(String.fromCharCode(...fitted.ids.slice(0, 5)), 'User ');
    assert.ok(String.fromCharCode(...fitted.ids).includes('Blue'));
    assert.ok(!String.fromCharCode(...fitted.ids).includes('Red'));
  });
});

describe('pre-training documents', () => {
  test('a user document holds the profile (user features) and sampled behaviours only from the training sequence, with entities masked whole', async () => {
    await ready();
    const raw = generateShop({ users: 40, items: 120, seed: 8 });
    const data = applyProtocol(raw, { ratingThreshold: null, kCore: 3, maxHistory: 20, numNegatives: 5, seed: 2 });
    const enc = new SegmentEncoder((s) => Array.from(s, (ch) => ch.charCodeAt(0)), 40);
    const features = new Map([[0, { age: '31', occupation: 'writer' }]]);
    const ctx = { data, enc, tokens: { ...T, mask: 1, sentenceMask: 2, gMask: 3, start: 4, end: 5 }, masking: DEFAULT_MASKING, sampling: DEFAULT_BEHAVIOUR_SAMPLING, textualise: { itemAttributes: [] }, maxDocTokens: 4000, userFeatures: features, seed: 1 };
    for (let seed = 0; seed < 20; seed++) {
      const ex = pretrainExample(ctx, 0, new Mulberry32(seed));
      // Put the spans back: Part A with each mask replaced by its span's tokens.
      const a = ex.ids.slice(0, ex.prefix);
      const text = String.fromCharCode(...a.filter((x) => x > 5), ...ex.ids.slice(ex.prefix).filter((x) => x > 5));
      assert.ok(text.includes('writer') || text.includes('31') || text.includes('User profile'), 'profile sentence present');
      for (const held of [data.valid.target[0], data.test.target[0]]) {
        const title = data.itemMeta.get(held)!.title;
        if (!Array.from(data.trainSeqs[0]).some((i) => data.itemMeta.get(i)!.title === title)) assert.ok(!text.includes(title), 'no held-out item in a pre-training document');
      }
    }
  });
});

describe('entity-aware masking', () => {
  const o: MaskingOptions = { ...DEFAULT_MASKING };
  test('no span splits an entity, at every level, over many seeds; the plain ablation does split', () => {
    let plainSplits = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const doc = syntheticDoc(new Mulberry32(seed), 8);
      for (const level of ['entity', 'sentence', 'document'] as const) {
        const r = corruptDocument(doc, o, T, new Mulberry32(seed * 7), level);
        assert.ok(!splitsEntity(doc, r.spans), `seed ${seed} level ${level} split an entity`);
        assert.ok(r.spans.length >= 1);
        const p = corruptDocument(doc, { ...o, entityAware: false }, T, new Mulberry32(seed * 7), level);
        if (splitsEntity(doc, p.spans)) plainSplits++;
      }
    }
    assert.ok(plainSplits > 20, `plain masking split entities only ${plainSplits} times`);
  });

  test('levels: entity spans cover about the ratio and leave text; sentence spans are whole sentences; the document span is 50-100% at the end', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const doc = syntheticDoc(new Mulberry32(seed), 12);
      const n = doc.ids.length;
      const es = entitySpans(doc, o, new Mulberry32(seed));
      const covered = es.reduce((a, s) => a + s.end - s.start, 0);
      assert.ok(covered >= 1 && covered < n);
      for (let k = 1; k < es.length; k++) assert.ok(es[k].start > es[k - 1].end, 'spans are separated');
      const ss = sentenceSpans(doc, o, new Mulberry32(seed));
      for (const s of ss) {
        assert.ok(s.start === 0 || doc.sentence[s.start - 1] !== doc.sentence[s.start]);
        assert.ok(s.end === n || doc.sentence[s.end] !== doc.sentence[s.end - 1]);
      }
      assert.ok(ss.reduce((a, s) => a + s.end - s.start, 0) < n);
      const [ds] = documentSpan(doc, o, new Mulberry32(seed));
      assert.equal(ds.end, n);
      assert.ok(ds.end - ds.start >= Math.round(0.5 * n));
    }
  });

  test('infilling example against a hand-built one: Part A, spans in order, 2-D positions, labels', () => {
    // tokens:  w  E0 E0  w  E1 w  E2 E2 E2
    const doc: EncodedDoc = { ids: [1, 11, 12, 2, 13, 3, 14, 15, 16], entity: [-1, 0, 0, -1, 1, -1, 2, 2, 2], sentence: [0, 0, 0, 0, 0, 0, 0, 0, 0] };
    const ex = infillingExample(doc, [{ start: 1, end: 3 }, { start: 5, end: 6 }], T.mask, T, true);
    // Part A: 1 [M] 2 13 [M] 14 15 16
    assert.deepEqual(ex.ids, [1, 90, 2, 13, 90, 14, 15, 16, 93, 11, 12, 93, 3]);
    assert.equal(ex.prefix, 8);
    assert.deepEqual(ex.inter, [0, 1, 2, 3, 4, 5, 6, 7, 1, 1, 1, 4, 4]);
    assert.deepEqual(ex.intra, [0, 0, 0, 1, 0, 1, 2, 3, 1, 2, 3, 1, 2]);
    const I = IGNORE_INDEX;
    assert.deepEqual(ex.labels, [I, I, I, I, I, I, I, I, 11, 12, 94, 3, 94]);
    // The plain ablation: no entity intra-positions in Part A.
    const plain = infillingExample(doc, [{ start: 1, end: 3 }, { start: 5, end: 6 }], T.mask, T, false);
    assert.deepEqual(plain.intra, [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 1, 2]);
    // An empty span at the end: the decoding prompt's blank.
    const blank = infillingExample(doc, [{ start: 9, end: 9 }], T.gMask, T, true);
    assert.deepEqual(blank.ids.slice(-3), [16, 92, 93]);
    assert.equal(blank.inter[blank.inter.length - 1], 9);
    assert.throws(() => infillingExample(doc, [{ start: 5, end: 6 }, { start: 1, end: 3 }], T.mask, T, true), /sorted|overlap/);
  });
});

describe('RecSysLLM model and decoding', () => {
  let model: RecSysLM;
  before(async () => {
    await ready();
    model = RecSysLM.create({ vocabSize: 100, hiddenSize: 16, layers: 2, heads: 2, maxPositions: 64, intraPositions: 16, entityAware: true, dropout: 0, seed: 3 }, { pad: 0 });
  });

  const run = (ids: number[], inter: number[], intra: number[], prefix: number) => {
    const out = model.forward({ ids: Int32Array.from(ids), inter: Int32Array.from(inter), intra: Int32Array.from(intra), B: 1, prefix: [prefix] });
    const v = out.logits.dataSync() as Float32Array;
    tf.dispose([out.logits, out.hidden]);
    return v;
  };

  test('Part A is bidirectional, Part B causal; intra-positions change the output', () => {
    const V = 100;
    const base = run([5, 6, 7, 93, 8], [0, 1, 2, 1, 1], [0, 0, 0, 1, 2], 3);
    const changedA = run([5, 6, 9, 93, 8], [0, 1, 2, 1, 1], [0, 0, 0, 1, 2], 3);
    const changedB = run([5, 6, 7, 93, 9], [0, 1, 2, 1, 1], [0, 0, 0, 1, 2], 3);
    const row = (v: Float32Array, t: number) => Array.from(v.subarray(t * V, (t + 1) * V));
    assert.notDeepEqual(row(changedA, 0), row(base, 0), 'position 0 sees a later Part A token');
    assert.deepEqual(row(changedB, 3), row(base, 3), 'Part B is causal');
    assert.deepEqual(row(changedB, 0), row(base, 0), 'Part A does not see Part B');
    const intra = run([5, 6, 7, 93, 8], [0, 1, 2, 1, 1], [0, 1, 2, 1, 2], 3);
    assert.notDeepEqual(row(intra, 0), row(base, 0));
  });

  test('save and load give the same logits; a non-RecSysLLM folder is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmrec-rs-'));
    try {
      model.save(dir);
      const back = RecSysLM.load(dir);
      assert.equal(back.intraPositions, 16);
      assert.equal(back.entityAware, true);
      const a = run([5, 6, 7, 93], [0, 1, 2, 1], [0, 1, 2, 1], 3);
      const out = back.forward({ ids: Int32Array.of(5, 6, 7, 93), inter: Int32Array.of(0, 1, 2, 1), intra: Int32Array.of(0, 1, 2, 1), B: 1, prefix: [3] });
      assert.deepEqual(Array.from(out.logits.dataSync()), Array.from(a));
      tf.dispose([out.logits, out.hidden]);
      back.dispose();
      assert.throws(() => model.forward({ ids: Int32Array.of(5), inter: Int32Array.of(0), intra: Int32Array.of(16), B: 1 }), /intra-position 16/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dynamic intra-positions follow the entity trie; span mode counts', () => {
    const trie = new TokenTrie();
    trie.add([10, 11, 12], 1);
    trie.add([20, 21], 2);
    assert.equal(intraPositionOf([10], 'dynamic', trie), 2);
    assert.equal(intraPositionOf([10, 11], 'dynamic', trie), 3);
    // 30 does not continue [10, 11]: restart at 1; 20 does not continue [30]: restart; 21 continues [20].
    assert.equal(intraPositionOf([10, 11, 30], 'dynamic', trie), 1);
    assert.equal(intraPositionOf([10, 11, 30, 20], 'dynamic', trie), 1);
    assert.equal(intraPositionOf([10, 11, 30, 20, 21], 'dynamic', trie), 2);
    assert.equal(intraPositionOf([10, 11, 30], 'span'), 4);
    // Item answers of the entity-aware model follow the trie; free text and the plain model count within the span.
    assert.equal(intraModeFor('sequential', true), 'dynamic');
    assert.equal(intraModeFor('explanation', true), 'span');
    assert.equal(intraModeFor('review', true), 'span');
    assert.equal(intraModeFor('sequential', false), 'span');
  });

  test('trie-constrained decoding yields only real items (also from an untrained model); scoring equals the teacher-forced loss', () => {
    const trie = new TokenTrie();
    const items = [[10, 11, 12], [10, 13], [20, 21, 22, 23], [30]];
    items.forEach((s, i) => trie.add(s, i + 1));
    const doc: EncodedDoc = { ids: [5, 6, 7], entity: [-1, -1, -1], sentence: [0, 0, 0] };
    const ex = infillingExample(doc, [{ start: 3, end: 3 }], T.mask, T, true);
    const p = decodePrompt(ex);
    for (const strategy of ['greedy', 'beam'] as const) {
      const outs = generateAnswer(model, p, { strategy, numBeams: 4, numReturn: strategy === 'beam' ? 4 : 1, maxNewTokens: 6, eosTokenId: T.end, trie, intraMode: 'dynamic' });
      for (const o of outs) {
        // A beam ends with [E], or at a trie leaf (nothing else may follow).
        const body = o.tokens[o.tokens.length - 1] === T.end ? o.tokens.slice(0, -1) : o.tokens;
        assert.notEqual(trie.valueOf(body), undefined);
      }
    }
    const free = generateAnswer(model, p, { strategy: 'greedy', maxNewTokens: 6, eosTokenId: T.end, intraMode: 'dynamic', entityTrie: trie })[0];
    assert.ok(free.tokens.length >= 1);
    // Scores: sum of log-probs of the answer tokens and [E] = -(n + 1) * mean cross-entropy of the full example.
    const scores = scoreAnswers(model, p, items, T.end, 3);
    items.forEach((a, i) => {
      const full = infillingExample({ ids: [5, 6, 7, ...a], entity: [-1, -1, -1, ...a.map(() => 0)], sentence: [0, 0, 0, ...a.map(() => 0)] }, [{ start: 3, end: 3 + a.length }], T.mask, T, true);
      const loss = tf.tidy(() => infillingLoss(model, [full], T.pad, false).dataSync()[0]);
      assert.ok(Math.abs(scores[i] + loss * (a.length + 1)) < 1e-3, `item ${i}: ${scores[i]} vs ${-loss * (a.length + 1)}`);
    });
  });

  test('padded batches give each example the loss it has alone', () => {
    const d1: EncodedDoc = { ids: [5, 6, 7, 8], entity: [-1, 0, 0, -1], sentence: [0, 0, 0, 0] };
    const d2: EncodedDoc = { ids: [9, 10], entity: [-1, -1], sentence: [0, 0] };
    const e1 = infillingExample(d1, [{ start: 1, end: 3 }], T.mask, T, true);
    const e2 = infillingExample(d2, [{ start: 1, end: 2 }], T.mask, T, true);
    const b = padExamples([e1, e2], 0);
    assert.equal(b.T, e1.ids.length);
    const logits = model.forward({ ids: b.ids, inter: b.inter, intra: b.intra, B: 2, attention: b.attention, prefix: b.prefix });
    const lp = tf.tidy(() => {
      const flat = tf.reshape(logits.logits, [2, b.T, 100]);
      const second = tf.slice(flat, [1, 0, 0], [1, e2.ids.length, 100]);
      return maskedCrossEntropy(second, e2.labels).dataSync()[0];
    });
    tf.dispose([logits.logits, logits.hidden]);
    const alone = tf.tidy(() => infillingLoss(model, [e2], 0, false).dataSync()[0]);
    assert.ok(Math.abs(lp - alone) < 1e-5);
  });
});

describe('P5 task prompts', () => {
  let data: SplitDataset;
  let tok: Tokenizer;
  let tasks: TaskData;
  before(async () => {
    await ready();
    const raw = generateShop({ users: 60, items: 150, seed: 4 });
    data = applyProtocol(raw, { ratingThreshold: null, kCore: 3, maxHistory: 20, numNegatives: 20, seed: 2 });
    tasks = { data, ratings: ratingsOf(raw, data) };
    tok = trainBpe([...Array.from({ length: 150 }, (_, i) => data.itemMeta.get(i + 1)?.title ?? ''), 'The user bought rating review'], { vocabSize: 500 });
  });

  test('the committed templates parse; a template without {answer} or with an unknown slot is refused with its place named', () => {
    const t = loadTaskTemplates('templates/recsysllm.json');
    for (const f of FAMILIES) { assert.ok(t.families[f].seen.length >= 2); assert.ok(t.families[f].unseen.length >= 1); }
    assert.throws(() => checkTemplate('sequential', 'bought {history}', 'x'), /exactly one \{answer\}/);
    assert.throws(() => checkTemplate('sequential', '{history} {answer} {colour}', 'x'), /unknown slot \{colour\}/);
    const bad = JSON.parse(JSON.stringify(t)) as { families: { rating: { seen: string[] } } };
    bad.families.rating.seen[1] = 'no blank here {item}';
    assert.throws(() => parseTaskTemplates(bad, 'f.json'), /f\.json: families\.rating\.seen\[1\]/);
  });

  test('ratings come from the raw rows; training instances never use the validation or test item', () => {
    assert.ok(tasks.ratings.size > 0);
    const refs = trainingRefs(tasks, ['sequential', 'rating', 'explanation'], 10_000, 1);
    assert.ok(refs.length > 100);
    for (const r of refs) {
      const inst = trainingInstance(tasks, r);
      const u = inst.user;
      for (const held of [data.valid.target[u], data.test.target[u]]) {
        const seq = data.sequences[u];
        // The held-out positions are the last two of the sequence.
        const pos = seq.length - (held === data.test.target[u] ? 1 : 2);
        assert.ok(!(inst.item === held && inst.history.length >= pos), `user ${u}: a training instance targets a held-out position`);
        assert.ok(inst.history.length < data.trainSeqs[u].length);
      }
      if (inst.family === 'explanation') assert.ok(inst.review);
    }
    const test1 = testInstances(tasks, 'sequential', [0, 1]);
    assert.equal(test1[0].item, data.test.target[0]);
    assert.equal(test1[0].history[test1[0].history.length - 1], data.valid.target[0]);
  });

  test('a rendered prompt has one blank, the answer as its span, and entity intra-positions', () => {
    const t = glmTokens(tok);
    const enc = new SegmentEncoder((s) => tok.encode(s, { addSpecialTokens: false }), 12);
    const inst = testInstances(tasks, 'sequential', [3])[0];
    const tpl = 'After {history}, the user buys {answer}.';
    const ex = renderTask(inst, tpl, enc, data.itemMeta, t, DEFAULT_PROMPT, true);
    assert.equal(ex.ids.slice(0, ex.prefix).filter((x) => x === t.mask).length, 1);
    const answer = enc.tokens({ text: data.itemMeta.get(inst.item)!.title, entity: true });
    assert.deepEqual(ex.ids.slice(ex.prefix), [t.start, ...answer]);
    assert.deepEqual(ex.labels.slice(ex.prefix), [...answer, t.end]);
    assert.ok(ex.intra.slice(0, ex.prefix).some((x) => x > 0), 'history titles carry intra-positions');
    const prompt = renderTask(inst, tpl, enc, data.itemMeta, t, DEFAULT_PROMPT, true, false);
    assert.equal(prompt.ids.length, ex.prefix + 1);
    assert.deepEqual(prompt.ids, ex.ids.slice(0, ex.prefix + 1));
    assert.deepEqual(prompt.inter, ex.inter.slice(0, ex.prefix + 1));
    // The item trie holds every item's entity tokens.
    const { trie } = itemTrie(data, enc);
    assert.equal(trie.valueOf(answer), inst.item);
    assert.deepEqual(words('Great value, 10/10!'), ['great', 'value', '10', '10']);
  });
});
