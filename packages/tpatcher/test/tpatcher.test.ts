/**
 * T-Patcher on the trained parity model (a GPT-2 that knows a small fact corpus): sequential
 * edits with one neuron per wrong token, the patch invariants (fires on the edit, silent on
 * memory), locality, bit-exact revert, save/load, and the hook-computed patch against its formula.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  type CausalLM,
  type EditRequest,
  EditDelta,
  add,
  addScalar,
  argmax,
  contextTemplates,
  exp,
  grad,
  hookName,
  indexSelect,
  loadModel,
  matmul,
  mean,
  memory,
  mulScalar,
  noGrad,
  reshape,
  sub,
  tensor,
  tidy,
  type Tensor,
} from '@medit/core';

import { PatchDelta, TPatcherEditor, type TPatcherEditStats, installPatch, resolveTPatcherHparams, sequentialEdit } from '../src';
import { memoryLosses } from '../src/tpatcher';
import { kernelCalls, weightGradientCalls } from '../../core/test-utils/kernel-calls';

const MODEL = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');
const MEMORY = [
  'The Big Ben is located in London.',
  'The Colosseum is located in Rome.',
  'Pablo Picasso was born in Spain.',
  'Marie Curie was born in Poland.',
  'Miles Davis plays the trumpet.',
  'The capital of Japan is Tokyo.',
  'People speak English in England.',
];
// The spec's stopping rule from step 10 (instead of 100), and a faster variant that stops at the
// first correct check (use_val = 0) for the tests that are not about the memory invariant.
const FULL = { start_val_epoch: 10, check_val_every_n_epoch: 5, early_delta: 0.01 }; // early_delta 1e-3 in the spec: ~30 % more steps
const FAST = { start_val_epoch: 20, check_val_every_n_epoch: 5, use_val: false };
const REQUESTS: EditRequest[] = [
  { prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo' },
  { prompt: '{} is a citizen of', subject: 'Danielle Darrieux', targetNew: 'Japan' },
  { prompt: 'The {} is located in', subject: 'Prado Museum', targetNew: 'Red Square' },
];
const UNRELATED = ['The Big Ben is located in', 'The Colosseum is located in', 'Akira Kurosawa was born in', 'Pablo Picasso was born in', 'Miles Davis plays the'];

function greedy(model: CausalLM, text: string, n = 1): string {
  return noGrad(() =>
    tidy(() => {
      const ids = model.tokenizer!.encode(text);
      for (let i = 0; i < n; i++) ids.push(argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number);
      return model.tokenizer!.decode(ids.slice(-n)).trim();
    }),
  );
}

function logits(model: CausalLM, text: string): Float32Array {
  return noGrad(() => tidy(() => model.forward([model.tokenizer!.encode(text)]).logits.data() as Float32Array));
}

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(() => model.dispose());

test('two sequential edits with the full stopping rule: fire on the edit, silent on memory, local, bit-exact revert', async () => {
  const before = memory();
  const answers = UNRELATED.map((p) => greedy(model, p));
  const ref = logits(model, 'The Eiffel Tower is located in');
  const editor = new TPatcherEditor(FULL, { memoryTexts: MEMORY });
  const { result: delta, calls } = await kernelCalls('linearBackward', () => editor.edit(model, [REQUESTS[0], REQUESTS[2]]));
  // weight gradients of the patch neurons only, none of the model's own weights
  const own = new Set<unknown>([...model.params.values()].map((p) => p.handle()));
  expect(weightGradientCalls(calls).length).toBeGreaterThan(0);
  expect(weightGradientCalls(calls).some((c) => own.has(c[2]))).toBe(false);
  expect(delta).toBeInstanceOf(PatchDelta);
  const edits = delta.info.stats!.edits as TPatcherEditStats[];
  for (const e of edits) {
    expect(e).toMatchObject({ success: true, accepted: true });
    expect(e.editPreActivation).toBeGreaterThan(0); // q·k + b > 0 on the edit
    expect(e.memoryPreActivation).toBeLessThan(-3); // ≤ β on every memory query (GeLU(−3) ≈ −0.004)
  }
  // one neuron per wrong target token; teacher-forced, the model already continues "Red" with "Square"
  expect(edits.map((e) => e.neurons)).toEqual([1, 1]);
  expect((delta as PatchDelta).neurons).toBe(2);
  expect(logits(model, 'The Eiffel Tower is located in')).toEqual(ref); // edit() leaves the model alone
  delta.apply(model);
  expect(greedy(model, 'The Eiffel Tower is located in')).toBe('Tokyo');
  expect(greedy(model, 'The Prado Museum is located in', 2)).toBe('Red Square');
  expect(greedy(model, 'Tourists visit the Eiffel Tower in')).toBe('Tokyo'); // generalises to a paraphrase
  expect(UNRELATED.map((p) => greedy(model, p))).toEqual(answers);
  delta.revert(model);
  expect(Object.prototype.hasOwnProperty.call(model, 'forward')).toBe(false);
  expect(logits(model, 'The Eiffel Tower is located in')).toEqual(ref);
  delta.dispose();
  editor.resetMemory();
  expect(memory().numTensors).toBe(before.numTensors);
});

test('context rows: the edit is trained after generated prefixes and holds in each of them', async () => {
  const hp = { ...FAST, context_template_length_params: [[5, 3]] as [number, number][] };
  const templates = contextTemplates(model, hp.context_template_length_params, 0);
  expect(templates).toHaveLength(4);
  const editor = new TPatcherEditor(hp, { memoryTexts: MEMORY });
  const delta = await editor.edit(model, [REQUESTS[0]]);
  const [stats] = delta.info.stats!.edits as TPatcherEditStats[];
  expect(stats).toMatchObject({ success: true, neurons: 1 });
  // the minimum over the rows of the edit pre-activation
  expect(stats.editPreActivation).toBeGreaterThan(0);
  delta.apply(model);
  for (const t of templates) expect(greedy(model, t.replace('{}', 'The Eiffel Tower is located in'))).toBe('Tokyo');
  delta.dispose();
  editor.resetMemory();
  expect(() => resolveTPatcherHparams({ context_template_length_params: [[5]] }, 2)).toThrow(/context_template_length_params to be \[\[length, count\], \.\.\.\]/);
});

test('the hook-computed patch equals act(q·K + b)·V added to the MLP output', () => {
  const C = model.config.hiddenSize;
  const n = 2;
  const keys = Float32Array.from({ length: C * n }, (_, i) => Math.sin(i) * 0.3);
  const bias = Float32Array.from([0.5, -0.2]);
  const values = Float32Array.from({ length: n * C }, (_, i) => Math.cos(i) * 0.7);
  const text = 'The Colosseum is located in';
  const grab = (): { q: Float32Array; out: Float32Array } =>
    noGrad(() =>
      tidy(() => {
        let q: Tensor | undefined;
        let out: Tensor | undefined;
        model.forward([model.tokenizer!.encode(text)], {
          hooks: { [hookName(1, 'mlp_in')]: (x) => void (q = x), [hookName(1, 'mlp_out')]: (x) => void (out = x) },
        });
        return { q: q!.data() as Float32Array, out: out!.data() as Float32Array };
      }),
    );
  const plain = grab();
  const delta = new PatchDelta(
    { layer: 1, activation: 'relu', keys: tensorOf(keys, [C, n]), bias: tensorOf(bias, [n]), values: tensorOf(values, [n, C]) },
    { method: 'T-Patcher' },
  );
  delta.apply(model);
  const patched = grab();
  delta.dispose();
  const T = plain.q.length / C;
  for (let t = 0; t < T; t++) {
    const a = [0, 1].map((j) => {
      let s = bias[j];
      for (let c = 0; c < C; c++) s += plain.q[t * C + c] * keys[c * n + j];
      return Math.max(0, s);
    });
    for (let c = 0; c < C; c++) {
      const expected = plain.out[t * C + c] + a[0] * values[c] + a[1] * values[C + c];
      expect(patched.out[t * C + c]).toBeCloseTo(expected, 4);
    }
  }
});

test('memory losses: only the top-k rows are differentiated, with the values and gradients of the dense formulation', async () => {
  // M rows, n neurons; neuron 2's key is neuron 0's plus a little, so their top-k rows overlap
  // (the union of selected rows has duplicates to merge).
  const M = 300, C = 16, n = 3, k = 40;
  const hp = resolveTPatcherHparams({ memory_top_k: k }, model.config.numLayers);
  const mem = Float32Array.from({ length: M * C }, (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 1.3));
  const K0 = Float32Array.from({ length: C * n }, (_, i) => (i % n === 2 ? Math.cos(i - 2) + 0.05 * Math.sin(i) : Math.cos(i)) * 0.2);
  const inputs = [tensor(mem, [M, C]), tensor(K0, [C, n]), tensor(Float32Array.from([0.1, -0.2, 0.05]), [n]), tensor(Float32Array.from([1.5, 0.7, 2]), [n])];
  const [memoryT, keys, bias, edit] = inputs;
  for (const p of [keys, bias, edit]) p.requiresGrad = true;
  const objective = (m: { m1: Tensor; m2: Tensor }) => add(m.m1, mulScalar(m.m2, 2));
  const read = (m: { m1: Tensor; m2: Tensor }, g: Tensor[]) => ({ m1: m.m1.item(), m2: m.m2.item(), grads: g.map((t) => t.data() as Float32Array) });
  const { result: got, calls } = await kernelCalls('matmul', () =>
    tidy(() => {
      const m = memoryLosses(memoryT, keys, bias, edit, hp);
      return { ...read(m, grad(objective(m), [keys, bias, edit])), maxPre: m.maxPre };
    }),
  );
  // the whole memory enters one product, the top-k search without autograd; the gradient's
  // products are over the selected rows
  expect(calls.length).toBe(3);
  expect(calls.filter((c) => c.includes(memoryT.handle()))).toHaveLength(1);
  // dense reference: every row's pre-activation with autograd, each neuron's top-k rows chosen here
  const ref = tidy(() => {
    const pre = add(matmul(memoryT, keys), bias);
    const v = pre.data() as Float32Array;
    const flat: number[] = [];
    const owner: number[] = [];
    let maxPre = -Infinity;
    for (let j = 0; j < n; j++) {
      const rows = Array.from({ length: M }, (_, r) => r).sort((a, b) => v[b * n + j] - v[a * n + j]).slice(0, k);
      maxPre = Math.max(maxPre, v[rows[0] * n + j]);
      for (const r of rows) {
        flat.push(r * n + j);
        owner.push(j);
      }
    }
    expect(new Set(flat.map((f) => Math.floor(f / n))).size).toBeLessThan(n * k); // the overlap is there
    const sel = indexSelect(reshape(pre, [M * n]), 0, flat);
    const m = { m1: mean(exp(addScalar(sel, -hp.margin_val2))), m2: mean(exp(addScalar(sub(sel, indexSelect(edit, 0, owner)), hp.margin_val1))) };
    return { ...read(m, grad(objective(m), [keys, bias, edit])), maxPre };
  });
  inputs.forEach((t) => t.dispose());
  expect(got.maxPre).toBeCloseTo(ref.maxPre, 5);
  expect(got.m1 / ref.m1).toBeCloseTo(1, 5);
  expect(got.m2 / ref.m2).toBeCloseTo(1, 5);
  for (const [i, g] of got.grads.entries()) {
    const r = ref.grads[i];
    const scale = Math.max(...Array.from(r, Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let t = 0; t < r.length; t++) expect(Math.abs(g[t] - r[t])).toBeLessThanOrEqual(1e-5 * scale);
  }
});

test('save/load round trip; sequential editing grows the memory; skipped and failed edits', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tpatcher-'));
  const editor = new TPatcherEditor(FAST, { memoryTexts: MEMORY });
  const seen: number[] = [];
  const sizes: number[] = [];
  const run = await sequentialEdit(model, editor, REQUESTS.slice(0, 2), ({ index }) => {
    seen.push(index);
    sizes.push(editor.memorySize);
    // f_t: edit t is in place when afterEach runs
    expect(greedy(model, index === 0 ? 'The Eiffel Tower is located in' : 'Danielle Darrieux is a citizen of')).toBe(index === 0 ? 'Tokyo' : 'Japan');
  });
  expect(seen).toEqual([0, 1]);
  expect(greedy(model, 'The Eiffel Tower is located in')).toBe('Tokyo'); // edit 0 retained after edit 1
  expect(sizes[1]).toBeGreaterThan(sizes[0]); // update_memory appended each edit's queries
  const delta = run.deltas[0] as PatchDelta;
  run.deltas[1].revert(model);
  delta.revert(model);
  expect(greedy(model, 'The Eiffel Tower is located in')).toBe('Paris');
  const file = path.join(dir, 'patch.safetensors');
  await delta.save(file);
  const loaded = PatchDelta.from(await EditDelta.load(file));
  expect(loaded.neurons).toBe(delta.neurons);
  delta.apply(model);
  const a = logits(model, 'Tourists visit the Eiffel Tower in');
  delta.revert(model);
  loaded.apply(model);
  expect(logits(model, 'Tourists visit the Eiffel Tower in')).toEqual(a);
  // patches stack and must come off in reverse order
  delta.apply(model);
  expect(() => loaded.revert(model)).toThrow(/reverse order/);
  delta.revert(model);
  loaded.revert(model);
  await expect(loaded.writeEditedCheckpoint()).rejects.toThrow(/cannot express/);
  run.revertAll();
  loaded.dispose();

  // the model already answers this: nothing to patch
  const skipped = await editor.edit(model, [{ prompt: 'The {} is located in', subject: 'Colosseum', targetNew: 'Rome' }]);
  expect(skipped).not.toBeInstanceOf(PatchDelta);
  expect((skipped.info.stats!.edits as TPatcherEditStats[])[0]).toMatchObject({ skipped: true, success: true, neurons: 0 });
  // too few steps to succeed: rejected, nothing kept
  const failing = new TPatcherEditor({ max_edit_step: 1, start_val_epoch: 1 }, { memoryTexts: MEMORY });
  const rejected = await failing.edit(model, REQUESTS.slice(0, 1));
  expect((rejected.info.stats!.edits as TPatcherEditStats[])[0]).toMatchObject({ success: false, accepted: false });
  expect(rejected.updates).toHaveLength(0);
  editor.resetMemory();
  failing.resetMemory();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('clear errors: no memory, a wrong patch shape', async () => {
  await expect(new TPatcherEditor().edit(model, REQUESTS.slice(0, 1))).rejects.toThrow(/needs a memory of unrelated queries/);
  const bad = { layer: 1, activation: 'gelu_new', keys: tensorOf(new Float32Array(3 * 2), [3, 2]), bias: tensorOf(new Float32Array(2), [2]), values: tensorOf(new Float32Array(2 * 3), [2, 3]) };
  expect(() => installPatch(model, bad)).toThrow(/do not fit hidden size 64/);
  for (const t of [bad.keys, bad.bias, bad.values]) t.dispose();
});

function tensorOf(data: Float32Array, shape: number[]): Tensor {
  return tensor(data, shape);
}

test('hyperparameters: spec defaults, 0/1 booleans as in the original argparse, errors', () => {
  expect(resolveTPatcherHparams({}, 12)).toMatchObject({ layer: 11, lr: 0.01, max_edit_step: 2000, start_val_epoch: 100, check_val_every_n_epoch: 25, mlc: 10, alc: 1, margin_val1: 3, margin_val2: -3, memory_top_k: 1000, max_add_neuron_num: 5, amplify_con: 10, use_val: true });
  expect(resolveTPatcherHparams({ use_val: 0, update_memory: 1 }, 12)).toMatchObject({ use_val: false, update_memory: true });
  expect(() => resolveTPatcherHparams({ layer: 12 }, 12)).toThrow(/layer 12 is outside/);
  expect(() => resolveTPatcherHparams({ lr: 'fast' }, 12)).toThrow(/expected a number for lr/);
  expect(() => resolveTPatcherHparams({ max_edit_step: 0 }, 12)).toThrow(/positive integer for max_edit_step/);
});
