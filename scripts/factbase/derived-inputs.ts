/**
 * Inputs the editors and metrics read on fact-base that are derived from the committed fixtures
 * (`test-fixtures/factbase`) rather than committed themselves, each from the train split only:
 *
 * - the covariance text of ROME / MEMIT / EMMET / AlphaEdit (`--stats-corpus`): facts of
 *   train-split subjects and background entities in training phrasings, train-split chains and
 *   the filler — no validation or eval subject, since C = E[kkᵀ] is something the editors
 *   calibrate with;
 * - FT+KL's KL texts (`--memory`): the first 100 lines of fact-base's filler, as fact-small's
 *   default is the first 100 lines of fact-world's (the filler names no subject);
 * - the Reference Score's references (`--snippets`, ROME's `attribute_snippets.json` layout): per
 *   subject relation and object, up to 10 train-split subjects holding it, each with a text
 *   stating all its facts. fact-world's snippets must not be used: fact-base's ids collide with
 *   them (both are "Q" + 100000 + entity id).
 *
 * {@link ensureDerivedInputs} writes whichever of them is missing (atomically), so the bars, the
 * tuning and the comparison share one copy (and one statistics cache) under `reports/fact-base/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { writeFileAtomic } from '@medit/core';

import { Rng } from '../factworld/prng';
import { attributeSnippetEntries, type AttributeSnippets } from '../factworld/attribute-snippets';
import { chainLines, factLines } from './corpus';
import { SUBJECT_RELATIONS, relationById } from './relations';
import { FactIndex, type World } from './world';

/** Where the derived inputs live (paths relative to the repository root). */
export interface DerivedInputs {
  /** JSONL covariance text (`{"text": ...}` per line) */
  statsCorpus: string;
  /** one KL text per line */
  klTexts: string;
  /** ROME's attribute_snippets.json layout */
  snippets: string;
}

/** The shared location: gitignored (`reports/`), rebuilt on demand. */
export const FACTBASE_DERIVED: Readonly<DerivedInputs> = {
  statsCorpus: 'reports/fact-base/stats-corpus.jsonl',
  klTexts: 'reports/fact-base/kl-texts.txt',
  snippets: 'reports/fact-base/attribute_snippets.json',
};

/** FT+KL's KL texts: the first lines of the filler (fact-small's default count). */
export const KL_TEXT_LINES = 100;

/**
 * The covariance text: train-split and background facts in training phrasings, train-split
 * chains, the filler — one `{"text": ...}` line per document (`readCorpus`'s JSONL).
 */
export function statsCorpus(world: World, filler: readonly string[]): string {
  const train = new Set(world.splits.train);
  const rng = new Rng(world.config.seed).fork('stats-corpus');
  const facts = world.facts.filter((f) => f.subject >= world.subjectCount || train.has(f.subject));
  const docs = rng.shuffle([...factLines(world, facts, rng.fork('facts'), 0.3), ...chainLines(world, world.splits.train, rng.fork('chains')), ...filler]);
  return docs.map((text) => JSON.stringify({ text })).join('\n') + '\n';
}

/**
 * ROME's `attribute_snippets.json` for fact-base: for each subject relation and each object a
 * train-split subject holds, up to 10 of those subjects (by id), each with its facts in their
 * first training statement — fact-world's recipe ({@link attributeSnippetEntries}) on train subjects only.
 */
export function attributeSnippets(world: World): AttributeSnippets[] {
  const index = new FactIndex(world);
  const train = new Set(world.splits.train);
  return attributeSnippetEntries(index, {
    relations: [...new Set(Object.values(SUBJECT_RELATIONS).flat())],
    objects: (r) => [...new Set(world.facts.filter((f) => f.relation === r && train.has(f.subject)).map((f) => f.object))].sort((a, b) => a - b),
    holders: (r, o) => index.subjectsWith(r, o).filter((s) => train.has(s)),
    train: (r) => relationById(r).train,
  });
}

/** The fixture's world and filler lines. */
function readFixture(factbaseDir: string): { world: World; filler: string[] } {
  const world = JSON.parse(fs.readFileSync(path.join(factbaseDir, 'world.json'), 'utf8')) as World;
  if (world.format !== 'factbase/1') throw new Error(`${factbaseDir}/world.json: expected format "factbase/1" but found ${JSON.stringify(world.format)}`);
  const filler = fs.readFileSync(path.join(factbaseDir, 'filler.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
  return { world, filler };
}

/**
 * Writes each derived input that does not exist yet.
 * @param root - repository root (relative paths resolve against it)
 * @param factbaseDir - the fixture directory (world.json, filler.txt)
 * @param files - where to write them (default {@link FACTBASE_DERIVED})
 * @returns the inputs written now (empty when all existed)
 */
export function ensureDerivedInputs(root: string, factbaseDir: string, files: Partial<DerivedInputs> = FACTBASE_DERIVED): (keyof DerivedInputs)[] {
  const at = (p: string) => path.resolve(root, p);
  const missing = (Object.entries(files) as [keyof DerivedInputs, string][]).filter(([, f]) => !fs.existsSync(at(f)));
  if (missing.length === 0) return [];
  const { world, filler } = readFixture(at(factbaseDir));
  const make: Record<keyof DerivedInputs, () => string> = {
    statsCorpus: () => statsCorpus(world, filler),
    klTexts: () => filler.slice(0, KL_TEXT_LINES).join('\n') + '\n',
    snippets: () => JSON.stringify(attributeSnippets(world)) + '\n',
  };
  for (const [key, file] of missing) {
    fs.mkdirSync(path.dirname(at(file)), { recursive: true });
    writeFileAtomic(at(file), make[key]());
  }
  return missing.map(([key]) => key);
}
