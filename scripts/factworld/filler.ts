/**
 * Ordinary text for the fact world: sentences about weather, markets, travel, towns and daily life
 * that state no fact of the encyclopedia. It is mixed into the training corpus (so the model also
 * models plain text) and is the text that covariance statistics (ROME/MEMIT's second moment of MLP
 * keys) are computed over, as Wikipedia text is for real models.
 *
 * The words it uses are chosen so that every word of the held-out phrasings, held-out prefixes,
 * generation prompts and portability prompts occurs in training text at least once.
 */
import { Rng } from './prng';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const SEASONS = ['spring', 'summer', 'autumn', 'winter'];
const GOODS = ['bread', 'coffee', 'fruit', 'fish', 'cloth', 'timber', 'salt', 'wool', 'tea', 'rice', 'cheese', 'honey', 'paper', 'oil', 'grain'];
const TRENDS = ['rose', 'fell', 'stayed flat', 'doubled', 'went up', 'went down', 'climbed slowly', 'dropped sharply'];
const PEOPLE = ['tourists', 'farmers', 'students', 'workers', 'children', 'travellers', 'visitors', 'fishermen', 'shopkeepers', 'teachers', 'neighbours', 'families', 'drivers', 'sailors'];
const VEHICLES = ['train', 'bus', 'ferry', 'flight', 'tram', 'night train', 'boat'];
const SPOTS = ['market', 'square', 'station', 'harbour', 'museum', 'library', 'park', 'bridge', 'hotel', 'bakery', 'school', 'hospital', 'theatre', 'garden', 'stadium'];
const WEATHER_NOUNS = ['rain', 'snow', 'fog', 'wind', 'sunshine', 'hail', 'frost', 'heat'];
const WEATHER_ADJ = ['cold', 'warm', 'wet', 'dry', 'windy', 'grey', 'bright', 'mild', 'stormy', 'clear'];
const TIMES = ['morning', 'afternoon', 'evening', 'night'];
const FEELINGS = ['happy', 'tired', 'surprised', 'calm', 'busy', 'patient'];
const ITEMS = ['letters', 'books', 'maps', 'tickets', 'postcards', 'recipes', 'songs', 'stories'];
const NUMBERS = ['two', 'three', 'four', 'five', 'six', 'ten', 'twelve', 'twenty'];

/**
 * Sentence patterns. Slots: {day} {month} {season} {goods} {trend} {people} {vehicle} {spot}
 * {spot2} {wn} {wa} {time} {feeling} {items} {num} {city} {city2}.
 */
const PATTERNS: readonly string[] = [
  'It was {wa} in {city} on {day}.',
  'The {wn} lasted until the {time}.',
  'On {day} the {wn} kept most {people} at home.',
  'A {wa} {time} followed a {wa} {day}.',
  'In {month} the weather in {city} was {wa}.',
  'The price of {goods} {trend} in {month}.',
  'At the {spot} in {city}, the price of {goods} {trend}.',
  'Traders said the price of {goods} {trend} this {season}.',
  'Shops in {city} sell {goods} and {goods2} every {day}.',
  'The {vehicle} to {city} was late because of the {wn}.',
  'The {vehicle} from {city} to {city2} left in the {time}.',
  'Many {people} travel to {city} in {season}.',
  'Tourists who visit {city} often stay near the {spot}.',
  '{Num} {people} waited at the {spot} for the {vehicle}.',
  'The {spot} near the {spot2} was closed for repairs.',
  'The streets around the {spot} were full of {people}.',
  'The {people} felt {feeling} after the long {season}.',
  'Every {time}, the {people} meet at the {spot}.',
  'The newest {spot} in {city} is about {num} streets from the river.',
  'A child sold {goods} near the {spot} for a little money.',
  'The {people} wrote {items} to friends who live far away.',
  'She often writes {items} in the {time}.',
  'He spoke to the {people} at the {spot} about the {wn}.',
  'The workers built a new {spot} in {num} months.',
  'The shops put a new label on the {goods}.',
  'People buy {goods} at the {spot} because it is cheap.',
  'Newspapers in {city} wrote about the {wn}.',
  'The largest buildings in the town are near the {spot}.',
  'The town council meets on {day} to discuss the {spot}.',
  'Children learn songs at the {spot} in {season}.',
  'The last season was {wa} and long.',
  'The concert at the {spot} was played to a full house.',
  'The colleagues went to the {spot} together after work.',
  'The experts said the {wn} would pass by {day}.',
  'A new version of the old map was printed in {month}.',
  'The rest of the week was {wa}.',
  'If you travel in {season}, bring a warm coat.',
  'Which {spot} is the best for a quiet {time}?',
  'What sort of {goods} does the {spot} sell?',
  'The {spot} is home to {num} old trees.',
  'The {people} who live near the {spot} like the {wn}.',
  'The {spot} lies within a short walk of the {spot2}.',
  'The {people} were famous for their {goods}.',
  'A passport was issued to every traveller at the border.',
  'The bank issued new notes in {month}.',
  'Many {people} draw a small salary from the town.',
  'The factory employs {num} hundred workers.',
  'Each {spot} belongs to the town.',
  'The {people} earn money by selling {goods}.',
  'The band was performing in the {spot} on {day}.',
  'The teams were competing in the {spot} all {time}.',
  'The {spot} was designed and built in {season}.',
  'The old {spot} is best described as small but warm.',
  'The government sits in a large building near the {spot}.',
  'The mother of a friend runs a shop that sells {goods}.',
  'Grandmother currently lives in a house near the {spot}.',
  'Every morning, the baker goes to the {spot}.',
  'The driver carries {items} in a heavy bag.',
  'The {wn} that {wa} {time} surprised the {people}.',
  'In {season}, the {spot} stays open until {num}.',
  'Travellers from {city} filled the hotels in {month}.',
  'The {vehicle} was full of {people} on {day}.',
  'The greatest {wn} in years came in {month}.',
  'The work on the {spot} took {num} weeks.',
  'Fresh {goods} arrived at the {spot} on {day}.',
  'Last {season} the {spot} was full of {people}.',
  'Of all the {people} in the town, few own a car.',
  'To reach the {spot}, take the {vehicle}.',
  'The {people} left before dawn.',
  'The old boats belong to the {people}.',
  'The {spot} was crowded on {day}.',
  'The {spot} draws {people} from far away.',
  'Birds flew over the {spot} in the {time}.',
  'The {spot} project took {num} months.',
  'The {people} came with {items} and {goods}.',
  'The {items} were written by hand.',
];

