/**
 * Where the score feature starts. In the mapping step (mappingStage.scoreStart,
 * docs/METHODS.md §5, "Stacked start"): 'collab' = w = scoreWeightInit,
 * g = 0, the collaborative model's ranking; 'stacked' = (w, g) fitted on the
 * mapping step's own training questions by the listwise blend of z and the
 * LM's l(yes) - l(no) (src/methods/yesno/blend.ts), with the mapping layer
 * still at its start. With validation questions both starts are validated
 * and the better one is kept (the collaborative start on a tie), so the
 * step still never starts below the collaborative model on validation.
 * In a guided adapter step with the collaborative offset
 * (loraStage.collabOffset): z's own weight, g = 1 (collabOffsetStart).
 */
import type { Case } from '../collab.js';
import type { PromptTemplate } from '../prompts.js';
import type { TitleSource, YesNoLlm, YesNoValidate } from '../yesno.js';
import { fitListwiseBlend } from '../yesno/blend.js';

export interface ScoreStart {
  /** The blend fitted on the training questions. */
  fitted: { weight: number; gate: number; loss: number; iterations: number; questions: number };
  /** Validation AUC of the collaborative start and of the fitted one (absent without validation questions). */
  collabValid?: number;
  stackedValid?: number;
  chosen: 'collab' | 'stacked';
  /** The start the step trains from. */
  weight: number;
  gate: number;
}

/**
 * Fits the stacked start on `cases` (question i scored under template
 * i mod templates.length, original titles), validates it against the
 * collaborative start when `validate` is given, and leaves `m`'s score
 * feature at the chosen one. Null when `signal` aborted its scoring or a
 * validation (the step then ends interrupted and is chosen again on resume).
 */
export async function chooseScoreStart(
  m: YesNoLlm, cases: readonly Case[], templates: readonly PromptTemplate[], titles: TitleSource,
  o: { weight0: number; gateScale: number; validate?: YesNoValidate; signal?: AbortSignal },
): Promise<ScoreStart | null> {
  if (!m.collab) throw new Error('stacked score start: no collaborative model');
  if (cases.length === 0) throw new Error('stacked score start: no training questions');
  if (templates.length === 0) throw new Error('stacked score start: no templates');
  const C = cases[0].candidates.length;
  // w = 0, g = 1: the score is the LM's l(yes) - l(no) alone.
  m.initScoreFeature(0, 1, 1);
  const d = new Float32Array(cases.length * C);
  for (const [ti, t] of templates.entries()) {
    const idx = cases.map((_, i) => i).filter((i) => i % templates.length === ti);
    if (idx.length === 0) continue;
    const s = await m.scoreInterruptible(idx.map((i) => cases[i]), t, titles, { signal: o.signal });
    if (!s) return null;
    idx.forEach((i, j) => d.set(s.subarray(j * C, (j + 1) * C), i * C));
  }
  // z as the score feature uses it, cached by the scoring above.
  const fit = fitListwiseBlend(m.zScores(cases), d, C);
  const fitted = { ...fit, questions: cases.length };
  const setStacked = () => m.initScoreFeature(fit.weight, fit.gate, o.gateScale);
  const setCollab = () => m.initScoreFeature(o.weight0, 0, o.gateScale);
  if (!o.validate) {
    setStacked();
    return { fitted, chosen: 'stacked', weight: fit.weight, gate: fit.gate };
  }
  setCollab();
  const collabValid = await o.validate(o.signal);
  if (collabValid === null) return null;
  setStacked();
  const stackedValid = await o.validate(o.signal);
  if (stackedValid === null) return null;
  if (stackedValid > collabValid) return { fitted, collabValid, stackedValid, chosen: 'stacked', weight: fit.weight, gate: fit.gate };
  setCollab();
  return { fitted, collabValid, stackedValid, chosen: 'collab', weight: o.weight0, gate: 0 };
}

/**
 * The collaborative offset of a guided adapter step (loraStage.collabOffset,
 * docs/METHODS.md §6): turns `m`'s score feature on at w = the weight of z
 * alone fitted by the listwise blend on the step's training questions (the
 * LM term set to 0, so the ridge keeps its weight at 0), g = 1, so that the
 * adapter trains on w * z + (l(yes) - l(no)) from the collaborative model's
 * own best scale. Returns that w.
 */
export function collabOffsetStart(m: YesNoLlm, cases: readonly Case[]): number {
  if (!m.collab) throw new Error('collaborative offset: no collaborative model');
  if (cases.length === 0) throw new Error('collaborative offset: no training questions');
  m.initScoreFeature(1, 1, 1);
  const z = m.zScores(cases);
  const { weight } = fitListwiseBlend(z, new Float32Array(z.length), cases[0].candidates.length);
  m.initScoreFeature(weight, 1, 1);
  return weight;
}
