/** One reader of hyperparameter files for every method: JSON or EasyEdit-style YAML, errors naming the file. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IOError, UnknownFieldError, checkHparamsFields, readHparamsMapping } from '../src';

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

describe('fields a method does not read', () => {
  const fields = { known: ['layers', 'v_lr', 'clamp_norm_factor'] };

  test('a typo is an UnknownFieldError naming the file, the field and the closest known field', () => {
    const f = file('typo.yaml', 'layerz: [5]\nv_lr: 0.5\n');
    let err: UnknownFieldError | undefined;
    try {
      readHparamsMapping(f, fields);
    } catch (e) {
      err = e as UnknownFieldError;
    }
    expect(err).toBeInstanceOf(UnknownFieldError);
    expect(err!.message).toBe(`${f}: unknown hyperparameter "layerz" (did you mean "layers"?); the fields this method reads are clamp_norm_factor, layers, v_lr`);
    expect([err!.field, err!.suggestion, err!.code]).toEqual(['layerz', 'layers', 'MEDIT_E_FIELD']);
  });

  test('a field far from every known one gets no suggestion', () => {
    expect(() => readHparamsMapping(file('far.json', JSON.stringify({ completely_different: 1 })), fields)).toThrow(/unknown hyperparameter "completely_different"; the fields/);
  });

  test("EasyEdit's infrastructure fields, ignored fields and _comments are accepted", () => {
    const f = file('ee.yaml', 'alg_name: ROME\nmodel_name: ./gpt2-xl\ndevice: 0\nrewrite_module_tmp: "transformer.h.{}.mlp.c_proj"\n_comment: why\nlr_scale: 1\nlayers: [5]\n');
    expect(readHparamsMapping(f, { ...fields, ignored: ['lr_scale'] })).toMatchObject({ layers: [5], lr_scale: 1 });
    expect(() => readHparamsMapping(f, fields)).toThrow(/unknown hyperparameter "lr_scale"/);
    expect(() => checkHparamsFields({ LAYERS: 1 }, fields, 'x')).toThrow(/did you mean "layers"\?/);
  });
});
