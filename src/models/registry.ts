/**
 * The model registry: an explicit table from a model name to its factory,
 * its hyper-parameter defaults and its default training options, plus
 * `createRecommender(name, config)` and `loadRecommender(dir)`.
 *
 * To add a model: implement it (a NeuralRecommender subclass, see neural.ts,
 * or a Recommender & Restorable), then add one entry to MODELS below.
 */
import type { FitOptions, Recommender } from './types.js';
import { readModelDir, type Restorable } from './neural.js';
import { Pop, POP_DEFAULTS } from './pop.js';
import { RandomRecommender, RANDOM_DEFAULTS } from './random.js';
import { BPRMF, BPRMF_DEFAULTS } from './bprmf.js';
import { SASRec, SASREC_DEFAULTS } from './sasrec.js';
import { GRU4Rec, GRU4REC_DEFAULTS } from './gru4rec.js';
import { Caser, CASER_DEFAULTS } from './caser.js';
import { BERT4Rec, BERT4REC_DEFAULTS } from './bert4rec.js';
import { DIN, DIN_DEFAULTS } from './din.js';
import { TextSeq, TEXTSEQ_DEFAULTS } from './textseq.js';
import { KarSASRec, KAR_SASREC_DEFAULTS } from './kar/sasrec.js';
import { KarDIN, KAR_DIN_DEFAULTS } from './kar/din.js';
import { Tiger, TIGER_DEFAULTS } from './tiger/model.js';

/** Default training options of a model (the caller adds seed and callbacks). */
export type FitDefaults = Pick<FitOptions, 'epochs' | 'batchSize' | 'lr' | 'patience' | 'validMetric' | 'validProtocol' | 'weightDecay'>;

export interface ModelEntry {
  /** One line for `llmrec models` / help texts. */
  description: string;
  /** Hyper-parameter defaults (the model's config; JSON values). */
  defaults: Readonly<Record<string, unknown>>;
  /** Default training options. */
  fit: Readonly<FitDefaults>;
  /** A new, unfitted model; config keys override the defaults (unknown keys throw). */
  create(config?: Record<string, unknown>): Recommender & Restorable;
  /**
   * Config keys that change only how a trained model scores, never its
   * weights (TIGER's beam width): they may be set when a saved model is
   * loaded (`loadRecommender(dir, { set })`, `llmrec eval|serve --set
   * LABEL.KEY=VALUE`). Every other key shaped the weights and stays as saved.
   */
  inference?: readonly string[];
}

const NEURAL_FIT: FitDefaults = { epochs: 200, batchSize: 256, lr: 1e-3, patience: 10, validMetric: 'ndcg@10', validProtocol: 'full', weightDecay: 0 };
const NO_TRAINING_FIT: FitDefaults = { ...NEURAL_FIT, epochs: 1, patience: 1 };

export const MODELS: Readonly<Record<string, ModelEntry>> = {
  random: {
    description: 'uniform random scores, seeded (the floor every model must beat)',
    defaults: RANDOM_DEFAULTS,
    fit: NO_TRAINING_FIT,
    create: (c = {}) => new RandomRecommender(c),
  },
  pop: {
    description: 'popularity: item counts in the training sequences',
    defaults: POP_DEFAULTS,
    fit: NO_TRAINING_FIT,
    create: (c = {}) => new Pop(c),
  },
  bprmf: {
    description: 'BPR-MF: user/item embeddings, BPR loss with sampled negatives',
    defaults: BPRMF_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new BPRMF(c),
  },
  sasrec: {
    description: 'SASRec: causal self-attention over the history (CE over all items or BCE)',
    defaults: SASREC_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new SASRec(c),
  },
  gru4rec: {
    description: 'GRU4Rec: a GRU over the history (CE over all items or BCE)',
    defaults: GRU4REC_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new GRU4Rec(c),
  },
  caser: {
    description: 'Caser: horizontal + vertical convolutions over the last L item embeddings (CE over all items or BCE)',
    defaults: CASER_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new Caser(c),
  },
  bert4rec: {
    description: 'BERT4Rec: bidirectional transformer trained with the cloze (masked item) task',
    defaults: BERT4REC_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new BERT4Rec(c),
  },
  din: {
    description: 'DIN: target-aware attention over the history + MLP, pointwise BCE (not a dot product)',
    defaults: DIN_DEFAULTS,
    fit: { ...NEURAL_FIT, validMetric: 'auc', validProtocol: 'sampled' }, // full ranking runs the MLP per (user, item): slow
    create: (c = {}) => new DIN(c),
  },
  'kar-sasrec': {
    description: 'KAR + SASRec: LM-written item facts and user preferences (or their source texts without an LM), encoded, through hybrid-expert adaptors into the item inputs and the sequence vector',
    defaults: KAR_SASREC_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new KarSASRec(c),
  },
  'kar-din': {
    description: 'KAR + DIN: LM-written item facts added to the item inputs, user preferences as an extra MLP field (hybrid-expert adaptors); pointwise BCE',
    defaults: KAR_DIN_DEFAULTS,
    fit: { ...NEURAL_FIT, validMetric: 'auc', validProtocol: 'sampled' },
    create: (c = {}) => new KarDIN(c),
  },
  textseq: {
    description: 'TextSeq (UniSRec/Recformer style): item text vectors through an adaptor (+ gated ids of warm items), SASRec-style transformer; scores unseen items by their text',
    defaults: TEXTSEQ_DEFAULTS,
    fit: NEURAL_FIT,
    create: (c = {}) => new TextSeq(c),
  },
  tiger: {
    description: 'TIGER: semantic ids of the item texts (RQ-VAE / RQ-KMeans) + a T5 that generates the next id, trie-constrained beam search',
    defaults: TIGER_DEFAULTS,
    fit: { ...NEURAL_FIT, epochs: 20, patience: 3 },
    create: (c = {}) => new Tiger(c),
    inference: ['beams', 'beamChunk'],
  },
};

