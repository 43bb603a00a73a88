/**
 * @jest-environment ./packages/onnx/test/helpers/host-typed-arrays-env.js
 */
/**
 * Decoders exported by medit's own ONNX writer and run by onnxruntime-node give the engine's
 * logits (within 1e-4) on the fact-world models and every HF parity family, edited (a low-rank
 * change of the rewrite module, applied before export) and not: a batch of equal rows and a
 * left-padded ragged batch through the graph without past, and greedy generation through the
 * with-past graph fed its own `present.*` outputs, which must pick the engine's tokens.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, createModel, EditDelta, generate, loadModel, memory, noGrad, randn, readConfig, tidy } from '@medit/core';

import { DECODER_FILES, decoderToOnnx, exportDecoderOnnx } from '../src';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

const ROOT = path.resolve(__dirname, '../../..');
const MODELS = [
  'models/fact-small',
  'models/fact-llama',
  ...(JSON.parse(fs.readFileSync(path.join(ROOT, 'test-fixtures/parity/manifest.json'), 'utf8')).cases as string[])
    .filter((c) => fs.existsSync(path.join(ROOT, 'test-fixtures/parity', c, 'config.json')) && readConfig(path.join(ROOT, 'test-fixtures/parity', c)).model_type !== 'bert')
    .map((c) => `parity/${c}`),
];
const TOL = 1e-4;
const NEW_TOKENS = 6;

type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-onnx-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Positions of the tokens after `past` (HF generate: count of real tokens before each; padding gets 1). */
function positions(mask: number[][], past: number): number[][] {
  return mask.map((row) => {
    const out: number[] = [];
    let count = 0;
    row.forEach((m, j) => {
      if (j >= past) out.push(m ? count : 1);
      if (m) count++;
    });
    return out;
  });
}

const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length]);

async function run(session: Session, ids: number[][], mask: number[][], past?: Record<string, InstanceType<typeof ort.Tensor>>) {
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(positions(mask, mask[0].length - ids[0].length)), ...past };
  return session.run(feeds);
}

/** The with-past inputs from a run's `present.*` outputs. */
function pastFrom(out: Awaited<ReturnType<Session['run']>>): Record<string, InstanceType<typeof ort.Tensor>> {
  const past: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [name, t] of Object.entries(out)) if (name.startsWith('present.')) past[name.replace('present.', 'past_key_values.')] = t as InstanceType<typeof ort.Tensor>;
  return past;
}

/** Engine logits [B][T][V] of a (possibly left-padded) batch. */
function engineLogits(model: CausalLM, ids: number[][], mask: number[][]): Float32Array {
  return noGrad(() => tidy(() => model.forward(ids, { attentionMask: mask }).logits.data() as Float32Array));
}

/** Largest |a − b| over the rows' real (unmasked) positions. */
function maxDiffAtTokens(a: Float32Array, b: Float32Array, mask: number[][], V: number): number {
  let worst = 0;
  const T = mask[0].length;
  mask.forEach((row, bi) =>
    row.forEach((m, t) => {
      if (!m) return;
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(a[(bi * T + t) * V + v] - b[(bi * T + t) * V + v]));
    }),
  );
  return worst;
}

