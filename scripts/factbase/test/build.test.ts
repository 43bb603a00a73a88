/** The fact-base build: byte-identical reruns, the committed fixtures, and its own checks. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_BUILD, SMALL_BUILD, ambiguousPhrasings, buildFactBase, uncoveredWords } from '../build';

const DIR = join(__dirname, '../../../test-fixtures/factbase');
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

test('a small build gives byte-identical files twice', () => {
  const a = buildFactBase(SMALL_BUILD);
  const b = buildFactBase(SMALL_BUILD);
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect([k, sha(v)]).toEqual([k, sha(b.get(k)!)]);
  expect([...a.keys()]).toEqual(expect.arrayContaining(['tokenizer/tokenizer.json', 'tokenizer/merges.txt', 'preview/mquake-eval.json', 'preview/counterfact-validation.json']));
});

test('the committed fixtures are what the build writes (regenerate with the README command if this fails)', () => {
  const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
  const files = buildFactBase(DEFAULT_BUILD);
  for (const [path, hash] of Object.entries(manifest.sha256 as Record<string, string>)) {
    expect([path, sha(readFileSync(join(DIR, path)))]).toEqual([path, hash]);
    expect([path, sha(files.get(path)!)]).toEqual([path, hash]);
  }
  expect(files.get('manifest.json')).toBe(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
});

test('flags phrasings one of which starts another, and words evaluation uses but training lacks', () => {
  expect(ambiguousPhrasings()).toEqual([]);
  expect(uncoveredWords(['The cat sat.', 'A dog'], new Set(['The', 'Ġcat', 'Ġsat', '.']))).toEqual(['A', 'Ġdog']);
});
