/**
 * The fact-base world (issue 26): 3,200 invented subjects (people, places, organisations,
 * products) with 21 relations, object-only entities with background facts that make chains
 * (city → country → capital / language / currency / continent; company → headquarters city;
 * university → city), and a train / validation / eval split of the subjects fixed at generation.
 *
 * Two rules keep edit sets clean and editors' keys apart:
 * - primary subjects are never objects (employers and makers are object-only companies), so a
 *   record about one subject never names a subject of another split;
 * - every word of a subject's name is unique in the world (no shared first names or brands), so
 *   the first and the last token of a subject identify it once the tokenizer learns its words.
 *
 * Entity ids: subjects 0..S-1 (types mixed), then the object-only entities. Pure: one config gives
 * one world.
 */
import { Rng } from '../factworld/prng';
import { WordMaker } from '../factworld/names';
import { reservedWords as factworldReserved } from '../factworld/world';
import { FactLookup, type Fact, type SplitName } from '../factworld/fact-lookup';
import { FactSheet } from '../factworld/fact-sheet';
import { appendEntities, checkFactTyping, checkUniqueNames, mixedSubjects, type TypedEntity } from '../factworld/entities';
import { nameWords } from './names';
import { RELATIONS, SUBJECT_RELATIONS, relationById, type EntityType, type SubjectType } from './relations';

/** Sizes, seed and split of a world. */
export interface WorldConfig {
  seed: number;
  persons: number;
  places: number;
  organisations: number;
  products: number;
  countries: number;
  cities: number;
  languages: number;
  currencies: number;
  continents: number;
  companies: number;
  universities: number;
  /** Head and tail syllables subject-name words are made of (see names.ts). */
  nameHeads: number;
  nameTails: number;
  /** Subjects in the eval split (edits reported on) and the validation split (settings tuned on); the rest are train. */
  evalSubjects: number;
  validationSubjects: number;
}

/** The fact-base world: 3,200 subjects, 1,200 of them eval (≥ 1,000 edits on distinct subjects). */
export const DEFAULT_CONFIG: Readonly<WorldConfig> = {
  seed: 26, persons: 1600, places: 600, organisations: 500, products: 500,
  countries: 40, cities: 160, languages: 24, currencies: 30, continents: 6, companies: 120, universities: 48,
  nameHeads: 110, nameTails: 110, evalSubjects: 1200, validationSubjects: 400,
};

/** A small world for fast tests (same code paths). */
export const SMALL_CONFIG: Readonly<WorldConfig> = {
  seed: 5, persons: 80, places: 30, organisations: 25, products: 25,
  countries: 8, cities: 24, languages: 5, currencies: 6, continents: 3, companies: 12, universities: 6,
  nameHeads: 24, nameTails: 24, evalSubjects: 40, validationSubjects: 20,
};

/** One named thing. */
export type Entity = TypedEntity<EntityType>;

export type { Fact, SplitName } from '../factworld/fact-lookup';
export { ALL_ANSWERED, type AnswerPredicate } from '../factworld/edit-records';

/** A generated world (plain JSON data; {@link FactIndex} for look-ups). */
export interface World {
  format: 'factbase/1';
  config: WorldConfig;
  /** entities[i].id === i */
  entities: Entity[];
  /** Primary subjects are ids 0..subjectCount-1. */
  subjectCount: number;
  /** Subject facts in subject order, then background facts. */
  facts: Fact[];
  /** Subject ids of each split, ascending; together every subject exactly once. */
  splits: Record<SplitName, number[]>;
}

