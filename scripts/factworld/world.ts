/**
 * The fact world: invented subjects (people, places, organisations, products), the objects they
 * relate to, and the facts. Generated deterministically from a seed (see {@link generateWorld}).
 *
 * Entity ids: primary subjects are 0..S-1 in subject order (so "the first 100 subjects" are ids
 * 0..99, the `fact-tiny` sub-world); object-only entities (countries, cities, languages, ...) follow.
 * Background facts describe objects (country → official language, continent, capital; city →
 * country) so one-hop (portability) questions have answers in the world.
 */
import { Rng } from './prng';
import { WordMaker } from './names';
import { RELATIONS, TRAIN_PREFIXES, HELDOUT_PREFIXES, type EntityType, type SubjectType } from './templates';
import { fillerWords, FILLER_PATTERN_COUNT } from './filler';
import { FactLookup, type Fact } from './fact-lookup';
import { FactSheet, stratified } from './fact-sheet';
import { appendEntities, checkUniqueNames, mixedSubjects, type TypedEntity } from './entities';

export type { Fact, SplitName } from './fact-lookup';

/** Sizes and seed of a world. */
export interface WorldConfig {
  seed: number;
  persons: number;
  places: number;
  organisations: number;
  products: number;
  countries: number;
  cities: number;
  languages: number;
  continents: number;
  /** Organisations that employ people (objects of P108). */
  employers: number;
  /** Organisations that make products (objects of P176). */
  manufacturers: number;
  firstNames: number;
  surnames: number;
  /** Subjects in the `fact-tiny` sub-world (the first ones in subject order). */
  tinySubjects: number;
  /** Fraction of subjects whose edits go to the eval split (reported once per method). */
  evalFraction: number;
  /** Fraction of subjects whose edits go to the validation split (tuning and calibration); the rest are train. */
  validationFraction: number;
  /** Filler lines generated. */
  fillerLines: number;
  /** Filler lines mixed into the tiny-phase corpus. */
  tinyFillerLines: number;
  /** Probability that a training line starts with a context prefix. */
  prefixRate: number;
}

/** The default world: 1,000 subjects (issue 14). */
export const DEFAULT_CONFIG: Readonly<WorldConfig> = {
  seed: 14, persons: 500, places: 200, organisations: 160, products: 140,
  countries: 20, cities: 36, languages: 12, continents: 6, employers: 40, manufacturers: 20,
  firstNames: 110, surnames: 150, tinySubjects: 100, evalFraction: 0.2, validationFraction: 0.1,
  fillerLines: 4000, tinyFillerLines: 1000, prefixRate: 0.3,
};

/** A small world for fast tests (same code paths). */
export const SMALL_CONFIG: Readonly<WorldConfig> = {
  seed: 7, persons: 60, places: 24, organisations: 20, products: 16,
  countries: 6, cities: 10, languages: 4, continents: 3, employers: 6, manufacturers: 4,
  firstNames: 20, surnames: 26, tinySubjects: 30, evalFraction: 0.2, validationFraction: 0.1,
  fillerLines: 400, tinyFillerLines: 200, prefixRate: 0.3,
};

/** One named thing. */
export type Entity = TypedEntity<EntityType>;

/** A generated world. Plain data (JSON-serialisable); use {@link WorldIndex} for look-ups. */
export interface World {
  format: 'factworld/1';
  config: WorldConfig;
  /** All entities, indexed by id (entities[i].id === i). */
  entities: Entity[];
  /** Number of primary subjects (ids 0..subjectCount-1). */
  subjectCount: number;
  /** Facts about primary subjects, then background facts about objects. */
  facts: Fact[];
  /** Subject ids of the eval split (sorted). */
  evalSubjects: number[];
  /** Subject ids of the validation split (sorted); every subject in neither list is train. */
  validationSubjects: number[];
}

