/**
 * @jest-environment ./packages/onnx/test/helpers/host-typed-arrays-env.js
 */
/**
 * `medit export` on real edits: ROME and MEMIT deltas of fact-small (GPT-2, Conv1D) and
 * fact-llama (Llama, GQA), and a MEND delta of fact-small, written as PEFT LoRA adapters — base + adapter loaded by @medit/core
 * gives the edited model's logits within 1e-5 — as an edited HF checkpoint (the edited weights
 * bit for bit), and as ONNX run by onnxruntime-node (the edited logits within 1e-4). Errors say
 * what is wrong and write nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, type EditRequest, fillTemplate, loadModel, memory, noGrad, randn, readCorpus, tidy } from '@medit/core';
import { readDataset } from '@medit/data';
import { createMassEditor } from '@medit/memit';
import { MendEditor } from '@medit/mend';
import { RomeEditor } from '@medit/rome';

import { ROOT, runCli } from './helpers/run';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

const MODELS = ['fact-small', 'fact-llama'];
const REQUESTS: EditRequest[] = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits/counterfact-train.json'))
  .cases.slice(0, 3)
  .map((c) => c.request);
const PROMPTS = REQUESTS.map((r) => fillTemplate(r.prompt, r.subject));

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-export-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Logits [B, T, V] of the edit prompts, right-padded to one batch. */
function promptLogits(model: CausalLM): { logits: Float32Array; ids: number[][]; mask: number[][] } {
  const rows = PROMPTS.map((p) => model.tokenizer!.encode(p));
  const T = Math.max(...rows.map((r) => r.length));
  const ids = rows.map((r) => [...r, ...Array(T - r.length).fill(0)]);
  const mask = rows.map((r) => [...Array(r.length).fill(1), ...Array(T - r.length).fill(0)]);
  return { logits: noGrad(() => tidy(() => model.forward(ids, { attentionMask: mask }).logits.data() as Float32Array)), ids, mask };
}

/** Largest difference over the rows' real positions. */
function maxDiff(a: Float32Array, b: Float32Array, mask: number[][]): number {
  const V = a.length / (mask.length * mask[0].length);
  let worst = 0;
  mask.forEach((row, bi) =>
    row.forEach((m, t) => {
      if (!m) return;
      const at = (bi * row.length + t) * V;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(a[at + v] - b[at + v]));
    }),
  );
  return worst;
}