const OCCUPATIONS = ['painter', 'poet', 'physician', 'chemist', 'film director', 'civil engineer', 'novelist', 'journalist', 'lawyer', 'botanist', 'sculptor', 'diplomat', 'photographer', 'banker', 'translator', 'surgeon', 'architect', 'economist', 'pilot', 'historian'];
const INSTRUMENTS = ['violin', 'cello', 'piano', 'harp', 'flute', 'trumpet', 'bass guitar', 'pipe organ', 'clarinet', 'drum kit', 'saxophone', 'trombone'];
const SPORTS = ['football', 'table tennis', 'ice hockey', 'basketball', 'rowing', 'fencing', 'cricket', 'volleyball', 'water polo', 'archery', 'cycling', 'golf'];
const INDUSTRIES = ['shipping', 'banking', 'software', 'textiles', 'mining', 'publishing', 'aviation', 'insurance', 'steel', 'food processing', 'tourism', 'chemicals', 'railways', 'furniture', 'energy', 'retail'];
const PRODUCT_TYPES = ['tablet', 'camera', 'sewing machine', 'typewriter', 'motorcycle', 'wristwatch', 'telescope', 'radio', 'coffee grinder', 'bicycle', 'laptop', 'tractor', 'refrigerator', 'guitar amplifier', 'lawn mower', 'printer'];
const STYLES = ['Gothic', 'Baroque', 'Art Deco', 'Brutalist', 'Romanesque', 'Neoclassical', 'Modernist', 'Renaissance', 'Tudor', 'Byzantine', 'Victorian', 'Palladian'];
const COMPANY_SUFFIXES = ['Industries', 'Works', 'Group', 'Holdings', 'Company', 'Systems', 'Trading', 'Brothers', 'Partners', 'Labs', 'Foundry', 'Mills', 'Motors', 'Press', 'Bank'];
const UNIVERSITY_KINDS = ['University', 'College', 'Institute', 'Academy'];
const LANGUAGE_SUFFIXES = ['ic', 'ish', 'ese', 'an', 'i'];
/** Shared middle words of some names: never a subject's first or last word. */
const PERSON_MIDDLES = ['van', 'de', 'al', 'del', 'von', 'ter', 'da', 'el'];
const PRODUCT_MIDDLES = ['Nova', 'Aero', 'Vista', 'Prime', 'Lux', 'Mini', 'Max', 'Pro', 'Zen', 'Solo', 'Duo', 'Flex'];

function checkConfig(c: WorldConfig): void {
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`Expected a positive integer for config.${k} but received ${v}`);
  }
  const subjects = c.persons + c.places + c.organisations + c.products;
  if (c.evalSubjects + c.validationSubjects >= subjects) throw new RangeError(`Expected config.evalSubjects + config.validationSubjects < ${subjects} subjects (train needs some) but received ${c.evalSubjects} + ${c.validationSubjects}`);
  if (c.cities < 2 * c.countries) throw new RangeError(`Expected config.cities >= 2 * config.countries (a capital and another city each) but received ${c.cities} < ${2 * c.countries}`);
  if (c.currencies > c.countries || c.languages > c.countries) throw new RangeError('Expected config.currencies and config.languages <= config.countries (each is some country\'s)');
}

/** Lower-case words that invented names must not collide with: fact-world's, plus fact-base's templates and objects. @internal */
export function reservedWords(): Set<string> {
  const out = factworldReserved();
  const add = (s: string) => { for (const w of s.toLowerCase().match(/[a-z]+/g) ?? []) out.add(w); };
  for (const r of RELATIONS) [...r.train, ...r.heldout, ...r.generation, ...(r.describe ?? [])].forEach(add);
  [...OCCUPATIONS, ...INSTRUMENTS, ...SPORTS, ...INDUSTRIES, ...PRODUCT_TYPES, ...STYLES, ...COMPANY_SUFFIXES, ...UNIVERSITY_KINDS, ...PERSON_MIDDLES, ...PRODUCT_MIDDLES].forEach(add);
  return out;
}

/**
 * Generates a world. Pure: the same config gives the same world.
 * @throws RangeError when the config is inconsistent (names the field)
 * @example
 * const world = generateWorld(DEFAULT_CONFIG);
 * world.splits.eval.length; // 1200
 */
