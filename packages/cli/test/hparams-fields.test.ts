/**
 * Every method's hyperparameter reader refuses a field it does not read, naming the closest
 * known one (a typo such as `layerz` used to leave `layers` at its default silently), and
 * every hyperparameter file the repository ships still loads with its reader.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { UnknownFieldError } from '@medit/core';
import { readFtHparams } from '@medit/ft';
import { readKnHparams } from '@medit/kn';
import { readMemitHparams } from '@medit/memit';
import { defaultKeHparams, defaultMendHparams, readHparamsFile } from '@medit/mend';
import { readRomeHparams } from '@medit/rome';
import { readCaliNetHparams, readTPatcherHparams } from '@medit/tpatcher';

import { ROOT } from './helpers/run';

const LAYERS = 4;
/** reader, a field it reads, and the typo of it that must be refused */
const READERS: [string, (file: string) => unknown, string, string][] = [
  ['ROME', (f) => readRomeHparams(f, LAYERS), 'layers', 'layerz'],
  ['MEMIT', (f) => readMemitHparams(f, LAYERS), 'layers', 'layerz'],
  ['FT', (f) => readFtHparams(f, LAYERS), 'num_steps', 'num_step'],
  ['KN', (f) => readKnHparams(f, LAYERS), 'adaptive_threshold', 'adaptive_treshold'],
  ['T-Patcher', (f) => readTPatcherHparams(f, LAYERS), 'layer', 'layerz'],
  ['CaliNet', (f) => readCaliNetHparams(f), 'ex_size', 'ex_sise'],
  ['MEND', (f) => readHparamsFile(f, defaultMendHparams()), 'edit_lr', 'edit_Lr_'],
  ['KE', (f) => readHparamsFile(f, defaultKeHparams()), 'margin_kl_max', 'margin_kl_mx'],
];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-hparams-fields-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each(READERS)('%s: a misspelt field is an UnknownFieldError naming the closest known field', (name, read, field, typo) => {
  const f = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(f, `${typo}: 1\n`);
  let err: unknown;
  try {
    read(f);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UnknownFieldError);
  expect((err as UnknownFieldError).message).toContain(`${f}: unknown hyperparameter "${typo}" (did you mean "${field}"?)`);
});

test('every shipped hyperparameter file loads with its reader', () => {
  const files: [string, (file: string) => unknown][] = [
    ['bench/hparams/fact-small-alphaedit.json', (f) => readMemitHparams(f, LAYERS, 'AlphaEdit')],
    ['bench/hparams/fact-small-memit.json', (f) => readMemitHparams(f, LAYERS)],
    ['bench/hparams/fact-small-ft-kl.json', (f) => readFtHparams(f, LAYERS, 'FT+KL')],
    ['bench/hparams/fact-small-ft-l.json', (f) => readFtHparams(f, LAYERS, 'FT-L')],
    ['bench/hparams/fact-small-ft-m.json', (f) => readFtHparams(f, LAYERS, 'FT-M')],
    ['bench/hparams/fact-small-kn.json', (f) => readKnHparams(f, LAYERS)],
    ['bench/hparams/fact-small-tpatcher.json', (f) => readTPatcherHparams(f, LAYERS)],
    ['packages/mend/hparams/fact-small-mend.json', (f) => readHparamsFile(f, defaultMendHparams())],
    ['packages/mend/hparams/fact-small-ke.json', (f) => readHparamsFile(f, defaultKeHparams())],
    ['test-fixtures/cli/hparams-fast.json', (f) => readRomeHparams(f, 2)],
    ['test-fixtures/cli/hparams-fast.yaml', (f) => readRomeHparams(f, 2)],
    ['test-fixtures/parity/rome/hparams.json', (f) => readRomeHparams(f, 2)],
    ['test-fixtures/memit/MEMIT-gpt2-xl.yaml', (f) => readMemitHparams(f, 48)],
    ['test-fixtures/memit/EMMET-gpt2-xl.yaml', (f) => readMemitHparams(f, 48)],
    ['test-fixtures/ft/gpt2-xl.yaml', (f) => readFtHparams(f, 48, 'FT-L')],
  ];
  for (const [rel, read] of files) expect(() => read(path.join(ROOT, rel))).not.toThrow();
});
