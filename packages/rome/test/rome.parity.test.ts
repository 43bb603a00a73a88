/**
 * One ROME edit against the original implementation (kmeng01/rome @ 0874014) on the
 * HF parity model gpt2-trained-wordlevel: same templates, same C, same hyperparameters.
 * Checks k̄, u, v*, the update and the loss trace, and that no weight gradient is computed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type Tensor, cast, loadModel, memory, modelFingerprint } from '@medit/core';
import { readCheckpoint } from '../../core/src/io/checkpoint';
import { wrapHandle } from '../../core/src/tensor';
import { kernelCalls, weightGradientCalls } from '../../core/test-utils/kernel-calls';

import { RomeEditor, type RomeEditStats } from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures/parity');

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

test('ROME reproduces the reference edit (u, v*, ΔW, loss trace)', async () => {
  const model = await loadModel(path.join(FIX, 'gpt2-trained-wordlevel'));
  const dir = path.join(FIX, 'rome');
  const hparams = JSON.parse(fs.readFileSync(path.join(dir, 'hparams.json'), 'utf8'));
  const templates: string[] = JSON.parse(fs.readFileSync(path.join(dir, 'context_templates.json'), 'utf8'));
  const expectedJson = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
  const [req] = JSON.parse(fs.readFileSync(path.join(dir, 'requests.json'), 'utf8'));
  const mom2 = await readCheckpoint(dir, { file: 'mom2.transformer.h.0.mlp.c_proj.safetensors' });
  const c = wrapHandle(mom2.tensors.get('mom2')!);
  wrapHandle(mom2.tensors.get('count')!).dispose();
  const stats = new Map([[0, { layer: 0, mom2Sum: cast(c, 'float64'), count: 1, mean: () => cast(c, 'float64') }]]);
  const ref = await readCheckpoint(dir, { file: 'expected.safetensors' });
  const refData = (k: string) => {
    const t = wrapHandle(ref.tensors.get(k)!);
    const d = t.data() as Float32Array;
    t.dispose();
    return d;
  };
  const before = memory();
  const fingerprint = modelFingerprint(model);

  const editor = new RomeEditor(hparams, { stats, contextTemplates: templates });
  const { result: delta, calls } = await kernelCalls('linearBackward', () =>
    editor.edit(model, [{ prompt: req.prompt, subject: req.subject, targetNew: req.target_new.str, targetTrue: req.target_true.str }]),
  );
  // v*'s gradient flows through the frozen weights: no weight or bias gradient is computed
  expect(calls.length).toBeGreaterThan(0);
  expect(weightGradientCalls(calls)).toHaveLength(0);
  expect(modelFingerprint(model)).toBe(fingerprint); // the editor leaves the weights alone

  // ΔW = u Λᵀ in Conv1D layout [256, 64]
  const [update] = delta.updates;
  expect(update.name).toBe('transformer.h.0.mlp.c_proj.weight');
  const u = update.left!.data() as Float32Array;
  const lambda = update.right!.data() as Float32Array;
  const errs = { u: relErr(u, refData("u")), v: relErr(lambda, refData("v")) };
  expect(errs.u).toBeLessThan(5e-4); // f64 Cholesky here vs torch.inverse in f32 there
  expect(errs.v).toBeLessThan(1e-4);
  const dense = new Float32Array(256 * 64);
  for (let i = 0; i < 256; i++) for (let j = 0; j < 64; j++) dense[i * 64 + j] = u[i] * lambda[j];
  expect(relErr(dense, refData('transformer.h.0.mlp.c_proj.weight.delta'))).toBeLessThan(5e-4);

  // loss trace step by step (the reference prints 3 decimals)
  const trace = (delta.info.stats!.edits as RomeEditStats[])[0].trace;
  const refTrace: { loss: number; nll: number }[] = expectedJson.edits[0].v_optimization;
  expect(trace.length).toBe(refTrace.length);
  trace.forEach((s, i) => expect(Math.abs(s.loss - refTrace[i].loss)).toBeLessThanOrEqual(6e-4));

  delta.dispose();
  editor.dispose();
  for (const s of stats.values()) s.mom2Sum.dispose();
  c.dispose();
  expect(memory().numTensors).toBeLessThanOrEqual(before.numTensors);
  model.dispose();
});
