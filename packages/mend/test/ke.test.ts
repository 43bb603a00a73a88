/**
 * KE on fact-tiny: the condition text follows KE-code, a short constrained-objective run trains
 * (the multiplier moves, the hypernetwork changes), edits are dense updates of the edited weights,
 * and a saved hypernetwork reloads to identical edits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, loadModel, memory } from '@medit/core';
import { readDataset } from '@medit/data';

import { KeEditor, conditionText, examplesFromCases, trainEditor, type TrainLogRow } from '../src';

const TINY = path.join(__dirname, '../../../test-fixtures/models/fact-tiny');
const TRAIN = path.join(__dirname, '../../../test-fixtures/factworld/edits-tiny/zsre-train.json');
const REQUEST = { prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer', targetTrue: 'diplomat' };
const SMALL = { hidden_dim: 16, condition_dim: 32, param_hidden: 8, val_steps: 2, val_fraction: 0.2, lr: 1e-3 };

let model: CausalLM;
let tmp: string;
beforeAll(async () => {
  model = await loadModel(TINY);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ke-test-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("the condition text is KE-code's \"prediction >> target || input\"", () => {
  expect(conditionText('What is the occupation of Leda Vagam?', 'lawyer', 'diplomat')).toBe('diplomat >> lawyer || What is the occupation of Leda Vagam?');
});

test('KE trains with the constrained objective, edits densely and reloads to identical edits', async () => {
  const before = memory().numTensors;
  const ke = KeEditor.create(model, { ...SMALL, max_iters: 6, val_interval: 6 });
  const initial = ke.parameterGroups()[0].params.map((p) => p.data());
  const rows: TrainLogRow[] = [];
  await trainEditor(ke, { model, examples: examplesFromCases(readDataset(TRAIN).cases), outDir: tmp, logEvery: 3, onProgress: (r) => rows.push(r) });
  const train = rows.filter((r) => r.kind === 'train');
  expect(train.length).toBe(2);
  // λ takes gradient-ascent steps on KL − m: it moves off its initial 1.
  expect(train[1].lambda).not.toBe(1);
  expect(ke.parameterGroups()[0].params.some((p, i) => p.data().some((x, j) => x !== initial[i][j]))).toBe(true);

  const delta = await ke.edit(model, [REQUEST]);
  expect(delta.updates.map((u) => u.name)).toEqual(ke.linears.map((l) => l.weightName));
  delta.updates.forEach((u) => expect(u.delta!.shape).toEqual(model.param(u.name).shape));
  const loaded = await KeEditor.load(path.join(tmp, 'last.safetensors'), model);
  const again = await loaded.edit(model, [REQUEST]);
  delta.updates.forEach((u, i) => expect(again.updates[i].delta!.data()).toEqual(u.delta!.data()));
  for (const x of [delta, again, ke, loaded]) x.dispose();
  expect(memory().numTensors).toBe(before);
});