describe.each(MODELS)('%s', (name) => {
  const dir = path.join(ROOT, 'test-fixtures/models', name);
  let model: CausalLM;
  const deltas: Record<string, string> = {};
  beforeAll(async () => {
    model = await loadModel(dir);
    // ROME: rank one per request at one layer (C = I to stay fast); MEMIT: per-layer factors over two layers
    const rome = new RomeEditor({ layers: [1], v_num_grad_steps: 8, mom2_adjustment: false }, { contextTemplates: ['{}'] });
    const memit = createMassEditor('MEMIT', { layers: [1, 2], v_num_grad_steps: 6, mom2_n_samples: 40, mom2_ridge: 0.01, mom2_update_weight: 1000 }, { corpus: readCorpus(path.join(ROOT, 'test-fixtures/factworld/filler.txt')), contextTemplates: [['{}']] });
    for (const [method, editor] of [
      ['ROME', rome],
      ['MEMIT', memit],
    ] as const) {
      const delta = await editor.edit(model, REQUESTS);
      deltas[method] = path.join(tmp, `${name}-${method}.safetensors`);
      await delta.save(deltas[method]);
      delta.dispose();
      editor.dispose();
    }
  });
  afterAll(() => model.dispose());

  /** The model with the saved edit applied: its prompt logits. */
  async function editedLogits(method: string) {
    const delta = await EditDelta.load(deltas[method]);
    delta.apply(model);
    try {
      return { ...promptLogits(model), delta };
    } finally {
      delta.revert(model);
      delta.dispose();
    }
  }

  test.each(['ROME', 'MEMIT'])('%s: the LoRA adapter on the base model gives the edited logits within 1e-5', async (method) => {
    const before = memory().numTensors;
    const out = path.join(tmp, `${name}-${method}-lora`);
    const r = await runCli(['export', '--format', 'lora', '--model', dir, '--delta', deltas[method], '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = r.result!;
    const layers = method === 'ROME' ? [1] : [1, 2];
    const weight = (l: number) => (name === 'fact-small' ? `transformer.h.${l}.mlp.c_proj.weight` : `model.layers.${l}.mlp.down_proj.weight`);
    expect(res.modules.map((m: { weightName: string; rank: number; from: string }) => [m.weightName, m.rank, m.from])).toEqual(layers.map((l) => [weight(l), 3, 'factors']));
    expect(res.r).toBe(3);
    expect(fs.readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 3, lora_alpha: 3, fan_in_fan_out: name === 'fact-small', base_model_name_or_path: dir, bias: 'none' });
    expect(config.target_modules).toEqual(layers.map((l) => weight(l).replace(/\.weight$/, '')));

    const base = promptLogits(model);
    const edited = await editedLogits(method);
    expect(maxDiff(edited.logits, base.logits, base.mask)).toBeGreaterThan(0.1); // the edit moves the logits
    const withAdapter = await loadModel(dir, { adapter: out });
    try {
      expect(maxDiff(promptLogits(withAdapter).logits, edited.logits, base.mask)).toBeLessThan(1e-5);
    } finally {
      withAdapter.dispose();
    }
    expect(memory().numTensors).toBe(before);
  });

  test('hf writes the edited weights bit for bit; onnx runs the edited model in onnxruntime within 1e-4', async () => {
    const hf = path.join(tmp, `${name}-ROME-hf`);
    const r1 = await runCli(['export', '--format', 'hf', '--model', dir, '--delta', deltas.ROME, '--out', hf]);
    expect([r1.code, r1.stderr]).toEqual([0, '']);
    expect(r1.stdout).toMatch(/as a Hugging Face checkpoint/);
    const delta = await EditDelta.load(deltas.ROME);
    delta.apply(model);
    const onDisk = await loadModel(hf);
    try {
      for (const [w, t] of model.params) expect([w, Buffer.from((onDisk.param(w).data() as Float32Array).buffer).equals(Buffer.from((t.data() as Float32Array).buffer))]).toEqual([w, true]);
    } finally {
      onDisk.dispose();
      delta.revert(model);
      delta.dispose();
    }

    const onnxDir = path.join(tmp, `${name}-ROME-onnx`);
    const r2 = await runCli(['export', '--format', 'onnx', '--model', dir, '--delta', deltas.ROME, '--out', onnxDir, '--json']);
    expect([r2.code, r2.stderr]).toEqual([0, '']);
    expect(r2.result!.files).toEqual(['decoder_model.onnx', 'decoder_with_past_model.onnx']);
    const edited = await editedLogits('ROME');
    const session = await ort.InferenceSession.create(path.join(onnxDir, 'decoder_model.onnx'), { intraOpNumThreads: 1 });
    try {
      const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length]);
      const positions = edited.mask.map((row) => row.map((_, t) => t));
      const out = await session.run({ input_ids: i64(edited.ids), attention_mask: i64(edited.mask), position_ids: i64(positions) });
      expect(maxDiff(out.logits.data as Float32Array, edited.logits, edited.mask)).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  });
});

test('MEND (fact-small): per-token factors of several MLP weights, ranks in rank_pattern; base + adapter gives the edited logits', async () => {
  const dir = path.join(ROOT, 'test-fixtures/models/fact-small');
  const model = await loadModel(dir);
  const mend = await MendEditor.load(path.join(ROOT, 'test-fixtures/editors/mend-fact-small.safetensors'), model);
  const file = path.join(tmp, 'mend.safetensors');
  const delta = await mend.edit(model, REQUESTS.slice(0, 2));
  await delta.save(file);
  mend.dispose();
  const out = path.join(tmp, 'mend-lora');
  const r = await runCli(['export', '--format', 'lora', '--model', dir, '--delta', file, '--out', out, '--json']);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const modules = r.result!.modules as { weightName: string; rank: number; from: string }[];
  expect(modules.map((m) => m.weightName).sort()).toEqual([...new Set(delta.updates.map((u) => u.name))].sort());
  expect(modules.every((m) => m.from === 'factors' && m.rank === delta.updates.find((u) => u.name === m.weightName)!.left!.shape[1])).toBe(true);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
  for (const m of modules.filter((x) => x.rank !== config.r)) expect(config.rank_pattern[m.weightName.replace(/^transformer\./, '').replace(/\.weight$/, '')]).toBe(m.rank);
  const base = promptLogits(model);
  delta.apply(model);
  const edited = promptLogits(model);
  delta.revert(model);
  delta.dispose();
  model.dispose();
  expect(maxDiff(edited.logits, base.logits, base.mask)).toBeGreaterThan(0.1);
  const withAdapter = await loadModel(dir, { adapter: out });
  expect(maxDiff(promptLogits(withAdapter).logits, edited.logits, base.mask)).toBeLessThan(1e-5);
  withAdapter.dispose();
});

