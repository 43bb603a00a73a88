/**
 * The EasyEdit-shaped API on fact-small: BaseEditor.fromHparams reads EasyEdit hparams files
 * (test-fixtures/easyedit/fact-small, paths mapped by its paths.yaml), edit() returns EasyEdit's
 * per-case metric dicts and leaves the model as it found it unless sequential_edit keeps the
 * edits; the errors name the file, field or argument.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, loadModel, memory } from '@medit/core';
import { scoreTargets } from '@medit/metrics';

import { BaseEditor, summaryMetrics } from '../src';
import { FIX, MODEL, PATHS, ROOT, knowEditArgs } from './helpers';

/** A digest of every weight's bytes (comparing the arrays themselves is slow in jest). */
function weightsOf(model: CausalLM): string {
  const h = createHash('sha256');
  for (const [name, w] of model.params) h.update(name).update(Buffer.from((w.data() as Float32Array).buffer));
  return h.digest('hex');
}

let model: CausalLM;
let rome: BaseEditor;
beforeAll(async () => {
  model = await loadModel(MODEL);
  rome = await BaseEditor.fromHparams(path.join(FIX, 'ROME.yaml'), { model, pathsFile: PATHS });
});
afterAll(() => {
  rome.dispose();
  model.dispose();
});

test('fromHparams reads an EasyEdit file and resolves model_name through a paths file', async () => {
  const before = memory();
  const editor = await BaseEditor.fromHparams(path.join(FIX, 'ROME.yaml'), { pathsFile: PATHS });
  expect(editor.alg_name).toBe('ROME');
  expect(editor.method).toBe('rome');
  expect(editor.model.source).toBe(MODEL);
  expect(editor.hparams.values).toMatchObject({ v_lr: 0.5, layers: [0], mom2_adjustment: false, rewrite_module_tmp: 'transformer.h.{}.mlp.c_proj' });
  editor.dispose();
  expect(memory().numTensors).toBe(before.numTensors);
});

/** Records ROME.yaml's settings edit (record 1, Segand Peisem → Lasktra, they do not). */
const ROME_RECORDS = [0, 2];

test('edit() returns EasyEdit\'s metric dicts per case and leaves the model as it was', async () => {
  const original = weightsOf(model);
  const args = knowEditArgs(ROME_RECORDS);
  const { metrics, model: returned, delta } = await rome.edit(args);
  expect(returned).toBe(model);
  expect(metrics).toHaveLength(2);
  expect(delta).toHaveLength(2);
  for (const [i, m] of metrics.entries()) {
    expect(Object.keys(m).sort()).toEqual(['case_id', 'post', 'pre', 'requested_rewrite', 'time']);
    expect(m.case_id).toBe(i);
    expect(m.requested_rewrite).toMatchObject({ prompt: args.prompts[i], target_new: args.target_new[i], subject: args.subject[i], rephrase_prompt: args.rephrase_prompts[i] });
    expect(Object.keys(m.pre).sort()).toEqual(['locality', 'portability', 'rephrase_acc', 'rewrite_acc']);
    expect(Object.keys(m.post).sort()).toEqual(['locality', 'portability', 'rephrase_acc', 'rewrite_acc']);
    expect(Object.keys(m.pre.locality)).toEqual(['Relation_Specificity_output']);
    expect(Object.keys(m.post.locality).sort()).toEqual(['Relation_Specificity_acc', 'Relation_Specificity_output']);
    expect(Object.keys(m.post.portability)).toEqual(['Reasoning_acc']);
    expect(m.pre.rewrite_acc).toHaveLength(1);
    // One token list and one agreement per locality prompt of the record.
    const localityPrompts = args.locality_inputs.Relation_Specificity.prompt[i].length;
    expect(localityPrompts).toBeGreaterThan(1);
    expect(m.pre.locality.Relation_Specificity_output).toHaveLength(localityPrompts);
    expect(m.post.locality.Relation_Specificity_acc).toHaveLength(localityPrompts);
    // The model answered the old fact, so the new target was not its answer; ROME makes it so.
    expect(m.pre.rewrite_acc[0]).toBeLessThan(1);
    expect(m.post.rewrite_acc).toEqual([1]);
    expect(m.time).toBeGreaterThan(0);
  }
  // Each edit was reverted after it was measured (EasyEdit restores the weights).
  expect(weightsOf(model)).toEqual(original);
  expect(delta.every((d) => !d.applied)).toBe(true);
  // Applying a returned delta gives that edit's model.
  delta[0].apply(model);
  const [s] = scoreTargets(model, [{ prompt: args.prompts[0], target: args.target_new[0] }]);
  expect(s.predicted).toEqual(s.targetIds);
  for (const d of delta) d.dispose();
  expect(weightsOf(model)).toEqual(original);
  const summary = summaryMetrics(metrics);
  expect(summary.post.rewrite_acc).toBe(1);
  expect(Object.keys(summary.post.locality as object)).toEqual(['Relation_Specificity_acc']);
});

