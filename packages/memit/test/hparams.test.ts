/** Hyperparameters: EasyEdit YAML / AlphaEdit JSON files, presets, defaults and clear errors. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  ALPHAEDIT_PRESETS,
  AlphaEditEditor,
  EMMET_PRESETS,
  EmmetEditor,
  MEMIT_PRESETS,
  MemitEditor,
  createMassEditor,
  defaultMemitHparams,
  readMemitHparams,
  resolveMemitHparams,
} from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures/memit');
const stub = (numLayers: number) => ({ config: { numLayers } }) as never;

test('EasyEdit YAML and AlphaEdit JSON files load into the published settings', () => {
  const memit = readMemitHparams(path.join(FIX, 'MEMIT-gpt2-xl.yaml'), 48);
  expect(memit).toMatchObject({ alg_name: 'MEMIT', layers: [13, 14, 15, 16, 17], v_lr: 0.5, mom2_update_weight: 20000, clamp_norm_factor: 0.75, v_loss_layer: 47 });
  for (const [k, v] of Object.entries(MEMIT_PRESETS['gpt2-xl'])) expect([k, (memit as unknown as Record<string, unknown>)[k]]).toEqual([k, v]);

  const emmet = readMemitHparams(path.join(FIX, 'EMMET-gpt2-xl.yaml'), 48);
  expect(emmet.alg_name).toBe('EMMET');
  expect(emmet.v_lr).toBe(0.5); // "5e-1" as PyYAML leaves it, converted as EasyEdit does
  expect(emmet).toMatchObject({ layers: [17], mom2_update_weight: 10000, emmet_lambda: 0.1 });
  expect(emmet).toEqual(EMMET_PRESETS['gpt2-xl']);

  // The AlphaEdit repository's JSON has no alg_name: the caller names the algorithm.
  const alpha = readMemitHparams(path.join(FIX, 'AlphaEdit-gpt-j-6B.json'), 28, 'AlphaEdit');
  expect(alpha).toEqual(ALPHAEDIT_PRESETS['gpt-j-6B']);

  expect(createMassEditor(path.join(FIX, 'EMMET-gpt2-xl.yaml'), stub(48))).toBeInstanceOf(EmmetEditor);
  expect(createMassEditor(path.join(FIX, 'MEMIT-gpt2-xl.yaml'), stub(48))).toBeInstanceOf(MemitEditor);
  expect(createMassEditor('AlphaEdit', { layers: [0] })).toBeInstanceOf(AlphaEditEditor);
});

test('fact-world defaults leave a block after the z layer', () => {
  expect(defaultMemitHparams(2).layers).toEqual([0]);
  expect(defaultMemitHparams(4).layers).toEqual([0, 1]);
  expect(defaultMemitHparams(8).layers).toEqual([2, 3]);
  expect(defaultMemitHparams(4, 'EMMET').layers).toEqual([1]);
  expect(defaultMemitHparams(4)).toMatchObject({ v_loss_layer: 3, mom2_dataset: 'filler', clamp_norm_factor: 4, mom2_update_weight: 2000 });
  expect(new MemitEditor().resolve(stub(4) as never).layers).toEqual([0, 1]);
});

test('invalid settings fail with errors that name the file, the field and the value', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memit-hp-'));
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  expect(() => readMemitHparams(path.join(FIX, 'MEMIT-gpt2-xl.yaml'), 12)).toThrow(/MEMIT-gpt2-xl.yaml: layer 13 is outside the model's 12 layers/);
  expect(() => readMemitHparams(path.join(dir, 'missing.yaml'), 4)).toThrow(/missing.yaml: cannot read hyperparameters/);
  expect(() => readMemitHparams(write('bad.yaml', 'layers: [1, 2\n'), 4)).toThrow(/bad.yaml: cannot read hyperparameters/);
  expect(() => readMemitHparams(write('list.yaml', '- 1\n- 2\n'), 4)).toThrow(/list.yaml: expected a mapping/);
  expect(() => readMemitHparams(write('alg.yaml', 'alg_name: ROME\nlayers: [0]\n'), 4)).toThrow(/alg.yaml: alg_name "ROME" is not MEMIT, EMMET or AlphaEdit/);
  expect(() => readMemitHparams(write('lr.yaml', 'layers: [1]\nv_lr: fast\n'), 4)).toThrow(/lr.yaml: expected a number for v_lr but received "fast"/);
  fs.rmSync(dir, { recursive: true });

  expect(() => resolveMemitHparams({ layers: [2, 1] }, 4)).toThrow(/strictly ascending/);
  expect(() => resolveMemitHparams({ layers: [2, 3] }, 4)).toThrow(/z layer .* is the model's last layer/);
  expect(() => resolveMemitHparams({ layers: [1], v_loss_layer: 2 }, 4)).toThrow(/v_loss_layer must be the model's last layer \(3\)/);
  expect(() => resolveMemitHparams({ layers: [1], fact_token: 'last' }, 4)).toThrow(/fact_token "last" is not supported/);
  expect(() => resolveMemitHparams({ layers: [1], solver: 'lu' as never }, 4)).toThrow(/solver must be auto, direct or woodbury/);
  expect(() => resolveMemitHparams({ layers: [1], L2: 0 }, 4, 'AlphaEdit')).toThrow(/AlphaEdit needs L2 > 0/);
  expect(() => resolveMemitHparams({ layers: [1], mom2_update_weight: 0 }, 4)).toThrow(/mom2_update_weight must be positive/);
  expect(() => resolveMemitHparams({ layers: [1], preserve_prompts: ['{} works for', 'The employer'] }, 4)).toThrow(/preserve_prompts must be a list of prompts with one "\{\}" \(the subject\) each but received \["\{\} works for","The employer"\]/);
  expect(() => resolveMemitHparams({ layers: [1], preserve_prompts: '{} works for' as never }, 4)).toThrow(/preserve_prompts must be a list/);
  expect(() => resolveMemitHparams({ layers: [1], preserve_factor: -1 }, 4)).toThrow(/preserve_factor must be ≥ 0 but received -1/);
});
