/**
 * Invented words for names, built from syllables (onset + vowel + optional coda), so the world's
 * names are new to any tokenizer and carry no real-world knowledge.
 */
import { Rng } from './prng';

const ONSETS = ['b', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'gr', 'kr', 'tr', 'st', 'th', 'sh', 'vl', 'j'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'a', 'e', 'o', 'a', 'ai', 'ei'];
// Real place names and common words the syllable scheme can produce; invented names avoid them.
const REAL_WORDS = ['poland', 'china', 'japan', 'peru', 'chile', 'cuba', 'mali', 'niger', 'oman', 'iran', 'iraq', 'laos', 'togo', 'kenya', 'ghana', 'malta', 'nepal', 'rome', 'paris', 'berlin', 'london', 'madrid', 'lima', 'oslo', 'tokyo', 'cairo', 'delhi', 'dubai', 'sofia', 'riga', 'kiev', 'baku', 'doha', 'vienna', 'neva', 'tamer', 'hanoi', 'seoul', 'manila', 'samoa', 'tonga', 'sudan', 'benin', 'gabon', 'zambia', 'rabat', 'tunis', 'minsk', 'milan', 'turin', 'bern', 'basel', 'dover', 'bristol', 'boston', 'denver', 'dallas', 'tampa', 'reno', 'salem', 'toledo', 'napoli', 'siena', 'pisa', 'lagos', 'dakar', 'hamburg', 'bremen', 'dresden', 'kassel', 'tirana', 'skopje', 'zagreb', 'vilnius', 'tallinn', 'talon', 'salon', 'baron', 'demon', 'lemon', 'melon', 'sermon', 'person', 'poker', 'tenor', 'donor', 'motor', 'rotor', 'tutor', 'manor', 'major', 'minor', 'honor', 'sonar', 'solar', 'polar', 'lunar', 'radar', 'vodka', 'pasta', 'salsa', 'samba', 'mambo', 'tango', 'banjo', 'piano', 'viola', 'sofa', 'soda', 'gala', 'data', 'beta', 'delta', 'sigma', 'karma', 'drama', 'panda', 'koala', 'zebra', 'cobra', 'hyena'];
const CODAS = ['', '', '', '', 'n', 'r', 'l', 's', 'm', 'nd', 'rn', 'lt', 'st', 'th', 'rk', 'sk'];

/**
 * Makes unique capitalised words. Every word it returns is distinct from all words returned before
 * and from the reserved set (compared in lower case), so names never collide with template words.
 */
export class WordMaker {
  private readonly used = new Set<string>();

  /** @param rng random source @param reserved lower-case words that must never be produced */
  constructor(private readonly rng: Rng, reserved: Iterable<string>) {
    for (const w of reserved) this.used.add(w.toLowerCase());
    for (const w of REAL_WORDS) this.used.add(w);
  }

  /** A new word of 2 or 3 syllables, 4 to 8 letters. */
  word(): string {
    for (let attempt = 0; attempt < 10000; attempt++) {
      const n = this.rng.chance(0.65) ? 2 : 3;
      let w = '';
      for (let i = 0; i < n; i++) {
        // A later syllable may start with its vowel after a consonant ("Olt-ega"), never after a
        // vowel, which would pile vowels up ("Laiaie").
        const afterConsonant = i > 0 && !/[aeiou]$/.test(w);
        const onset = afterConsonant && this.rng.chance(0.25) ? '' : this.rng.pick(ONSETS);
        const coda = i === n - 1 || this.rng.chance(0.3) ? this.rng.pick(CODAS) : '';
        w += onset + this.rng.pick(VOWELS) + coda;
      }
      if (w.length < 4 || w.length > 8 || this.used.has(w)) continue;
      this.used.add(w);
      return w[0].toUpperCase() + w.slice(1);
    }
    throw new Error('WordMaker: could not find a new word after 10000 attempts');
  }

  /** `n` new words. */
  words(n: number): string[] {
    return Array.from({ length: n }, () => this.word());
  }

  /** A new word with a suffix appended (e.g. language names "Velnic"), still unique. */
  suffixed(suffixes: readonly string[]): string {
    for (let attempt = 0; attempt < 10000; attempt++) {
      const base = this.word();
      const w = base.replace(/[aeiou]+$/, '') + this.rng.pick(suffixes);
      if (w.length > 10 || this.used.has(w.toLowerCase())) continue;
      this.used.add(w.toLowerCase());
      return w;
    }
    throw new Error('WordMaker: could not find a new suffixed word after 10000 attempts');
  }
}
