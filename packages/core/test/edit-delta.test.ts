/**
 * EditDelta: apply/revert is bit-exact, save/load round-trips, an edited checkpoint loads
 * back with identical logits, and a save killed at any moment leaves the source intact and
 * no directory that looks complete.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { EditDelta, loadModel, memory, modelFingerprint, noGrad, randn, tidy, type CausalLM } from '../src';

const SRC = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');
const IDS = [[3, 7, 11, 5, 9]];
const W = 'transformer.h.1.mlp.c_proj.weight';

let model: CausalLM;
let tmp: string;
beforeAll(async () => {
  model = await loadModel(SRC);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-delta-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const logits = (m: CausalLM) => noGrad(() => tidy(() => Array.from(m.forward(IDS).logits.data() as Float32Array)));

function makeDelta(): EditDelta {
  const [F, C] = model.param(W).shape;
  return new EditDelta(
    [
      { name: W, left: randn([F, 2], { seed: 1, std: 0.3 }), right: randn([2, C], { seed: 2, std: 0.3 }) },
      { name: 'transformer.h.0.attn.c_proj.bias', delta: randn([C], { seed: 3 }) },
    ],
    { method: 'test', modelFingerprint: modelFingerprint(model) },
  );
}

test('apply changes the outputs and revert restores every weight bit-exactly', () => {
  const before = modelFingerprint(model);
  const base = logits(model);
  const delta = makeDelta();
  delta.apply(model);
  expect(modelFingerprint(model)).not.toBe(before);
  expect(logits(model)).not.toEqual(base);
  expect(() => delta.apply(model)).toThrow(/already applied/);
  delta.revert(model);
  expect(modelFingerprint(model)).toBe(before);
  expect(logits(model)).toEqual(base);
  delta.dispose();
});

test('a delta whose shape does not fit the weight is refused before touching the model', () => {
  const before = modelFingerprint(model);
  const bad = new EditDelta([{ name: W, delta: randn([3, 3], { seed: 1 }) }], { method: 'test' });
  expect(() => bad.apply(model)).toThrow(/has shape \[3,3\] but the weight is/);
  const missing = new EditDelta([{ name: 'nope.weight', delta: randn([3], { seed: 1 }) }], { method: 'test' });
  expect(() => missing.apply(model)).toThrow(/no weight nope.weight/);
  expect(modelFingerprint(model)).toBe(before);
  bad.dispose();
  missing.dispose();
});

test('save and load round-trip the updates and the JSON sidecar', async () => {
  const delta = makeDelta();
  const file = path.join(tmp, 'edit.safetensors');
  await delta.save(file);
  const loaded = await EditDelta.load(file);
  expect(loaded.info.method).toBe('test');
  expect(loaded.updates.map((u) => u.name)).toEqual(delta.updates.map((u) => u.name));
  delta.apply(model);
  const a = logits(model);
  delta.revert(model);
  loaded.apply(model);
  expect(logits(model)).toEqual(a);
  loaded.revert(model);
  delta.dispose();
  loaded.dispose();
  await expect(EditDelta.load(path.join(tmp, 'missing.safetensors'))).rejects.toThrow(/JSON sidecar/);
});

test('an edited checkpoint loads back with identical logits and leaves the source untouched', async () => {
  const srcBytes = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const delta = makeDelta();
  const out = path.join(tmp, 'edited');
  const fp = modelFingerprint(model);
  await delta.writeEditedCheckpoint(model, out);
  expect(modelFingerprint(model)).toBe(fp); // the in-memory model is as it was
  delta.apply(model);
  const want = logits(model);
  delta.revert(model);
  const edited = await loadModel(out);
  expect(logits(edited)).toEqual(want);
  expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
  edited.dispose();
  expect(fs.readFileSync(path.join(SRC, 'model.safetensors')).equals(srcBytes)).toBe(true);
  await expect(delta.writeEditedCheckpoint(model, out)).rejects.toThrow(/already exists/);
  expect(modelFingerprint(model)).toBe(fp);
  delta.dispose();
});

test('killing the process during a save never leaves a complete-looking directory or a changed source', async () => {
  const dist = path.resolve(__dirname, '../dist/index.js');
  if (!fs.existsSync(dist)) throw new Error('packages/core/dist is missing: run `npm run build` (npm ci does) before the tests');
  const srcBytes = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const script = `
    const m = require(${JSON.stringify(dist)});
    (async () => {
      const model = await m.loadModel(${JSON.stringify(SRC)});
      const [F, C] = model.param(${JSON.stringify(W)}).shape;
      const d = new m.EditDelta([{ name: ${JSON.stringify(W)}, delta: m.randn([F, C], { seed: 1 }) }], { method: 'kill-test' });
      process.stdout.write('saving\\n');
      await d.writeEditedCheckpoint(model, process.argv[1]);
      process.stdout.write('saved\\n');
    })();`;
  for (const delayMs of [0, 5, 20, 60, 150]) {
    const out = path.join(tmp, `killed-${delayMs}`);
    const child = spawn(process.execPath, ['-e', script, out], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    if (fs.existsSync(out)) {
      // renamed into place only when complete: it must load
      const m = await loadModel(out);
      m.dispose();
    }
    for (const f of fs.readdirSync(tmp).filter((f) => f.startsWith(`killed-${delayMs}.tmp-`))) {
      expect(fs.existsSync(path.join(tmp, f, 'config.json')) && fs.existsSync(out)).toBe(false);
    }
  }
  expect(fs.readFileSync(path.join(SRC, 'model.safetensors')).equals(srcBytes)).toBe(true);
});

test('no native memory leaks across apply/revert cycles', () => {
  const delta = makeDelta();
  delta.apply(model);
  delta.revert(model);
  const before = memory();
  for (let i = 0; i < 20; i++) {
    delta.apply(model);
    delta.revert(model);
  }
  expect(memory().numBytes).toBe(before.numBytes);
  expect(memory().numTensors).toBe(before.numTensors);
  delta.dispose();
});