describe('errors', () => {
  const small = path.join(ROOT, 'test-fixtures/models/fact-small');

  test('usage: a missing --format or --delta, options of another format, an existing --out', async () => {
    const out = path.join(tmp, 'never');
    let r = await runCli(['export', '--model', small, '--out', out]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/missing required option --format \(lora, onnx, hf\)/)]);
    r = await runCli(['export', '--format', 'tflite', '--model', small, '--out', out]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/Expected one of lora, onnx, hf for --format but received "tflite"/)]);
    r = await runCli(['export', '--format', 'lora', '--model', small, '--out', out]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/--format lora needs --delta/)]);
    r = await runCli(['export', '--format', 'onnx', '--model', small, '--out', out, '--max-rank', '4']);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/--max-rank only applies with --format lora/)]);
    r = await runCli(['export', '--format', 'onnx', '--model', small, '--out', tmp]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/--out .* already exists/)]);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a dense full-rank edit is refused with the rank it needs; memory edits are not weight edits', async () => {
    const model = await loadModel(small);
    const w = 'transformer.h.1.mlp.c_proj.weight';
    const dense = new EditDelta([{ name: w, delta: randn([...model.param(w).shape], { seed: 3, std: 1e-3 }) }], { method: 'FT' });
    const ftFile = path.join(tmp, 'ft.safetensors');
    await dense.save(ftFile);
    dense.dispose();
    const memoryFile = path.join(tmp, 'serac.safetensors');
    const serac = new EditDelta([], { method: 'SERAC', stats: { serac: { statements: ['x'], classifier: 'scope-embedding', artefact: 'nowhere' } } });
    await serac.save(memoryFile);
    model.dispose();
    const out = path.join(tmp, 'refused');
    let r = await runCli(['export', '--format', 'lora', '--model', small, '--delta', ftFile, '--out', out]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/change to transformer\.h\.1\.mlp\.c_proj\.weight \[640, 160\] has numerical rank 160 .*rank limit 127 .*needs rank 160/)]);
    r = await runCli(['export', '--format', 'lora', '--model', small, '--delta', ftFile, '--out', out, '--max-rank', '200']);
    expect(r.code).toBe(0); // allowed when asked for: exact at rank 160
    expect(JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8')).r).toBe(160);
    for (const format of ['lora', 'hf', 'onnx']) {
      r = await runCli(['export', '--format', format, '--model', small, '--delta', memoryFile, '--out', path.join(tmp, 'refused-memory')]);
      expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(new RegExp(`the SERAC edit is a memory beside the frozen model, not a change of its weights, so it cannot be exported as ${format}`))]);
    }
    expect(fs.existsSync(path.join(tmp, 'refused-memory'))).toBe(false);
  });

  test('onnx exports a BERT encoder directory as model.onnx', async () => {
    const out = path.join(tmp, 'bert-onnx');
    const r = await runCli(['export', '--format', 'onnx', '--model', path.join(ROOT, 'test-fixtures/parity/bert'), '--out', out, '--json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(fs.readdirSync(out)).toEqual(expect.arrayContaining(['model.onnx', 'config.json']));
    const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'), { intraOpNumThreads: 1 });
    expect([...session.inputNames].sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
    expect([...session.outputNames]).toEqual(['last_hidden_state']);
    await session.release();
  });
});
