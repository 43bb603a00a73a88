/**
 * `medit edit` → `--save-delta` / `--out` → `medit generate --delta` → `medit revert`, on the HF
 * parity model with a short ROME (C = I, 4 steps): what is written is exactly the model with the
 * delta applied, generate shows the answers of both models, and revert restores the original
 * up to float rounding (and says whether it is bit-exact).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, loadModel, memory, modelFingerprint } from '@medit/core';

import { FIX, PARITY_MODEL, runCli } from './helpers/run';

const FAST = ['--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')];
const EDITED_WEIGHT = 'transformer.h.0.mlp.c_proj.weight';

let tmp: string;
let original: CausalLM;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-edit-'));
  original = await loadModel(PARITY_MODEL);
});
afterAll(() => {
  original.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function data(model: CausalLM, name: string): Float32Array {
  return model.param(name).data() as Float32Array;
}

describe('edit, generate --delta, revert', () => {
  const delta = () => path.join(tmp, 'edit.safetensors');
  const edited = () => path.join(tmp, 'edited');

  test('edit --requests writes the delta and an edited checkpoint that is the original plus the delta', async () => {
    const before = memory().numTensors;
    const r = await runCli(['edit', '--model', PARITY_MODEL, '--requests', path.join(FIX, 'requests.jsonl'), ...FAST, '--save-delta', delta(), '--out', edited(), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(memory().numTensors).toBe(before); // the command frees its model, delta and editor
    const res = r.result!;
    expect(res).toMatchObject({ method: 'ROME', layer: 0, covariance: null, delta: delta(), out: edited() });
    expect(res.edits.map((e: { prompt: string; targetNew: string }) => [e.prompt, e.targetNew])).toEqual([
      ['The Eiffel Tower is located in', 'Tokyo'],
      ['The mother tongue of Danielle Darrieux is', 'English'],
    ]);
    expect(res.edits[0].before).toBe('Paris.');
    for (const e of res.edits) expect(e.updateNorm).toBeGreaterThan(0);

    const saved = await EditDelta.load(delta());
    expect(saved.info.method).toBe('ROME');
    expect(saved.info.modelFingerprint).toBe(modelFingerprint(original));
    expect(saved.info.requests![1]).toEqual({ prompt: 'The mother tongue of {} is', subject: 'Danielle Darrieux', targetNew: 'English' });
    saved.dispose();
    // atomic save: one delta file and the finished directory, with the tokenizer copied
    expect(fs.readdirSync(tmp).sort()).toEqual(['edit.safetensors', 'edited']);
    expect(fs.readdirSync(edited()).sort()).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));

    // The checkpoint on disk equals the original with the delta applied in memory, bit for bit.
    const onDisk = await loadModel(edited());
    const d = await EditDelta.load(delta());
    const fresh = await loadModel(PARITY_MODEL);
    d.apply(fresh);
    try {
      for (const name of fresh.params.keys()) {
        const same = Buffer.compare(Buffer.from(data(onDisk, name).buffer), Buffer.from(data(fresh, name).buffer)) === 0;
        expect([name, same]).toEqual([name, true]);
        // and only the rewritten weight differs from the original
        const unchanged = Buffer.compare(Buffer.from(data(original, name).buffer), Buffer.from(data(onDisk, name).buffer)) === 0;
        expect([name, unchanged]).toEqual([name, name !== EDITED_WEIGHT]);
      }
    } finally {
      d.dispose();
      fresh.dispose();
      onDisk.dispose();
    }
  });

  test('edit refuses to overwrite an existing --out directory', async () => {
    const r = await runCli(['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', ...FAST, '--out', edited()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
  });

  test('generate --delta shows the original and the edited model’s continuations', async () => {
    const prompt = 'The mother tongue of Danielle Darrieux is';
    const plain = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', prompt, '--max-new-tokens', '3', '--json']);
    const onEdited = await runCli(['generate', '--model', edited(), '--prompt', prompt, '--max-new-tokens', '3', '--json']);
    const both = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', prompt, '--max-new-tokens', '3', '--delta', delta(), '--json']);
    expect([plain.code, onEdited.code, both.code]).toEqual([0, 0, 0]);
    expect(plain.result!.text).not.toContain('<|endoftext|>');
    expect(both.result).toMatchObject({ before: plain.result!.text, after: onEdited.result!.text, method: 'ROME', sameModel: true });
    const human = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', prompt, '--max-new-tokens', '3', '--delta', delta()]);
    expect(human.stdout).toBe(`before: ${prompt}${plain.result!.text}\nafter:  ${prompt}${onEdited.result!.text}\n`);
    // sampling is seeded
    const s1 = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', 'The', '--sample', '--seed', '7', '--max-new-tokens', '8', '--json']);
    const s2 = await runCli(['generate', '--model', PARITY_MODEL, '--prompt', 'The', '--sample', '--seed', '7', '--max-new-tokens', '8', '--json']);
    expect(s1.result!.text).toBe(s2.result!.text);
  });

  test('revert writes the original up to float rounding and reports whether it is bit-exact', async () => {
    const out = path.join(tmp, 'reverted');
    const r = await runCli(['revert', '--model', edited(), '--delta', delta(), '--out', out, '--json']);
    expect(r.code).toBe(0);
    const back = await loadModel(out);
    try {
      const exact = modelFingerprint(back) === modelFingerprint(original);
      expect(r.result).toMatchObject({ exact, originalFingerprint: modelFingerprint(original), fingerprint: modelFingerprint(back) });
      const bound = r.result!.roundingBound as number;
      expect(bound).toBeGreaterThan(0);
      expect(bound).toBeLessThan(1e-6);
      for (const name of original.params.keys()) {
        const a = data(original, name);
        const b = data(back, name);
        let maxDiff = 0;
        for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        if (name === EDITED_WEIGHT) expect(maxDiff).toBeLessThanOrEqual(bound);
        else expect([name, maxDiff]).toEqual([name, 0]);
      }
      if (!exact) {
        // --exact refuses and writes nothing
        const strict = await runCli(['revert', '--model', edited(), '--delta', delta(), '--out', path.join(tmp, 'strict'), '--exact']);
        expect(strict.code).toBe(1);
        expect(strict.stderr).toMatch(/does not reproduce the original weights bit-exactly .*nothing was written/);
        expect(fs.existsSync(path.join(tmp, 'strict'))).toBe(false);
      }
    } finally {
      back.dispose();
    }
  });

  test('revert refuses the unedited model itself', async () => {
    const r = await runCli(['revert', '--model', PARITY_MODEL, '--delta', delta(), '--out', path.join(tmp, 'nothing')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the weights do not carry it .*they are the weights the edit was computed on: it was never applied; nothing was written/);
  });
});

test('edit with a full prompt and YAML hyperparameters (layer 1, no covariance) prints before/after', async () => {
  const r = await runCli([
    'edit', '--model', PARITY_MODEL, '--prompt', 'The Eiffel Tower is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo',
    '--hparams', path.join(FIX, 'hparams-fast.yaml'),
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^method  ROME, layer 1, no covariance \(C = I\)$/m);
  expect(r.stdout).toMatch(/^edit 1: The Eiffel Tower is located in → Tokyo\n  prompt     The Eiffel Tower is located in   Paris\. → .+   [✓✗] "Tokyo" is (now|not) the top answer$/m);
});

test('Ctrl-C (an aborted signal) during edit exits 130 and saves nothing', async () => {
  const controller = new AbortController();
  controller.abort();
  const file = path.join(tmp, 'cancelled.safetensors');
  const r = await runCli(['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', ...FAST, '--save-delta', file], {
    signal: controller.signal,
  });
  expect(r.code).toBe(130);
  expect(r.stderr).toBe('medit edit: cancelled\n');
  expect(fs.existsSync(file)).toBe(false);
});
