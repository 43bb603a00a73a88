/**
 * Fact-base training text: epochs are pure and differ from each other, held-out wording never
 * occurs, chains and in-context passages name train-split subjects only, passages have IKE's
 * shape and fit a training row, and epoch 0 is the text the manifest describes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tokenizer } from '@medit/core';

import { containsHeldout } from '../../factworld/corpus';
import { Rng } from '../../factworld/prng';
import { buildFiller, DEFAULT_BUILD } from '../build';
import { DEFAULT_CORPUS, IKE_HEAD, chainLines, epochDocuments, factbaseHeldoutMatchers, ikePassages } from '../corpus';
import { ROW } from '../train';
import { FactIndex, generateWorld } from '../world';

const DIR = join(__dirname, '../../../test-fixtures/factbase');

describe('fact-base training text (default world)', () => {
  const world = generateWorld(DEFAULT_BUILD.world);
  const index = new FactIndex(world);
  const filler = readFileSync(join(DIR, 'filler.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
  const epoch0 = epochDocuments(world, filler, DEFAULT_CORPUS, 0);

  it('is the filler and epoch 0 the manifest describes, and each epoch is a pure function of its number', () => {
    expect(buildFiller(world, DEFAULT_BUILD.fillerLines)).toEqual(filler);
    const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
    expect(createHash('sha256').update(epoch0.map((d) => JSON.stringify(d)).join('\n')).digest('hex')).toBe(manifest.counts.epoch0.sha256);
    const epoch1 = epochDocuments(world, filler, DEFAULT_CORPUS, 1);
    expect(epochDocuments(world, filler, DEFAULT_CORPUS, 1)).toEqual(epoch1);
    expect(epoch1.length).toBe(epoch0.length);
    expect(epoch1.filter((d, i) => d !== epoch0[i]).length).toBeGreaterThan(epoch0.length / 4);
    // Every fact in each of its 8 training phrasings.
    expect(epoch0.filter((d) => !d.startsWith('New Fact:')).length).toBeGreaterThan(world.facts.length * 8);
  });

  it('never contains held-out phrasings or prefixes', () => {
    const matchers = factbaseHeldoutMatchers();
    for (const d of epoch0) if (containsHeldout(d, matchers)) throw new Error(`held-out wording in training text: ${d}`);
  });

  it('states chains and in-context edits about train-split subjects only', () => {
    const owner = new Map<string, number>();
    for (const e of world.entities.slice(0, world.subjectCount)) owner.set(e.name.split(' ')[0], e.id);
    const rng = new Rng(3);
    const texts = [...chainLines(world, world.splits.train, rng), ...ikePassages(world, world.splits.train, 2000, 8, rng)];
    const splits = new Set(texts.flatMap((t) => t.match(/[A-Za-z]+/g) ?? []).filter((w) => owner.has(w)).map((w) => index.split(owner.get(w)!)));
    expect([...splits]).toEqual(['train']);
    // Chain lines of the other splits never occur in an epoch: none names a validation/eval subject as "the ... X ..." chain.
    const other = new Set(chainLines(world, [...world.splits.validation, ...world.splits.eval], new Rng(4)).map((l) => l.replace(/\.$/, '').split(' ').slice(0, -1).join(' ')));
    expect(epoch0.filter((d) => other.has(d.replace(/\.$/, '').split(' ').slice(0, -1).join(' ')))).toEqual([]);
  });

  it('writes passages in IKE\'s format: demonstrations, the fact\'s own copy demonstration, then its query, within one row', () => {
    const tok = Tokenizer.fromFile(join(DIR, 'tokenizer/tokenizer.json'));
    const passages = epoch0.filter((d) => d.startsWith('New Fact:'));
    expect(passages).toHaveLength(DEFAULT_CORPUS.passages);
    const demos = new Map<number, number>();
    for (const p of passages) {
      const blocks = p.split('\n\n');
      const own = blocks[blocks.length - 2];
      const query = blocks[blocks.length - 1];
      const fact = own.slice('New Fact: '.length, own.indexOf('\nPrompt:'));
      expect(query.startsWith(IKE_HEAD.replace('{fact}', fact))).toBe(true);
      // The own demonstration copies the fact: "Prompt: <fact prompt> <new object>" repeats the fact.
      expect(own.endsWith(`\nPrompt: ${fact}`)).toBe(true);
      demos.set(blocks.length - 2, (demos.get(blocks.length - 2) ?? 0) + 1);
    }
    expect([...demos.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: DEFAULT_CORPUS.maxDemos + 1 }, (_, i) => i));
    const longest = Math.max(...passages.slice(0, 2000).map((p) => tok.encode(p, { addSpecialTokens: false }).length));
    expect(longest).toBeLessThan(ROW);
  });
});
