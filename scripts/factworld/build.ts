/**
 * Builds every fact-world artefact in memory (world, corpora, tokenizer, previews, manifest) from a
 * config. Pure and deterministic: the same config gives byte-identical file contents.
 */
import { createHash } from 'node:crypto';
import { Rng } from './prng';
import { RELATIONS, TRAIN_PREFIXES, HELDOUT_PREFIXES, NQ_PREFIX, ONE_HOP, relationById } from './templates';
import { generateWorld, tinyFacts, WorldIndex, type World, type WorldConfig } from './world';
import { checkFactTyping } from './entities';
import { worldCounts } from './world-counts';
import { generateFiller } from './filler';
import { buildCorpus, containsHeldout, heldoutMatchers, heldoutEvalTexts } from './corpus';
import { buildVocabFromPreTokens, preTokenize, tokenizerJson, tokenizerConfig, specialTokensMap } from './tokenizer';
import { buildEditSets, editSetFiles, oneHops } from './datasets';
import { ALL_ANSWERED } from './edit-records';
import { attributeSnippetEntries, type AttributeSnippets } from './attribute-snippets';

/** Version of the file layout written by {@link buildFactWorld}. */
export const FORMAT_VERSION = 1;
/** Context length the tokenizer config advertises (lines are far shorter). */
export const MODEL_MAX_LENGTH = 64;

/** Relative path → file content. */
export type FileSet = Map<string, string>;

/** Serialises a world with one entity and one fact per line (diff-friendly, still plain JSON). */
export function worldToJson(world: World): string {
  const { entities, facts, evalSubjects, validationSubjects, ...head } = world;
  const body = JSON.stringify(head).slice(0, -1);
  return `${body},\n"evalSubjects":${JSON.stringify(evalSubjects)},\n"validationSubjects":${JSON.stringify(validationSubjects)},\n"entities":[\n${entities.map((e) => JSON.stringify(e)).join(',\n')}\n],\n"facts":[\n${facts.map((f) => JSON.stringify(f)).join(',\n')}\n]}\n`;
}

/**
 * Texts that evaluation shows the model but training never does: held-out phrasings (bare and
 * after a held-out prefix), generation prompts, portability prompts and the zsRE loc prefix. Each
 * is rendered with a real subject of the relation, so sentence-initial and inner word forms match.
 */
export function evalTexts(world: World): string[] {
  const index = new WorldIndex(world);
  return heldoutEvalTexts(RELATIONS, world.facts, (id) => index.name(id), (spec, fact) =>
    ONE_HOP.some((r) => r.edited === spec.id) ? index.objectsOf(spec.id).flatMap((o) => oneHops(index, fact.subject, spec.id, o, ALL_ANSWERED).map((h) => h.prompt)) : []);
}

/**
 * ROME's `attribute_snippets.json` for the world: for each subject relation and each of its
 * objects, up to 10 primary subjects that have it ({@link attributeSnippetEntries}).
 */
export function attributeSnippets(world: World): AttributeSnippets[] {
  const index = new WorldIndex(world);
  return attributeSnippetEntries(index, {
    relations: RELATIONS.filter((r) => !r.background).map((r) => r.id),
    objects: (r) => index.objectsOf(r),
    holders: (r, o) => index.subjectsWith(r, o).filter((s) => index.isSubject(s)),
    train: (r) => relationById(r).train,
  });
}