/** Whether the model trains by epochs (false for Pop and Random: one fitting pass, nothing to cap). */
export function trainsByEpochs(name: string): boolean {
  return modelEntry(name).fit !== NO_TRAINING_FIT;
}

export function modelNames(): string[] {
  return Object.keys(MODELS);
}

export function modelEntry(name: string): ModelEntry {
  const e = Object.prototype.hasOwnProperty.call(MODELS, name) ? MODELS[name] : undefined;
  if (!e) throw new Error(`unknown model '${name}' (known: ${modelNames().join(', ')})`);
  return e;
}

/** A new, unfitted model by name. */
export function createRecommender(name: string, config: Record<string, unknown> = {}): Recommender & Restorable {
  return modelEntry(name).create(config);
}

export interface LoadOptions {
  /** Inference settings to use instead of the saved ones (keys of the model's `inference` list only). */
  set?: Readonly<Record<string, unknown>>;
}

/** Loads a model written by `save(dir)`: config.json (name, config, dims) + weights.safetensors. */
export async function loadRecommender(dir: string, opts: LoadOptions = {}): Promise<Recommender> {
  const saved = readModelDir(dir);
  const set = opts.set ?? {};
  const allowed = modelEntry(saved.name).inference ?? [];
  for (const key of Object.keys(set)) {
    if (!allowed.includes(key)) {
      throw new Error(`cannot set '${key}' of the ${saved.name} model in ${dir}: ${allowed.length ? `only its inference settings (${allowed.join(', ')}) can be set when loading` : 'it has no inference settings'}; the other keys shaped its weights`);
    }
  }
  let model: Recommender & Restorable;
  try {
    model = createRecommender(saved.name, { ...saved.config, ...set });
  } catch (e) {
    throw new Error(`cannot load model from ${dir}: ${(e as Error).message}`, { cause: e });
  }
  try {
    model.restore(saved);
  } catch (e) {
    model.dispose();
    throw new Error(`cannot load model from ${dir}: ${(e as Error).message}`, { cause: e });
  }
  return model;
}

/** Inference settings per model label (`--set LABEL.KEY=VALUE`, `parseModelSettings`). */
export type ModelSettings = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

/** `KEY=VALUE, ...` of one model's settings (values as JSON), each key prefixed with `LABEL.` when a label is given. */
export function formatSettings(set: Readonly<Record<string, unknown>>, label?: string): string {
  return Object.entries(set).map(([k, v]) => `${label ? `${label}.` : ''}${k}=${JSON.stringify(v)}`).join(', ');
}

/**
 * Parses `LABEL.KEY=VALUE` settings (repeatable CLI flags such as `--set
 * tiger.beams=80`) into one record per model label. VALUE is read as JSON
 * when it parses (numbers, booleans, quoted strings), else as a string. The
 * label is everything before the last dot of the left side, so labels may
 * contain dots. Which keys a model accepts is checked when it is loaded.
 */
export function parseModelSettings(values: readonly string[], flag: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const s of values) {
    const eq = s.indexOf('=');
    const left = eq < 0 ? '' : s.slice(0, eq);
    const dot = left.lastIndexOf('.');
    if (eq < 0 || dot <= 0 || dot === left.length - 1) throw new Error(`${flag} '${s}': expected LABEL.KEY=VALUE (e.g. tiger.beams=80)`);
    const label = left.slice(0, dot);
    const key = left.slice(dot + 1);
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key)) throw new Error(`${flag} '${s}': '${key}' is not a config key (letters, digits and _, starting with a letter)`);
    const raw = s.slice(eq + 1);
    if (raw === '') throw new Error(`${flag} '${s}': the value is empty`);
    let value: unknown = raw;
    try { value = JSON.parse(raw); } catch { /* a plain string */ }
    const rec = out.get(label) ?? {};
    if (Object.prototype.hasOwnProperty.call(rec, key)) throw new Error(`${flag}: '${label}.${key}' is set twice`);
    rec[key] = value;
    out.set(label, rec);
  }
  return out;
}

/** Refuses settings for labels that are not among `labels` (naming the flag and the known labels). */
export function checkSettingLabels(sets: ReadonlyMap<string, unknown>, labels: readonly string[], flag: string, where: string): void {
  for (const label of sets.keys()) {
    if (!labels.includes(label)) throw new Error(`${flag}: no model labelled '${label}' in ${where} (labels: ${labels.join(', ')})`);
  }
}
