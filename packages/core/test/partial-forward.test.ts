/**
 * Partial forward passes give the whole pass's numbers: `startAt` from `residualAt`,
 * `logitsFor`, a read-only KV cache of a prefix, and `DeltaPass` (δ-independent work once)
 * against the whole model with δ added by a hook — logits and ∂/∂δ, in f64 on three families.
 */
import * as path from 'node:path';

import {
  type CausalLM,
  DeltaPass,
  type DeltaPoint,
  KVCache,
  type Tensor,
  addAt,
  grad,
  hookName,
  loadModel,
  memory,
  mul,
  noGrad,
  residualAt,
  slice,
  sum,
  tensor,
  tidy,
} from '../src';

const FIXTURES = path.resolve(__dirname, '../../../test-fixtures/parity');
const ATOL = 1e-10; // f64: only the order of sums differs

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.data() as Float64Array;
  const y = b.data() as Float64Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Right-padded rows of different lengths and their mask. */
function batch(vocab: number): { rows: number[][]; ids: number[][]; mask: number[][] } {
  const rows = [
    [5, 17, 42, 9, 100, 3, 77],
    [8, 250, 11],
    [31, 2, 600, 44, 12],
  ].map((r) => r.map((t) => t % vocab));
  const W = Math.max(...rows.map((r) => r.length));
  return {
    rows,
    ids: rows.map((r) => [...r, ...Array(W - r.length).fill(0)]),
    mask: rows.map((r) => Array.from({ length: W }, (_, j) => (j < r.length ? 1 : 0))),
  };
}