/** Tokens of `texts` that never occur in `trainingTokens`. */
export function uncoveredTokens(texts: Iterable<string>, trainingTokens: ReadonlySet<string>): string[] {
  const missing = new Set<string>();
  for (const t of texts) for (const p of preTokenize(t)) if (!trainingTokens.has(p)) missing.add(p);
  return [...missing].sort();
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Subjects per object of each relation: min / median / max, for the README and tests. */
export function objectSharing(world: World): Record<string, { objects: number; min: number; median: number; max: number }> {
  const out: Record<string, { objects: number; min: number; median: number; max: number }> = {};
  const index = new WorldIndex(world);
  for (const spec of RELATIONS) {
    const counts = index.objectsOf(spec.id).map((o) => index.subjectsWith(spec.id, o).length).sort((a, b) => a - b);
    if (counts.length === 0) continue;
    out[spec.id] = { objects: counts.length, min: counts[0], median: counts[Math.floor(counts.length / 2)], max: counts[counts.length - 1] };
  }
  return out;
}

/**
 * Builds all files for a config.
 * @throws when held-out wording leaks into training text, or evaluation text uses a word that
 *   training never shows (a template/filler bug, reported with the words)
 */
export function buildFactWorld(config: WorldConfig): FileSet {
  const world = generateWorld(config);
  for (const f of world.facts) checkFactTyping(world.entities, f, relationById(f.relation));
  const rng = new Rng(config.seed);
  const cityNames = world.entities.filter((e) => e.type === 'city').map((e) => e.name);
  const matchers = heldoutMatchers();
  const filler = generateFiller(rng.fork('filler'), config.fillerLines, cityNames, (l) => containsHeldout(l, matchers));
  const full = buildCorpus(world, world.facts, filler, rng.fork('corpus-full'));
  const tiny = buildCorpus(world, tinyFacts(world), filler.slice(0, config.tinyFillerLines), rng.fork('corpus-tiny'));

  // Pre-tokenize each corpus once; coverage, vocabulary and token counts all reuse it.
  const pre = { full: full.map(preTokenize), tiny: tiny.map(preTokenize), filler: filler.map(preTokenize) };
  const evalOnly = evalTexts(world);
  for (const name of ['full', 'tiny'] as const) {
    const missing = uncoveredTokens(evalOnly, new Set(pre[name].flat()));
    if (missing.length > 0) throw new Error(`Evaluation text uses words the ${name} training corpus never shows: ${missing.join(' ')}`);
  }

  const names = world.entities.flatMap((e) => [e.name, ` ${e.name}`]);
  const templates = RELATIONS.flatMap((r) => [...r.train, ...r.heldout, ...r.generation].map((t) => t.replace('{}', '')));
  const vocab = buildVocabFromPreTokens(pre.full, [...names, ...templates, ...TRAIN_PREFIXES, ...HELDOUT_PREFIXES, ...evalOnly, NQ_PREFIX]);
  const tokens = { full: 0, tiny: 0, filler: 0 };
  for (const name of ['full', 'tiny', 'filler'] as const) {
    for (const line of pre[name]) {
      const unknown = line.find((t) => !vocab.has(t));
      if (unknown !== undefined) throw new Error(`Pre-token "${unknown}" of the ${name} corpus is not in the vocabulary`);
      tokens[name] += line.length;
    }
  }

  const edits = buildEditSets(world, { answers: ALL_ANSWERED, maxCasesPerSplit: 10 });
  const files: FileSet = new Map();
  const json = (x: unknown) => `${JSON.stringify(x, null, 1)}\n`;
  files.set('world.json', worldToJson(world));
  files.set('templates.json', json({
    relations: RELATIONS, oneHop: ONE_HOP, trainPrefixes: TRAIN_PREFIXES, heldoutPrefixes: HELDOUT_PREFIXES, nqPrefix: NQ_PREFIX,
  }));
  files.set('filler.txt', `${filler.join('\n')}\n`);
  files.set('attribute_snippets.json', `${JSON.stringify(attributeSnippets(world))}\n`);
  files.set('corpus/train-tiny.txt', `${tiny.join('\n')}\n`);
  files.set('corpus/train-full.txt', `${full.join('\n')}\n`);
  files.set('tokenizer/tokenizer.json', `${JSON.stringify(tokenizerJson(vocab))}\n`);
  files.set('tokenizer/vocab.json', json(Object.fromEntries(vocab)));
  files.set('tokenizer/tokenizer_config.json', json(tokenizerConfig(MODEL_MAX_LENGTH)));
  files.set('tokenizer/special_tokens_map.json', json(specialTokensMap()));
  // Same names and layout as build-edits.js writes for a trained model.
  for (const [name, content] of editSetFiles(edits)) files.set(`preview/${name}`, content);

  const tinyCount = tinyFacts(world);
  files.set('curriculum.json', json({
    description: 'Two phases (issue 14): memorise the sub-world first, then all subjects; the first phase mostly buys held-out generalisation.',
    lineFormat: 'one example per line; join lines with <|endoftext|> and pack into rows of model_max_length tokens; shuffle lines each epoch',
    phases: [
      { name: 'sub-world', file: 'corpus/train-tiny.txt', subjects: config.tinySubjects, facts: tinyCount.length, lines: tiny.length, tokens: tokens.tiny, suggestedEpochs: 60 },
      { name: 'all', file: 'corpus/train-full.txt', subjects: world.subjectCount, facts: world.facts.length, lines: full.length, tokens: tokens.full, suggestedEpochs: 20 },
    ],
    factTiny: { file: 'corpus/train-tiny.txt', note: 'fact-tiny trains on the sub-world only' },
  }));

  const hashes: Record<string, string> = {};
  for (const [path, content] of [...files.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) hashes[path] = sha256(content);
  files.set('manifest.json', json({
    format: `factworld/${FORMAT_VERSION}`,
    generator: 'npx tsc -p scripts && node scripts/dist/factworld/generate.js --out test-fixtures/factworld',
    seed: config.seed,
    config,
    counts: {
      subjects: world.subjectCount,
      ...worldCounts(world),
      tinyFacts: tinyCount.length,
      evalSubjects: world.evalSubjects.length,
      validationSubjects: world.validationSubjects.length,
      trainPhrasingsPerRelation: RELATIONS[0].train.length,
      heldoutPhrasingsPerRelation: RELATIONS[0].heldout.length,
      trainPrefixes: TRAIN_PREFIXES.length,
      heldoutPrefixes: HELDOUT_PREFIXES.length,
      fillerLines: filler.length,
      corpusLines: { tiny: tiny.length, full: full.length },
      corpusTokens: tokens,
      vocabSize: vocab.size,
    },
    objectSharing: objectSharing(world),
    sha256: hashes,
  }));
  return files;
}
