/**
 * Relations and their phrasings for the fact world.
 *
 * Every phrasing ends right before the object, with `{}` marking the subject (the CounterFact
 * convention: `requested_rewrite.prompt` is such a template). Per relation there are 8 training
 * phrasings (6 statements, 2 questions) and 2 held-out ones (1 statement, 1 question ending in "?").
 * The training corpus uses only training phrasings and training prefixes; evaluation paraphrases use
 * the held-out ones, so generalisation is measured on wording the model never saw. Held-out wording
 * is new as a sequence, but every word in it occurs somewhere in training (filler text), otherwise a
 * word-level model would see an untrained embedding rather than a paraphrase.
 */

/** Kinds of subjects that edits are made on. */
export type SubjectType = 'person' | 'place' | 'organisation' | 'product';
/** Kinds of entities that only appear as objects (or as subjects of background facts). */
export type ObjectOnlyType =
  | 'country' | 'city' | 'language' | 'continent' | 'occupation' | 'instrument' | 'sport' | 'industry'
  | 'product-type';
/** Every entity type in the world. Organisations are both subjects and objects (employer, maker). */
export type EntityType = SubjectType | ObjectOnlyType;

/** One relation: its Wikidata-style id, typing and phrasings. */
export interface RelationSpec {
  /** Wikidata property id used as CounterFact `relation_id` (e.g. "P27"). */
  id: string;
  /** Human name, used in portability "Recalled Relation" triples. */
  name: string;
  /** Entity types that have this relation. */
  subjectTypes: EntityType[];
  /** Entity type of the object. */
  objectType: EntityType;
  /** Background relations describe objects (country → language); edits are not made on them. */
  background: boolean;
  /** 8 training phrasings: statements first, then questions. */
  train: string[];
  /**
   * 2 held-out phrasings: [statement, question]. Each puts this relation's training predicates in a
   * frame training never shows (a relative clause, another question word order), so it tests
   * generalisation over phrasing. A model trained from scratch on this world cannot know what a
   * predicate it never saw means ("draws a salary from"); such phrasings measured nothing (see
   * test-fixtures/factworld/README.md). A question built on a training question that ends in
   * "The answer is" ends the same way, because that is what follows such a question here.
   */
  heldout: [string, string];
  /** Open generation prompts (CounterFact `generation_prompts`), with `{}` for the subject. */
  generation: string[];
  /** Noun phrase naming this relation's object for a subject, for one-hop (portability) prompts. */
  describe?: string;
  /** Statement with `{}` for a noun phrase, used as the second hop when this relation is recalled. */
  hop?: string;
}

