/**
 * The training data of the image world's learned editors: re-targeted copies of each record and
 * the names they draw from (train-editors.ts).
 */
import type { MmeditCase } from '@medit/data';
import type { TrainingExample } from '@medit/mend';

import { renamePool, withRenamedCopies } from '../train-editors';

/** A record with only the text fields the name pools read. */
const record = (alt: string, pred: string, src = 'What landmark is this?'): MmeditCase<unknown> =>
  ({ src, rephrase: src, pred, alt, loc: 'What is the capital of Temu?', locAns: 'Vaskel', mLocQ: 'What colour is it?', mLocA: 'red' }) as unknown as MmeditCase<unknown>;

test('renamePool: all capitalised words of the train texts, only the names the edits teach, or every word', () => {
  const cases = [record('the red dome of Jises', 'the red dome of Kaijurk'), record('two small red circles', 'two small blue circles'), record('the blue arch of Jises', 'the blue arch of Zepam')];
  expect(renamePool(cases, 'edited')).toEqual(['Jises']);
  const all = renamePool(cases, 'all');
  expect(all).toEqual(expect.arrayContaining(['Jises', 'Kaijurk', 'Zepam', 'Vaskel', 'Temu']));
  const words = renamePool(cases, 'words');
  expect(words).toEqual(expect.arrayContaining([...all, 'red', 'dome', 'circles', 'landmark', 'colour']));
  expect(words).not.toContain('What landmark is this?');
  expect(() => renamePool(cases, 'seen')).toThrow('--renamed-names must be all, edited or words, not seen');
});

test('withRenamedCopies: the records first, then seeded copies with the last word replaced by a pool name', () => {
  const e = (target: string): TrainingExample => ({ prompt: 'here is a photo of', target, rephrases: [], locality: [] });
  const examples = [e('the red dome of Jises'), e('the blue arch of Neka')];
  const out = withRenamedCopies(examples, ['Aa', 'Bb', 'Cc'], 3, 28);
  expect(out).toHaveLength(2 + 2 * 3);
  expect(out.slice(0, 2)).toEqual(examples);
  for (const [k, copy] of out.slice(2).entries()) {
    const words = copy.target.split(' ');
    expect(words.slice(0, -1).join(' ')).toBe(examples[Math.floor(k / 3)].target.split(' ').slice(0, -1).join(' '));
    expect(['Aa', 'Bb', 'Cc']).toContain(words[words.length - 1]);
  }
  expect(withRenamedCopies(examples, ['Aa', 'Bb', 'Cc'], 3, 28)).toEqual(out);
});
