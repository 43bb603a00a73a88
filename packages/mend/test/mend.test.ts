/**
 * MEND on fact-tiny: the editor network starts as the identity on normalised factors, the
 * Welford statistics match direct ones, the update sign flag flips the delta, a few training
 * steps drive the edit loss down, a resumed run equals an uninterrupted one bit for bit, and a
 * saved editor reloads to the same edits but refuses another base model; the edit term's token
 * reduction (`edit_nll`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, type Tensor, add, copyInplace, grad, loadModel, matmul, memory, mul, mulScalar, randn, sum, tensor, tidy } from '@medit/core';
import { readDataset } from '@medit/data';

import { GradientTransform, MendEditor, RunningStats, clampMin0, defaultMendHparams, examplesFromCases, objectiveNll, resolveHparams, trainEditor } from '../src';

const TINY = path.join(__dirname, '../../../test-fixtures/models/fact-tiny');
const TRAIN = path.join(__dirname, '../../../test-fixtures/factworld/edits-tiny/zsre-train.json');
const REQUEST = { prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer' };

let model: CausalLM;
let tmp: string;
beforeAll(async () => {
  model = await loadModel(TINY);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mend-test-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const examples = () => examplesFromCases(readDataset(TRAIN).cases);
const FAST = { lr: 1e-3, lr_lr: 1e-3, rank: 16, accumulate_bs: 2, val_steps: 4, val_fraction: 0.2 };

test('running statistics equal the direct mean and sample standard deviation', () => {
  const s = new RunningStats(3);
  const rows = [1, 2, 3, 4, 0, -1, 7, 2, 2, -3, 5, 1];
  s.update(rows.slice(0, 6), 2);
  s.update(rows.slice(6), 2);
  for (let i = 0; i < 3; i++) {
    const xs = [0, 1, 2, 3].map((r) => rows[r * 3 + i]);
    const mean = xs.reduce((a, b) => a + b) / 4;
    expect(s.mean[i]).toBeCloseTo(mean, 12);
    expect(s.std()[i]).toBeCloseTo(Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / 3), 12);
  }
  expect(() => new RunningStats(2).std()).toThrow(/at least 2 token rows/);
});

test("edit_nll: mean is the token mean, sum each target sequence's −log p averaged over the edits", () => {
  const V = 5;
  const logits = randn([2, 3, V], { seed: 4 });
  // edit 0 supervises 1 token, edit 1 supervises 2
  const labels = [2, -100, -100, -100, 1, 4];
  const data = logits.data() as Float32Array;
  const nll = (row: number, y: number) => {
    const z = Array.from(data.subarray(row * V, (row + 1) * V));
    const m = Math.max(...z);
    return Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0)) + m - z[y];
  };
  const tokens = [nll(0, 2), nll(4, 1), nll(5, 4)];
  expect(objectiveNll(logits, labels, 2, 'mean').item()).toBeCloseTo((tokens[0] + tokens[1] + tokens[2]) / 3, 5);
  expect(objectiveNll(logits, labels, 2, 'sum').item()).toBeCloseTo((tokens[0] + (tokens[1] + tokens[2])) / 2, 5);
  expect(defaultMendHparams().edit_nll).toBe('mean');
  expect(resolveHparams(defaultMendHparams(), { edit_nll: 'sum' }).edit_nll).toBe('sum');
  expect(() => resolveHparams(defaultMendHparams(), { edit_nll: 'max' })).toThrow(/"mean" or "sum" for edit_nll/);
  logits.dispose();
});

test('the editor network is the identity on its normalised input at initialisation', () => {
  tidy(() => {
    const net = new GradientTransform(4, 6, 2, { rank: 3, blocks: 2, seed: 1 });
    const u = randn([5, 4], { seed: 2 });
    const d = randn([5, 6], { seed: 3 });
    const out = net.forward(u, d, 1, true);
    const std = net.uStats.std();
    const ud = u.data() as Float32Array;
    const got = out.u.data() as Float32Array;
    for (let r = 0; r < 5; r++) for (let i = 0; i < 4; i++) expect(got[r * 4 + i]).toBeCloseTo((ud[r * 4 + i] - net.uStats.mean[i]) / (std[i] + 1e-7), 4);
    net.dispose();
  });
});

test('at initialisation every weight of the network gets a gradient (clamp at 0, not ReLU: the network can leave the identity)', () => {
  tidy(() => {
    const net = new GradientTransform(4, 6, 2, { rank: 3, blocks: 2, seed: 1 });
    const out = net.forward(randn([5, 4], { seed: 2 }), randn([5, 6], { seed: 3 }), 1, true);
    const loss = add(sum(mul(out.u, randn([5, 4], { seed: 4 }))), sum(mul(out.delta, randn([5, 6], { seed: 5 }))));
    const grads = grad(loss, net.parameters());
    // V (index 0 of each block) only gets a gradient once U has left zero; U, b, scale (of mode 1), shift (of mode 1) do now
    for (const b of [0, 1]) for (const k of [1, 2, 4]) expect(Math.max(...Array.from(grads[b * 5 + k].data() as Float32Array, Math.abs))).toBeGreaterThan(0);
    expect(Array.from(clampMin0(tensor(Float32Array.from([-2, 0, 3]), [3])).data() as Float32Array)).toEqual([0, 0, 3]);
    net.dispose();
  });
});

test("the paper's sign and the original code's sign give opposite deltas; batched edits are one update per matrix", async () => {
  const paper = MendEditor.create(model, { rank: 8 });
  const code = MendEditor.create(model, { rank: 8, sign: 'code' });
  // Statistics come from training passes: run one (no optimiser step) on each.
  for (const e of [paper, code]) tidy(() => e.trainingWeights(model, examples().slice(0, 2), true));
  const a = await paper.edit(model, [REQUEST]);
  const b = await code.edit(model, [REQUEST]);
  expect(a.updates.map((u) => u.name)).toEqual(paper.linears.map((l) => l.weightName));
  tidy(() => {
    a.updates.forEach((u, i) => {
      const x = u.right!.data() as Float32Array;
      const y = mulScalar(b.updates[i].right!, -1).data() as Float32Array;
      expect(Array.from(x)).toEqual(Array.from(y));
    });
  });
  // A batch is one low-rank update per matrix, equal to the sum of the single-edit updates.
  const other = { prompt: '{} is a national of', subject: 'Rakem Boskre', targetNew: 'Lasktra' };
  const single2 = await paper.edit(model, [other]);
  const batched = await paper.edit(model, [REQUEST, other]);
  expect(batched.updates).toHaveLength(a.updates.length);
  tidy(() => {
    const dense = (u: { left?: Tensor; right?: Tensor }) => matmul(u.left!, u.right!).data() as Float32Array;
    batched.updates.forEach((u, i) => {
      const second = dense(single2.updates[i]);
      const sum = dense(a.updates[i]).map((x, j) => x + second[j]);
      const got = dense(u);
      const scale = Math.max(...Array.from(sum, Math.abs));
      let err = 0;
      got.forEach((x, j) => (err = Math.max(err, Math.abs(x - sum[j]))));
      expect(err).toBeLessThan(1e-4 * scale);
    });
  });
  for (const d of [a, b, single2, batched]) d.dispose();
  paper.dispose();
  code.dispose();
});

test('training reduces the edit loss; a resumed run equals an uninterrupted one', async () => {
  const before = memory().numTensors;
  const ex = examples();
  const full = MendEditor.create(model, { ...FAST, max_iters: 24, val_interval: 12 });
  const rows: number[] = [];
  await trainEditor(full, { model, examples: ex, outDir: path.join(tmp, 'full'), logEvery: 4, onProgress: (r) => r.kind === 'train' && rows.push(r.editLoss) });
  expect(rows[rows.length - 1]).toBeLessThan(0.5 * rows[0]);

  const half = MendEditor.create(model, { ...FAST, max_iters: 12, val_interval: 12 });
  await trainEditor(half, { model, examples: ex, outDir: path.join(tmp, 'half') });
  half.dispose();
  const resumed = await MendEditor.load(path.join(tmp, 'half', 'last.safetensors'), model, { max_iters: 24 });
  const result = await trainEditor(resumed, { model, examples: ex, outDir: path.join(tmp, 'half'), resume: true });
  expect(result.iterations).toBe(24);
  const p1 = full.parameterGroups().flatMap((g) => g.params);
  const p2 = resumed.parameterGroups().flatMap((g) => g.params);
  p1.forEach((p, i) => expect(p2[i].data()).toEqual(p.data()));
  full.dispose();
  resumed.dispose();
  expect(memory().numTensors).toBe(before);
});

test('an aborted run saves a checkpoint (even before any validation) that --resume completes', async () => {
  const ac = new AbortController();
  const dir = path.join(tmp, 'abort');
  const mend = MendEditor.create(model, { ...FAST, max_iters: 8, val_interval: 8 });
  await expect(trainEditor(mend, { model, examples: examples(), outDir: dir, logEvery: 3, signal: ac.signal, onProgress: () => ac.abort() })).rejects.toThrow(/cancelled at iteration 3; resume from/);
  mend.dispose();
  const resumed = await MendEditor.load(path.join(dir, 'last.safetensors'), model);
  const r = await trainEditor(resumed, { model, examples: examples(), outDir: dir, resume: true });
  expect(r).toMatchObject({ iterations: 8, bestIter: 8 });
  expect(fs.existsSync(path.join(dir, 'best.safetensors'))).toBe(true);
  resumed.dispose();
});

test('a saved editor reloads to identical edits and refuses another base model', async () => {
  const mend = MendEditor.create(model, { ...FAST, max_iters: 4, val_interval: 4 });
  await trainEditor(mend, { model, examples: examples(), outDir: path.join(tmp, 'save') });
  const file = path.join(tmp, 'save', 'best.safetensors');
  const loaded = await MendEditor.load(file, model);
  const [a, b] = [await mend.edit(model, [REQUEST]), await loaded.edit(model, [REQUEST])];
  a.updates.forEach((u, i) => {
    expect(b.updates[i].left!.data()).toEqual(u.left!.data());
    expect(b.updates[i].right!.data()).toEqual(u.right!.data());
  });
  // The low-rank delta changes the edited weights; reverting restores them exactly.
  const w = model.param(mend.linears[0].weightName);
  const orig = w.data();
  a.apply(model);
  expect(w.data()).not.toEqual(orig);
  a.revert();
  expect(w.data()).toEqual(orig);
  for (const d of [a, b]) d.dispose();

  const other = await loadModel(TINY);
  tidy(() => {
    const w = other.param(mend.linears[0].weightName);
    copyInplace(w, mulScalar(w, 1.001));
  });
  await expect(MendEditor.load(file, other)).rejects.toThrow(/trained for the base model with fingerprint .* but the model given has/);
  other.dispose();
  mend.dispose();
  loaded.dispose();
});
