/**
 * Normalizers of tokenizer.json (HF tokenizers/src/normalizers/*). Each one maps a
 * NormalizedString to a new one, keeping the alignment with the original text.
 * @internal
 */
import { JsonNode, JsonReader, join } from './json';
import { NormalizedString, isWhiteSpaceCode } from './normalized-string';
import { compilePattern, escapeRegex } from './regex';
import { toByteLevel } from './byte-level';

export type Normalizer = (ns: NormalizedString) => NormalizedString;

export const SUPPORTED_NORMALIZERS = [
  'BertNormalizer', 'Lowercase', 'NFC', 'NFD', 'NFKC', 'NFKD', 'StripAccents', 'Strip', 'Prepend',
  'Replace', 'ByteLevel', 'Sequence',
] as const;

const OTHER_RE = /^\p{C}$/u;
const NONSPACING_MARK_RE = /^\p{Mn}$/u;
const MARK_RE = /^\p{M}$/u;

/** BERT's CJK ranges (HF normalizers/bert.rs `is_chinese_char`, after Google BERT tokenization.py). */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Per-character lowercase (Rust `char::to_lowercase`: no context-dependent final sigma). */
export function lowercase(ns: NormalizedString): NormalizedString {
  return ns.mapChars((ch) => ch.toLowerCase());
}

/** BertNormalizer: clean text, pad CJK characters, strip accents, lowercase (HF normalizers/bert.rs). */
function bertNormalizer(cleanText: boolean, chinese: boolean, stripAccents: boolean, lower: boolean): Normalizer {
  return (ns) => {
    if (cleanText) {
      ns = ns.mapChars((ch) => {
        const cp = ch.codePointAt(0)!;
        if (cp === 0x09 || cp === 0x0a || cp === 0x0d) return ' ';
        if (cp === 0 || cp === 0xfffd || OTHER_RE.test(ch)) return '';
        return cp < 0x10000 && isWhiteSpaceCode(cp) ? ' ' : ch;
      });
    }
    if (chinese) ns = ns.mapChars((ch) => (isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch));
    if (stripAccents) ns = ns.normalize('NFD').mapChars((ch) => (NONSPACING_MARK_RE.test(ch) ? '' : ch));
    if (lower) ns = lowercase(ns);
    return ns;
  };
}

/** A pattern object `{String: "..."}` or `{Regex: "..."}` as global regex. */
export function readPattern(r: JsonReader, n: JsonNode, key: string): RegExp {
  const p = r.child(n, key);
  const path = join(n.path, key);
  if (typeof p.value.String === 'string') return new RegExp(escapeRegex(p.value.String), 'gu');
  if (typeof p.value.Regex === 'string') {
    try {
      return compilePattern(p.value.Regex);
    } catch (e) {
      r.fail(`Cannot use the regex ${JSON.stringify(p.value.Regex)} at "${path}.Regex": ${(e as Error).message}`);
    }
  }
  return r.fail(`Expected {"String": ...} or {"Regex": ...} for "${path}" but received ${JSON.stringify(p.value)}`);
}

/** Builds the normalizer described by `n` (a tokenizer.json `normalizer` object). */
export function buildNormalizer(r: JsonReader, n: JsonNode): Normalizer {
  const type = r.type(n);
  switch (type) {
    case 'BertNormalizer': {
      const lower = r.bool(n, 'lowercase', true);
      const strip = r.optBool(n, 'strip_accents') ?? lower;
      return bertNormalizer(r.bool(n, 'clean_text', true), r.bool(n, 'handle_chinese_chars', true), strip, lower);
    }
    case 'Lowercase':
      return lowercase;
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (ns) => ns.normalize(type);
    case 'StripAccents':
      return (ns) => ns.mapChars((ch) => (MARK_RE.test(ch) ? '' : ch));
    case 'Strip': {
      const left = r.bool(n, 'strip_left', true);
      const right = r.bool(n, 'strip_right', true);
      return (ns) => ns.strip(left, right);
    }
    case 'Prepend': {
      const s = r.str(n, 'prepend');
      return (ns) => ns.prepend(s);
    }
    case 'Replace': {
      const re = readPattern(r, n, 'pattern');
      const content = r.str(n, 'content');
      return (ns) => ns.replace(re, content);
    }
    case 'ByteLevel':
      return toByteLevel;
    case 'Sequence': {
      const parts = r.arr(n, 'normalizers').map((x, i) => buildNormalizer(r, r.node(x, join(join(n.path, 'normalizers'), i))));
      return (ns) => parts.reduce((acc, f) => f(acc), ns);
    }
    default:
      return r.unsupported('normalizer', n, SUPPORTED_NORMALIZERS);
  }
}
