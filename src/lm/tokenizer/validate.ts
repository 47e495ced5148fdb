/**
 * Structural checks of a Hugging Face `tokenizer.json` before it reaches
 * `@huggingface/tokenizers`: a bad file fails here with an error naming the
 * file and the JSON path of the field, instead of deep inside the library (or,
 * worse, later as `undefined` token ids).
 */
import { TokenizerError } from './errors.js';

/** A plain JSON object. */
export type JsonObject = Record<string, unknown>;

/** Model types the loader accepts (the ones `@huggingface/tokenizers` implements). */
export const SUPPORTED_MODELS: readonly string[] = ['BPE', 'WordPiece', 'Unigram'];

interface ComponentKind {
  /** Field name in tokenizer.json. */
  field: string;
  /** Types the library implements. */
  types: ReadonlySet<string>;
  /** Key of the child list of a `Sequence`. */
  sequenceKey: string;
}

const COMPONENTS: readonly ComponentKind[] = [
  {
    field: 'normalizer',
    types: new Set(['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend']),
    sequenceKey: 'normalizers',
  },
  {
    field: 'pre_tokenizer',
    types: new Set(['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength']),
    sequenceKey: 'pretokenizers',
  },
  {
    field: 'post_processor',
    types: new Set(['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence']),
    sequenceKey: 'processors',
  },
  {
    field: 'decoder',
    types: new Set(['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback']),
    sequenceKey: 'decoders',
  },
];

/** Whether `v` is a plain (non-array, non-null) object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function checkComponent(file: string, value: unknown, path: string, kind: ComponentKind): void {
  if (value === null || value === undefined) return;
  if (!isObject(value)) throw new TokenizerError(file, path, 'must be an object or null');
  const type = value.type;
  if (typeof type !== 'string') throw new TokenizerError(file, `${path}.type`, 'missing or not a string');
  if (!kind.types.has(type)) {
    throw new TokenizerError(file, `${path}.type`, `unsupported ${kind.field} type "${type}" (supported: ${[...kind.types].join(', ')})`);
  }
  if (type === 'Sequence') {
    const children = value[kind.sequenceKey];
    if (!Array.isArray(children)) throw new TokenizerError(file, `${path}.${kind.sequenceKey}`, 'must be an array');
    children.forEach((c, i) => {
      if (c === null) throw new TokenizerError(file, `${path}.${kind.sequenceKey}[${i}]`, 'must be an object');
      checkComponent(file, c, `${path}.${kind.sequenceKey}[${i}]`, kind);
    });
  }
}

function checkStringIdMap(file: string, vocab: unknown, field: string): Record<string, number> {
  if (!isObject(vocab)) throw new TokenizerError(file, field, 'must be an object mapping tokens to ids');
  for (const [tok, id] of Object.entries(vocab)) {
    if (!isId(id)) throw new TokenizerError(file, `${field}[${JSON.stringify(tok)}]`, `id must be a non-negative integer, got ${JSON.stringify(id)}`);
  }
  return vocab as Record<string, number>;
}

function inferModelType(model: JsonObject): string | undefined {
  // Same inference as the library for files written before `type` existed.
  if (Array.isArray(model.vocab)) return 'Unigram';
  if (isObject(model.vocab) && 'merges' in model) return 'BPE';
  if (isObject(model.vocab) && 'continuing_subword_prefix' in model && 'unk_token' in model) return 'WordPiece';
  return undefined;
}

function checkModel(file: string, model: unknown): JsonObject {
  if (model === undefined) throw new TokenizerError(file, 'model', 'missing');
  if (!isObject(model)) throw new TokenizerError(file, 'model', 'must be an object');
  let type = model.type;
  if (type === undefined) {
    type = inferModelType(model);
    if (type === undefined) throw new TokenizerError(file, 'model.type', `missing and cannot be inferred (supported: ${SUPPORTED_MODELS.join(', ')})`);
    model = { ...model, type };
  }
  if (typeof type !== 'string') throw new TokenizerError(file, 'model.type', 'must be a string');
  if (!SUPPORTED_MODELS.includes(type)) {
    throw new TokenizerError(file, 'model.type', `unknown or unsupported model type "${type}" (supported: ${SUPPORTED_MODELS.join(', ')})`);
  }
  const m = model as JsonObject;
  if (type === 'Unigram') {
    if (!Array.isArray(m.vocab)) throw new TokenizerError(file, 'model.vocab', 'must be an array of [piece, score] pairs');
    m.vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isFinite(e[1])) {
        throw new TokenizerError(file, `model.vocab[${i}]`, 'must be a [string, finite number] pair');
      }
    });
    if (m.vocab.length === 0) throw new TokenizerError(file, 'model.vocab', 'is empty');
    if (!isId(m.unk_id) || m.unk_id >= m.vocab.length) {
      throw new TokenizerError(file, 'model.unk_id', `must be the index of the unknown piece (0..${m.vocab.length - 1}), got ${JSON.stringify(m.unk_id)}`);
    }
    return m;
  }
  const vocab = checkStringIdMap(file, m.vocab, 'model.vocab');
  if (Object.keys(vocab).length === 0) throw new TokenizerError(file, 'model.vocab', 'is empty');
  const unk = m.unk_token;
  if (type === 'WordPiece') {
    if (typeof unk !== 'string') throw new TokenizerError(file, 'model.unk_token', 'a WordPiece model needs an unk_token');
    if (!Object.hasOwn(vocab, unk)) throw new TokenizerError(file, 'model.unk_token', `"${unk}" is not in model.vocab`);
    const prefix = m.continuing_subword_prefix;
    if (prefix !== undefined && typeof prefix !== 'string') throw new TokenizerError(file, 'model.continuing_subword_prefix', 'must be a string');
    if (prefix === undefined) m.continuing_subword_prefix = '##';
    return m;
  }
  // BPE
  if (unk !== undefined && unk !== null) {
    if (typeof unk !== 'string') throw new TokenizerError(file, 'model.unk_token', 'must be a string or null');
    if (!Object.hasOwn(vocab, unk)) throw new TokenizerError(file, 'model.unk_token', `"${unk}" is not in model.vocab`);
  }
  if (!Array.isArray(m.merges)) throw new TokenizerError(file, 'model.merges', 'must be an array');
  m.merges.forEach((mg, i) => {
    const ok =
      (typeof mg === 'string' && mg.indexOf(' ') > 0 && mg.indexOf(' ') < mg.length - 1) ||
      (Array.isArray(mg) && mg.length === 2 && typeof mg[0] === 'string' && typeof mg[1] === 'string');
    if (!ok) throw new TokenizerError(file, `model.merges[${i}]`, `must be "left right" or [left, right], got ${JSON.stringify(mg)}`);
  });
  if (m.merges.length > 0 && typeof m.merges[0] !== typeof m.merges[m.merges.length - 1]) {
    throw new TokenizerError(file, 'model.merges', 'mixes the "a b" string and [a, b] pair formats');
  }
  return m;
}

function checkAddedTokens(file: string, added: unknown): JsonObject[] {
  if (added === undefined || added === null) return [];
  if (!Array.isArray(added)) throw new TokenizerError(file, 'added_tokens', 'must be an array');
  return added.map((t, i) => {
    if (!isObject(t)) throw new TokenizerError(file, `added_tokens[${i}]`, 'must be an object');
    if (typeof t.content !== 'string' || t.content.length === 0) throw new TokenizerError(file, `added_tokens[${i}].content`, 'must be a non-empty string');
    if (!isId(t.id)) throw new TokenizerError(file, `added_tokens[${i}].id`, `must be a non-negative integer, got ${JSON.stringify(t.id)}`);
    return t;
  });
}

/**
 * Checks a parsed tokenizer.json and returns a normalised deep copy: absent
 * pipeline components become `null`, absent `added_tokens` becomes `[]`, a
 * missing `model.type` is inferred as the library does. Throws a
 * TokenizerError naming `file` and the field otherwise.
 */
