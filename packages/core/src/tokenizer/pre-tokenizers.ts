/**
 * Pre-tokenizers of tokenizer.json (HF tokenizers/src/pre_tokenizers/*): each one splits a piece of
 * normalized text into smaller pieces ("words") that the model tokenizes independently.
 * @internal
 */
import { JsonNode, JsonReader, join } from './json';
import { NormalizedString, WHITE_SPACE_CLASS, isWhiteSpaceCode } from './normalized-string';
import {
  GPT2_REGEX, SPLIT_BEHAVIORS, SplitBehavior, charSegments, invert, regexSegments, splitSegments,
} from './regex';
import { readPattern } from './normalizers';
import { toByteLevel } from './byte-level';

export type PreTokenizer = (ns: NormalizedString) => NormalizedString[];

export const SUPPORTED_PRE_TOKENIZERS = [
  'ByteLevel', 'Whitespace', 'WhitespaceSplit', 'BertPreTokenizer', 'Metaspace', 'Split', 'Punctuation',
  'Digits', 'CharDelimiterSplit', 'Sequence',
] as const;

/** Rust regex's Unicode `\w`. */
const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
const WHITESPACE_RE = new RegExp(`[${WORD}]+|[^${WORD}${WHITE_SPACE_CLASS}]+`, 'gu');
const PUNCT_RE = /^\p{P}$/u;

const isWhiteSpaceChar = (ch: string) => ch.length === 1 && isWhiteSpaceCode(ch.charCodeAt(0));
/** BERT punctuation: ASCII punctuation or Unicode P* (HF pre_tokenizers/bert.rs `is_bert_punc`). */
export function isPunctuation(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (ch.length === 1 && ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))) {
    return true;
  }
  return PUNCT_RE.test(ch);
}
const NUMERIC_RE = /^\p{N}$/u;

function readBehavior(r: JsonReader, n: JsonNode, key: string, fallback?: SplitBehavior): SplitBehavior {
  const v = n.value[key] ?? fallback;
  if (typeof v !== 'string' || !(SPLIT_BEHAVIORS as readonly string[]).includes(v)) {
    r.fail(`Expected one of ${SPLIT_BEHAVIORS.join(', ')} for "${join(n.path, key)}" but received ${JSON.stringify(v)}`);
  }
  return v as SplitBehavior;
}

/** Builds the pre-tokenizer described by `n` (a tokenizer.json `pre_tokenizer` object). */
export function buildPreTokenizer(r: JsonReader, n: JsonNode): PreTokenizer {
  const type = r.type(n);
  switch (type) {
    case 'ByteLevel': {
      const addPrefixSpace = r.bool(n, 'add_prefix_space', true);
      const useRegex = r.bool(n, 'use_regex', true);
      return (ns) => {
        if (addPrefixSpace && !ns.text.startsWith(' ')) ns = ns.prepend(' ');
        const parts = useRegex ? splitSegments(ns, regexSegments(GPT2_REGEX, ns.text), 'Isolated') : [ns];
        return parts.map(toByteLevel);
      };
    }
    case 'Whitespace':
      return (ns) => splitSegments(ns, invert(regexSegments(WHITESPACE_RE, ns.text)), 'Removed');
    case 'WhitespaceSplit':
      return (ns) => splitSegments(ns, charSegments(isWhiteSpaceChar, ns.text), 'Removed');
    case 'BertPreTokenizer':
      return (ns) =>
        splitSegments(ns, charSegments(isWhiteSpaceChar, ns.text), 'Removed').flatMap((p) =>
          splitSegments(p, charSegments(isPunctuation, p.text), 'Isolated'),
        );
    case 'Punctuation': {
      const behavior = readBehavior(r, n, 'behavior', 'Isolated');
      return (ns) => splitSegments(ns, charSegments(isPunctuation, ns.text), behavior);
    }
    case 'Digits': {
      const behavior: SplitBehavior = r.bool(n, 'individual_digits', false) ? 'Isolated' : 'Contiguous';
      return (ns) => splitSegments(ns, charSegments((ch) => NUMERIC_RE.test(ch), ns.text), behavior);
    }
    case 'CharDelimiterSplit': {
      const d = r.str(n, 'delimiter');
      return (ns) => splitSegments(ns, charSegments((ch) => ch === d, ns.text), 'Removed');
    }
    case 'Split': {
      const re = readPattern(r, n, 'pattern');
      const behavior = readBehavior(r, n, 'behavior');
      const inv = r.bool(n, 'invert', false);
      return (ns) => {
        const segs = regexSegments(re, ns.text);
        return splitSegments(ns, inv ? invert(segs) : segs, behavior);
      };
    }
    case 'Metaspace': {
      const replacement = r.str(n, 'replacement');
      if ([...replacement].length !== 1) r.fail(`Expected one character for "${join(n.path, 'replacement')}" but received ${JSON.stringify(replacement)}`);
      const scheme = metaspaceScheme(r, n);
      const split = r.bool(n, 'split', true);
      return (ns) => {
        ns = ns.replace(/ /g, replacement);
        if (!ns.text.startsWith(replacement)) {
          if (scheme === 'always' || (scheme === 'first' && ns.originalStart === 0)) ns = ns.prepend(replacement);
        }
        return split ? splitSegments(ns, charSegments((ch) => ch === replacement, ns.text), 'MergedWithNext') : [ns];
      };
    }
    case 'Sequence': {
      const parts = r.arr(n, 'pretokenizers').map((x, i) =>
        buildPreTokenizer(r, r.node(x, join(join(n.path, 'pretokenizers'), i))),
      );
      return (ns) => parts.reduce<NormalizedString[]>((pieces, f) => pieces.flatMap(f), [ns]);
    }
    default:
      return r.unsupported('pre_tokenizer', n, SUPPORTED_PRE_TOKENIZERS);
  }
}

/** Metaspace's prepend scheme, honouring the legacy `add_prefix_space` field (HF pre_tokenizers/metaspace.rs). */
export function metaspaceScheme(r: JsonReader, n: JsonNode): 'always' | 'first' | 'never' {
  const v = n.value.prepend_scheme ?? 'always';
  if (v !== 'always' && v !== 'first' && v !== 'never') {
    r.fail(`Expected "always", "first" or "never" for "${join(n.path, 'prepend_scheme')}" but received ${JSON.stringify(v)}`);
  }
  if (r.optBool(n, 'add_prefix_space') === false) return 'never';
  return v;
}
