/**
 * A parser for the Python literal subset that `str(dict)` / `repr` produce,
 * as found in the Amazon 2014 metadata files (`meta_*.json.gz`, one
 * `eval`-able dict per line, single-quoted strings). Supported: dicts, lists,
 * tuples and sets (as arrays), strings (single/double/triple quotes,
 * u/b/r prefixes, escapes \\ \' \" \n \t \r \a \b \f \v \xhh \uhhhh
 * \Uhhhhhhhh \ooo, adjacent-literal concatenation), ints, floats,
 * True/False/None, nan/inf are rejected. Nothing is evaluated.
 */
import type { Json, JsonObject } from './common.js';

/** Thrown with the character offset of the problem. */
export class PyLiteralError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at character ${offset}`);
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
};

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(msg: string): never {
    throw new PyLiteralError(msg, this.pos);
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  value(): Json {
    this.ws();
    const c = this.s[this.pos];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === '{') return this.dict();
    if (c === '[') return this.seq('[', ']');
    if (c === '(') return this.seq('(', ')');
    if (c === "'" || c === '"') return this.strings();
    if (/[uUbBrR]/.test(c) && this.isStringPrefix()) return this.strings();
    if (c === '-' || c === '+' || c === '.' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    this.fail(`unexpected '${c}'`);
  }

  isStringPrefix(): boolean {
    const m = /^[uUbBrR]{1,2}['"]/.exec(this.s.slice(this.pos, this.pos + 3));
    return m !== null;
  }

  dict(): Json {
    this.pos++; // {
    const out: JsonObject = {};
    let isSet = false;
    const setItems: Json[] = [];
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      const k = this.value();
      this.ws();
      if (this.s[this.pos] === ':' && !isSet) {
        this.pos++;
        const v = this.value();
        if (typeof k === 'string') out[k] = v;
        else if (typeof k === 'number' || typeof k === 'boolean' || k === null) out[String(k)] = v;
        else this.fail('unsupported dict key');
      } else {
        if (Object.keys(out).length > 0) this.fail("expected ':'");
        isSet = true;
        setItems.push(k);
      }
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        this.ws();
        if (this.s[this.pos] === '}') {
          this.pos++;
          break;
        }
        continue;
      }
      if (c === '}') {
        this.pos++;
        break;
      }
      this.fail("expected ',' or '}'");
    }
    return isSet ? setItems : out;
  }

  seq(open: string, close: string): Json[] {
    this.pos++;
    const out: Json[] = [];
    this.ws();
    if (this.s[this.pos] === close) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        this.ws();
        if (this.s[this.pos] === close) {
          this.pos++;
          return out;
        }
        continue;
      }
      if (c === close) {
        this.pos++;
        return out;
      }
      this.fail(`expected ',' or '${close}' in ${open}${close}`);
    }
  }

  number(): number {
    const m = /^[+-]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[lLjJ]?/.exec(this.s.slice(this.pos, this.pos + 64));
    if (m === null) this.fail('bad number');
    const text = m[0];
    if (/[jJ]$/.test(text)) this.fail('complex numbers are not supported');
    this.pos += text.length;
    const v = Number(text.replace(/_/g, '').replace(/[lL]$/, ''));
    if (!Number.isFinite(v)) this.fail('bad number');
    return v;
  }

  /** One or more adjacent string literals, concatenated. */
  strings(): string {
    let out = this.string();
    for (;;) {
      const save = this.pos;
      this.ws();
      const c = this.s[this.pos];
      if (c === "'" || c === '"' || (c !== undefined && /[uUbBrR]/.test(c) && this.isStringPrefix())) out += this.string();
      else {
        this.pos = save;
        return out;
      }
    }
  }

  string(): string {
    const s = this.s;
    let raw = false;
    while (/[uUbBrR]/.test(s[this.pos])) {
      if (s[this.pos] === 'r' || s[this.pos] === 'R') raw = true;
      this.pos++;
    }
    const q = s[this.pos];
    const triple = s.startsWith(q + q + q, this.pos);
    const delim = triple ? q + q + q : q;
    this.pos += delim.length;
    let out = '';
    for (;;) {
      if (this.pos >= s.length) this.fail('unterminated string');
      if (s.startsWith(delim, this.pos)) {
        this.pos += delim.length;
        return out;
      }
      const c = s[this.pos];
      if (c === '\\') {
        const e = s[this.pos + 1];
        if (e === undefined) this.fail('unterminated string');
        if (raw) {
          out += c + e;
          this.pos += 2;
          continue;
        }
        this.pos += 2;
        if (e === '\n') continue;
        const simple = SIMPLE_ESCAPES[e];
        if (simple !== undefined && !(e === '0' && /[0-7]/.test(s[this.pos] ?? ''))) {
          out += simple;
          continue;
        }
        if (e === 'x' || e === 'u' || e === 'U') {
          const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = s.slice(this.pos, this.pos + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail(`bad \\${e} escape`);
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff) this.fail(`bad \\${e} escape`);
          out += String.fromCodePoint(cp);
          this.pos += len;
          continue;
        }
        if (/[0-7]/.test(e)) {
          const m = /^[0-7]{0,2}/.exec(s.slice(this.pos, this.pos + 2));
          const oct = e + (m !== null ? m[0] : '');
          out += String.fromCharCode(parseInt(oct, 8));
          this.pos += oct.length - 1;
          continue;
        }
        out += '\\' + e; // Python keeps unknown escapes verbatim
        continue;
      }
      if (!triple && c === '\n') this.fail('newline in string');
      // Copy the run of plain characters up to the next quote, backslash or newline.
      let j = this.pos + 1;
      while (j < s.length) {
        const d = s[j];
        if (d === q || d === '\\' || d === '\n') break;
        j++;
      }
      out += s.slice(this.pos, j);
      this.pos = j;
    }
  }
}

/** Parses one Python literal (the whole text must be consumed). */
export function parsePythonLiteral(text: string): Json {
  const p = new Parser(text);
  const v = p.value();
  p.ws();
  if (p.pos < text.length) p.fail('unexpected trailing text');
  return v;
}