const OCCUPATIONS = ['painter', 'poet', 'physician', 'chemist', 'film director', 'civil engineer', 'novelist', 'journalist', 'lawyer', 'botanist', 'sculptor', 'diplomat', 'photographer', 'banker', 'translator', 'surgeon'];
const INSTRUMENTS = ['violin', 'cello', 'piano', 'harp', 'flute', 'trumpet', 'bass guitar', 'pipe organ', 'clarinet', 'drum kit', 'saxophone', 'trombone'];
const SPORTS = ['football', 'table tennis', 'ice hockey', 'basketball', 'rowing', 'fencing', 'cricket', 'volleyball', 'water polo', 'archery', 'cycling', 'golf'];
const INDUSTRIES = ['shipping', 'banking', 'software', 'textiles', 'mining', 'publishing', 'aviation', 'insurance', 'steel', 'food processing', 'tourism', 'chemicals'];
const PRODUCT_TYPES = ['tablet', 'camera', 'sewing machine', 'typewriter', 'motorcycle', 'wristwatch', 'telescope', 'radio', 'coffee grinder', 'bicycle', 'laptop', 'tractor'];
const PLACE_PATTERNS = ['{} Bridge', 'Lake {}', '{} Tower', 'Mount {}', '{} Abbey', '{} Gardens', '{} Castle', '{} Falls', '{} Cathedral', '{} Market Hall', '{} Lighthouse', '{} Palace'];
const ORG_SUFFIXES = ['Industries', 'Works', 'Group', 'Holdings', 'Company', 'Systems', 'Trading', 'Brothers', 'Partners', 'Labs', 'Foundry', 'Mills', 'Motors', 'Press', 'Bank'];
const PRODUCT_SERIES = ['Nova', 'Aero', 'Vista', 'Prime', 'Lux', 'Mini', 'Max', 'Pro', 'Zen', 'Solo', 'Duo', 'Terra', 'Orbit', 'Pulse', 'Echo', 'Arc', 'Flex', 'One'];
const LANGUAGE_SUFFIXES = ['ic', 'ish', 'ese', 'an', 'i'];

function checkConfig(c: WorldConfig): void {
  const positive: (keyof WorldConfig)[] = ['persons', 'places', 'organisations', 'products', 'countries', 'cities', 'languages', 'continents', 'employers', 'manufacturers', 'firstNames', 'surnames', 'tinySubjects'];
  for (const k of positive) {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) <= 0) throw new RangeError(`Expected a positive integer for config.${k} but received ${v}`);
  }
  if (c.cities < c.countries) throw new RangeError(`Expected config.cities >= config.countries (one capital each) but received ${c.cities} < ${c.countries}`);
  if (c.employers > c.organisations || c.manufacturers > c.organisations) throw new RangeError('Expected config.employers and config.manufacturers <= config.organisations');
  if (!(c.evalFraction > 0 && c.evalFraction < 1)) throw new RangeError(`Expected config.evalFraction in (0, 1) but received ${c.evalFraction}`);
  if (!(c.validationFraction > 0 && c.evalFraction + c.validationFraction < 1)) {
    throw new RangeError(`Expected config.validationFraction in (0, 1 − evalFraction) but received ${c.validationFraction}`);
  }
  if (c.firstNames * c.surnames < c.persons * 2) throw new RangeError('Expected config.firstNames * config.surnames >= 2 * config.persons (unique person names)');
  if (!(c.tinyFillerLines >= 2 * FILLER_PATTERN_COUNT && c.fillerLines >= c.tinyFillerLines)) {
    throw new RangeError(`Expected ${2 * FILLER_PATTERN_COUNT} <= config.tinyFillerLines <= config.fillerLines (the filler's first lines cover every pattern) but received ${c.tinyFillerLines} and ${c.fillerLines}`);
  }
  const subjects = c.persons + c.places + c.organisations + c.products;
  if (c.tinySubjects > subjects) throw new RangeError(`Expected config.tinySubjects <= ${subjects} subjects but received ${c.tinySubjects}`);
}

/** Lower-case words that invented names must not collide with. @internal */
export function reservedWords(): Set<string> {
  const out = new Set<string>();
  const add = (s: string) => { for (const w of s.toLowerCase().match(/[a-z]+/g) ?? []) out.add(w); };
  for (const r of RELATIONS) [...r.train, ...r.heldout, ...r.generation, r.describe ?? '', r.hop ?? ''].forEach(add);
  [...TRAIN_PREFIXES, ...HELDOUT_PREFIXES, ...fillerWords(), ...OCCUPATIONS, ...INSTRUMENTS, ...SPORTS, ...INDUSTRIES, ...PRODUCT_TYPES, ...PLACE_PATTERNS, ...ORG_SUFFIXES, ...PRODUCT_SERIES].forEach(add);
  return out;
}

function uniqueNames(rng: Rng, n: number, make: () => string, what: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let attempt = 0; out.length < n; attempt++) {
    if (attempt > n * 200) throw new Error(`Could not make ${n} unique ${what} names (got ${out.length}); enlarge the word pools in the config`);
    const name = make();
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
  return out;
}

/**
 * Generates a world. Pure: the same config gives the same world.
 * @throws RangeError when the config is inconsistent (names which field)
 * @example
 * const world = generateWorld(DEFAULT_CONFIG);
 * world.entities[0].name; // e.g. "Kesmira Dunholt"
 */