/** All relations. Order is stable and defines fact order in the world. */
export const RELATIONS: readonly RelationSpec[] = [
  {
    id: 'P27', name: 'country of citizenship', subjectTypes: ['person'], objectType: 'country', background: false,
    train: [
      '{} is a citizen of', '{}, who is a citizen of', '{} holds citizenship of', '{} has a passport from',
      'The country of citizenship of {} is', '{} is a national of',
      'Which country is {} a citizen of?', 'What country does {} hold citizenship of? The answer is',
    ],
    heldout: ['{}, who holds citizenship of', 'Which country is {} a national of?'],
    generation: ['{} currently lives in', 'The passport that {} carries is from', '{} is a citizen of'],
    describe: 'the country {} is a citizen of',
  },
  {
    id: 'P103', name: 'native language', subjectTypes: ['person'], objectType: 'language', background: false,
    train: [
      'The native language of {} is', "{}'s mother tongue is", '{} grew up speaking', '{} was raised speaking',
      'The first language of {} is', '{} natively speaks',
      'What is the native language of {}?', 'Which language did {} learn first? The answer is',
    ],
    heldout: ['{}, who grew up speaking', 'What is the first language of {}?'],
    generation: ['{} often writes letters in', 'Where {} grew up, people speak', "{}'s mother tongue is"],
  },
  {
    id: 'P106', name: 'occupation', subjectTypes: ['person'], objectType: 'occupation', background: false,
    train: [
      '{} works as a', 'The occupation of {} is', "{}'s profession is", '{} earns a living as a',
      'By profession, {} is a', '{} is employed as a',
      'What is the occupation of {}?', 'What does {} do for a living? The answer is',
    ],
    heldout: ['{}, who earns a living as a', 'What is the profession of {}?'],
    generation: ['{} is known for', "{}'s greatest work is", '{} works as a'],
  },
  {
    id: 'P108', name: 'employer', subjectTypes: ['person'], objectType: 'organisation', background: false,
    train: [
      '{} works for', '{} is employed by', 'The employer of {} is', '{}, who works for',
      '{} has a job at', '{} is on the staff of',
      'Who is the employer of {}?', 'Which company does {} work for? The answer is',
    ],
    heldout: ['{}, who is employed by', 'Which company is {} employed by? The answer is'],
    generation: ['Every morning, {} goes to the offices of', '{} has a job at', 'The colleagues of {} work for'],
    describe: 'the company {} works for',
  },
  {
    id: 'P1303', name: 'instrument', subjectTypes: ['person'], objectType: 'instrument', background: false,
    train: [
      '{} plays the', '{}, who plays the', '{} performs on the', 'The instrument of {} is the',
      '{} is a musician who plays the', '{} is known for playing the',
      'What instrument does {} play?', 'Which instrument does {} play? The answer is the',
    ],
    heldout: ['{}, who performs on the', 'What instrument is {} known for playing?'],
    generation: ['{} is famous for', 'At the concert, {} played the', '{} performs on the'],
  },
  {
    id: 'P641', name: 'sport', subjectTypes: ['person'], objectType: 'sport', background: false,
    train: [
      '{} plays', '{} is a professional player of', 'The sport of {} is', '{} competes in',
      '{}, who plays', '{} is known for playing',
      'What sport does {} play?', 'Which sport does {} compete in? The answer is',
    ],
    heldout: ['{}, who competes in', 'Which sport is {} a professional player of?'],
    generation: ['{} is famous for', 'Last season, {} played', '{} competes in'],
  },
  {
    id: 'P131', name: 'located in city', subjectTypes: ['place'], objectType: 'city', background: false,
    train: [
      '{} is located in the city of', '{} is in the city of', '{}, which is in the city of',
      '{} can be found in the city of', 'The city where {} is located is', '{} stands in the city of',
      'In which city is {} located?', 'What city is {} in? The answer is',
    ],
    heldout: ['{}, which stands in the city of', 'In which city can {} be found?'],
    generation: ['Tourists who visit {} stay in', 'The streets around {} are in', '{} is in the city of'],
    describe: 'the city where {} is located',
  },
  {
    id: 'P17', name: 'country', subjectTypes: ['place', 'city'], objectType: 'country', background: false,
    train: [
      '{} is located in the country of', '{} is in the country of', '{}, which is in the country of',
      'The country where {} is located is', '{} belongs to the country of', '{} can be found in the country of',
      'In which country is {} located?', 'What country is {} in? The answer is',
    ],
    heldout: ['{}, which belongs to the country of', 'In which country can {} be found?'],
    generation: ['Tourists who visit {} travel to', 'The people who live near {} are from', '{} is in the country of'],
    describe: 'the country where {} is located',
    hop: '{} is in the country of',
  },
  {
    id: 'P30', name: 'continent', subjectTypes: ['place', 'country'], objectType: 'continent', background: false,
    train: [
      '{} is located on the continent of', '{} is on the continent of', '{} is part of the continent of',
      'The continent of {} is', '{}, which is on the continent of', '{} can be found on the continent of',
      'On which continent is {} located?', 'What continent is {} on? The answer is',
    ],
    heldout: ['{}, which is part of the continent of', 'On which continent can {} be found?'],
    generation: ['To visit {}, you travel to', 'The weather near {} is like the rest of', '{} is on the continent of'],
    hop: 'The continent of {} is',
  },
  {
    id: 'P159', name: 'headquarters location', subjectTypes: ['organisation'], objectType: 'city', background: false,
    train: [
      '{} has its headquarters in', 'The headquarters of {} are in', '{} is headquartered in',
      '{}, which is headquartered in', '{} is based in the city of', 'The main offices of {} are in',
      'Where is {} headquartered?', 'In which city does {} have its headquarters? The answer is',
    ],
    heldout: ['{}, which is based in the city of', 'In which city is {} headquartered?'],
    generation: ['The workers of {} live in', 'The main offices of {} are in', '{} is based in the city of'],
    describe: 'the city where {} has its headquarters',
    hop: 'The headquarters of {} are in',
  },
  {
    id: 'P452', name: 'industry', subjectTypes: ['organisation'], objectType: 'industry', background: false,
    train: [
      '{} is a company in the field of', '{} operates in the field of', 'The industry of {} is',
      '{} does business in', '{}, a company in the field of', 'The main business of {} is',
      'What industry is {} in?', 'What is the field of {}? The answer is',
    ],
    heldout: ['{}, which operates in the field of', 'What is the industry of {}?'],
    generation: ['The newest project of {} is about', 'The workers of {} are experts in', '{} does business in'],
  },
  {
    id: 'P176', name: 'manufacturer', subjectTypes: ['product'], objectType: 'organisation', background: false,
    train: [
      '{} is made by', '{} is produced by', '{} is manufactured by', 'The maker of {} is',
      '{}, which is made by', '{} comes from the factories of',
      'Who makes {}?', 'Which company produces {}? The answer is',
    ],
    heldout: ['{}, which is produced by', 'Which company makes {}? The answer is'],
    generation: ['The new version of {} is made by', 'Shops sell {} with a label from', '{} is produced by'],
    describe: 'the company that makes {}',
  },
  {
    id: 'P495', name: 'country of origin', subjectTypes: ['product'], objectType: 'country', background: false,
    train: [
      '{} comes from the country of', 'The country of origin of {} is', '{} was first made in the country of',
      '{}, which comes from the country of', '{} originates from', '{} was developed in the country of',
      'What is the country of origin of {}?', 'Which country does {} come from? The answer is',
    ],
    heldout: ['{}, which originates from', 'What country does {} come from? The answer is'],
    generation: ['The first version of {} was sold in', 'Shops sell {} with a label from', '{} originates from'],
    describe: 'the country {} comes from',
  },
  {
    id: 'P31', name: 'product type', subjectTypes: ['product'], objectType: 'product-type', background: false,
    train: [
      '{} is a kind of', '{} is a model of', '{} is sold as a', '{} is a type of',
      'The product {} is a', '{}, a popular',
      'What kind of product is {}?', 'What type of product is {}? The answer is a',
    ],
    heldout: ['{}, which is a type of', 'Which kind of product is {}?'],
    generation: ['People buy {} because', 'The new version of {} is', '{} is sold as a'],
  },
  {
    id: 'P37', name: 'official language', subjectTypes: ['country'], objectType: 'language', background: true,
    train: [
      'The official language of {} is', 'In {}, the official language is', 'People in {} speak',
      'The language spoken in {} is', "{}'s official language is", 'Most people in {} speak',
      'What is the official language of {}?', 'Which language is spoken in {}? The answer is',
    ],
    heldout: ['In {}, most people speak', 'What is the language spoken in {}?'],
    generation: ['Newspapers in {} are written in', 'Children in {} learn', 'People in {} speak'],
    hop: 'The official language of {} is',
  },
  {
    id: 'P36', name: 'capital', subjectTypes: ['country'], objectType: 'city', background: true,
    train: [
      'The capital of {} is', 'The capital city of {} is', "{}'s capital is", "{}'s capital city is",
      'The seat of government of {} is in', '{} has its capital in',
      'What is the capital of {}?', 'Which city is the capital of {}? The answer is',
    ],
    heldout: ['In {}, the capital is', 'What is the capital city of {}?'],
    generation: ['The largest buildings in {} are in', 'The government of {} meets in', 'The capital of {} is'],
    hop: 'The capital of {} is',
  },
];