export function generateWorld(config: WorldConfig = DEFAULT_CONFIG): World {
  checkConfig(config);
  const rng = new Rng(config.seed);
  const words = new WordMaker(rng.fork('words'), reservedWords());
  const shape = rng.fork('names');

  // Object names: single invented words (a few with a prefix, once per prefix), so the first token
  // of an object tells it apart from the others of its type.
  const prefixOnce = (names: string[], prefixes: string[], every: number) =>
    prefixes.forEach((p, i) => { const k = every * i + 1; if (k < names.length) names[k] = `${p} ${names[k]}`; });
  const countryNames = words.words(config.countries);
  prefixOnce(countryNames, ['New', 'Upper', 'East'], 7);
  const cityNames = words.words(config.cities);
  prefixOnce(cityNames, ['Port', 'Fort', 'Saint', 'Old'], 9);
  const languageNames = Array.from({ length: config.languages }, () => words.suffixed(LANGUAGE_SUFFIXES));
  prefixOnce(languageNames, ['High', 'Low'], 5);
  const currencyNames = words.words(config.currencies);
  const continentNames = words.words(config.continents);
  if (continentNames.length > 1) continentNames[1] = `Great ${continentNames[1]}`;
  const companyNames = words.words(config.companies).map((w) => `${w} ${shape.pick(COMPANY_SUFFIXES)}`);
  const universityNames = words.words(config.universities).map((w) => `${w} ${shape.pick(UNIVERSITY_KINDS)}`);

  // Subject names: two words of their own (first and last unique in the world); some people and
  // products have a shared middle word as well, and some organisations an "and".
  const subjects = config.persons + config.places + config.organisations + config.products;
  const taken = reservedWords();
  for (const n of [...countryNames, ...cityNames, ...languageNames, ...currencyNames, ...continentNames, ...companyNames, ...universityNames]) for (const w of n.toLowerCase().split(' ')) taken.add(w);
  const pool = nameWords(rng.fork('subject-words'), 2 * subjects, config.nameHeads, config.nameTails, taken);
  const two = () => [pool.pop()!, pool.pop()!];
  const persons = Array.from({ length: config.persons }, () => { const [a, b] = two(); return shape.chance(0.15) ? `${a} ${shape.pick(PERSON_MIDDLES)} ${b}` : `${a} ${b}`; });
  const places = Array.from({ length: config.places }, () => two().join(' '));
  const organisations = Array.from({ length: config.organisations }, () => { const [a, b] = two(); return shape.chance(0.15) ? `${a} and ${b}` : `${a} ${b}`; });
  const products = Array.from({ length: config.products }, () => { const [a, b] = two(); return shape.chance(0.3) ? `${a} ${shape.pick(PRODUCT_MIDDLES)} ${b}` : `${a} ${b}`; });

  const entities: Entity[] = mixedSubjects<EntityType>(rng.fork('order'), [['person', persons], ['place', places], ['organisation', organisations], ['product', products]]);
  const subjectCount = entities.length;
  const add = (names: readonly string[], type: EntityType) => appendEntities(entities, names, type);
  const countries = add(countryNames, 'country');
  const cities = add(cityNames, 'city');
  const languages = add(languageNames, 'language');
  const currencies = add(currencyNames, 'currency');
  const continents = add(continentNames, 'continent');
  const companies = add(companyNames, 'company');
  const universities = add(universityNames, 'university');
  const occupations = add(OCCUPATIONS, 'occupation');
  const instruments = add(INSTRUMENTS, 'instrument');
  const sports = add(SPORTS, 'sport');
  const industries = add(INDUSTRIES, 'industry');
  const productTypes = add(PRODUCT_TYPES, 'product-type');
  const styles = add(STYLES, 'style');
  checkUniqueNames(entities);

  const fr = rng.fork('facts');
  const sheet = new FactSheet(fr);

  // Background: countries → capital, language, currency, continent; cities → country; companies
  // → headquarters, industry; universities → city.
  const shuffledCities = fr.shuffle(cities);
  countries.forEach((c, i) => { sheet.set(c, 'P36', shuffledCities[i]); sheet.set(shuffledCities[i], 'P17', c); });
  sheet.assign(shuffledCities.slice(countries.length), 'P17', countries, 1);
  sheet.assign(countries, 'P37', languages, 1);
  sheet.assign(countries, 'P38', currencies, 1);
  sheet.assign(countries, 'P30', continents, 2);
  sheet.assign(companies, 'P159', cities, 0);
  sheet.assign(companies, 'P452', industries, 2);
  sheet.assign(universities, 'P131', cities, 0);

  const ofType = (t: SubjectType) => entities.slice(0, subjectCount).filter((e) => e.type === t).map((e) => e.id);
  const personIds = ofType('person');
  sheet.assign(personIds, 'P19', cities, 3);
  sheet.assign(personIds, 'P27', countries, 5);
  // Native language follows the citizenship's official language for 60 % of people, as it
  // correlates in real data, and is independent for the rest, so it is not implied by P27.
  for (const p of personIds) sheet.set(p, 'P103', sheet.get(sheet.get(p, 'P27'), 'P37'));
  sheet.assign(personIds.filter(() => !fr.chance(0.6)), 'P103', languages, 1);
  sheet.assign(personIds, 'P106', occupations, 5);
  sheet.assign(personIds, 'P108', companies, 3);
  sheet.assign(personIds, 'P69', universities, 5);
  const musicians = new Set(personIds.filter(() => fr.chance(0.5)));
  sheet.assign([...musicians], 'P1303', instruments, 5);
  sheet.assign(personIds.filter((p) => !musicians.has(p)), 'P641', sports, 5);
  const placeIds = ofType('place');
  sheet.assign(placeIds, 'P131', cities, 2);
  for (const p of placeIds) { sheet.set(p, 'P17', sheet.get(sheet.get(p, 'P131'), 'P17')); sheet.set(p, 'P30', sheet.get(sheet.get(p, 'P17'), 'P30')); }
  sheet.assign(placeIds, 'P149', styles, 5);
  const orgIds = ofType('organisation');
  sheet.assign(orgIds, 'P159', cities, 2);
  for (const o of orgIds) sheet.set(o, 'P17', sheet.get(sheet.get(o, 'P159'), 'P17'));
  sheet.assign(orgIds, 'P452', industries, 5);
  sheet.assign(orgIds, 'P749', companies, 2);
  const productIds = ofType('product');
  sheet.assign(productIds, 'P176', companies, 2);
  for (const p of productIds) sheet.set(p, 'P495', sheet.get(sheet.get(sheet.get(p, 'P176'), 'P159'), 'P17'));
  sheet.assign(productIds, 'P31', productTypes, 5);

  const flat = sheet.facts(entities, RELATIONS);
  for (const f of flat) checkTyping(entities, f);
  const order = rng.fork('split').shuffle(Array.from({ length: subjectCount }, (_, i) => i));
  const asc = (ids: number[]) => ids.sort((a, b) => a - b);
  const splits: Record<SplitName, number[]> = {
    eval: asc(order.slice(0, config.evalSubjects)),
    validation: asc(order.slice(config.evalSubjects, config.evalSubjects + config.validationSubjects)),
    train: asc(order.slice(config.evalSubjects + config.validationSubjects)),
  };
  return { format: 'factbase/1', config: { ...config }, entities, subjectCount, facts: flat, splits };
}

function checkTyping(entities: readonly Entity[], f: Fact): void {
  const spec = relationById(f.relation);
  checkFactTyping(entities, f, spec);
  const s = entities[f.subject];
  const o = entities[f.object];
  const expected = (SUBJECT_RELATIONS as Record<string, readonly string[]>)[s.type];
  if (expected && !expected.includes(f.relation)) throw new Error(`Fact (${s.name}, ${spec.id}, ${o.name}): a ${s.type} has no ${spec.id}`);
}

/** Look-ups over a fact-base world, its splits read from `splits`. */
export class FactIndex extends FactLookup<Entity> {
  constructor(world: World) {
    super(world, world.splits);
  }

  /** Split of a primary subject. @throws RangeError for an object-only entity */
  override split(subject: number): SplitName {
    const s = super.split(subject);
    if (!s) throw new RangeError(`Entity ${subject} (${this.name(subject)}) is not a primary subject and has no split`);
    return s;
  }
}
