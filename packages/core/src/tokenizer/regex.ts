/**
 * Regular expressions and the split behaviours of Hugging Face tokenizers
 * (tokenizers/src/tokenizer/normalizer.rs `split`, tokenizers/src/tokenizer/pattern.rs).
 *
 * tokenizer.json patterns are written for Oniguruma (Ruby syntax). They are translated to JavaScript
 * `u`-mode regexes: `\s` becomes Unicode White_Space (Oniguruma's definition; JavaScript's `\s` also
 * matches U+FEFF and misses U+0085), `(?i:...)` groups (not supported by Node 20) are expanded for
 * ASCII letters, `\h` is a hex digit, `\A`/`\z` are string anchors, `.` excludes only `\n` and
 * `^`/`$` are `\n` line anchors. Atomic groups, possessive
 * quantifiers and inline flag changes are rejected with an error naming the pattern.
 * @internal
 */
import { NormalizedString, WHITE_SPACE_CLASS, matchRanges } from './normalized-string';

/** How the matched parts of a split are kept (HF `SplitDelimiterBehavior`). */
export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
export const SPLIT_BEHAVIORS: readonly SplitBehavior[] = [
  'Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous',
];

/** GPT-2's pre-tokenization pattern (openai/gpt-2 src/encoder.py; HF pre_tokenizers/byte_level.rs). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Escapes a literal string for use in a regex. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
}

/**
 * Translates an Oniguruma pattern into JavaScript regex source. Throws an Error (message only; the
 * caller adds the file and field) for constructs JavaScript cannot express.
 */
export function translatePattern(p: string): string {
  let out = '';
  let inClass = false;
  const groups: boolean[] = []; // per open group: does it switch on case-insensitivity?
  const ci = () => groups.includes(true);
  const isLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z]$/.test(c);
  const swap = (c: string) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const d = p[i + 1];
      if (d === undefined) throw new Error('pattern ends with a lone backslash');
      i++;
      if (d === 's') out += inClass ? WHITE_SPACE_CLASS : `[${WHITE_SPACE_CLASS}]`;
      else if (d === 'S') {
        if (inClass) throw new Error('\\S inside a character class is not supported');
        out += `[^${WHITE_SPACE_CLASS}]`;
      } else if (d === 'h') out += inClass ? '0-9a-fA-F' : '[0-9a-fA-F]';
      else if (d === 'A') out += '(?<![\\s\\S])';
      else if (d === 'z') out += '(?![\\s\\S])';
      else if (d === 'x' && p[i + 1] === '{') {
        const close = p.indexOf('}', i);
        out += `\\u{${p.slice(i + 2, close)}}`;
        i = close;
      } else if ((d === 'p' || d === 'P') && p[i + 1] === '{') {
        const close = p.indexOf('}', i);
        out += `\\${d}${p.slice(i + 1, close + 1)}`;
        i = close;
      } else out += `\\${d}`;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      if (ci() && isLetter(c)) {
        if (p[i + 1] === '-' && isLetter(p[i + 2])) {
          out += `${c}-${p[i + 2]}${swap(c)}-${swap(p[i + 2])}`;
          i += 2;
        } else out += c + swap(c);
        continue;
      }
      out += c === '[' ? '\\[' : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (p[i + 1] === '^') out += p[++i];
      if (p[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (p[i + 1] === '?') {
        const rest = p.slice(i + 2);
        if (rest.startsWith('i:')) {
          groups.push(true);
          out += '(?:';
          i += 3;
          continue;
        }
        if (!/^(:|=|!|<=|<!|<[A-Za-z])/.test(rest)) {
          throw new Error(`group "(?${rest.slice(0, 3)}" (atomic group or inline flags) is not supported`);
        }
      }
      groups.push(false);
      out += c;
      continue;
    }
    if (c === ')') {
      groups.pop();
      out += c;
      continue;
    }
    if ((c === '*' || c === '+' || c === '?') && p[i + 1] === '+') {
      throw new Error('possessive quantifiers are not supported');
    }
    if (c === '}' && p[i + 1] === '+') throw new Error('stacked quantifiers ("{n}+") are not supported');
    // Oniguruma (Ruby syntax): `.` excludes only \n, and ^ / $ are line anchors for \n only.
    if (c === '.') {
      out += '[^\\n]';
      continue;
    }
    if (c === '^') {
      out += '(?<![^\\n])';
      continue;
    }
    if (c === '$') {
      out += '(?![^\\n])';
      continue;
    }
    if (ci() && isLetter(c)) {
      out += `[${c}${swap(c)}]`;
      continue;
    }
    out += c;
  }
  return out;
}

