/**
 * Look-ups over a fact world — fact-world's and fact-base's alike: entities by id, the object of
 * (subject, relation), the subjects holding an object, and the split of each primary subject.
 * Each world binds it to where its world stores the splits (fact-world's `WorldIndex`, fact-base's
 * `FactIndex`).
 */

/** (subject, relation, object) by entity ids and relation id. */
export interface Fact {
  subject: number;
  relation: string;
  object: number;
}

/** The three subject splits: editors train on `train`, settings are chosen on `validation`, results are reported on `eval`. */
export type SplitName = 'train' | 'validation' | 'eval';

/** What {@link FactLookup} reads of a world. */
export interface FactTable<E extends { name: string }> {
  /** All entities, indexed by id (entities[i].id === i). */
  entities: readonly E[];
  /** Facts in the world's order (a subject's relations in relation order). */
  facts: readonly Fact[];
  /** Primary subjects are ids 0..subjectCount-1; the object-only entities follow. */
  subjectCount: number;
}

/** Fast look-ups over a world's facts. */
export class FactLookup<E extends { name: string }> {
  private readonly bySubject = new Map<number, Map<string, number>>();
  private readonly byRelationObject = new Map<string, number[]>();
  private readonly splitOf = new Map<number, SplitName>();

  /**
   * @param world - entities, facts and subject count
   * @param splits - subject ids of the listed splits; a primary subject listed in none is `train`
   */
  constructor(private readonly world: FactTable<E>, splits: Partial<Record<SplitName, readonly number[]>>) {
    for (const f of world.facts) {
      if (!this.bySubject.has(f.subject)) this.bySubject.set(f.subject, new Map());
      this.bySubject.get(f.subject)!.set(f.relation, f.object);
      const key = `${f.relation}|${f.object}`;
      if (!this.byRelationObject.has(key)) this.byRelationObject.set(key, []);
      this.byRelationObject.get(key)!.push(f.subject);
    }
    for (const [split, ids] of Object.entries(splits) as [SplitName, readonly number[]][]) for (const id of ids) this.splitOf.set(id, split);
  }

  /** Entity by id. @throws RangeError when the id is out of range */
  entity(id: number): E {
    const e = this.world.entities[id];
    if (!e) throw new RangeError(`No entity with id ${id} (the world has ${this.world.entities.length})`);
    return e;
  }

  /** Name of an entity. @throws RangeError when the id is out of range */
  name(id: number): string {
    return this.entity(id).name;
  }

  /** Object of (subject, relation), or undefined when the subject lacks that relation. */
  object(subject: number, relation: string): number | undefined {
    return this.bySubject.get(subject)?.get(relation);
  }

  /** Relations of an entity, in the world's relation order. */
  relationsOf(subject: number): string[] {
    return [...(this.bySubject.get(subject)?.keys() ?? [])];
  }

  /** Entities (ascending id) whose object for `relation` is `object`. */
  subjectsWith(relation: string, object: number): readonly number[] {
    return this.byRelationObject.get(`${relation}|${object}`) ?? [];
  }

  /** Distinct objects of a relation, ascending id. */
  objectsOf(relation: string): number[] {
    const out = new Set<number>();
    for (const f of this.world.facts) if (f.relation === relation) out.add(f.object);
    return [...out].sort((a, b) => a - b);
  }

  /** Whether an entity is a primary subject (edits are made on these). */
  isSubject(id: number): boolean {
    return id >= 0 && id < this.world.subjectCount;
  }

  /** The split of a primary subject; undefined for an object-only entity (countries, cities, ...). */
  split(id: number): SplitName | undefined {
    return this.isSubject(id) ? (this.splitOf.get(id) ?? 'train') : undefined;
  }
}
