/**
 * Item "sentences" for language models: an ItemMeta rendered as
 * `Title: X; Brand: Y; Category: A > B`. Deterministic: the title first, then
 * the attributes in a given key order or, by default, sorted by key (code
 * unit order). Attribute keys starting with '_' are machine features
 * (`_attributeIds`, `_originalId`, `_details`) and are never rendered.
 * Values are whitespace-normalised and, by default, the common HTML
 * entities of Amazon titles (`&amp;`, `&quot;`, `&#39;`, ...) are decoded.
 * `maxLength` caps the result, cutting at a word boundary and ending in '…'.
 */
import type { ItemMeta } from './types.js';

export interface ItemSentenceOptions {
  /** Attribute keys to render, in this order (default: every visible key, sorted). */
  keys?: readonly string[];
  /** Keys left out (in addition to '_'-prefixed ones). */
  exclude?: readonly string[];
  /** Display labels per key (default: the key with its first letter upper-cased). */
  labels?: Readonly<Record<string, string>>;
  /** Render the title (default true). */
  includeTitle?: boolean;
  /** Separator between fields (default '; '). */
  separator?: string;
  /** Maximum length of the whole sentence in characters (default: unlimited). */
  maxLength?: number;
  /** Maximum length of each value (default: unlimited). */
  maxValueLength?: number;
  /** Decode HTML entities in values (default true). */
  decodeEntities?: boolean;
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  quot: '"',
  apos: "'",
  lt: '<',
  gt: '>',
  nbsp: ' ',
  reg: '®',
  trade: '™',
  copy: '©',
  eacute: 'é',
  ndash: '–',
  mdash: '—',
  hellip: '…',
};

/** Decodes named (a common subset) and numeric HTML entities; unknown ones are kept. */
export function decodeHtmlEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g, (m, body: string) => {
    if (body[0] === '#') {
      const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return NAMED_ENTITIES[body] ?? m;
  });
}

function clean(s: string, decode: boolean, max: number | undefined): string {
  let v = (decode ? decodeHtmlEntities(s) : s).replace(/\s+/g, ' ').trim();
  if (max !== undefined && v.length > max) v = truncate(v, max);
  return v;
}

/** Cuts `s` to at most `max` characters, at a word boundary when one is near, ending in '…'. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max <= 1) return '…'.slice(0, Math.max(0, max));
  const cut = s.slice(0, max - 1);
  const sp = cut.lastIndexOf(' ');
  const base = sp >= Math.floor((max - 1) * 0.6) ? cut.slice(0, sp) : cut;
  return base.replace(/[\s;,:]+$/, '') + '…';
}

/** Default display label: the key with its first letter upper-cased. */
export function keyLabel(key: string): string {
  return key.length === 0 ? key : key[0].toUpperCase() + key.slice(1);
}

/** Renders an item as `Title: X; Key: value; ...` (see the module comment). */
export function itemSentence(meta: ItemMeta, opts: ItemSentenceOptions = {}): string {
  const decode = opts.decodeEntities ?? true;
  const sep = opts.separator ?? '; ';
  const exclude = new Set(opts.exclude ?? []);
  const parts: string[] = [];
  if (opts.includeTitle ?? true) {
    const t = clean(meta.title, decode, opts.maxValueLength);
    if (t !== '') parts.push(`${opts.labels?.title ?? 'Title'}: ${t}`);
  }
  const keys = opts.keys ?? Object.keys(meta.attributes).sort();
  for (const k of keys) {
    if (k.startsWith('_') || exclude.has(k) || !Object.hasOwn(meta.attributes, k)) continue;
    const v = clean(meta.attributes[k], decode, opts.maxValueLength);
    if (v !== '') parts.push(`${opts.labels?.[k] ?? keyLabel(k)}: ${v}`);
  }
  const out = parts.join(sep);
  return opts.maxLength !== undefined ? truncate(out, opts.maxLength) : out;
}
