/**
 * GPT-2's reversible byte ↔ unicode map (openai/gpt-2 src/encoder.py `bytes_to_unicode`): printable
 * Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order, so that every byte string
 * becomes a string of visible characters (a space becomes "Ġ", a newline "Ċ").
 * @internal
 */
import { NormalizedString } from './normalized-string';

function buildByteToChar(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const map = new Array<string>(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map;
}

/** BYTE_TO_CHAR[b] is the character standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
/** Inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** UTF-8 bytes of one code point (a lone surrogate encodes as U+FFFD, as TextEncoder does). */
export function utf8Bytes(cp: number, out: number[]): void {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

/** Replaces each character by the byte-level characters of its UTF-8 bytes (HF ByteLevel pre-tokenizer). */
export function toByteLevel(ns: NormalizedString): NormalizedString {
  const bytes: number[] = [];
  return ns.mapChars((ch) => {
    bytes.length = 0;
    utf8Bytes(ch.codePointAt(0)!, bytes);
    let s = '';
    for (const b of bytes) s += BYTE_TO_CHAR[b];
    return s;
  });
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as UTF-8, replacing invalid sequences by U+FFFD (Rust `String::from_utf8_lossy`). */
export function decodeUtf8Lossy(bytes: number[]): string {
  return utf8Decoder.decode(Uint8Array.from(bytes));
}

/** Decodes bytes as UTF-8, or returns undefined when they are not valid UTF-8. */
export function decodeUtf8Strict(bytes: number[]): string | undefined {
  try {
    return utf8Strict.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}
