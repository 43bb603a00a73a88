/**
 * EasyEdit's published hparams files (test-fixtures/easyedit/hparams, the values of
 * zjunlp/EasyEdit hparams/<ALG>/{gpt2-xl,llama-7b}.yaml) read unchanged: alg_name picks the
 * medit method and every field lands in medit's hyperparameters with EasyEdit's value — the
 * papers' presets medit already carries (ROME_PRESETS, MEMIT_PRESETS) come out field for field.
 * No model is loaded: GPT-2 XL has 48 layers, Llama-2 7B 32.
 */
import * as path from 'node:path';

import { resolveFtHparams } from '@medit/ft';
import { MEMIT_PRESETS, resolveMemitHparams } from '@medit/memit';
import { defaultMendHparams, resolveHparams } from '@medit/mend';
import { ROME_PRESETS, resolveRomeHparams } from '@medit/rome';

import { methodFor, readEasyEditHparams } from '../src';
import { ROOT } from './helpers';

const LAYERS = { 'gpt2-xl': 48, 'llama-7b': 32 } as const;
const file = (alg: string, model: keyof typeof LAYERS) => readEasyEditHparams(path.join(ROOT, 'test-fixtures/easyedit/hparams', alg, `${model}.yaml`));

test.each([
  ['ROME', 'gpt2-xl', 'rome', './hugging_cache/gpt2-xl'],
  ['ROME', 'llama-7b', 'rome', './hugging_cache/llama-2-7b-chat'],
  ['MEMIT', 'gpt2-xl', 'memit', './hugging_cache/gpt2-xl'],
  ['MEMIT', 'llama-7b', 'memit', './hugging_cache/llama-2-7b'],
  ['FT', 'gpt2-xl', 'ft-l', './hugging_cache/gpt2-xl'],
  ['FT', 'llama-7b', 'ft', './hugging_cache/llama-2-7b'],
  ['MEND', 'gpt2-xl', 'mend', './hugging_cache/gpt2-xl'],
  ['MEND', 'llama-7b', 'mend', './hugging_cache/llama-2-7b'],
  ['SERAC', 'gpt2-xl', 'serac', './hugging_cache/gpt2-xl'],
  ['SERAC', 'llama-7b', 'serac', './hugging_cache/llama-2-7b'],
  ['IKE', 'gpt2-xl', 'ike', './hugging_cache/gpt2-xl'],
  ['IKE', 'llama-7b', 'ike', './hugging_cache/llama-2-7b-chat'],
] as const)('%s/%s.yaml runs medit method %s on model_name %s', (alg, model, method, modelName) => {
  const h = file(alg, model);
  expect(h.algName).toBe(alg);
  expect(methodFor(h, LAYERS[model])).toBe(method);
  expect(h.values.model_name).toBe(modelName);
});

test('ROME: the ROME paper presets, with EasyEdit\'s mom2_adjustment false (their files ship C = I)', () => {
  const xl = file('ROME', 'gpt2-xl');
  // "5e-1" is read as 0.5, as EasyEdit's construct_float_from_scientific_notation reads it.
  expect(xl.values.v_lr).toBe(0.5);
  expect(resolveRomeHparams(xl.values, 48, xl.file)).toEqual({ ...ROME_PRESETS['gpt2-xl'], mom2_adjustment: false });
  const llama = file('ROME', 'llama-7b');
  expect(resolveRomeHparams(llama.values, 32, llama.file)).toEqual({ ...ROME_PRESETS['llama-2-7b'], mom2_adjustment: false });
});

test('MEMIT: the MEMIT paper presets field for field', () => {
  const xl = file('MEMIT', 'gpt2-xl');
  expect(resolveMemitHparams(xl.values, 48, 'MEMIT', xl.file)).toEqual(MEMIT_PRESETS['gpt2-xl']);
  const llama = file('MEMIT', 'llama-7b');
  expect(resolveMemitHparams(llama.values, 32, 'MEMIT', llama.file)).toEqual(MEMIT_PRESETS['llama-2-7b']);
});

test('FT: gpt2-xl is FT-L (layer 0, ε = 5e-4, prompt_last), llama-7b plain FT on layer 21', () => {
  const xl = file('FT', 'gpt2-xl');
  expect(resolveFtHparams(xl.values, 48, 'FT-L', xl.file)).toMatchObject({
    layers: [0],
    num_steps: 25,
    lr: 5e-4,
    weight_decay: 0,
    norm_constraint: 5e-4,
    objective_optimization: 'prompt_last',
    batch_size: 3,
    kl_factor: 0,
    rewrite_module_tmp: 'transformer.h.{}.mlp.c_proj',
  });
  const llama = file('FT', 'llama-7b');
  expect(resolveFtHparams(llama.values, 32, 'FT', llama.file)).toMatchObject({ layers: [21], norm_constraint: false, batch_size: 1, rewrite_module_tmp: 'model.layers.{}.mlp.down_proj.weight' });
});

test('MEND: archive names the trained editor; its training fields are medit train mend\'s', () => {
  const xl = file('MEND', 'gpt2-xl');
  expect(xl.values.archive).toBe('./results/models/MEND/gpt2-xl');
  expect(resolveHparams(defaultMendHparams(), xl.values, xl.file)).toMatchObject({
    inner_params: ['45', '45', '46', '46', '47', '47'].map((l, i) => `transformer.h.${l}.mlp.${i % 2 === 0 ? 'c_proj' : 'c_fc'}.weight`),
    lr: 1e-6,
    edit_lr: 1e-4,
    lr_lr: 1e-4,
    cedit: 0.1,
    cloc: 1,
    rank: 1920,
    n_hidden: 1,
    batch_size: 1,
    accumulate_bs: 10,
    grad_clip: 100,
    early_stop_patience: 20000,
  });
  expect(file('MEND', 'llama-7b').values.inner_params).toHaveLength(9);
});

test('SERAC and IKE: the trained directory and the retrieval encoder are path fields; IKE keeps k = 16', () => {
  expect(file('SERAC', 'gpt2-xl').values).toMatchObject({ archive: './results/models/SERAC/gpt2-xl', cls_name: './hugging_cache/distilbert-base-cased', edit_lr: 0.01 });
  expect(file('SERAC', 'llama-7b').values.archive).toBe('./results/models/SERAC/llama-2-7b');
  for (const model of ['gpt2-xl', 'llama-7b'] as const) expect(file('IKE', model).values).toMatchObject({ sentence_model_name: './hugging_cache/all-MiniLM-L6-v2', k: 16 });
});
