/**
 * Prompt templates as data (templates/*.json), for every yes/no LLM
 * recommender (TALLRec, CoLLM, GANPrompt) and the robustness evaluation:
 * training ("seen") templates and a disjoint set of held-out ("unseen")
 * templates with paraphrased instructions, reordered slots and other answer
 * words.
 *
 * A template is text with slots:
 *   {instruction}  the template's instruction sentence
 *   {history}      the titles of the user's history
 *   {target}       the target item's title
 *   {user} {item}  the <UserID> / <ItemID> placeholder tokens (CoLLM slots)
 *   {guide}        expert guidance: <Guide> + the collaborative model's advice, or empty
 * and a pair of answer words; the rendered prompt ends where the answer goes.
 * Answer token ids are looked up from the tokenizer, never hard-coded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../engine/native.js';
import { parseWith } from '../util/validate.js';
import { GUIDE_TOKEN, ITEM_ID_TOKEN, type Tokenizer, USER_ID_TOKEN } from '../lm/tokenizer/index.js';

export const SLOTS = ['instruction', 'history', 'target', 'user', 'item', 'guide'] as const;
export type Slot = (typeof SLOTS)[number];

const Template = z.strictObject({
  id: z.string().min(1),
  instruction: z.string().min(1),
  text: z.string().min(1),
  answers: z.strictObject({ yes: z.string().min(1), no: z.string().min(1) }),
  /** Between history titles (default ", "). */
  historySeparator: z.string().optional(),
});

const TemplateFile = z.strictObject({
  description: z.string().optional(),
  seen: z.array(Template).min(1),
  unseen: z.array(Template).default([]),
});

export type PromptTemplate = z.output<typeof Template>;

export interface TemplateSet {
  seen: PromptTemplate[];
  unseen: PromptTemplate[];
  source: string;
}

/** The default template file shipped with llmrec. */
export const DEFAULT_TEMPLATES = join(packageRoot, 'templates', 'yes-no.json');

/** Slot names used in a template's text (error on unknown or unbalanced braces). */
export function templateSlots(t: PromptTemplate, source = 'template'): Slot[] {
  const found: Slot[] = [];
  const re = /\{([^{}]*)\}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t.text)) !== null) {
    const name = m[1];
    if (!(SLOTS as readonly string[]).includes(name)) {
      throw new Error(`${source}: template '${t.id}' has an unknown slot {${name}} (slots: ${SLOTS.map((s) => `{${s}}`).join(' ')})`);
    }
    found.push(name as Slot);
  }
  const stripped = t.text.replace(re, '');
  if (stripped.includes('{') || stripped.includes('}')) throw new Error(`${source}: template '${t.id}' has an unbalanced brace in its text`);
  return found;
}

function checkTemplate(t: PromptTemplate, source: string): void {
  const slots = templateSlots(t, source);
  for (const need of ['history', 'target'] as const) {
    if (!slots.includes(need)) throw new Error(`${source}: template '${t.id}' lacks the required slot {${need}}`);
  }
  for (const s of SLOTS) {
    if (slots.filter((x) => x === s).length > 1) throw new Error(`${source}: template '${t.id}' uses {${s}} more than once`);
  }
  if (t.answers.yes === t.answers.no) throw new Error(`${source}: template '${t.id}' has the same yes and no answer '${t.answers.yes}'`);
}

/** Validates a template set (ids unique across seen and unseen; unseen texts differ from every seen text). */
export function parseTemplates(json: unknown, source = 'templates'): TemplateSet {
  const { seen, unseen } = parseWith(TemplateFile, json, 'invalid prompt templates', source);
  const ids = new Set<string>();
  for (const t of [...seen, ...unseen]) {
    if (ids.has(t.id)) throw new Error(`${source}: template id '${t.id}' is used twice`);
    ids.add(t.id);
    checkTemplate(t, source);
  }
  for (const u of unseen) {
    const twin = seen.find((s) => s.text === u.text && s.instruction === u.instruction && s.answers.yes === u.answers.yes && s.answers.no === u.answers.no);
    if (twin) throw new Error(`${source}: unseen template '${u.id}' is identical to seen template '${twin.id}'`);
  }
  return { seen, unseen, source };
}

/** Reads a template file (default: templates/yes-no.json); errors name the file. */
export function loadTemplates(path: string = DEFAULT_TEMPLATES): TemplateSet {
  if (!existsSync(path)) throw new Error(`prompt templates: ${path} not found`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`prompt templates ${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parseTemplates(json, path);
}

export interface PromptInput {
  historyTitles: readonly string[];
  targetTitle: string;
  /** Expert guidance text (GANPrompt's <Guide> slot); omitted: the slot renders empty. */
  guidance?: string;
  /**
   * Render {user} / {item} as the <UserID> / <ItemID> placeholder tokens
   * (default true). False renders them empty: the prompt of a model without
   * collaborative vectors (TALLRec, CoLLM's first step).
   */
  idTokens?: boolean;
}

/** Renders a prompt (without the answer). Empty lines left by an empty {guide} are removed. */
export function renderPrompt(t: PromptTemplate, x: PromptInput): string {
  const values: Record<Slot, string> = {
    instruction: t.instruction,
    history: x.historyTitles.length > 0 ? x.historyTitles.join(t.historySeparator ?? ', ') : '(nothing yet)',
    target: x.targetTitle,
    user: x.idTokens === false ? '' : USER_ID_TOKEN,
    item: x.idTokens === false ? '' : ITEM_ID_TOKEN,
    guide: x.guidance ? `${GUIDE_TOKEN} ${x.guidance}` : '',
  };
  const text = t.text.replace(/\{([a-z]+)\}/g, (_, s: string) => values[s as Slot]);
  // Empty slots leave empty lines and doubled / trailing spaces: drop them.
  return text.split('\n').map((l) => l.replace(/ {2,}/g, ' ').trim()).filter((l) => l !== '').join('\n');
}

/** The full training text: prompt, a space, the answer word. */
export function renderExample(t: PromptTemplate, x: PromptInput, liked: boolean): string {
  return `${renderPrompt(t, x)} ${liked ? t.answers.yes : t.answers.no}`;
}

/**
 * Token ids of the answer words as they follow the prompt (" Yes" / " No",
 * first token of each), looked up from the tokenizer. Errors when both words
 * start with the same token (P(yes) would be undefined).
 */
export function answerTokenIds(tok: Tokenizer, t: PromptTemplate): { yes: number; no: number } {
  const first = (w: string) => {
    const ids = tok.encode(` ${w}`, { addSpecialTokens: false });
    if (ids.length === 0) throw new Error(`template '${t.id}': the answer '${w}' encodes to no token`);
    return ids[0];
  };
  const yes = first(t.answers.yes);
  const no = first(t.answers.no);
  if (yes === no) throw new Error(`template '${t.id}': answers '${t.answers.yes}' and '${t.answers.no}' start with the same token ${yes}; choose other answer words`);
  return { yes, no };
}

/** P(yes) from next-token log-probabilities: softmax over the yes and no tokens only (TALLRec's score). */
export function pYes(nextLogProbs: ArrayLike<number>, ids: { yes: number; no: number }): number {
  const a = nextLogProbs[ids.yes];
  const b = nextLogProbs[ids.no];
  const m = Math.max(a, b);
  const ea = Math.exp(a - m);
  return ea / (ea + Math.exp(b - m));
}
