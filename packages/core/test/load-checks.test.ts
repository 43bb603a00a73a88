/**
 * loadModel refuses broken checkpoints by name: a weight holding NaN/Inf (the tensor and its
 * file; `allowNonFinite` loads it for inspection) and a weight whose shape contradicts
 * config.json (tensor, file, expected and actual shape) — at load, not at the first forward.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { NonFiniteError, ShapeError, Tensor, loadModel, memory, readCheckpoint, tensor, writeCheckpointFile } from '../src';

const SRC = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');
const W = 'transformer.h.1.mlp.c_fc.weight';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-load-checks-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the parity model with `name` replaced by `make(original)`. */
async function brokenCopy(dir: string, name: string, make: (t: Tensor) => Tensor): Promise<string> {
  const out = path.join(tmp, dir);
  fs.mkdirSync(out);
  for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(SRC, f), path.join(out, f));
  const ckpt = await readCheckpoint(SRC);
  const tensors = new Map([...ckpt.tensors].map(([k, h]) => [k, new Tensor(h)]));
  const replaced = make(tensors.get(name)!);
  tensors.get(name)!.dispose();
  tensors.set(name, replaced);
  await writeCheckpointFile(path.join(out, 'model.safetensors'), new Map([...tensors].map(([k, t]) => [k, t.handle()])), { format: 'pt' });
  for (const t of tensors.values()) t.dispose();
  return out;
}

test('a NaN weight is refused naming the tensor and file; allowNonFinite loads it', async () => {
  const dir = await brokenCopy('nan', W, (t) => {
    const d = (t.data() as Float32Array).slice();
    d[5] = NaN;
    return tensor(d, t.shape);
  });
  const [C, F] = await shapeOf(W);
  const live = memory();
  const err = await loadModel(dir).catch((e) => e);
  expect(err).toBeInstanceOf(NonFiniteError);
  expect(err.message).toBe(`${path.join(dir, 'model.safetensors')}: tensor ${W} holds 1 non-finite value (NaN or ±Inf) of ${C * F}; the first is NaN (element 5 of shape [${C}, ${F}])`);
  expect(memory().numTensors).toBe(live.numTensors);
  expect(memory().numBytes).toBe(live.numBytes);
  const m = await loadModel(dir, { allowNonFinite: true });
  expect(Number.isNaN((m.param(W).data() as Float32Array)[5])).toBe(true);
  m.dispose();
});

async function shapeOf(name: string): Promise<readonly number[]> {
  const m = await loadModel(SRC);
  const s = m.param(name).shape;
  m.dispose();
  return s;
}

test('a weight whose shape contradicts config.json fails at load naming tensor, file, expected and actual shape', async () => {
  const [C, F] = await shapeOf(W);
  const dir = await brokenCopy('shape', W, () => tensor(new Float32Array(C * (F - 1)), [C, F - 1]));
  const live = memory();
  const err = await loadModel(dir).catch((e) => e);
  expect(err).toBeInstanceOf(ShapeError);
  expect(err.message).toBe(`${path.join(dir, 'model.safetensors')}: weight ${W} has shape [${C}, ${F - 1}] but config.json implies [${C}, ${F}]`);
  expect(err.tensor).toBe(W);
  expect(memory().numTensors).toBe(live.numTensors);
  expect(memory().numBytes).toBe(live.numBytes);
});
