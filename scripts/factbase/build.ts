/**
 * Builds every fact-base artefact in memory: world, relations, filler, a corpus sample, the BPE
 * tokenizer trained on epoch 0's text, edit-set previews and a manifest. Pure and deterministic.
 *
 * Checks that fail the build with the offending text: held-out wording in training text (in
 * `epochDocuments`), evaluation wording whose words training never shows, and training phrasings
 * of two relations of one subject where one is the start of the other (the prompt would be
 * ambiguous).
 */
import { createHash } from 'node:crypto';
import { Rng } from '../factworld/prng';
import { HELDOUT_PREFIXES, NQ_PREFIX, TRAIN_PREFIXES } from '../factworld/templates';
import { containsHeldout, heldoutEvalTexts } from '../factworld/corpus';
import { generateFiller } from '../factworld/filler';
import { preTokenize } from '../factworld/tokenizer';
import { BpeEncoder, EOS_TOKEN, bpeTokenizerConfig, bpeTokenizerJson, mergesTxt, trainBpe } from './bpe';
import { DEFAULT_CORPUS, IKE_DEMO, IKE_HEAD, epochDocuments, factbaseHeldoutMatchers, type CorpusConfig } from './corpus';
import { chainQuestion, chainStatement, chainsFrom } from './chains';
import { EDIT_SET_FILES, SPLITS, buildEditSets } from './edit-sets';
import { HOPS, HOP_STATEMENTS, RELATIONS, SUBJECT_RELATIONS } from './relations';
import { worldCounts } from '../factworld/world-counts';
import { ALL_ANSWERED, DEFAULT_CONFIG, FactIndex, SMALL_CONFIG, generateWorld, type World, type WorldConfig } from './world';

/** Version of the file layout. */
export const FORMAT_VERSION = 1;

/** Everything a build depends on. */
export interface BuildConfig {
  world: WorldConfig;
  corpus: CorpusConfig;
  /** Filler lines generated (epochs take rotating windows of them). */
  fillerLines: number;
  /** BPE vocabulary size. */
  vocabSize: number;
  /** Context length the tokenizer config advertises (the models' n_positions). */
  maxLength: number;
  /** Documents of epoch 0 kept in corpus/sample.jsonl. */
  sampleDocs: number;
}

/** The fact-base build. */
export const DEFAULT_BUILD: Readonly<BuildConfig> = { world: DEFAULT_CONFIG, corpus: DEFAULT_CORPUS, fillerLines: 20000, vocabSize: 13500, maxLength: 384, sampleDocs: 2000 };

/** A small build for fast tests (same code paths). */
export const SMALL_BUILD: Readonly<BuildConfig> = { world: SMALL_CONFIG, corpus: { ...DEFAULT_CORPUS, passages: 1000 }, fillerLines: 600, vocabSize: 1500, maxLength: 384, sampleDocs: 100 };

/** Relative path → file content. */
export type FileSet = Map<string, string>;

/** World JSON with one entity / fact per line. */
export function worldToJson(world: World): string {
  const { entities, facts, splits, ...head } = world;
  return `${JSON.stringify(head).slice(0, -1)},\n"splits":${JSON.stringify(splits)},\n"entities":[\n${entities.map((e) => JSON.stringify(e)).join(',\n')}\n],\n"facts":[\n${facts.map((f) => JSON.stringify(f)).join(',\n')}\n]}\n`;
}

/** The filler of a world (deterministic in the seed). */
export function buildFiller(world: World, lines: number): string[] {
  const cities = world.entities.filter((e) => e.type === 'city').map((e) => e.name);
  const matchers = factbaseHeldoutMatchers();
  return generateFiller(new Rng(world.config.seed).fork('filler'), lines, cities, (l) => containsHeldout(l, matchers));
}

/**
 * Wordings evaluation shows the model and training never does, rendered with a real subject:
 * held-out phrasings (bare and after a held-out prefix), generation prompts, held-out prefixes,
 * the zsRE loc prefix, and chain questions of validation/eval subjects.
 */
export function evalTexts(world: World): string[] {
  const index = new FactIndex(world);
  const out = heldoutEvalTexts(RELATIONS, world.facts, (id) => index.name(id));
  for (const s of world.splits.eval.slice(0, 50)) {
    for (const chain of chainsFrom(index, s, ALL_ANSWERED)) {
      out.push(chainQuestion(index.name(s), chain.relations, 0, 0), chainQuestion(index.name(s), chain.relations, 1, 1), chainStatement(index.name(s), chain.relations, 0));
    }
  }
  return out;
}

/** Words (pre-tokens) of `texts` that `training` never shows. */
export function uncoveredWords(texts: Iterable<string>, training: ReadonlySet<string>): string[] {
  const missing = new Set<string>();
  for (const t of texts) for (const w of preTokenize(t)) if (!training.has(w)) missing.add(w);
  return [...missing].sort();
}

/**
 * Pairs of training phrasings of two relations one subject type has, where one phrasing is the
 * other's start ("{} was born in" / "{} was born in the city of"): such a prompt has two answers.
 * P1303 / P641 never meet on one person.
 */
export function ambiguousPhrasings(): string[] {
  const out: string[] = [];
  for (const [type, relations] of Object.entries(SUBJECT_RELATIONS)) {
    for (const a of relations) {
      for (const b of relations) {
        if (a === b || (a === 'P1303' && b === 'P641') || (a === 'P641' && b === 'P1303')) continue;
        const ra = RELATIONS.find((r) => r.id === a)!;
        const rb = RELATIONS.find((r) => r.id === b)!;
        for (const ta of ra.train) for (const tb of rb.train) if (tb.startsWith(ta)) out.push(`${type}: "${ta}" (${a}) starts "${tb}" (${b})`);
      }
    }
  }
  return out;
}

