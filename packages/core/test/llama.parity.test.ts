/**
 * Llama-family parity with Hugging Face transformers' dumps (test-fixtures/parity, copied
 * from shared/parity): logits and hidden states within 1e-4 (f32), greedy ids with the KV
 * cache equal to HF's, for Llama (GQA), Llama with llama3 rope scaling, Mistral and Qwen2
 * (q/k/v biases, tied embeddings).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Llama, generate, loadModel, memory, noGrad, tidy, type Tensor } from '../src';
import { readCheckpoint } from '../src/io/checkpoint';
import { wrapHandle } from '../src/tensor';
import { TOLERANCES } from '../test-utils/tolerances';

const ROOT = path.resolve(__dirname, '../../../test-fixtures/parity');
const CASES = ['llama', 'llama-rope-llama3', 'mistral', 'qwen2'];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('the manifest lists every Llama-family case', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifest.json'), 'utf8'));
  if (manifest.formatVersion !== 1) throw new Error('parity fixtures are from another format version: re-copy shared/parity into test-fixtures/parity');
  expect(manifest.cases).toEqual(expect.arrayContaining(CASES));
});

describe.each(CASES)('%s', (name) => {
  const dir = path.join(ROOT, name);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));

  test('logits and hidden states match HF within 1e-4 (f32), memory unchanged', async () => {
    const model = await loadModel(dir);
    expect(model).toBeInstanceOf(Llama);
    const ref = await readCheckpoint(dir, { file: 'expected.safetensors' });
    const refs = new Map<string, Tensor>([...ref.tensors].map(([k, h]) => [k, wrapHandle(h)]));
    const ids: number[][] = expected.inputs.input_ids;
    const mask: number[][] = expected.inputs.attention_mask;
    const before = memory();
    noGrad(() =>
      tidy(() => {
        // HF's forward (no generate) uses positions 0..T−1 for every row
        const { logits, hiddenStates } = model.forward(ids, { attentionMask: mask, outputHiddenStates: true, positionIds: ids.map((r) => r.map((_, t) => t)) });
        expect(logits.shape).toEqual(expected.logits_shape);
        expect(maxAbsDiff(logits.data() as Float32Array, refs.get('logits')!.data() as Float32Array)).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
        const hs = refs.get('hidden_states')!.data() as Float32Array;
        expect(hiddenStates).toHaveLength(expected.hidden_states_shape[0]);
        const per = hs.length / hiddenStates!.length;
        hiddenStates!.forEach((h, l) => {
          expect(maxAbsDiff(h.data() as Float32Array, hs.subarray(l * per, (l + 1) * per))).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
        });
      }),
    );
    expect(memory().numBytes).toBe(before.numBytes);
    expect(memory().numTensors).toBe(before.numTensors);
    for (const t of refs.values()) t.dispose();
    model.dispose();
  });

  test('greedy generation with the KV cache gives HF greedy ids', async () => {
    const model = await loadModel(dir);
    const { prompt_ids: prompt, output_ids: full, max_new_tokens: n } = expected.greedy;
    const before = memory();
    const got = generate(model, [prompt], { maxNewTokens: n })[0];
    expect([...prompt, ...got]).toEqual(full);
    expect(memory().numBytes).toBe(before.numBytes);
    model.dispose();
  });
});
