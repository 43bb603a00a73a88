/**
 * BERT parity with Hugging Face transformers' BertForMaskedLM dump (test-fixtures/parity/bert):
 * MLM logits and hidden states within 1e-4 (f32) on a batch with token types and a padded
 * row; the pooler against a hand computation; loader errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ArgumentError, Bert, hookName, loadEncoder, loadModel, memory, noGrad, randn, tidy, type Tensor } from '../src';
import { readCheckpoint } from '../src/io/checkpoint';
import { wrapHandle } from '../src/tensor';
import { TOLERANCES } from '../test-utils/tolerances';

const DIR = path.resolve(__dirname, '../../../test-fixtures/parity/bert');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));
const { input_ids: IDS, attention_mask: MASK, token_type_ids: TYPES } = expected.inputs as Record<string, number[][]>;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('MLM logits and hidden states match HF within 1e-4 (f32), padded row included; memory unchanged', async () => {
  const bert = await loadEncoder(DIR);
  expect(bert.hasMlmHead).toBe(true);
  expect(bert.hasPooler).toBe(false);
  const ref = await readCheckpoint(DIR, { file: 'expected.safetensors' });
  const refs = new Map<string, Tensor>([...ref.tensors].map(([k, h]) => [k, wrapHandle(h)]));
  const before = memory();
  noGrad(() =>
    tidy(() => {
      const out = bert.forward(IDS, { attentionMask: MASK, tokenTypeIds: TYPES, outputHiddenStates: true });
      expect(out.logits!.shape).toEqual(expected.logits_shape);
      expect(out.pooled).toBeUndefined();
      expect(maxAbsDiff(out.logits!.data() as Float32Array, refs.get('logits')!.data() as Float32Array)).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
      const hs = refs.get('hidden_states')!.data() as Float32Array;
      expect(out.hiddenStates).toHaveLength(expected.hidden_states_shape[0]);
      const per = hs.length / out.hiddenStates!.length;
      out.hiddenStates!.forEach((h, l) => {
        expect(maxAbsDiff(h.data() as Float32Array, hs.subarray(l * per, (l + 1) * per))).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
      });
      expect(out.hiddenStates![out.hiddenStates!.length - 1]).toBe(out.lastHiddenState);
      // the mask and token types matter: dropping them changes the answer
      const plain = bert.forward(IDS);
      expect(maxAbsDiff(plain.logits!.data() as Float32Array, refs.get('logits')!.data() as Float32Array)).toBeGreaterThan(1e-2);
    }),
  );
  expect(memory().numBytes).toBe(before.numBytes);
  expect(memory().numTensors).toBe(before.numTensors);
  for (const t of refs.values()) t.dispose();
  bert.dispose();
});

test('padding is never attended: changing a padded token leaves the real tokens unchanged', async () => {
  const bert = await loadEncoder(DIR);
  noGrad(() =>
    tidy(() => {
      const a = bert.forward(IDS, { attentionMask: MASK, tokenTypeIds: TYPES }).lastHiddenState.data() as Float32Array;
      const ids2 = IDS.map((r) => [...r]);
      ids2[1][10] = 5; // a padded position of row 1
      const b = bert.forward(ids2, { attentionMask: MASK, tokenTypeIds: TYPES }).lastHiddenState.data() as Float32Array;
      const C = bert.config.hiddenSize;
      const T = IDS[0].length;
      const real = (x: Float32Array) => x.subarray(T * C, (T + 9) * C); // row 1, its 9 real tokens
      expect(maxAbsDiff(real(a), real(b))).toBe(0);
      expect(maxAbsDiff(a.subarray((T + 10) * C, (T + 11) * C), b.subarray((T + 10) * C, (T + 11) * C))).toBeGreaterThan(1e-3);
    }),
  );
  bert.dispose();
});

test('the pooler computes tanh(W·h[CLS] + b) when the checkpoint has one', async () => {
  const bert = await loadEncoder(DIR);
  const C = bert.config.hiddenSize;
  const W = randn([C, C], { seed: 1, std: 0.2 });
  const b = randn([C], { seed: 2, std: 0.1 });
  const withPooler = new Bert(bert.config, new Map([...bert.params, ['bert.pooler.dense.weight', W], ['bert.pooler.dense.bias', b]]));
  expect(withPooler.hasPooler).toBe(true);
  noGrad(() =>
    tidy(() => {
      const out = withPooler.forward(IDS, { attentionMask: MASK, tokenTypeIds: TYPES });
      expect(out.pooled!.shape).toEqual([2, C]);
      const h = out.lastHiddenState.data() as Float32Array;
      const w = W.data() as Float32Array;
      const bias = b.data() as Float32Array;
      const T = IDS[0].length;
      const want = new Float32Array(2 * C);
      for (let r = 0; r < 2; r++) {
        for (let o = 0; o < C; o++) {
          let s = bias[o];
          for (let i = 0; i < C; i++) s += w[o * C + i] * h[r * T * C + i];
          want[r * C + o] = Math.tanh(s);
        }
      }
      expect(maxAbsDiff(out.pooled!.data() as Float32Array, want)).toBeLessThanOrEqual(TOLERANCES.f32Closed.atol);
    }),
  );
  withPooler.dispose(); // frees the shared parameters too
});

test('hooks: mlp_key is the input of output.dense; replacing mlp_out changes the logits', async () => {
  const bert = await loadEncoder(DIR);
  noGrad(() =>
    tidy(() => {
      let key: Tensor | undefined;
      const base = bert.forward(IDS, { hooks: { [hookName(1, 'mlp_key')]: (k) => void (key = k) } });
      expect(key!.shape).toEqual([2, IDS[0].length, bert.config.intermediateSize]);
      const replaced = bert.forward(IDS, { hooks: { [hookName(1, 'mlp_out')]: (h) => tidy(() => randn(h.shape, { seed: 3 })) } });
      expect(maxAbsDiff(base.logits!.data() as Float32Array, replaced.logits!.data() as Float32Array)).toBeGreaterThan(1e-2);
    }),
  );
  bert.dispose();
});

test('loadModel names loadEncoder for BERT; loadEncoder names a missing tensor and a wrong model_type', async () => {
  await expect(loadModel(DIR)).rejects.toThrow(/encoder.*loadEncoder/);
  await expect(loadEncoder(path.resolve(DIR, '../llama'))).rejects.toThrow(/model_type "bert" but received "llama"/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-bert-'));
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    fs.copyFileSync(path.join(DIR, 'model.safetensors'), path.join(tmp, 'model.safetensors'));
    const before = memory();
    await expect(loadEncoder(tmp)).rejects.toThrow(ArgumentError);
    await expect(loadEncoder(tmp)).rejects.toThrow(/missing a tensor.*bert\.encoder\.layer\.2\./);
    expect(memory().numBytes).toBe(before.numBytes);
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, position_embedding_type: 'relative_key' }));
    await expect(loadEncoder(tmp)).rejects.toThrow(/position_embedding_type "relative_key" is not supported/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('forward validates token types, mask shape and length', async () => {
  const bert = await loadEncoder(DIR);
  expect(() => bert.forward(IDS, { tokenTypeIds: IDS.map((r) => r.map(() => 2)) })).toThrow(/tokenTypeIds must be integers in \[0, 2\)/);
  expect(() => bert.forward(IDS, { attentionMask: [[1]] })).toThrow(/attentionMask must be \[2\]\[12\]/);
  expect(() => bert.forward([Array(65).fill(1)])).toThrow(/65 tokens exceed max_position_embeddings \(64\)/);
  bert.dispose();
});