test('sequential_edit keeps every edit in place; reverting the deltas newest first restores the model', async () => {
  const original = weightsOf(model);
  const args = knowEditArgs(ROME_RECORDS);
  const { metrics, delta } = await rome.edit({ ...args, sequential_edit: true });
  expect(delta.map((d) => d.applied)).toEqual([true, true]);
  expect(weightsOf(model)).not.toEqual(original);
  // Each edit is measured right after it is made, the earlier one still in place.
  expect(metrics.map((m) => m.post.rewrite_acc[0])).toEqual([1, 1]);
  const [last] = scoreTargets(model, [{ prompt: args.prompts[1], target: args.target_new[1] }]);
  expect(last.predicted).toEqual(last.targetIds);
  for (const d of [...delta].reverse()) d.revert(model);
  expect(weightsOf(model)).toEqual(original);
  for (const d of delta) d.dispose();
});

test('a single prompt as strings, without rephrase, locality or portability inputs', async () => {
  const { metrics, delta } = await rome.edit({ prompts: 'The city where Shohun Castle is located is', target_new: 'Raifain', subject: 'Shohun Castle' });
  expect(metrics[0].post).toEqual({ rewrite_acc: [1], locality: {}, portability: {} });
  expect(metrics[0].requested_rewrite).toEqual({ prompt: 'The city where Shohun Castle is located is', target_new: 'Raifain', ground_truth: null, subject: 'Shohun Castle', locality: {}, portability: {} });
  delta[0].dispose();
});

