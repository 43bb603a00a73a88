/**
 * The counts of a fact world that fact-world's and fact-base's `manifest.json` both give.
 */
import type { FactTable } from './fact-lookup';

/** Entity and fact counts of a world, keys in manifest order. */
export interface WorldCounts {
  entities: number;
  /** Entities per type, types in order of first id. */
  entityTypes: Record<string, number>;
  /** Distinct relation ids among the facts. */
  relations: number;
  facts: number;
  /** Facts about primary subjects. */
  subjectFacts: number;
  /** Facts about object-only entities. */
  backgroundFacts: number;
}

/** The {@link WorldCounts} of a world. */
export function worldCounts(world: FactTable<{ name: string; type: string }>): WorldCounts {
  const entityTypes: Record<string, number> = {};
  for (const e of world.entities) entityTypes[e.type] = (entityTypes[e.type] ?? 0) + 1;
  return {
    entities: world.entities.length,
    entityTypes,
    relations: new Set(world.facts.map((f) => f.relation)).size,
    facts: world.facts.length,
    subjectFacts: world.facts.filter((f) => f.subject < world.subjectCount).length,
    backgroundFacts: world.facts.filter((f) => f.subject >= world.subjectCount).length,
  };
}