/** Subjects (in `ids`) whose first or last token is also another subject's first or last token. */
export function sharedNameTokens(world: World, encode: (text: string) => number[], ids: readonly number[] = Array.from({ length: world.subjectCount }, (_, i) => i)): { shared: number; subjects: number } {
  const all = Array.from({ length: world.subjectCount }, (_, i) => encode(` ${world.entities[i].name}`));
  const firsts = new Map<number, number>();
  const lasts = new Map<number, number>();
  for (const t of all) {
    firsts.set(t[0], (firsts.get(t[0]) ?? 0) + 1);
    lasts.set(t[t.length - 1], (lasts.get(t[t.length - 1]) ?? 0) + 1);
  }
  const shared = ids.filter((i) => firsts.get(all[i][0])! > 1 || lasts.get(all[i][all[i].length - 1])! > 1).length;
  return { shared, subjects: ids.length };
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Builds all files of a fact-base directory.
 * @throws when evaluation text uses a word training never shows, or two phrasings are ambiguous
 */
export function buildFactBase(config: BuildConfig = DEFAULT_BUILD): FileSet {
  const ambiguous = ambiguousPhrasings();
  if (ambiguous.length > 0) throw new Error(`Ambiguous training phrasings:\n${ambiguous.join('\n')}`);
  const world = generateWorld(config.world);
  const filler = buildFiller(world, config.fillerLines);
  const docs = epochDocuments(world, filler, config.corpus, 0);
  const missing = uncoveredWords(evalTexts(world), new Set(docs.flatMap(preTokenize)));
  if (missing.length > 0) throw new Error(`Evaluation text uses words training text never shows: ${missing.join(' ')}`);

  const bpe = trainBpe(docs, { vocabSize: config.vocabSize });
  const encoder = new BpeEncoder(bpe);
  const tokens = (list: readonly string[]) => list.reduce((n, d) => n + encoder.encode(d).length, 0);
  const fillerSet = new Set(filler);
  const kinds = { passages: docs.filter((d) => d.startsWith('New Fact:')), filler: docs.filter((d) => fillerSet.has(d)) };
  const totalTokens = tokens(docs);
  const passageTokens = kinds.passages.map((p) => encoder.encode(p).length).sort((a, b) => a - b);
  const sampleRng = new Rng(world.config.seed).fork('sample');
  const sample = sampleRng.sample(docs, Math.min(config.sampleDocs, docs.length));
  const edits = buildEditSets(world, { answers: ALL_ANSWERED, maxCasesPerSplit: 10 });

  const files: FileSet = new Map();
  const json = (x: unknown) => `${JSON.stringify(x, null, 1)}\n`;
  files.set('world.json', worldToJson(world));
  files.set('relations.json', json({
    relations: RELATIONS, hops: HOPS, hopStatements: HOP_STATEMENTS, subjectRelations: SUBJECT_RELATIONS,
    trainPrefixes: TRAIN_PREFIXES, heldoutPrefixes: HELDOUT_PREFIXES, nqPrefix: NQ_PREFIX, ikeDemo: IKE_DEMO, ikeHead: IKE_HEAD,
  }));
  files.set('filler.txt', `${filler.join('\n')}\n`);
  files.set('corpus/sample.jsonl', `${sample.map((d) => JSON.stringify(d)).join('\n')}\n`);
  files.set('tokenizer/tokenizer.json', `${JSON.stringify(bpeTokenizerJson(bpe))}\n`);
  files.set('tokenizer/tokenizer_config.json', json(bpeTokenizerConfig(config.maxLength)));
  files.set('tokenizer/special_tokens_map.json', json({ bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, unk_token: EOS_TOKEN }));
  files.set('tokenizer/vocab.json', `${JSON.stringify(Object.fromEntries(bpe.vocab))}\n`);
  files.set('tokenizer/merges.txt', mergesTxt(bpe));
  for (const [key, stem] of EDIT_SET_FILES) for (const split of SPLITS) files.set(`preview/${stem}-${split}.json`, `${JSON.stringify(edits[key][split], null, 4)}\n`);

  // Mid-sentence (" Name") and sentence-initial ("Name", prompts like "{} works for") forms.
  const sharing = {
    midSentence: Object.fromEntries(SPLITS.map((s) => [s, sharedNameTokens(world, (t) => encoder.encode(t), world.splits[s])])),
    sentenceStart: Object.fromEntries(SPLITS.map((s) => [s, sharedNameTokens(world, (t) => encoder.encode(t.trimStart()), world.splits[s])])),
  };
  const hashes: Record<string, string> = {};
  for (const [path, content] of [...files.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) hashes[path] = sha256(content);
  files.set('manifest.json', json({
    format: `factbase/${FORMAT_VERSION}`,
    generator: 'npx tsc -p scripts && node scripts/dist/factbase/generate.js --out test-fixtures/factbase',
    config,
    counts: {
      subjects: world.subjectCount,
      splits: Object.fromEntries(SPLITS.map((s) => [s, world.splits[s].length])),
      ...worldCounts(world),
      vocabSize: bpe.vocab.size,
      merges: bpe.merges.length,
      epoch0: {
        documents: docs.length,
        tokens: totalTokens,
        passages: kinds.passages.length,
        passageTokens: { total: passageTokens.reduce((a, b) => a + b, 0), median: passageTokens[passageTokens.length >> 1] ?? 0, max: passageTokens[passageTokens.length - 1] ?? 0 },
        fillerDocuments: kinds.filler.length,
        fillerTokens: tokens(kinds.filler),
        sha256: sha256(docs.map((d) => JSON.stringify(d)).join('\n')),
      },
    },
    nameTokenSharing: sharing,
    sha256: hashes,
  }));
  return files;
}