export function validateTokenizerJSON(json: unknown, file: string): JsonObject {
  if (!isObject(json)) throw new TokenizerError(file, '(root)', 'must be a JSON object');
  const out = structuredClone(json);
  out.model = checkModel(file, out.model);
  out.added_tokens = checkAddedTokens(file, out.added_tokens);
  for (const kind of COMPONENTS) {
    checkComponent(file, out[kind.field], kind.field, kind);
    if (out[kind.field] === undefined) out[kind.field] = null;
  }
  return out;
}

/** The `<role>_token` keys of tokenizer_config.json that the loader reads. */
const ROLE_KEYS: readonly string[] = ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'mask_token', 'cls_token', 'sep_token'];

/**
 * Checks a parsed tokenizer_config.json: it must be an object, each role
 * entry (`bos_token`, ..., `sep_token`) a string, an `{content: string}`
 * object or null, and `additional_special_tokens` a list of those. Other keys
 * are kept as they are.
 */
export function validateTokenizerConfig(json: unknown, file: string): JsonObject {
  if (!isObject(json)) throw new TokenizerError(file, '(root)', 'must be a JSON object');
  const tokenLike = (v: unknown): boolean => typeof v === 'string' || (isObject(v) && typeof v.content === 'string');
  for (const k of ROLE_KEYS) {
    const v = json[k];
    if (v === undefined || v === null || tokenLike(v)) continue;
    throw new TokenizerError(file, k, `must be a token string, an {content: string} object or null, got ${JSON.stringify(v)}`);
  }
  const extra = json.additional_special_tokens;
  if (extra !== undefined && extra !== null) {
    if (!Array.isArray(extra)) throw new TokenizerError(file, 'additional_special_tokens', 'must be an array');
    extra.forEach((v, i) => {
      if (!tokenLike(v)) throw new TokenizerError(file, `additional_special_tokens[${i}]`, `must be a token string or an {content: string} object, got ${JSON.stringify(v)}`);
    });
  }
  return structuredClone(json);
}

/** The token string of a tokenizer_config.json entry (a string or an AddedToken-like object). */
export function configTokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}