test('MEND from an EasyEdit file: archive resolves to the shipped editor; inner_params must be the weights it edits', async () => {
  const mend = await BaseEditor.fromHparams(path.join(FIX, 'MEND.yaml'), { model, pathsFile: PATHS });
  try {
    expect(mend.method).toBe('mend');
    const { metrics, delta } = await mend.edit(knowEditArgs(4));
    const summary = summaryMetrics(metrics);
    expect(summary.post.rewrite_acc).toBeGreaterThan(summary.pre.rewrite_acc as number);
    for (const d of delta) d.dispose();
  } finally {
    mend.dispose();
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-easyedit-'));
  try {
    const file = path.join(tmp, 'MEND.yaml');
    fs.writeFileSync(file, fs.readFileSync(path.join(FIX, 'MEND.yaml'), 'utf8').replace('- transformer.h.1.mlp.c_fc.weight\n', ''));
    const wrong = await BaseEditor.fromHparams(file, { model, pathsFile: PATHS });
    await expect(wrong.edit(knowEditArgs(1))).rejects.toThrow(/MEND\.yaml: inner_params .* are not the weights the trained editor edits/);
    wrong.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('batch_edit runs chunks of batch_size for batchable methods and refuses ROME', async () => {
  await expect(rome.batch_edit(knowEditArgs(2))).rejects.toThrow(/ROME\.yaml: alg_name ROME cannot batch edit .*use edit\(\)/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-easyedit-'));
  const ft = await BaseEditor.fromHparams(path.join(FIX, 'FT.yaml'), { model, pathsFile: PATHS });
  try {
    expect(ft.method).toBe('ft-m');
    const original = weightsOf(model);
    const { metrics, delta } = await ft.batch_edit(knowEditArgs(2));
    // FT.yaml's batch_size is 1: one editor call per edit, each reverted after it was measured.
    expect(delta).toHaveLength(2);
    expect(metrics.map((m) => m.case_id)).toEqual([0, 1]);
    expect(metrics.every((m) => m.post.rewrite_acc[0] > m.pre.rewrite_acc[0])).toBe(true);
    expect(weightsOf(model)).toEqual(original);
    for (const d of delta) d.dispose();
  } finally {
    ft.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

describe('errors name the file, the field or the argument', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-easyedit-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  };

  test('a model_name that does not resolve', async () => {
    const file = path.join(ROOT, 'test-fixtures/easyedit/hparams/ROME/gpt2-xl.yaml');
    await expect(BaseEditor.fromHparams(file)).rejects.toThrow(
      /gpt2-xl\.yaml: model_name "\.\/hugging_cache\/gpt2-xl" does not resolve to a local path .*pass \{ modelDir \} or map "\.\/hugging_cache\/gpt2-xl" in \{ paths \}/,
    );
    await expect(BaseEditor.fromHparams(file, { pathsFile: PATHS })).rejects.toThrow(/and no entry for it in .*paths\.yaml/);
  });

  test('an explicit modelDir or a paths entry maps it', async () => {
    const file = path.join(ROOT, 'test-fixtures/easyedit/hparams/FT/gpt2-xl.yaml');
    // gpt2-xl's FT edits layer 0, which fact-small has: the file is usable as it is.
    const a = await BaseEditor.fromHparams(file, { modelDir: MODEL });
    expect(a.method).toBe('ft-l');
    a.dispose();
    const b = await BaseEditor.fromHparams(file, { paths: { './hugging_cache/gpt2-xl': path.relative(ROOT, MODEL) }, cwd: ROOT });
    expect(b.model.source).toBe(MODEL);
    b.dispose();
  });

  test('an alg_name medit does not have, and a missing one', async () => {
    await expect(BaseEditor.fromHparams(write('grace.yaml', 'alg_name: GRACE\nmodel_name: x\n'), { model })).rejects.toThrow(/grace\.yaml: alg_name "GRACE" is not a method medit has \(known: ROME, MEMIT/);
    await expect(BaseEditor.fromHparams(write('none.yaml', 'layers: [0]\n'), { model })).rejects.toThrow(/none\.yaml: alg_name is missing/);
  });

  test('a field of the wrong type is named by the method', async () => {
    const editor = await BaseEditor.fromHparams(write('bad.yaml', 'alg_name: ROME\nlayers: [7]\n'), { model });
    await expect(editor.edit({ prompts: 'Shohun Castle is in', target_new: 'Raifain', subject: 'Shohun Castle' })).rejects.toThrow(/bad\.yaml: layer 7 is outside the model's 4 layers/);
    editor.dispose();
  });

  test('edit() arguments', async () => {
    await expect(rome.edit({ prompts: ['a b'], target_new: ['x'] })).rejects.toThrow(/subject is required/);
    const withEasyEditOnly = { prompts: 'a b', target_new: 'x', subject: 'a', eval_metric: 'ppl', target_neg: 'y' } as Parameters<BaseEditor['edit']>[0];
    await expect(rome.edit(withEasyEditOnly)).rejects.toThrow("edit() arguments eval_metric, target_neg not supported by medit's EasyEdit API (supported: prompts, target_new");
    await expect(rome.edit({ prompts: ['Shohun Castle is in'], target_new: ['x', 'y'], subject: ['Shohun Castle'] })).rejects.toThrow('Expected 1 entries for target_new (one per prompt) but received 2');
    await expect(rome.edit({ prompts: ['Shohun Castle is in'], target_new: ['x'], subject: ['Budra Castle'] })).rejects.toThrow('subject[0] "Budra Castle" does not occur in prompts[0] "Shohun Castle is in"');
    await expect(
      rome.edit({ prompts: ['Shohun Castle is in'], target_new: ['x'], subject: ['Shohun Castle'], locality_inputs: { nb: { prompt: [['p1', 'p2']], ground_truth: [['a']] } } }),
    ).rejects.toThrow('Expected 2 ground truths for locality_inputs.nb.ground_truth[0] (one per prompt) but received 1');
  });

  test('IKE without train_ds, MEMIT without a corpus', async () => {
    const ike = await BaseEditor.fromHparams(path.join(FIX, 'IKE.yaml'), { model, pathsFile: PATHS });
    await expect(ike.edit(knowEditArgs(1))).rejects.toThrow(/IKE\.yaml: IKE draws its demonstrations from train_ds/);
    ike.dispose();
    const memit = await BaseEditor.fromHparams(path.join(FIX, 'MEMIT.yaml'), { model });
    await expect(memit.edit(knowEditArgs(1))).rejects.toThrow(/MEMIT\.yaml: mom2_dataset "wikipedia" does not resolve to a local path \(a local text corpus for the covariance statistics\).*pass \{ statsCorpus \}/);
    memit.dispose();
  });
});
