/**
 * A generated world's entity list (fact-world's and fact-base's): the primary subjects first, in a
 * seeded mixed order (ids 0..S-1), then the object-only entities with the next ids; every name
 * once; facts whose subject and object have the types their relation takes.
 */
import type { Rng } from './prng';
import type { Fact } from './fact-lookup';

/** One named thing of type `T`. */
export interface TypedEntity<T extends string> {
  id: number;
  name: string;
  type: T;
}

/**
 * The subjects of every group, shuffled together so that any prefix of the ids mixes the types.
 * @param groups - [type, names] per subject type, in a fixed order (the shuffle's input order)
 * @internal
 */
export function mixedSubjects<T extends string>(rng: Rng, groups: readonly (readonly [T, readonly string[]])[]): TypedEntity<T>[] {
  const typed = groups.flatMap(([type, names]) => names.map((name) => ({ name, type })));
  return rng.shuffle(typed).map((s, id) => ({ id, ...s }));
}

/** Appends an entity of `type` per name, with the next ids, and returns those ids. @internal */
export function appendEntities<T extends string>(entities: TypedEntity<T>[], names: readonly string[], type: T): number[] {
  return names.map((name) => {
    const id = entities.length;
    entities.push({ id, name, type });
    return id;
  });
}

/** @throws Error naming the first name two entities share @internal */
export function checkUniqueNames(entities: readonly { name: string }[]): void {
  const seen = new Set<string>();
  for (const e of entities) {
    if (seen.has(e.name)) throw new Error(`Entity name "${e.name}" occurs twice (internal: name pools overlap)`);
    seen.add(e.name);
  }
}

/** @throws Error when the fact's subject or object has a type its relation does not take @internal */
export function checkFactTyping<T extends string>(entities: readonly TypedEntity<T>[], fact: Fact, spec: { id: string; subjectTypes: readonly T[]; objectType: T }): void {
  const s = entities[fact.subject];
  const o = entities[fact.object];
  if (!spec.subjectTypes.includes(s.type) || spec.objectType !== o.type) {
    throw new Error(`Fact (${s.name}, ${spec.id}, ${o.name}) violates typing ${spec.subjectTypes.join('|')} → ${spec.objectType}`);
  }
}
