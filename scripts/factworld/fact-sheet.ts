/**
 * A world's facts while a generator draws them (fact-world's and fact-base's): at most one object
 * per (subject, relation), objects spread over subjects by {@link stratified} quotas, and the
 * flat fact list in a fixed order at the end.
 */
import type { Rng } from './prng';
import type { Fact } from './fact-lookup';

/**
 * Splits `n` items over `k` objects with mildly skewed shares (weight 1/sqrt(rank+1), rank in a
 * random order), at least `min` each when possible, and returns the object index for each item
 * in random order. Exact quotas (largest remainder) guarantee the minimum, which a plain weighted
 * draw would not.
 * @internal
 */
export function stratified(rng: Rng, n: number, k: number, min: number): number[] {
  if (k <= 0) throw new RangeError(`stratified: expected at least one object but received ${k}`);
  const floor = Math.min(min, Math.floor(n / k));
  const order = rng.shuffle(Array.from({ length: k }, (_, i) => i));
  const weights = order.map((_, r) => 1 / Math.sqrt(r + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const rest = n - floor * k;
  const exact = weights.map((w) => (w / total) * rest);
  const counts = exact.map((x) => Math.floor(x) + floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0; left > 0; j = (j + 1) % k, left--) counts[byRemainder[j][1]]++;
  const items: number[] = [];
  counts.forEach((c, r) => { for (let i = 0; i < c; i++) items.push(order[r]); });
  return rng.shuffle(items);
}

/** Facts by subject and relation, drawn with one random stream. @internal */
export class FactSheet {
  private readonly bySubject = new Map<number, Map<string, number>>();

  /** @param rng - the stream {@link assign} draws from (the generator may draw other things from it in between) */
  constructor(private readonly rng: Rng) {}

  /** Sets the object of (subject, relation), replacing an earlier one. */
  set(subject: number, relation: string, object: number): void {
    if (!this.bySubject.has(subject)) this.bySubject.set(subject, new Map());
    this.bySubject.get(subject)!.set(relation, object);
  }

  /** The object of (subject, relation). @throws Error when it has not been set */
  get(subject: number, relation: string): number {
    const o = this.bySubject.get(subject)?.get(relation);
    if (o === undefined) throw new Error(`No ${relation} fact of entity ${subject} yet (internal: facts drawn out of order)`);
    return o;
  }

  /** Gives each subject one of `objects` under `relation`, each object at least `min` subjects where possible ({@link stratified}). */
  assign(subjects: readonly number[], relation: string, objects: readonly number[], min: number): void {
    stratified(this.rng, subjects.length, objects.length, min).forEach((o, i) => this.set(subjects[i], relation, objects[o]));
  }

  /** Every fact: in `entities` order (ascending id), then in `relations` order. */
  facts(entities: readonly { id: number }[], relations: readonly { id: string }[]): Fact[] {
    const flat: Fact[] = [];
    for (const e of entities) {
      const m = this.bySubject.get(e.id);
      if (!m) continue;
      for (const r of relations) if (m.has(r.id)) flat.push({ subject: e.id, relation: r.id, object: m.get(r.id)! });
    }
    return flat;
  }
}