describe.each(['gpt2', 'llama', 'gptj'])('%s', (family) => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await loadModel(path.join(FIXTURES, family), { dtype: 'float64', tokenizer: false });
  });
  afterAll(() => model.dispose());

  test('startAt from residualAt gives the whole forward, at every layer', () => {
    const before = memory().numTensors;
    const { ids, mask } = batch(model.config.vocabSize);
    noGrad(() =>
      tidy(() => {
        const full = model.forward(ids, { attentionMask: mask }).logits;
        for (let layer = 0; layer <= model.config.numLayers; layer++) {
          const hidden = residualAt(model, ids, layer, { attentionMask: mask });
          const part = model.forward(ids, { attentionMask: mask, startAt: { layer, hidden } }).logits;
          expect(maxAbsDiff(part, full)).toBeLessThan(ATOL);
          hidden.dispose();
        }
      }),
    );
    expect(memory().numTensors).toBe(before);
  });

  test('logitsFor gives the rows of the whole logits, in order', () => {
    const { ids, mask } = batch(model.config.vocabSize);
    const read = [
      { batch: 2, token: 4 },
      { batch: 0, token: 1 },
      { batch: 1, token: 2 },
    ];
    noGrad(() =>
      tidy(() => {
        const full = model.forward(ids, { attentionMask: mask }).logits;
        const V = full.shape[2];
        const rows = model.forward(ids, { attentionMask: mask, logitsFor: read }).logits;
        expect(rows.shape).toEqual([3, V]);
        const all = full.data() as Float64Array;
        const got = rows.data() as Float64Array;
        const T = full.shape[1];
        read.forEach(({ batch: b, token: t }, i) => {
          for (let v = 0; v < V; v++) expect(Math.abs(got[i * V + v] - all[(b * T + t) * V + v])).toBeLessThan(ATOL);
        });
        expect(() => model.forward(ids, { logitsFor: read, logitsAt: [0, 0, 0] })).toThrow(/logitsAt or logitsFor/);
      }),
    );
  });

  test('a read-only cache of a prefix serves the remaining columns of every pass and stays as it was', () => {
    const before = memory().numTensors;
    const { ids, mask } = batch(model.config.vocabSize);
    const S = 2;
    const W = ids[0].length;
    const rest = ids.map((r) => r.slice(S));
    const cache = new KVCache();
    noGrad(() =>
      tidy(() => {
        const full = model.forward(ids, { attentionMask: mask }).logits;
        model.forward(ids.map((r) => r.slice(0, S)), { attentionMask: mask.map((r) => r.slice(0, S)), cache });
        const view = cache.readOnly();
        for (let pass = 0; pass < 2; pass++) {
          const part = model.forward(rest, { attentionMask: mask, cache: view }).logits;
          expect(maxAbsDiff(part, slice(full, 1, S, W - S))).toBeLessThan(ATOL);
          expect(cache.length).toBe(S);
        }
        view.dispose(); // frees nothing
        const picked = cache.select([2, 0]);
        const part = model.forward([rest[2], rest[0]], { attentionMask: [mask[2], mask[0]], cache: picked.readOnly() }).logits;
        expect(maxAbsDiff(slice(part, 0, 0, 1), slice(slice(full, 0, 2, 1), 1, S, W - S))).toBeLessThan(ATOL);
        picked.dispose();
      }),
    );
    cache.dispose();
    expect(memory().numTensors).toBe(before);
  });

  test.each<[DeltaPoint, number[], 'first' | 'last']>([
    ['mlp_out', [3, 0, 2], 'first'],
    ['resid_out', [3, 0, 2], 'first'],
    ['resid_out', [0, 0, 0], 'first'], // no column before δ's: nothing cached
    ['mlp_out', [3, 0, 2], 'last'], // each step runs the final norm and head only
  ])('DeltaPass at %s, δ tokens %j, %s block, gives the whole-model logits and ∂/∂δ', (point, at, which) => {
    const before = memory().numTensors;
    const { rows, ids, mask } = batch(model.config.vocabSize);
    const C = model.config.hiddenSize;
    const read = [
      { batch: 0, token: 3 },
      { batch: 0, token: 6 },
      { batch: 1, token: 2 },
      { batch: 2, token: 4 },
      { batch: 1, token: 0 },
    ];
    const layer = which === 'first' ? 0 : model.config.numLayers - 1;
    const deltaData = Float64Array.from({ length: rows.length * C }, (_, i) => 0.3 * Math.sin(1.7 * i + 0.2));
    const weights = tensor(Float64Array.from({ length: read.length * model.config.vocabSize }, (_, i) => Math.cos(0.37 * i)), [read.length, model.config.vocabSize], 'float64');
    const run = (forward: (delta: Tensor) => Tensor) =>
      tidy(() => {
        const delta = tensor(deltaData, [rows.length, C], 'float64');
        delta.requiresGrad = true;
        const logits = forward(delta);
        const [g] = grad(sum(mul(logits, weights)), [delta]);
        // a copy without the graph, which tidy would otherwise keep alive with it
        return { logits: tensor(logits.data() as Float64Array, logits.shape, 'float64'), g };
      });
    // the references' way: the whole model, δ added by a hook at the point
    const whole = run((delta) =>
      model.forward(ids, {
        attentionMask: mask,
        logitsFor: read,
        hooks: { [hookName(layer, point)]: (x) => addAt(x, at.map((token, b) => ({ batch: b, token })), delta) },
      }).logits,
    );
    const pass = DeltaPass.create(model, rows, at, layer, point, 0);
    const fast = run((delta) => pass.logits(delta, read));
    expect(maxAbsDiff(fast.logits, whole.logits)).toBeLessThan(ATOL);
    expect(maxAbsDiff(fast.g, whole.g)).toBeLessThan(ATOL);
    // a selection of rows is the pass over those rows
    const sub = pass.select([2, 0]);
    const subRead = [
      { batch: 0, token: 4 },
      { batch: 1, token: 6 },
    ];
    const picked = tidy(() => sub.logits(tensor(deltaData.slice(0, 2 * C), [2, C], 'float64'), subRead));
    const alone = DeltaPass.create(model, [rows[2], rows[0]], [at[2], at[0]], layer, point, 0);
    const direct = tidy(() => alone.logits(tensor(deltaData.slice(0, 2 * C), [2, C], 'float64'), subRead));
    expect(maxAbsDiff(picked, direct)).toBeLessThan(ATOL);
    const invalid = [{ batch: 1, token: rows[1].length }, ...(at[0] > 0 ? [{ batch: 0, token: at[0] - 1 }] : [])];
    for (const p of invalid) expect(() => tidy(() => pass.logits(tensor(deltaData, [rows.length, C], 'float64'), [p]))).toThrow(/δ token/);
    for (const t of [whole.logits, whole.g, fast.logits, fast.g, picked, direct, weights]) t.dispose();
    for (const p of [pass, sub, alone]) p.dispose();
    expect(memory().numTensors).toBe(before);
  });
});