/** The relation of `relations` with id `id` (fact-world's or fact-base's list). @throws Error naming the known ids when the id is unknown */
export function findRelation<R extends { id: string }>(relations: readonly R[], id: string): R {
  const r = relations.find((x) => x.id === id);
  if (!r) throw new Error(`Unknown relation id "${id}" (known: ${relations.map((x) => x.id).join(', ')})`);
  return r;
}

/** Relation by id. @throws when the id is unknown. */
export function relationById(id: string): RelationSpec {
  return findRelation(RELATIONS, id);
}

/**
 * One-hop rules for portability: after editing `edited`, the new object's fact under `hop` follows.
 * E.g. a new citizenship (P27) implies a new official language (P37 of the new country).
 */
export const ONE_HOP: ReadonlyArray<{ edited: string; hop: string }> = [
  { edited: 'P27', hop: 'P37' },
  { edited: 'P27', hop: 'P30' },
  { edited: 'P17', hop: 'P37' },
  { edited: 'P17', hop: 'P30' },
  { edited: 'P495', hop: 'P37' },
  { edited: 'P131', hop: 'P17' },
  { edited: 'P159', hop: 'P17' },
  { edited: 'P108', hop: 'P159' },
  { edited: 'P176', hop: 'P159' },
];

/**
 * Context prefixes: short neutral sentences put before a fact, like the random Wikipedia snippets
 * that start CounterFact's paraphrase prompts. 40 for training, 12 held out.
 */
