/**
 * bench/hparams: every hyperparameter file records what it was tuned on (its `tuned` block:
 * split, cases, grid, metric), files tuned on a validation split name an unchanged validation
 * file, and every file still loads with its method's reader (the block is not a hyperparameter).
 * fact-base's files (`fact-base-*`) may say `untuned` until that model is trained, and how they will be
 * (scripts/factbase/tune.ts); each has a grid in bench/grids whose every point loads on fact-base's 6 layers.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { readFtHparams } from '@medit/ft';
import { readKnHparams } from '@medit/kn';
import { readMemitHparams } from '@medit/memit';
import { readRomeHparams } from '@medit/rome';
import { readTPatcherHparams } from '@medit/tpatcher';

import { ROOT } from './helpers/run';

const DIR = path.join(ROOT, 'bench/hparams');
const GRIDS = path.join(ROOT, 'bench/grids');
const LAYERS = 4; // fact-small
const BASE_LAYERS = 6; // fact-base
const readers: Record<string, (file: string, layers: number) => unknown> = {
  rome: (f, l) => readRomeHparams(f, l),
  'ft-m': (f, l) => readFtHparams(f, l, 'FT-M'),
  'ft-l': (f, l) => readFtHparams(f, l, 'FT-L'),
  'ft-kl': (f, l) => readFtHparams(f, l, 'FT+KL'),
  kn: (f, l) => readKnHparams(f, l),
  memit: (f, l) => readMemitHparams(f, l, 'MEMIT'),
  alphaedit: (f, l) => readMemitHparams(f, l, 'AlphaEdit'),
  tpatcher: (f, l) => readTPatcherHparams(f, l),
};
const factBaseReaders: Record<string, (file: string, layers: number) => unknown> = { ...readers, emmet: (f, l) => readMemitHparams(f, l, 'EMMET') };
const files = fs.readdirSync(DIR).filter((f) => f.startsWith('fact-small-') && f.endsWith('.json'));
const factBaseFiles = fs.readdirSync(DIR).filter((f) => f.startsWith('fact-base-') && f.endsWith('.json'));

test.each(factBaseFiles)('%s records its provenance and loads, and so does every point of its grid', (f) => {
  const file = path.join(DIR, f);
  const { tuned, ...values } = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(tuned).toMatchObject({ split: expect.stringMatching(/^(validation|untuned)$/), model: 'fact-base', metric: expect.any(String) });
  if (tuned.split === 'untuned') expect([tuned.note, tuned.retune]).toEqual([expect.any(String), expect.stringMatching(/^node scripts\/dist\/factbase\/tune\.js --methods /)]);
  const method = f.replace(/^fact-base-|\.json$/g, '');
  const read = factBaseReaders[method];
  expect(() => read(file, BASE_LAYERS)).not.toThrow();
  // the sweep's points: the file's values with each combination of the grid's (notes excepted)
  const grid = Object.entries(JSON.parse(fs.readFileSync(path.join(GRIDS, f), 'utf8')) as Record<string, unknown>).filter(([k]) => !k.startsWith('_'));
  expect(grid.length).toBeGreaterThan(0);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-grid-'));
  try {
    for (const [k, vs] of grid) {
      for (const v of vs as unknown[]) {
        const point = path.join(tmp, 'point.json');
        fs.writeFileSync(point, JSON.stringify({ ...values, [k]: v }));
        expect([f, k, v, (() => { try { read(point, BASE_LAYERS); return 'loads'; } catch (e) { return (e as Error).message; } })()]).toEqual([f, k, v, 'loads']);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('every method of the comparison has a file; on fact-base EMMET has its own', () => {
  expect(files.map((f) => f.replace(/^fact-small-|\.json$/g, '')).sort()).toEqual(Object.keys(readers).sort());
  expect(factBaseFiles.map((f) => f.replace(/^fact-base-|\.json$/g, '')).sort()).toEqual(Object.keys(factBaseReaders).sort());
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
  expect(() => readers[method](file, LAYERS)).not.toThrow();
});
