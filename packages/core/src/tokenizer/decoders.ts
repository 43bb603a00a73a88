/**
 * Decoders of tokenizer.json (HF tokenizers/src/decoders/*): turn token strings back into text.
 * Each decoder maps a list of token strings to a new list (HF `decode_chain`); the final text is
 * the concatenation of the last list.
 * @internal
 */
import { JsonNode, JsonReader, join } from './json';
import { CHAR_TO_BYTE, decodeUtf8Lossy, decodeUtf8Strict } from './byte-level';
import { readPattern } from './normalizers';
import { metaspaceScheme } from './pre-tokenizers';

export type Decoder = (tokens: string[]) => string[];

export const SUPPORTED_DECODERS = [
  'ByteLevel', 'Metaspace', 'WordPiece', 'BPEDecoder', 'Replace', 'ByteFallback', 'Fuse', 'Strip', 'Sequence',
] as const;

/** BERT's detokenization clean-up (HF decoders/wordpiece.rs `cleanup`). */
export function cleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** Byte-level tokens back to bytes, then UTF-8 (invalid sequences become U+FFFD). A token with a character outside the byte map contributes its own UTF-8 bytes. */
function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (const t of tokens) {
    const mark = bytes.length;
    let ok = true;
    for (const ch of t) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) {
        ok = false;
        break;
      }
      bytes.push(b);
    }
    if (!ok) {
      bytes.length = mark;
      for (const b of enc.encode(t)) bytes.push(b);
    }
  }
  return [decodeUtf8Lossy(bytes)];
}

const BYTE_TOKEN_RE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Runs of <0xNN> tokens become their UTF-8 text, or one U+FFFD per byte when invalid (HF decoders/byte_fallback.rs). */
function byteFallbackDecode(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const s = decodeUtf8Strict(pending);
    if (s !== undefined) out.push(s);
    else for (let k = 0; k < pending.length; k++) out.push('\ufffd');
    pending = [];
  };
  for (const t of tokens) {
    const m = t.length === 6 ? BYTE_TOKEN_RE.exec(t) : null;
    if (m) pending.push(parseInt(m[1], 16));
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

/** Builds the decoder described by `n` (a tokenizer.json `decoder` object). */
export function buildDecoder(r: JsonReader, n: JsonNode): Decoder {
  const type = r.type(n);
  switch (type) {
    case 'ByteLevel':
      return byteLevelDecode;
    case 'ByteFallback':
      return byteFallbackDecode;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Metaspace': {
      const rep = r.str(n, 'replacement');
      const scheme = metaspaceScheme(r, n);
      return (tokens) =>
        tokens.map((t, i) => {
          let s = '';
          for (const ch of t) {
            if (ch === rep) {
              if (!(i === 0 && scheme !== 'never')) s += ' ';
            } else s += ch;
          }
          return s;
        });
    }
    case 'WordPiece': {
      const prefix = r.optStr(n, 'prefix') ?? '##';
      const clean = r.bool(n, 'cleanup', true);
      return (tokens) =>
        tokens.map((t, i) => {
          if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : ` ${t}`;
          return clean ? cleanup(t) : t;
        });
    }
    case 'BPEDecoder': {
      const suffix = r.optStr(n, 'suffix') ?? '</w>';
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '));
    }
    case 'Replace': {
      const re = readPattern(r, n, 'pattern');
      const content = r.str(n, 'content');
      return (tokens) => tokens.map((t) => t.replace(re, () => content));
    }
    case 'Strip': {
      const content = r.str(n, 'content');
      const start = r.int(n, 'start', 0);
      const stop = r.int(n, 'stop', 0);
      return (tokens) =>
        tokens.map((t) => {
          const chars = [...t];
          let a = 0;
          while (a < start && a < chars.length && chars[a] === content) a++;
          let b = chars.length;
          while (chars.length - b < stop && b > a && chars[b - 1] === content) b--;
          return chars.slice(a, b).join('');
        });
    }
    case 'Sequence': {
      const parts = r.arr(n, 'decoders').map((x, i) => buildDecoder(r, r.node(x, join(join(n.path, 'decoders'), i))));
      return (tokens) => parts.reduce((acc, f) => f(acc), tokens);
    }
    default:
      return r.unsupported('decoder', n, SUPPORTED_DECODERS);
  }
}
