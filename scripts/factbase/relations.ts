/**
 * Relations of fact-base and their phrasings (issue 26). Relations that fact-world already has keep
 * its phrasings (imported from `../factworld/templates`, so the two worlds word a fact the same
 * way); the five new ones (birthplace, university, architectural style, parent company, currency)
 * follow the same rules: 8 training phrasings (6 statements, 2 questions) ending right before the
 * object, 2 held-out ones that put training predicates in a frame training never shows, `{}` for
 * the subject (the CounterFact prompt convention).
 *
 * Chains: a person's birthplace / employer / university, a place's city, an organisation's
 * headquarters, a product's maker lead to a city or company whose own facts (city → country,
 * country → capital / language / currency / continent, company → headquarters) the training text
 * states, so multi-hop questions have answers derivable from trained facts.
 */
import { findRelation, relationById as factworldRelation } from '../factworld/templates';

/** Kinds of primary subjects (edits are made on these; they never appear as objects). */
export type SubjectType = 'person' | 'place' | 'organisation' | 'product';
/** Kinds of object-only entities (subjects of background facts). */
export type ObjectType =
  | 'country' | 'city' | 'language' | 'currency' | 'continent' | 'company' | 'university'
  | 'occupation' | 'instrument' | 'sport' | 'industry' | 'product-type' | 'style';
/** Every entity type of the world. */
export type EntityType = SubjectType | ObjectType;

/** One relation: Wikidata-style id, typing, phrasings and its multi-hop wording. */
export interface Relation {
  /** Wikidata property id (CounterFact `relation_id`). */
  id: string;
  /** Human name (portability "Recalled Relation", MQuAKE hop labels). */
  name: string;
  subjectTypes: EntityType[];
  objectType: EntityType;
  /** 8 training phrasings: statements, then two questions. */
  train: string[];
  /** 2 held-out phrasings: [statement, question]; never in training text. */
  heldout: [string, string];
  /** Open generation prompts (CounterFact `generation_prompts`). */
  generation: string[];
  /**
   * Noun phrases naming this relation's object for a subject ("the country {} is a citizen of"),
   * for questions whose first hop is this relation; two wordings, so multi-hop questions have
   * paraphrases. Absent when the relation never starts a chain.
   */
  describe?: [string, string];
}

function reuse(id: string, subjectTypes: EntityType[], objectType: EntityType, describe?: [string, string]): Relation {
  const r = factworldRelation(id);
  return { id, name: r.name, subjectTypes, objectType, train: [...r.train], heldout: [...r.heldout], generation: [...r.generation], describe };
}

