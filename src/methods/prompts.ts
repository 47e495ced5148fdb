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
import { SafeNameSchema } from '../run/names.js';
import { GUIDE_TOKEN, ITEM_ID_TOKEN, type Tokenizer, USER_ID_TOKEN } from '../lm/tokenizer/index.js';
import { escapeItemText, fillSlots, SLOT_MARK_ITEM, SLOT_MARK_USER } from './prompt_text.js';

export const SLOTS = ['instruction', 'history', 'target', 'user', 'item', 'guide'] as const;
export type Slot = (typeof SLOTS)[number];

const Template = z.strictObject({
  /** Also a file name (`eval/<id>.json` in the run directory): a safe name (src/run/names.ts). */
  id: SafeNameSchema,
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

/**
 * The prompt text with the {user} / {item} slots as the markers SLOT_MARK_USER /
 * SLOT_MARK_ITEM (src/methods/prompt_text.ts): item titles escaped, all slots
 * filled in one pass, empty lines left by an empty {guide} removed.
 */
function renderMarked(t: PromptTemplate, x: PromptInput): string {
  const history = x.historyTitles.map((h) => escapeItemText(h));
  const values: Record<Slot, string> = {
    instruction: t.instruction,
    history: history.length > 0 ? history.join(t.historySeparator ?? ', ') : '(nothing yet)',
    target: escapeItemText(x.targetTitle),
    user: x.idTokens === false ? '' : SLOT_MARK_USER,
    item: x.idTokens === false ? '' : SLOT_MARK_ITEM,
    guide: x.guidance ? `${GUIDE_TOKEN} ${x.guidance}` : '',
  };
  const text = fillSlots(t.text, values, `template '${t.id}'`);
  // Empty slots leave empty lines and doubled / trailing spaces: drop them.
  return text.split('\n').map((l) => l.replace(/ {2,}/g, ' ').trim()).filter((l) => l !== '').join('\n');
}

/**
 * Renders a prompt (without the answer). Titles go through escapeItemText
 * (src/methods/prompt_text.ts); empty lines left by an empty {guide} are removed.
 */
export function renderPrompt(t: PromptTemplate, x: PromptInput): string {
  return renderMarked(t, x).split(SLOT_MARK_USER).join(USER_ID_TOKEN).split(SLOT_MARK_ITEM).join(ITEM_ID_TOKEN);
}

/** A prompt's token ids and the positions of its <UserID> / <ItemID> slots (-1 when absent). */
export interface EncodedPrompt {
  ids: number[];
  userPos: number;
  itemPos: number;
}

/**
 * Encodes a prompt with its vector slots located by position from the
 * template: the text between the slots is encoded piece by piece and the
 * slot ids are inserted where the template puts them, so no item text can
 * move a slot. Equals `tok.encode(renderPrompt(t, x))` on item text without
 * special tokens (the tokenizer splits at added tokens first; tested).
 */
export function encodePrompt(tok: Tokenizer, t: PromptTemplate, x: PromptInput): EncodedPrompt {
  const user = tok.tokenToId(USER_ID_TOKEN);
  const item = tok.tokenToId(ITEM_ID_TOKEN);
  const out: EncodedPrompt = { ids: [], userPos: -1, itemPos: -1 };
  for (const piece of renderMarked(t, x).split(/([\uE000\uE001])/)) {
    if (piece === SLOT_MARK_USER || piece === SLOT_MARK_ITEM) {
      const id = piece === SLOT_MARK_USER ? user : item;
      const name = piece === SLOT_MARK_USER ? USER_ID_TOKEN : ITEM_ID_TOKEN;
      if (id === undefined) throw new Error(`template '${t.id}': the tokenizer has no ${name} token (add it with withRecSpecialTokens)`);
      if (piece === SLOT_MARK_USER) out.userPos = out.ids.length; else out.itemPos = out.ids.length;
      out.ids.push(id);
    } else if (piece !== '') {
      out.ids.push(...tok.encode(piece, { addSpecialTokens: false }));
    }
  }
  return out;
}

/** The full training text: prompt, a space, the answer word. */
export function renderExample(t: PromptTemplate, x: PromptInput, liked: boolean): string {
  return `${renderPrompt(t, x)} ${liked ? t.answers.yes : t.answers.no}`;
}

/**
 * Token ids of the answer words as they follow the prompt (" Yes" / " No",
 * first token of each), looked up from the tokenizer: the first token of
 * "<last word of the template> <answer>" past those of the last word alone,
 * so that a SentencePiece tokenizer (LLaMA-2, Mistral), which encodes a lone
 * " Yes" as "▁" + "Yes" but "Answer: Yes" as "▁Answer" ":" "▁Yes", gives
 * "▁Yes" as byte-level BPEs give "ĠYes". Errors when both words start with
 * the same token (P(yes) would be undefined).
 */
export function answerTokenIds(tok: Tokenizer, t: PromptTemplate): { yes: number; no: number } {
  const last = t.text.trimEnd().split(/\s+/).pop() ?? '';
  const before = tok.encode(last, { addSpecialTokens: false });
  const first = (w: string) => {
    const ids = tok.encode(`${last} ${w}`, { addSpecialTokens: false });
    let k = 0;
    while (k < before.length && k < ids.length && ids[k] === before[k]) k++;
    if (k >= ids.length) throw new Error(`template '${t.id}': the answer '${w}' encodes to no token after '${last}'`);
    return ids[k];
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