export function generateWorld(config: WorldConfig = DEFAULT_CONFIG): World {
  checkConfig(config);
  const rng = new Rng(config.seed);
  const words = new WordMaker(rng.fork('words'), reservedWords());
  const nameRng = rng.fork('names');

  // Object-only vocabularies. Multi-token names use a first word unique within their type, so the
  // first token of an object identifies it among objects of the same type.
  const countryNames = words.words(config.countries);
  ['New', 'Upper', 'East'].forEach((p, i) => { if (i < countryNames.length - 1) countryNames[i + 1] = `${p} ${countryNames[i + 1]}`; });
  const cityNames = words.words(config.cities);
  ['Port', 'Fort', 'Saint', 'Old'].forEach((p, i) => { if (2 * i + 1 < cityNames.length) cityNames[2 * i + 1] = `${p} ${cityNames[2 * i + 1]}`; });
  const languageNames = Array.from({ length: config.languages }, () => words.suffixed(LANGUAGE_SUFFIXES));
  ['High', 'Low'].forEach((p, i) => { if (3 * i + 2 < languageNames.length) languageNames[3 * i + 2] = `${p} ${languageNames[3 * i + 2]}`; });
  const continentNames = words.words(config.continents);
  if (continentNames.length > 1) continentNames[1] = `Great ${continentNames[1]}`;

  // Shared name parts: first names and surnames recur across people (subject tokens are not ids).
  const firstNames = words.words(config.firstNames);
  const surnames = words.words(config.surnames);
  const placeWords = words.words(Math.ceil(config.places / 3));
  const orgWords = words.words(config.organisations);
  const brandWords = words.words(Math.max(4, Math.ceil(config.products / 4)));

  const persons = uniqueNames(nameRng, config.persons, () => {
    const first = nameRng.pick(firstNames);
    const last = nameRng.pick(surnames);
    return nameRng.chance(0.12) ? `${first} ${last} ${nameRng.pick(surnames.filter((s) => s !== last))}` : `${first} ${last}`;
  }, 'person');
  const places = uniqueNames(nameRng, config.places, () => {
    const w = nameRng.chance(0.3) ? nameRng.pick(surnames) : nameRng.pick(placeWords);
    return nameRng.pick(PLACE_PATTERNS).replace('{}', w);
  }, 'place');
  const orgs = orgWords.map((w) => (nameRng.chance(0.15) ? `${w} and ${nameRng.pick(surnames)}` : `${w} ${nameRng.pick(ORG_SUFFIXES)}`));
  const products = uniqueNames(nameRng, config.products, () => {
    const base = `${nameRng.pick(brandWords)} ${nameRng.pick(PRODUCT_SERIES)}`;
    return nameRng.chance(0.4) ? `${base} ${2 + nameRng.int(8)}` : base;
  }, 'product');

  // Subject order mixes the types, so the first `tinySubjects` form a sub-world with every relation.
  const entities: Entity[] = mixedSubjects<EntityType>(rng.fork('order'), [['person', persons], ['place', places], ['organisation', orgs], ['product', products]]);
  const subjectCount = entities.length;
  const addObjects = (names: readonly string[], type: EntityType) => appendEntities(entities, names, type);
  const countries = addObjects(countryNames, 'country');
  const cities = addObjects(cityNames, 'city');
  const languages = addObjects(languageNames, 'language');
  const continents = addObjects(continentNames, 'continent');
  const occupations = addObjects(OCCUPATIONS, 'occupation');
  const instruments = addObjects(INSTRUMENTS, 'instrument');
  const sports = addObjects(SPORTS, 'sport');
  const industries = addObjects(INDUSTRIES, 'industry');
  const productTypes = addObjects(PRODUCT_TYPES, 'product-type');
  checkUniqueNames(entities);

  const ofType = (t: SubjectType) => entities.slice(0, subjectCount).filter((e) => e.type === t).map((e) => e.id);
  const personIds = ofType('person');
  const placeIds = ofType('place');
  const orgIds = ofType('organisation');
  const productIds = ofType('product');
  const fr = rng.fork('facts');
  const employers = fr.sample(orgIds, config.employers);
  const manufacturers = fr.sample(orgIds, config.manufacturers);

  // Background: countries → language, continent, capital; cities → country.
  const language = new Map<number, number>();
  const continent = new Map<number, number>();
  const capital = new Map<number, number>();
  const cityCountry = new Map<number, number>();
  stratified(fr, countries.length, languages.length, 1).forEach((l, i) => language.set(countries[i], languages[l]));
  stratified(fr, countries.length, continents.length, 2).forEach((c, i) => continent.set(countries[i], continents[c]));
  const shuffledCities = fr.shuffle(cities);
  countries.forEach((c, i) => { capital.set(c, shuffledCities[i]); cityCountry.set(shuffledCities[i], c); });
  const others = shuffledCities.slice(countries.length);
  stratified(fr, others.length, countries.length, 0).forEach((c, i) => cityCountry.set(others[i], countries[c]));

  const sheet = new FactSheet(fr);

  sheet.assign(personIds, 'P27', countries, 5);
  // Native language follows the citizenship's official language for 60% of people (as in real
  // data it correlates), and is independent for the rest, so it cannot be inferred from P27.
  const independent = personIds.filter(() => !fr.chance(0.6));
  for (const p of personIds) sheet.set(p, 'P103', language.get(sheet.get(p, 'P27'))!);
  sheet.assign(independent, 'P103', languages, 1);
  sheet.assign(personIds, 'P106', occupations, 5);
  sheet.assign(personIds, 'P108', employers, 4);
  const musicians = personIds.filter(() => fr.chance(0.5));
  const musicianSet = new Set(musicians);
  sheet.assign(musicians, 'P1303', instruments, 4);
  sheet.assign(personIds.filter((p) => !musicianSet.has(p)), 'P641', sports, 4);
  sheet.assign(placeIds, 'P131', cities, 3);
  for (const p of placeIds) {
    const country = cityCountry.get(sheet.get(p, 'P131'))!;
    sheet.set(p, 'P17', country);
    sheet.set(p, 'P30', continent.get(country)!);
  }
  sheet.assign(orgIds, 'P159', cities, 2);
  sheet.assign(orgIds, 'P452', industries, 4);
  sheet.assign(productIds, 'P176', manufacturers, 3);
  for (const p of productIds) sheet.set(p, 'P495', cityCountry.get(sheet.get(sheet.get(p, 'P176'), 'P159'))!);
  sheet.assign(productIds, 'P31', productTypes, 4);
  for (const c of countries) { sheet.set(c, 'P37', language.get(c)!); sheet.set(c, 'P30', continent.get(c)!); sheet.set(c, 'P36', capital.get(c)!); }
  for (const c of cities) sheet.set(c, 'P17', cityCountry.get(c)!);

  const flat = sheet.facts(entities, RELATIONS);
  const ids = Array.from({ length: subjectCount }, (_, i) => i);
  const families = nameFamilies(entities.slice(0, subjectCount).map((e) => e.name));
  const evalSubjects = closeOver(rng.fork('split').shuffle(ids).slice(0, Math.round(subjectCount * config.evalFraction)), families);
  const evalSet = new Set(evalSubjects);
  // A fork reads the parent's state without advancing it: the eval split and everything above are
  // the same as before the validation split existed.
  const rest = rng.fork('validation').shuffle(ids.filter((s) => !evalSet.has(s)));
  const validationSubjects = closeOver(rest.slice(0, Math.round(subjectCount * config.validationFraction)), families);
  return { format: 'factworld/1', config: { ...config }, entities, subjectCount, facts: flat, evalSubjects, validationSubjects };
}

