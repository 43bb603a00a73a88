/**
 * A string being normalized and pre-tokenized, with the span of the original input that each of its
 * UTF-16 code units came from (the role of `NormalizedString` in Hugging Face tokenizers,
 * tokenizers/src/tokenizer/normalizer.rs). Spans are in UTF-16 code units of the original text, so
 * `text.slice(start, end)` recovers what a token covers.
 * @internal
 */
export class NormalizedString {
  constructor(
    /** Current (normalized) text. */
    readonly text: string,
    /** For code unit i of `text`, the original span [starts[i], ends[i]). */
    readonly starts: number[],
    readonly ends: number[],
  ) {}

  /** Wraps `text` found at `offset` of the original input, aligned one to one. */
  static fromOriginal(text: string, offset = 0): NormalizedString {
    const n = text.length;
    const starts = new Array<number>(n);
    const ends = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      starts[i] = offset + i;
      ends[i] = offset + i + 1;
    }
    // A surrogate pair is one character: both halves get the pair's span.
    for (let i = 0; i + 1 < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          ends[i] = offset + i + 2;
          starts[i + 1] = offset + i;
          i++;
        }
      }
    }
    return new NormalizedString(text, starts, ends);
  }

  get length(): number {
    return this.text.length;
  }

  /** Original offset of the first character (or -1 when empty). */
  get originalStart(): number {
    return this.starts.length > 0 ? this.starts[0] : -1;
  }

  /** Original span covered by code units [a, b). */
  span(a: number, b: number): [number, number] {
    if (b <= a) {
      const at = a < this.starts.length ? this.starts[a] : a > 0 ? this.ends[a - 1] : 0;
      return [at, at];
    }
    return [this.starts[a], this.ends[b - 1]];
  }

  slice(a: number, b: number): NormalizedString {
    return new NormalizedString(this.text.slice(a, b), this.starts.slice(a, b), this.ends.slice(a, b));
  }

  /**
   * Rewrites each character (code point) with `fn`; the produced code units all take the span of
   * the character they came from. Returning '' removes the character.
   */
  mapChars(fn: (ch: string) => string): NormalizedString {
    const t = this.text;
    let out = '';
    const starts: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < t.length; ) {
      const cp = t.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      const ch = w === 1 ? t[i] : t.slice(i, i + 2);
      const r = fn(ch);
      if (r.length > 0) {
        out += r;
        const s = this.starts[i];
        const e = this.ends[i + w - 1];
        for (let k = 0; k < r.length; k++) {
          starts.push(s);
          ends.push(e);
        }
      }
      i += w;
    }
    return new NormalizedString(out, starts, ends);
  }

  /** Adds `s` in front; the new code units take the span of the first character (HF `prepend`). No-op when empty. */
  prepend(s: string): NormalizedString {
    if (this.text.length === 0 || s.length === 0) return this;
    const first = this.span(0, 1);
    const starts = new Array<number>(s.length).fill(first[0]).concat(this.starts);
    const ends = new Array<number>(s.length).fill(first[1]).concat(this.ends);
    return new NormalizedString(s + this.text, starts, ends);
  }

  /** Adds `s` at the end; the new code units take the span of the last character. */
  append(s: string): NormalizedString {
    if (s.length === 0) return this;
    const n = this.text.length;
    const last = n > 0 ? this.span(n - 1, n) : [0, 0];
    const starts = this.starts.concat(new Array<number>(s.length).fill(last[0]));
    const ends = this.ends.concat(new Array<number>(s.length).fill(last[1]));
    return new NormalizedString(this.text + s, starts, ends);
  }

  /** Replaces every match of `re` (global) with `content`; the replacement takes the matched span. */
  replace(re: RegExp, content: string): NormalizedString {
    const t = this.text;
    let out = '';
    const starts: number[] = [];
    const ends: number[] = [];
    let last = 0;
    for (const [a, b] of matchRanges(re, t)) {
      out += t.slice(last, a);
      for (let i = last; i < a; i++) {
        starts.push(this.starts[i]);
        ends.push(this.ends[i]);
      }
      const [s, e] = this.span(a, b);
      out += content;
      for (let k = 0; k < content.length; k++) {
        starts.push(s);
        ends.push(e);
      }
      last = b;
    }
    if (last === 0) return this;
    out += t.slice(last);
    for (let i = last; i < t.length; i++) {
      starts.push(this.starts[i]);
      ends.push(this.ends[i]);
    }
    return new NormalizedString(out, starts, ends);
  }

  /**
   * Unicode normalization. The text is exactly `text.normalize(form)`; alignment is per run of a
   * base character and its combining marks, and falls back to the whole string's span in the rare
   * case (e.g. conjoining Hangul jamo) where composing runs separately would give another text.
   */
  normalize(form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): NormalizedString {
    const t = this.text;
    const whole = t.normalize(form);
    if (whole === t) return this;
    let out = '';
    const starts: number[] = [];
    const ends: number[] = [];
    const runRe = /\P{M}\p{M}*|\p{M}+/gsu;
    for (const m of t.matchAll(runRe)) {
      const a = m.index!;
      const b = a + m[0].length;
      const r = m[0].normalize(form);
      const [s, e] = this.span(a, b);
      out += r;
      if (r === m[0]) {
        for (let i = a; i < b; i++) {
          starts.push(this.starts[i]);
          ends.push(this.ends[i]);
        }
      } else {
        for (let k = 0; k < r.length; k++) {
          starts.push(s);
          ends.push(e);
        }
      }
    }
    if (out === whole) return new NormalizedString(out, starts, ends);
    const [s, e] = this.span(0, t.length);
    return new NormalizedString(whole, new Array<number>(whole.length).fill(s), new Array<number>(whole.length).fill(e));
  }

  /** Removes leading and/or trailing whitespace (Unicode White_Space). */
  strip(left: boolean, right: boolean): NormalizedString {
    const t = this.text;
    let a = 0;
    let b = t.length;
    if (left) while (a < b && isWhiteSpaceCode(t.charCodeAt(a))) a++;
    if (right) while (b > a && isWhiteSpaceCode(t.charCodeAt(b - 1))) b--;
    return a === 0 && b === t.length ? this : this.slice(a, b);
  }
}

/** Unicode White_Space (what Rust's `char::is_whitespace` and Oniguruma's `\s` match). */
export const WHITE_SPACE_CLASS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITE_SPACE_RE = new RegExp(`^[${WHITE_SPACE_CLASS}]$`, 'u');

/** @internal True when the UTF-16 code unit is Unicode White_Space (all White_Space is in the BMP). */
export function isWhiteSpaceCode(c: number): boolean {
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return true;
  if (c < 0x85) return false;
  return WHITE_SPACE_RE.test(String.fromCharCode(c));
}

/** @internal Match ranges of a global regex over `text`, in order (empty matches included: they still split). */
export function matchRanges(re: RegExp, text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(re)) out.push([m.index!, m.index! + m[0].length]);
  return out;
}
