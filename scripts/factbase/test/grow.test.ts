/**
 * Growing a trained fact-base model (train.ts, presets with `grownFrom`): the source must be a
 * model train.js wrote for the named preset; the grown model has the preset's shape and the
 * source's logits, and records the source's weights hash, epochs and training time. A 2-layer
 * stand-in for fb-256x6 with fact-base's tokenizer.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, Tokenizer, createModel, loadModel, noGrad, saveModel, tidy } from '@medit/core';

import { type Preset, growSource, presetConfig } from '../train';

const ROOT = path.join(__dirname, '../../..');
const TOKENIZER = path.join(ROOT, 'test-fixtures/factbase/tokenizer');
const GPT2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_positions: 32, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, n_embd: 16, n_layer: 2, n_head: 2 };
const SCHEDULE = { epochs: 1, batchSize: 2, lr: 1e-3, warmupSteps: 1, weightDecay: 0.01 };
const SOURCE: Preset = { model: { ...GPT2, n_inner: 24 }, editLayers: [0], ...SCHEDULE, epochs: 3 };
const GROWN: Preset = { model: { ...GPT2, n_inner: 40 }, editLayers: [0], ...SCHEDULE, grownFrom: { preset: 'tiny-source', seed: 17 } };

const values = (m: CausalLM, name: string) => Array.from(m.param(name).data() as Float32Array);

let tmp: string;
let tokenizer: Tokenizer;
let sourceDir: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-grow-'));
  tokenizer = Tokenizer.fromFile(path.join(TOKENIZER, 'tokenizer.json'));
  const source = createModel(presetConfig(SOURCE, tokenizer), { seed: 4, tokenizer });
  sourceDir = path.join(tmp, 'source');
  await saveModel(source, sourceDir, { sideFilesFrom: TOKENIZER });
  fs.writeFileSync(path.join(sourceDir, 'training.json'), JSON.stringify({ preset: 'tiny-source', config: SOURCE, steps: 30, tokens: 900, trainSeconds: 12.5 }));
  source.dispose();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the grown model has the preset’s width and the source’s logits, and records its source', async () => {
  const { model, source } = await growSource(sourceDir, GROWN, tokenizer);
  expect(model.config.intermediateSize).toBe(40);
  const sha256 = createHash('sha256').update(fs.readFileSync(path.join(sourceDir, 'model.safetensors'))).digest('hex');
  expect(source).toEqual({ dir: sourceDir, preset: 'tiny-source', sha256, epochs: 3, steps: 30, tokens: 900, trainSeconds: 12.5 });
  const { model: again } = await growSource(sourceDir, GROWN, tokenizer);
  const trained = await loadModel(sourceDir);
  const ids = tokenizer.encode('The capital of the country is');
  const logits = (m: CausalLM) => noGrad(() => tidy(() => Array.from(m.forward([ids]).logits.data() as Float32Array)));
  const [a, b, c] = [model, again, trained].map(logits);
  expect(Math.max(...a.map((x, i) => Math.abs(x - c[i])))).toBeLessThan(1e-5);
  expect(b).toEqual(a); // deterministic in the preset's seed
  expect(values(again, 'transformer.h.1.mlp.c_fc.weight')).toEqual(values(model, 'transformer.h.1.mlp.c_fc.weight'));
  for (const m of [model, again, trained]) m.dispose();
});

test('a source of another preset, without training.json, or of another shape is refused, naming it', async () => {
  await expect(growSource(sourceDir, { ...GROWN, grownFrom: { preset: 'fb-256x6', seed: 17 } }, tokenizer)).rejects.toThrow(/preset tiny-source, but this preset grows from fb-256x6/);
  await expect(growSource(tmp, GROWN, tokenizer)).rejects.toThrow(/has no training\.json: --from must be a model train\.js wrote \(preset tiny-source\)/);
  await expect(growSource(sourceDir, { ...GROWN, model: { ...GROWN.model, n_head: 4 } }, tokenizer)).rejects.toThrow(/config\.json: n_head is 2 after widening, the preset needs 4/);
});