/** Compiles an Oniguruma pattern as a global unicode JavaScript regex. */
export function compilePattern(p: string): RegExp {
  return new RegExp(translatePattern(p), 'gu');
}

/** Compiled GPT-2 pattern (shared). */
export const GPT2_REGEX = compilePattern(GPT2_PATTERN);

/** A segment of a string: [start, end, isMatch]. */
type Segment = [number, number, boolean];

/** Segments of `text` for regex matches (HF `Pattern for &SysRegex`). */
export function regexSegments(re: RegExp, text: string): Segment[] {
  if (text.length === 0) return [[0, 0, false]];
  const out: Segment[] = [];
  let prev = 0;
  for (const [a, b] of matchRanges(re, text)) {
    if (prev !== a) out.push([prev, a, false]);
    out.push([a, b, true]);
    prev = b;
  }
  if (prev !== text.length) out.push([prev, text.length, false]);
  return out;
}

/** Segments of `text` where every character satisfying `pred` is a match of its own (HF `Pattern for Fn(char)`). */
export function charSegments(pred: (ch: string) => boolean, text: string): Segment[] {
  if (text.length === 0) return [[0, 0, false]];
  const out: Segment[] = [];
  let last = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const w = cp > 0xffff ? 2 : 1;
    if (pred(text.slice(i, i + w))) {
      if (last < i) out.push([last, i, false]);
      out.push([i, i + w, true]);
      last = i + w;
    }
    i += w;
  }
  if (last < text.length) out.push([last, text.length, false]);
  return out;
}

/** Flips which segments count as matches (HF `Invert`). */
export function invert(segs: Segment[]): Segment[] {
  return segs.map(([a, b, m]) => [a, b, !m]);
}

/** Splits `ns` along `segs` with `behavior`, dropping empty pieces (HF `NormalizedString::split`). */
export function splitSegments(ns: NormalizedString, segs: Segment[], behavior: SplitBehavior): NormalizedString[] {
  let kept: Array<[number, number]> = [];
  switch (behavior) {
    case 'Isolated':
      kept = segs.map(([a, b]) => [a, b]);
      break;
    case 'Removed':
      kept = segs.filter((s) => !s[2]).map(([a, b]) => [a, b]);
      break;
    case 'Contiguous': {
      let prevMatch = false;
      for (const [a, b, m] of segs) {
        if (m === prevMatch && kept.length > 0) kept[kept.length - 1][1] = b;
        else kept.push([a, b]);
        prevMatch = m;
      }
      break;
    }
    case 'MergedWithPrevious': {
      let prevMatch = false;
      for (const [a, b, m] of segs) {
        if (m && !prevMatch && kept.length > 0) kept[kept.length - 1][1] = b;
        else kept.push([a, b]);
        prevMatch = m;
      }
      break;
    }
    case 'MergedWithNext': {
      let prevMatch = false;
      for (let k = segs.length - 1; k >= 0; k--) {
        const [a, b, m] = segs[k];
        if (m && !prevMatch && kept.length > 0) kept[kept.length - 1][0] = a;
        else kept.push([a, b]);
        prevMatch = m;
      }
      kept.reverse();
      break;
    }
  }
  const out: NormalizedString[] = [];
  for (const [a, b] of kept) if (b > a) out.push(ns.slice(a, b));
  return out;
}
