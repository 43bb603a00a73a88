/**
 * The resumable trainer: a run interrupted halfway (mid-epoch) and resumed ends with exactly the
 * weights, history and step count of an uninterrupted run, and a checkpoint from other settings
 * is refused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { createModel, memory } from '@medit/core';

import { Rng } from '../../factworld/prng';
import { packRows } from '../pack';
import { learningRate, trainLanguageModel, type TrainOptions } from '../trainer';

const VOCAB = 40;
const ROW = 16;

/** Documents that differ per (phase, epoch), as fact-base's epochs do. */
function documents(phase: number, epoch: number): number[][] {
  const rng = new Rng(1000 * phase + epoch);
  return Array.from({ length: 24 }, () => Array.from({ length: 3 + rng.int(6) }, () => 1 + rng.int(VOCAB - 1)));
}

function options(dir: string): Omit<TrainOptions, 'model'> {
  return {
    row: ROW, eos: 0, seed: 7,
    phases: [0, 1].map((p) => ({ name: `phase-${p}`, epochs: 2, documents: (e: number) => documents(p, e) })),
    schedule: { batchSize: 3, lr: 1e-2, warmupSteps: 3, weightDecay: 0.01, totalSteps: 40 },
    checkpointDir: dir,
  };
}

const tiny = () => createModel({ model_type: 'gpt2', vocab_size: VOCAB, n_embd: 16, n_layer: 1, n_head: 2, n_inner: 32, n_positions: ROW }, { seed: 3 });
const weights = (m: ReturnType<typeof tiny>) => [...m.params].map(([k, t]) => [k, Buffer.from((t.data() as Float32Array).buffer).toString('base64')]);

test('packRows keeps documents whole, separates them with EOS and never targets padding', () => {
  const docs = [[5, 6, 7], [8, 9], Array.from({ length: 14 }, (_, i) => 10 + i)];
  const { ids, targets } = packRows(docs, 0, () => 0.5, ROW);
  expect(ids.every((r) => r.length === ROW)).toBe(true);
  for (const d of docs) expect(ids.some((r) => r.join(',').includes(d.join(',')))).toBe(true);
  ids.forEach((r, i) => targets[i].forEach((t, j) => (t === -100 ? undefined : expect(t).toBe(r[j + 1]))));
});

test('the schedule warms up, holds, decays to 10 % and stays there past the planned steps', () => {
  const s = { batchSize: 1, lr: 1, warmupSteps: 10, weightDecay: 0, totalSteps: 100 };
  expect(learningRate(s, 0)).toBeCloseTo(0.1);
  expect(learningRate(s, 50)).toBe(1);
  expect(learningRate(s, 99)).toBeCloseTo(0.1 + 0.9 / 20);
  expect(learningRate(s, 140)).toBeCloseTo(0.1);
});

test('an interrupted and resumed run equals an uninterrupted one bit for bit', async () => {
  const before = memory().numTensors;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-trainer-'));
  try {
    const straight = tiny();
    const full = await trainLanguageModel({ model: straight, ...options(path.join(root, 'a')) });
    expect(full.stoppedBy).toBe('done');
    expect(full.history).toHaveLength(4);

    const first = tiny();
    // Stop mid-epoch (an epoch here has 3–4 batches), in the second phase's first epoch.
    const half = Math.floor(full.steps / 2) + 1;
    const part = await trainLanguageModel({ model: first, ...options(path.join(root, 'b')), stopAtStep: half });
    expect(part).toMatchObject({ stoppedBy: 'stopAtStep', steps: half });
    first.dispose();

    const resumed = tiny();
    const rest = await trainLanguageModel({ model: resumed, ...options(path.join(root, 'b')), resume: true });
    expect(rest.stoppedBy).toBe('done');
    expect(rest.steps).toBe(full.steps);
    expect(rest.tokens).toBe(full.tokens);
    expect(rest.history.map(({ seconds: _s, ...e }) => e)).toEqual(full.history.map(({ seconds: _s, ...e }) => e));
    expect(weights(resumed)).toEqual(weights(straight));
    // The loss fell over the run (the model learns the documents' token statistics).
    expect(full.history[3].loss).toBeLessThan(full.history[0].loss);

    const other = tiny();
    await expect(trainLanguageModel({ model: other, ...options(path.join(root, 'b')), seed: 8, resume: true })).rejects.toThrow(/other settings/);
    other.dispose();
    straight.dispose();
    resumed.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  expect(memory().numTensors).toBe(before);
});
