/**
 * Logits, hidden states, tokenizer ids and greedy generation against Hugging Face
 * transformers' dumps (test-fixtures/parity, copied from shared/parity).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildInfo, generate, loadModel, memory, noGrad, setGemmBackend, tidy, type Tensor } from '../src';
import { readCheckpoint } from '../src/io/checkpoint';
import { wrapHandle } from '../src/tensor';
import { TOLERANCES } from '../test-utils/tolerances';

const ROOT = path.resolve(__dirname, '../../../test-fixtures/parity');
const CASES = ['gpt2', 'gpt2-trained-wordlevel'];
/** Both CPU GEMM paths must give the same parity (BLAS only when compiled in). */
const GEMMS = buildInfo().blas ? (['blas', 'fallback'] as const) : (['fallback'] as const);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('parity fixtures have the expected manifest version', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifest.json'), 'utf8'));
  if (manifest.formatVersion !== 1) throw new Error('parity fixtures are from another format version: re-copy shared/parity into test-fixtures/parity');
});

// The backend is process-wide and jest runs later test files in this worker: leave it as found
// (the built-in kernel unless MEDIT_GEMM=blas), or their in-process results differ from their
// child processes' (the kill loop compares the two bit for bit).
const initialGemm = buildInfo().blasActive ? 'blas' : 'fallback';
afterAll(() => setGemmBackend(initialGemm));

describe.each(CASES.flatMap((c) => GEMMS.map((g) => [c, g] as const)))('%s (%s GEMM)', (name, gemm) => {
  beforeAll(() => setGemmBackend(gemm));
  const dir = path.join(ROOT, name);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));

  test('logits and hidden states match HF within 1e-4 (f32)', async () => {
    const model = await loadModel(dir);
    const ref = await readCheckpoint(dir, { file: 'expected.safetensors' });
    const refs = new Map<string, Tensor>([...ref.tensors].map(([k, h]) => [k, wrapHandle(h)]));
    const refT = (k: string): Tensor => refs.get(k)!;
    const ids: number[][] = expected.inputs.input_ids;
    const mask: number[][] = expected.inputs.attention_mask;
    const before = memory();
    noGrad(() =>
      tidy(() => {
        const { logits, hiddenStates } = model.forward(ids, { attentionMask: mask, outputHiddenStates: true, positionIds: ids.map((r) => r.map((_, t) => t)) });
        expect(logits.shape).toEqual(expected.logits_shape);
        expect(maxAbsDiff(logits.data() as Float32Array, refT('logits').data() as Float32Array)).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
        const hs = refT('hidden_states').data() as Float32Array;
        const per = hs.length / hiddenStates!.length;
        hiddenStates!.forEach((h, l) => {
          expect(maxAbsDiff(h.data() as Float32Array, hs.subarray(l * per, (l + 1) * per))).toBeLessThanOrEqual(TOLERANCES.f32Parity.atol);
        });
      }),
    );
    expect(memory().numBytes).toBe(before.numBytes);
    for (const t of refs.values()) t.dispose();
    model.dispose();
  });

  test('greedy generation with the KV cache gives HF greedy ids (stopping at EOS like HF)', async () => {
    const model = await loadModel(dir);
    const { prompt_ids: prompt, output_ids: full, max_new_tokens: n } = expected.greedy;
    const got = generate(model, [prompt], { maxNewTokens: n })[0];
    expect([...prompt, ...got]).toEqual(full);
    model.dispose();
  });
});
