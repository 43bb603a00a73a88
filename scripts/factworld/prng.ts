/**
 * Seeded pseudo-random numbers for the fact world. Everything random in the generator draws from
 * here, so one seed gives byte-identical outputs on every machine (no Math.random, no Date).
 *
 * The core is mulberry32 (Tommy Ettinger's 32-bit generator, public domain): small, fast and good
 * enough for shuffles and picks; it is not cryptographic.
 */

/** A deterministic random source with the helpers the generator needs. */
export class Rng {
  private state: number;

  /** @param seed any 32-bit integer; the same seed always yields the same sequence. */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`Expected an integer for seed but received ${seed}`);
    this.state = seed >>> 0;
  }

  /** The generator's position: `new Rng(rng.position())` continues the same sequence (for checkpoints). */
  position(): number {
    return this.state;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    // mulberry32: one 32-bit add, two xorshift-multiply rounds.
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Expected a positive integer for n but received ${n}`);
    return Math.floor(this.next() * n);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Expected a non-empty array for pick');
    return items[this.int(items.length)];
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** k distinct elements (k ≤ length), in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new RangeError(`Cannot sample ${k} of ${items.length} items`);
    return this.shuffle(items).slice(0, k);
  }

  /** A child generator whose stream depends only on this seed and the label (stable sub-streams). */
  fork(label: string): Rng {
    return new Rng(hashString(label) ^ Math.imul(this.state, 0x9e3779b1));
  }
}

/** FNV-1a 32-bit hash of a string (deterministic seed derivation). @internal */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