const argmax = (row: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

/** A change of the rewrite module big enough to move the logits (rank 2, as two ROME edits). */
function editOf(model: CausalLM): EditDelta {
  const rm = model.rewriteModule(model.config.numLayers - 1);
  const [rows, cols] = model.param(rm.weightName).shape;
  return new EditDelta([{ name: rm.weightName, left: randn([rows, 2], { seed: 1, std: 0.5 }), right: randn([2, cols], { seed: 2, std: 0.5 }) }], { method: 'test' });
}

async function sessions(dir: string): Promise<{ noPast: Session; withPast: Session }> {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  return { noPast: await ort.InferenceSession.create(path.join(dir, DECODER_FILES.noPast), opts), withPast: await ort.InferenceSession.create(path.join(dir, DECODER_FILES.withPast), opts) };
}

describe.each(MODELS)('%s', (name) => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await loadModel(path.join(ROOT, 'test-fixtures', name));
  });
  afterAll(() => model.dispose());

  /** Random prompts: two equal rows, and a ragged pair left-padded. */
  function batches(): { ids: number[][]; mask: number[][] }[] {
    const V = model.config.vocabSize;
    let s = 7;
    const tok = () => (s = (s * 48271) % 2147483647) % V;
    const row = (n: number) => Array.from({ length: n }, tok);
    const a = row(5);
    const b = row(3);
    return [
      { ids: [row(7), row(7)], mask: [Array(7).fill(1), Array(7).fill(1)] },
      { ids: [a, [0, 0, ...b]], mask: [Array(5).fill(1), [0, 0, 1, 1, 1]] },
    ];
  }

  test('unedited and edited: logits within 1e-4 of the engine, greedy generation through the past graph equals the engine', async () => {
    const before = memory().numTensors;
    const V = model.config.vocabSize;
    const delta = editOf(model);
    let onnxUnedited: Float32Array | undefined;
    for (const edited of [false, true]) {
      if (edited) delta.apply(model);
      const dir = path.join(tmp, `${name.replace('/', '-')}-${edited ? 'edited' : 'base'}`);
      expect(await exportDecoderOnnx(model, dir)).toEqual([DECODER_FILES.noPast, DECODER_FILES.withPast]);
      expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(['config.json', DECODER_FILES.noPast, DECODER_FILES.withPast]));
      const { noPast, withPast } = await sessions(dir);
      try {
        for (const [i, { ids, mask }] of batches().entries()) {
          const out = await run(noPast, ids, mask);
          const logits = out.logits.data as Float32Array;
          expect(out.logits.dims).toEqual([ids.length, ids[0].length, V]);
          const diff = maxDiffAtTokens(logits, engineLogits(model, ids, mask), mask, V);
          expect([name, edited, diff < TOL]).toEqual([name, edited, true]);
          if (!edited && i === 0) onnxUnedited = logits;
          // the edit changes what onnxruntime computes (so the comparison above could fail)
          if (edited && i === 0) expect(maxDiffAtTokens(logits, onnxUnedited!, mask, V)).toBeGreaterThan(1e-3);
        }
        // greedy generation: the prompt through the no-past graph, each new token through the past graph
        const { ids, mask } = batches()[1];
        const expected = generate(model, ids.map((r, b) => r.filter((_, t) => mask[b][t])), { maxNewTokens: NEW_TOKENS, eosTokenId: null });
        let out = await run(noPast, ids, mask);
        const got: number[][] = ids.map(() => []);
        const m = mask.map((r) => [...r]);
        for (let n = 0; n < NEW_TOKENS; n++) {
          const T = out.logits.dims[1] as number;
          const data = out.logits.data as Float32Array;
          const next = ids.map((_, b) => argmax(data.subarray((b * T + T - 1) * V, (b * T + T) * V)));
          next.forEach((t, b) => got[b].push(t));
          m.forEach((r) => r.push(1));
          out = await run(withPast, next.map((t) => [t]), m, pastFrom(out));
          expect(out['present.0.key'].dims[2]).toBe(m[0].length);
        }
        expect([name, edited, got]).toEqual([name, edited, expected]);
        // the last step's logits are the engine's on the whole sequence
        const full = ids.map((r, b) => [...r, ...got[b].slice(0, NEW_TOKENS)]);
        const ref = engineLogits(model, full, m);
        const Tf = m[0].length;
        const last = out.logits.data as Float32Array;
        let worst = 0;
        for (let b = 0; b < ids.length; b++) for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(last[b * V + v] - ref[(b * Tf + Tf - 1) * V + v]));
        expect([name, edited, worst < TOL]).toEqual([name, edited, true]);
      } finally {
        await noPast.release();
        await withPast.release();
      }
    }
    delta.revert(model);
    delta.dispose();
    expect(memory().numTensors).toBe(before);
  });
});

test('the export is deterministic and refuses what it cannot express', async () => {
  const llama = await loadModel(path.join(ROOT, 'test-fixtures/parity/llama'));
  expect(decoderToOnnx(llama, { past: true }).equals(decoderToOnnx(llama, { past: true }))).toBe(true);
  llama.dispose();
  const tiny = (extra: Record<string, unknown>) =>
    createModel({ model_type: 'llama', vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32, ...extra });
  for (const [extra, message] of [
    [{ rope_scaling: { rope_type: 'dynamic', factor: 2 } }, /dynamic NTK rope scaling is not exported/],
    [{ model_type: 'mistral', sliding_window: 16 }, /mistral's sliding window \(16\) is narrower than its 32 positions/],
  ] as const) {
    const m = tiny(extra);
    expect(() => decoderToOnnx(m, { past: false })).toThrow(message);
    m.dispose();
  }
  const f64 = await loadModel(path.join(ROOT, 'test-fixtures/parity/gpt2'), { dtype: 'float64' });
  expect(() => decoderToOnnx(f64, { past: false })).toThrow(/transformer\.wte\.weight is float64; export a float32 model/);
  f64.dispose();
  const gpt2 = await loadModel(path.join(ROOT, 'test-fixtures/parity/gpt2'));
  const out = path.join(tmp, 'exists');
  fs.mkdirSync(out);
  await expect(exportDecoderOnnx(gpt2, out)).rejects.toThrow(/exportDecoderOnnx: .*exists already|already exists/);
  gpt2.dispose();
});