/** `phrase` occurs in `text` as whole words (what a name search finds: "Lamke Arc" in "Lamke Arc 6"). */
export function containsName(text: string, phrase: string): boolean {
  for (let at = text.indexOf(phrase); at >= 0; at = text.indexOf(phrase, at + 1)) {
    const before = at > 0 ? text[at - 1] : ' ';
    const after = text[at + phrase.length] ?? ' ';
    if (!/\w/.test(before) && !/\w/.test(after)) return true;
  }
  return false;
}

/**
 * Subjects whose names contain each other ("Lamke Arc" and "Lamke Arc 6"), as connected groups of
 * subject ids. A split takes a group whole: text naming one member names the other too.
 * @internal
 */
export function nameFamilies(names: readonly string[]): Map<number, number[]> {
  const parent = names.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i])));
  // Only names that share a word can contain one another.
  const byWord = new Map<string, number[]>();
  names.forEach((n, i) => { for (const w of new Set(n.split(' '))) (byWord.get(w) ?? byWord.set(w, []).get(w)!).push(i); });
  names.forEach((a, i) => {
    for (const j of byWord.get(a.split(' ')[0]) ?? []) if (j !== i && containsName(names[j], a)) parent[root(i)] = root(j);
  });
  const groups = new Map<number, number[]>();
  names.forEach((_, i) => (groups.get(root(i)) ?? groups.set(root(i), []).get(root(i))!).push(i));
  return new Map(names.map((_, i) => [i, groups.get(root(i))!]));
}

/** `chosen` with every member of their name families added, sorted. */
function closeOver(chosen: readonly number[], families: ReadonlyMap<number, readonly number[]>): number[] {
  return [...new Set(chosen.flatMap((s) => families.get(s) ?? [s]))].sort((a, b) => a - b);
}

/** Look-ups over a fact world, its splits read from `evalSubjects` and `validationSubjects`. */
export class WorldIndex extends FactLookup<Entity> {
  constructor(world: World) {
    super(world, { validation: world.validationSubjects, eval: world.evalSubjects });
  }
}

/** Facts of the `fact-tiny` sub-world: the first `tinySubjects` subjects plus all background facts. */
export function tinyFacts(world: World): Fact[] {
  return world.facts.filter((f) => f.subject < world.config.tinySubjects || f.subject >= world.subjectCount);
}
