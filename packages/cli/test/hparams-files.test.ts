/**
 * bench/hparams: every hyperparameter file records what it was tuned on (its `tuned` block:
 * split, cases, grid, metric), files tuned on a validation split name an unchanged validation
 * file, and every file still loads with its method's reader (the block is not a hyperparameter).
 * fact-base's files (`fact-base-*`) may say `untuned` until that model is trained, and how they will be.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readFtHparams } from '@medit/ft';
import { readKnHparams } from '@medit/kn';
import { readMemitHparams } from '@medit/memit';
import { readRomeHparams } from '@medit/rome';
import { readTPatcherHparams } from '@medit/tpatcher';

import { ROOT } from './helpers/run';

const DIR = path.join(ROOT, 'bench/hparams');
const LAYERS = 4; // fact-small
const readers: Record<string, (file: string) => unknown> = {
  rome: (f) => readRomeHparams(f, LAYERS),
  'ft-m': (f) => readFtHparams(f, LAYERS, 'FT-M'),
  'ft-l': (f) => readFtHparams(f, LAYERS, 'FT-L'),
  'ft-kl': (f) => readFtHparams(f, LAYERS, 'FT+KL'),
  kn: (f) => readKnHparams(f, LAYERS),
  memit: (f) => readMemitHparams(f, LAYERS, 'MEMIT'),
  alphaedit: (f) => readMemitHparams(f, LAYERS, 'AlphaEdit'),
  tpatcher: (f) => readTPatcherHparams(f, LAYERS),
};
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('fact-small-') && f.endsWith('.json'));
const factBaseFiles = fs.readdirSync(DIR).filter((f) => f.startsWith('fact-base-') && f.endsWith('.json'));

test.each(factBaseFiles)('%s records its provenance and loads', (f) => {
  const file = path.join(DIR, f);
  const { tuned } = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(tuned).toMatchObject({ split: expect.stringMatching(/^(validation|untuned)$/), model: 'fact-base', metric: expect.any(String) });
  if (tuned.split === 'untuned') expect([tuned.note, tuned.retune]).toEqual([expect.any(String), expect.stringMatching(/bars\.js --split validation/)]);
  const method = f.replace(/^fact-base-|\.json$/g, '');
  expect(() => readMemitHparams(file, 6, method === 'alphaedit' ? 'AlphaEdit' : method === 'emmet' ? 'EMMET' : 'MEMIT')).not.toThrow();
});

test('every method of the comparison has a file', () => {
  expect(files.map((f) => f.replace(/^fact-small-|\.json$/g, '')).sort()).toEqual(Object.keys(readers).sort());
});

test.each(files)('%s records what it was tuned on and loads', (f) => {
  const file = path.join(DIR, f);
  const { tuned } = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(tuned).toMatchObject({ split: expect.stringMatching(/^(validation|eval|other)$/), model: 'fact-small', metric: expect.any(String), grid: expect.any(Object) });
  if (tuned.split === 'validation') {
    // written by medit tune: the validation file it read, unchanged, and the cases
    expect(tuned.dataset).toMatch(/validation/);
    expect(createHash('sha256').update(fs.readFileSync(path.join(ROOT, tuned.dataset))).digest('hex')).toBe(tuned.sha256);
    expect(tuned.caseIds.length).toBeGreaterThan(0);
    expect(tuned.results.length).toBeGreaterThan(0);
  } else {
    // chosen before the validation split existed: say on what, and how to choose again on validation
    expect(tuned.note).toEqual(expect.any(String));
    expect(tuned.retune).toMatch(/^medit tune .*--dataset test-fixtures\/factworld\/edits\/counterfact-validation\.json/);
    const grid = /--grid (\S+)/.exec(tuned.retune)![1];
    expect(fs.existsSync(path.join(ROOT, grid))).toBe(true);
  }
  const method = f.replace(/^fact-small-|\.json$/g, '');
  expect(() => readers[method](file)).not.toThrow();
});