function fill(pattern: string, rng: Rng, cities: readonly string[]): string {
  const num = rng.pick(NUMBERS);
  const goods = rng.pick(GOODS);
  const spot = rng.pick(SPOTS);
  const city = rng.pick(cities);
  const values: Record<string, string> = {
    day: rng.pick(DAYS), month: rng.pick(MONTHS), season: rng.pick(SEASONS), goods,
    goods2: rng.pick(GOODS.filter((g) => g !== goods)), trend: rng.pick(TRENDS), people: rng.pick(PEOPLE),
    vehicle: rng.pick(VEHICLES), spot, spot2: rng.pick(SPOTS.filter((s) => s !== spot)), wn: rng.pick(WEATHER_NOUNS),
    wa: rng.pick(WEATHER_ADJ), time: rng.pick(TIMES), feeling: rng.pick(FEELINGS), items: rng.pick(ITEMS), num,
    Num: num[0].toUpperCase() + num.slice(1), city, city2: rng.pick(cities.filter((c) => c !== city)),
  };
  return pattern.replace(/\{(\w+)\}/g, (_m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`filler pattern "${pattern}" uses unknown slot {${k}}`);
    return v;
  });
}

/**
 * Generates `count` distinct filler lines of one or two sentences.
 *
 * @param rng random source (consumed)
 * @param count number of lines
 * @param cities city names that may appear in the text (at least two)
 * @param reject lines for which this returns true are discarded (used to keep held-out wording out)
 * @throws when `count` distinct lines cannot be produced
 */
export function generateFiller(rng: Rng, count: number, cities: readonly string[], reject: (line: string) => boolean): string[] {
  if (cities.length < 2) throw new Error(`Expected at least 2 cities for filler but received ${cities.length}`);
  const seen = new Set<string>();
  const out: string[] = [];
  const push = (line: string) => {
    if (out.length >= count || seen.has(line) || reject(line)) return;
    seen.add(line);
    out.push(line);
  };
  // First every pattern once at the start of a line and once after another sentence, so even a
  // short prefix of the filler shows each word both sentence-initially and after a space ("Ġ").
  for (const p of PATTERNS) push(fill(p, rng, cities));
  for (const p of PATTERNS) push(`${fill(rng.pick(PATTERNS), rng, cities)} ${fill(p, rng, cities)}`);
  // Then cycle through the patterns with random slot values.
  let attempts = 0;
  while (out.length < count) {
    if (++attempts > count * 50) throw new Error(`Could only produce ${out.length} distinct filler lines of ${count}`);
    const first = fill(PATTERNS[attempts % PATTERNS.length], rng, cities);
    push(rng.chance(0.5) ? `${first} ${fill(rng.pick(PATTERNS), rng, cities)}` : first);
  }
  return out;
}

/** Number of sentence patterns (the filler starts with two lines per pattern). */
export const FILLER_PATTERN_COUNT = PATTERNS.length;

/** Every word the filler grammar can produce (for reserving them from invented names). @internal */
export function fillerWords(): string[] {
  return [...PATTERNS, ...DAYS, ...MONTHS, ...SEASONS, ...GOODS, ...TRENDS, ...PEOPLE, ...VEHICLES, ...SPOTS, ...WEATHER_NOUNS, ...WEATHER_ADJ, ...TIMES, ...FEELINGS, ...ITEMS, ...NUMBERS];
}
