/** One reader of hyperparameter files for every method: JSON or EasyEdit-style YAML, errors naming the file. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IOError, readHparamsMapping } from '../src';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-hparams-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

test('reads YAML (core schema: no implicit dates) and JSON into the same mapping', () => {
  const y = readHparamsMapping(file('rome.yaml', 'alg_name: ROME\nlayers: [5]\nv_lr: 5e-1\nclamp_norm_factor: 4\ndate: 2024-01-02\n'));
  expect(y).toEqual({ alg_name: 'ROME', layers: [5], v_lr: 0.5, clamp_norm_factor: 4, date: '2024-01-02' });
  expect(readHparamsMapping(file('rome.json', JSON.stringify({ layers: [5], v_lr: 0.5 })))).toEqual({ layers: [5], v_lr: 0.5 });
});

test('a missing, malformed or non-mapping file is an IOError naming it', () => {
  expect(() => readHparamsMapping(path.join(dir, 'absent.yaml'))).toThrow(IOError);
  expect(() => readHparamsMapping(file('bad.json', '{"layers": [5'))).toThrow(/bad\.json: cannot read hyperparameters/);
  expect(() => readHparamsMapping(file('bad.yaml', 'layers: [5\n'))).toThrow(/bad\.yaml: cannot read hyperparameters/);
  expect(() => readHparamsMapping(file('list.yaml', '- 1\n- 2\n'))).toThrow(/list\.yaml: expected a mapping of hyperparameters/);
  expect(() => readHparamsMapping(file('scalar.json', '3'))).toThrow(/expected a mapping/);
});
