/**
 * GPT-J parity with Hugging Face transformers' GPTJForCausalLM dump (test-fixtures/parity/gptj):
 * partial interleaved rotary, parallel attention + MLP, untied head with a bias.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { GPTJ, generate, hookName, loadModel, memory, noGrad, tidy, type Tensor } from '../src';
import { readCheckpoint } from '../src/io/checkpoint';
import { wrapHandle } from '../src/tensor';
import { TOLERANCES } from '../test-utils/tolerances';

const DIR = path.resolve(__dirname, '../../../test-fixtures/parity/gptj');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));
const IDS: number[][] = expected.inputs.input_ids;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('logits and hidden states match HF within 1e-4 (f32), memory unchanged', async () => {
  const model = await loadModel(DIR);
  expect(model).toBeInstanceOf(GPTJ);
  const ref = await readCheckpoint(DIR, { file: 'expected.safetensors' });
  const refs = new Map<string, Tensor>([...ref.tensors].map(([k, h]) => [k, wrapHandle(h)]));
  const before = memory();
  noGrad(() =>
    tidy(() => {
      const { logits, hiddenStates } = model.forward(IDS, { attentionMask: expected.inputs.attention_mask, outputHiddenStates: true, positionIds: IDS.map((r) => r.map((_, t) => t)) });
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
  const model = await loadModel(DIR);
  const { prompt_ids: prompt, output_ids: full, max_new_tokens: n } = expected.greedy;
  // the fixture's EOS (999) never appears, so HF ran all 8 steps
  const got = generate(model, [prompt], { maxNewTokens: n })[0];
  expect([...prompt, ...got]).toEqual(full);
  model.dispose();
});

test('rewrite module is fc_out [out, in]; mlp_key is its input and mlp_out its output', async () => {
  const model = await loadModel(DIR);
  const rm = model.rewriteModule(1);
  expect(rm).toMatchObject({ weightName: 'transformer.h.1.mlp.fc_out.weight', layout: 'out_in', keyDim: 256, valueDim: 64 });
  expect(model.param(rm.weightName).shape).toEqual([rm.valueDim, rm.keyDim]);
  noGrad(() =>
    tidy(() => {
      const seen: Record<string, Tensor> = {};
      model.forward(IDS, { hooks: { [rm.keyHook]: (k) => void (seen.key = k), [rm.valueHook]: (v) => void (seen.value = v) } });
      // value = key · Wᵀ + b, recomputed by hand for one token
      const k = seen.key.data() as Float32Array;
      const v = seen.value.data() as Float32Array;
      const W = model.param(rm.weightName).data() as Float32Array;
      const b = model.param('transformer.h.1.mlp.fc_out.bias').data() as Float32Array;
      const tok = 5;
      let worst = 0;
      for (let o = 0; o < rm.valueDim; o++) {
        let s = b[o];
        for (let i = 0; i < rm.keyDim; i++) s += W[o * rm.keyDim + i] * k[tok * rm.keyDim + i];
        worst = Math.max(worst, Math.abs(s - v[tok * rm.valueDim + o]));
      }
      expect(worst).toBeLessThan(1e-4);
      expect(() => model.forward(IDS, { hooks: { [hookName(0, 'mlp_in')]: () => seen.key } })).toThrow(/returned shape/);
    }),
  );
  expect(() => model.rewriteModule(2)).toThrow(/layer 2 is outside \[0, 2\)/);
  model.dispose();
});

test('positions beyond n_positions are refused', async () => {
  const model = await loadModel(DIR);
  expect(() => model.forward([[1, 2]], { positionIds: [[63, 64]] })).toThrow(/beyond n_positions \(64\)/);
  model.dispose();
});