/** All relations, in the order facts are listed. */
export const RELATIONS: readonly Relation[] = [
  {
    id: 'P19', name: 'place of birth', subjectTypes: ['person'], objectType: 'city',
    train: [
      '{} was born in the city of', 'The birthplace of {} is', "{}'s place of birth is",
      'The city where {} was born is', '{}, who was born in the city of', '{} is a native of the city of',
      'Where was {} born?', 'In which city was {} born? The answer is',
    ],
    heldout: ['{}, a native of the city of', 'What is the birthplace of {}?'],
    generation: ['The streets where {} was born are in', 'The friends of {} grew up in', '{} was born in the city of'],
    describe: ['the city where {} was born', 'the birthplace of {}'],
  },
  reuse('P27', ['person'], 'country', ['the country {} is a citizen of', 'the country of citizenship of {}']),
  reuse('P103', ['person'], 'language'),
  reuse('P106', ['person'], 'occupation'),
  reuse('P108', ['person'], 'company', ['the company {} works for', 'the employer of {}']),
  {
    id: 'P69', name: 'educated at', subjectTypes: ['person'], objectType: 'university',
    train: [
      '{} studied at', '{} was educated at', '{} is a graduate of', 'The university of {} is',
      '{}, who studied at', '{} went to university at',
      'Where did {} study?', 'Which university did {} attend? The answer is',
    ],
    heldout: ['{}, who was educated at', 'Which university did {} study at? The answer is'],
    generation: ['In the spring, {} studied at', 'The friends of {} studied at', '{} was educated at'],
    describe: ['the university where {} studied', 'the university {} went to'],
  },
  reuse('P1303', ['person'], 'instrument'),
  reuse('P641', ['person'], 'sport'),
  reuse('P131', ['place', 'university'], 'city', ['the city where {} is located', 'the city {} is in']),
  reuse('P17', ['place', 'organisation', 'city'], 'country', ['the country where {} is located', 'the country {} is in']),
  reuse('P30', ['place', 'country'], 'continent'),
  {
    id: 'P149', name: 'architectural style', subjectTypes: ['place'], objectType: 'style',
    train: [
      '{} was built in the style of', 'The architectural style of {} is', '{} is an example of the style of',
      "{}'s architectural style is", '{}, which was built in the style of', 'The style of {} is',
      'What is the architectural style of {}?', 'In which style was {} built? The answer is',
    ],
    heldout: ['{}, an example of the style of', 'What is the style of {}?'],
    generation: ['Tourists who visit {} come for its', 'Visitors to {} travel far for its', 'The style of {} is'],
  },
  reuse('P159', ['organisation', 'company'], 'city', ['the city where {} has its headquarters', 'the headquarters city of {}']),
  reuse('P452', ['organisation', 'company'], 'industry'),
  {
    id: 'P749', name: 'parent organization', subjectTypes: ['organisation'], objectType: 'company',
    train: [
      '{} is a subsidiary of', 'The parent company of {} is', '{} is owned by', '{} is controlled by',
      '{}, a subsidiary of', '{} is part of the group of',
      'Which company owns {}?', 'What is the parent company of {}? The answer is',
    ],
    heldout: ['{}, which is owned by', 'Which company is {} a subsidiary of? The answer is'],
    generation: ['The workers of {} report to', 'Last year, {} was sold to', '{} is owned by'],
    describe: ['the parent company of {}', 'the company that owns {}'],
  },
  reuse('P176', ['product'], 'company', ['the company that makes {}', 'the maker of {}']),
  reuse('P495', ['product'], 'country', ['the country {} comes from', 'the country of origin of {}']),
  reuse('P31', ['product'], 'product-type'),
  reuse('P36', ['country'], 'city'),
  reuse('P37', ['country'], 'language'),
  {
    id: 'P38', name: 'currency', subjectTypes: ['country'], objectType: 'currency',
    train: [
      'The currency of {} is', 'The official currency of {} is', 'In {}, people pay in',
      "{}'s currency is", 'Prices in {} are given in', 'The money of {} is the',
      'What is the currency of {}?', 'Which currency is used in {}? The answer is the',
    ],
    heldout: ['In {}, prices are given in', 'What is the official currency of {}?'],
    generation: ['Travellers to {} pay in', 'Tourists in {} pay in', 'The currency of {} is'],
  },
];

/** Relation by id. @throws when the id is unknown */
export function relationById(id: string): Relation {
  return findRelation(RELATIONS, id);
}

/**
 * Hops: after `from` leads to an entity, `to` is a fact of that entity the training text states.
 * A chain is a path subject → e1 → e2 ... following these (MQuAKE's 2–4 hop questions); a
 * one-hop consequence of an edit (EasyEdit portability) is the first step of one.
 */
export const HOPS: ReadonlyArray<{ from: string; to: string }> = [
  { from: 'P19', to: 'P17' },
  { from: 'P27', to: 'P36' }, { from: 'P27', to: 'P37' }, { from: 'P27', to: 'P38' }, { from: 'P27', to: 'P30' },
  { from: 'P108', to: 'P159' },
  { from: 'P69', to: 'P131' },
  { from: 'P131', to: 'P17' },
  { from: 'P17', to: 'P36' }, { from: 'P17', to: 'P37' }, { from: 'P17', to: 'P38' }, { from: 'P17', to: 'P30' },
  { from: 'P159', to: 'P17' },
  { from: 'P749', to: 'P159' },
  { from: 'P176', to: 'P159' },
  { from: 'P495', to: 'P36' }, { from: 'P495', to: 'P37' }, { from: 'P495', to: 'P38' }, { from: 'P495', to: 'P30' },
];

/**
 * Statements ending before the object, with `{}` for a noun phrase: how training text and
 * portability prompts state a hop about a described entity ("The capital of the country X is a
 * citizen of is").
 */
export const HOP_STATEMENTS: Readonly<Record<string, string>> = {
  P17: '{} is in the country of',
  P36: 'The capital of {} is',
  P37: 'The official language of {} is',
  P38: 'The currency of {} is',
  P30: 'The continent of {} is',
  P159: 'The headquarters of {} are in',
  P131: '{} is in the city of',
};

/** The relations a subject of each type has (P1303 / P641: half the people each). */
export const SUBJECT_RELATIONS: Readonly<Record<SubjectType, readonly string[]>> = {
  person: ['P19', 'P27', 'P103', 'P106', 'P108', 'P69', 'P1303', 'P641'],
  place: ['P131', 'P17', 'P30', 'P149'],
  organisation: ['P159', 'P17', 'P452', 'P749'],
  product: ['P176', 'P495', 'P31'],
};
