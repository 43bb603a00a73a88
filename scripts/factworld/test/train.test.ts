/**
 * Training on the fact world through the engine: packing is sound, the loss falls, and a run
 * stopped mid-way resumes from its checkpoint to the same weights as an uninterrupted one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { AdamW, Tokenizer, createModel, crossEntropy, grad, memory, mulberry32, tidy } from '@medit/core';

import { type Preset, ROW, checkpointFile, packRows, trainFactWorld } from '../train';

const WORLD = path.resolve(__dirname, '../../../test-fixtures/factworld');

test('packRows keeps lines whole, separates them with EOS and ignores padding in the targets', () => {
  const lines = [[5, 6, 7], [8, 9], Array.from({ length: 62 }, (_, i) => 10 + i)];
  const { ids, targets } = packRows(lines, 0, mulberry32(1));
  expect(ids.every((r) => r.length === ROW)).toBe(true);
  const flat = ids.flat();
  for (const line of lines) expect(ids.some((r) => r.join(',').includes(line.join(',')))).toBe(true);
  expect(flat.filter((t) => t >= 5).length).toBe(3 + 2 + 62);
  // target at t is the next token inside the row; padding never a target
  ids.forEach((r, i) => targets[i].forEach((t, j) => (t === -100 ? undefined : expect(t).toBe(r[j + 1]))));
});

test('a micro GPT-2 trained for a few steps on the fact-world corpus lowers its loss', () => {
  const tok = Tokenizer.fromFile(path.join(WORLD, 'tokenizer/tokenizer.json'));
  const lines = fs
    .readFileSync(path.join(WORLD, 'corpus/train-tiny.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, 200)
    .map((l) => tok.encode(l));
  const model = createModel({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_embd: 32, n_layer: 1, n_head: 2, n_positions: ROW }, { seed: 1 });
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: 1e-2 });
  const { ids, targets } = packRows(lines, tok.eosTokenId ?? 0, mulberry32(2));
  const batch = ids.slice(0, 8);
  const tgt = targets.slice(0, 8).flat();
  const losses: number[] = [];
  for (let step = 0; step < 15; step++) {
    losses.push(
      tidy(() => {
        const loss = crossEntropy(model.forward(batch).logits, tgt);
        opt.update(grad(loss, params));
        return loss.item();
      }),
    );
  }
  expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.7);
  opt.dispose();
  model.dispose();
});

test('a run stopped mid-epoch resumes from its checkpoint to the same weights as an uninterrupted one', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-fw-train-'));
  try {
    // a small world: the real tokenizer and facts, the first 120 lines of the corpus
    const world = path.join(tmp, 'world');
    fs.mkdirSync(path.join(world, 'corpus'), { recursive: true });
    fs.cpSync(path.join(WORLD, 'tokenizer'), path.join(world, 'tokenizer'), { recursive: true });
    fs.copyFileSync(path.join(WORLD, 'world.json'), path.join(world, 'world.json'));
    const lines = fs.readFileSync(path.join(WORLD, 'corpus/train-tiny.txt'), 'utf8').split('\n').slice(0, 120);
    fs.writeFileSync(path.join(world, 'corpus/train-tiny.txt'), lines.join('\n') + '\n');
    const preset: Preset = {
      model: { model_type: 'gpt2', n_embd: 16, n_layer: 1, n_head: 2, n_positions: ROW, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 },
      phases: [{ corpus: 'train-tiny.txt', epochs: 2 }],
      batchSize: 16,
      lr: 3e-3,
      warmupSteps: 4,
      weightDecay: 0.01,
      recallOn: 'tiny',
    };
    const run = { presetName: 'micro', preset, worldDir: world, seed: 3, log: () => undefined };
    const live = memory().numTensors;
    const whole = path.join(tmp, 'whole');
    await trainFactWorld({ ...run, out: whole });

    const stopped = path.join(tmp, 'stopped');
    // stops mid-way through the second epoch, leaving its checkpoint and no model
    const steps = JSON.parse(fs.readFileSync(path.join(whole, 'training.json'), 'utf8')).steps as number;
    expect(steps % 2).toBe(0); // two epochs of equal length
    await expect(trainFactWorld({ ...run, out: stopped, stopAtStep: steps / 2 + 1 })).resolves.toBe('stopAtStep');
    expect(fs.existsSync(checkpointFile(stopped))).toBe(true);
    expect(fs.existsSync(stopped)).toBe(false);
    expect(memory().numTensors).toBe(live);
    const resumedLog: Record<string, unknown>[] = [];
    await trainFactWorld({ ...run, out: stopped, resume: true, log: (row) => void resumedLog.push(row) });
    expect(resumedLog.find((r) => 'epoch' in r)).toMatchObject({ phase: 0, epoch: 1 });
    expect(fs.readFileSync(path.join(stopped, 'model.safetensors')).equals(fs.readFileSync(path.join(whole, 'model.safetensors')))).toBe(true);
    expect(fs.existsSync(checkpointFile(stopped))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(stopped, 'training.json'), 'utf8')).steps).toBe(JSON.parse(fs.readFileSync(path.join(whole, 'training.json'), 'utf8')).steps);
    expect(memory().numTensors).toBe(live);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
