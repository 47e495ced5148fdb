/** The labelled texts of GANPrompt stage 1: class 0 original, class k with attribute a_k (methods/ganprompt/diversity.ts). */
import type { SplitDataset } from '../../../data/types.js';
import { Mulberry32, mixSeed } from '../../../util/random.js';
import { lastItems, renderHistoryText, sampleUsers } from '../attributes.js';
import type { DiversityStageOptions } from './options.js';

export interface DiversitySample {
  user: number;
  cls: number;
  text: string;
}

export interface SampleSet {
  /** Class names: 'original', then the attributes. */
  classNames: string[];
  train: DiversitySample[];
  heldOut: DiversitySample[];
}

/** The text of (user history, class): class 0 the original template, class k the adversarial one with a_k. */
export function sampleText(data: SplitDataset, user: number, cls: number, attributes: readonly string[], o: DiversityStageOptions, countTokens: (s: string) => number): string {
  const items = lastItems(data.trainSeqs[user], o.historyLength);
  const template = cls === 0 ? o.originalTemplate : o.adversarialTemplate;
  const slots: Record<string, string> = cls === 0 ? {} : { attribute: attributes[cls - 1] };
  return renderHistoryText(data, items, template, slots, o.maxTitleChars, o.maxTextTokens, countTokens);
}

/**
 * The labelled sample set: held-out users first (a seeded sample, at most a
 * fifth of the eligible users, classes round-robin), training samples from
 * the other users (cycled when fewer than trainSamples, seeded classes).
 */
export function buildSampleSet(data: SplitDataset, attributes: readonly string[], o: DiversityStageOptions, countTokens: (s: string) => number): SampleSet {
  const K1 = attributes.length + 1;
  let eligible = 0;
  for (let u = 0; u < data.numUsers; u++) if (data.trainSeqs[u].length > 0) eligible++;
  const nHeld = Math.min(o.heldOutSamples, Math.floor(eligible / 5));
  if (nHeld < 3) throw new Error(`diversity samples: dataset ${data.name} has too few users with a training history (${eligible})`);
  const heldUsers = sampleUsers(data, nHeld, mixSeed(o.seed, 12));
  const trainUsers = sampleUsers(data, o.trainSamples, mixSeed(o.seed, 11), new Set(heldUsers));
  const rng = new Mulberry32(mixSeed(o.seed, 13));
  const train: DiversitySample[] = [];
  for (let i = 0; i < o.trainSamples; i++) {
    const user = trainUsers[i % trainUsers.length];
    const cls = Math.floor(rng.next() * K1);
    train.push({ user, cls, text: sampleText(data, user, cls, attributes, o, countTokens) });
  }
  const heldOut = heldUsers.map((user, i) => ({ user, cls: i % K1, text: sampleText(data, user, i % K1, attributes, o, countTokens) }));
  return { classNames: ['original', ...attributes.map((a) => `+ ${a}`)], train, heldOut };
}