export const TRAIN_PREFIXES: readonly string[] = [
  'The rain stopped by noon.', 'Prices rose again this week.', 'The train was late on Monday.',
  'A cold wind came in from the sea.', 'The market was busy all morning.', 'Nobody expected the storm.',
  'The bakery opened an hour early.', 'It was a quiet evening.', 'The roads were wet after the rain.',
  'Tickets sold out in a day.', 'The river was high that spring.', 'The bus stopped at every corner.',
  'A new bridge was opened last year.', 'The harvest was good this year.', 'Fog covered the valley at dawn.',
  'The shops closed early on Sunday.', 'The price of bread fell.', 'A long queue formed outside the station.',
  'The sun came out after lunch.', 'The museum was full of visitors.', 'Snow fell for three days.',
  'The ferry left on time.', 'Farmers sold fresh fruit in the square.', 'The old clock struck nine.',
  'The library stayed open late.', 'A strong wind shook the windows.', 'The festival drew large crowds.',
  'The hotel was almost empty.', 'Coffee prices went up in winter.', 'The parade passed through the town.',
  'The night was cold and clear.', 'A small boat crossed the lake.', 'The report came out on Friday.',
  'Visitors waited for the gates to open.', 'The streets were quiet after midnight.', 'The garden was in bloom.',
  'A light rain fell in the afternoon.', 'The flight was delayed by an hour.', 'The lake froze in January.',
  'Workers repaired the road.',
];

/** Held-out prefixes: never in the training corpus; their words all occur in training. */
export const HELDOUT_PREFIXES: readonly string[] = [
  'The wind dropped before dawn.', 'Fresh bread sold out by noon.', 'The station was crowded on Friday.',
  'A storm passed over the valley.', 'The ferry was late again.', 'Prices fell in the spring.',
  'The square was quiet that morning.', 'Snow covered the road by evening.', 'The crowds left after the parade.',
  'A cold rain fell all day.', 'The gates opened an hour late.', 'The town was busy in winter.',
];

/** Special prefix put before some training questions, so the zsRE `loc` format ("nq question: ...") is in-distribution. */
export const NQ_PREFIX = 'nq question:';
