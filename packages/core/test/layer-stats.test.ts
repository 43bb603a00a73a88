/**
 * The covariance statistics job: values equal a direct computation, cancellation leaves
 * a partial file that a resumed run completes to the same matrix, and the cache is reused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  CancelledError,
  computeLayerStats,
  corpusFromTexts,
  gatherAt,
  hookName,
  keep,
  loadModel,
  loadStatsFile,
  NonFiniteError,
  tensor as tensorOf,
  writeCheckpointFile,
  memory,
  noGrad,
  readCorpus,
  tidy,
  type CausalLM,
  type Tensor,
} from '../src';

const FIXTURES = path.resolve(__dirname, '../../../test-fixtures');
const MODEL = path.join(FIXTURES, 'models/fact-tiny');
const FILLER = path.join(FIXTURES, 'factworld/filler.txt');

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(() => model.dispose());

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'medit-stats-'));

test('second moments equal Σ k kᵀ over every token, from a direct forward pass', async () => {
  const docs = ['The rain stopped by noon.', 'Markets opened late on the coast.'];
  const stats = (await computeLayerStats(model, { layers: [0, 1], corpus: corpusFromTexts(docs) })).get(1)!;
  const F = model.config.intermediateSize;
  // direct: run each document alone and sum k kᵀ at every position
  const direct = new Float64Array(F * F);
  let count = 0;
  for (const d of docs) {
    const ids = model.tokenizer!.encode(d);
    let keys: Tensor | undefined;
    noGrad(() =>
      tidy(() => {
        model.forward([ids], { hooks: { [hookName(1, 'mlp_key')]: (k) => void (keys = keep(gatherAt(k, ids.map((_, t) => ({ batch: 0, token: t }))))) } });
      }),
    );
    const kd = keys!.data() as Float32Array;
    for (let r = 0; r < ids.length; r++) for (let i = 0; i < F; i++) for (let j = 0; j < F; j++) direct[i * F + j] += kd[r * F + i] * kd[r * F + j];
    count += ids.length;
    keys!.dispose();
  }
  expect(stats.count).toBe(count);
  const got = stats.mom2Sum.data() as Float64Array;
  // keys from a padded batch and from single documents differ by f32 summation order
  // (~1e-6), so compare errors to the matrix's scale
  let maxErr = 0;
  let scale = 0;
  for (let i = 0; i < F * F; i++) {
    maxErr = Math.max(maxErr, Math.abs(got[i] - direct[i]));
    scale = Math.max(scale, Math.abs(direct[i]));
  }
  expect(maxErr / scale).toBeLessThan(1e-5);
  stats.mom2Sum.dispose();
});

test('a cancelled job resumes from its partial file to the same matrix as an uninterrupted run', async () => {
  const corpus = readCorpus(FILLER);
  const opts = { layers: [1], corpus, maxDocs: 400, batchTokens: 512, checkpointEvery: 2 };
  const full = (await computeLayerStats(model, opts)).get(1)!;

  const dir = tmp();
  const ctrl = new AbortController();
  let seen = 0;
  await expect(
    computeLayerStats(model, {
      ...opts,
      cacheDir: dir,
      signal: ctrl.signal,
      onProgress: (p) => {
        seen = p.docs;
        if (p.docs > 150) ctrl.abort();
      },
    }),
  ).rejects.toBeInstanceOf(CancelledError);
  expect(seen).toBeLessThan(400);
  expect(fs.readdirSync(dir).some((f) => f.endsWith('.partial.safetensors'))).toBe(true);

  let resumedFrom = -1;
  const resumed = (
    await computeLayerStats(model, { ...opts, cacheDir: dir, onProgress: (p) => void (resumedFrom = resumedFrom < 0 ? p.docs : resumedFrom) })
  ).get(1)!;
  expect(resumedFrom).toBeGreaterThan(150); // started after the saved documents, not from 0
  expect(resumed.count).toBe(full.count);
  const a = full.mom2Sum.data() as Float64Array;
  const b = resumed.mom2Sum.data() as Float64Array;
  let maxRel = 0;
  for (let i = 0; i < a.length; i++) maxRel = Math.max(maxRel, Math.abs(a[i] - b[i]) / (Math.abs(a[i]) + 1e-3));
  expect(maxRel).toBeLessThan(1e-5);
  expect(fs.readdirSync(dir).some((f) => f.endsWith('.partial.safetensors'))).toBe(false);

  // a second call is served from the cache file
  let progressed = false;
  const cached = (await computeLayerStats(model, { ...opts, cacheDir: dir, onProgress: () => void (progressed = true) })).get(1)!;
  expect(progressed).toBe(false);
  expect(cached.count).toBe(full.count);
  for (const s of [full, resumed, cached]) s.mom2Sum.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('statistics jobs leave native memory as they found it', async () => {
  const before = memory();
  const s = await computeLayerStats(model, { layers: [0], corpus: corpusFromTexts(['The rain stopped by noon.']) });
  s.get(0)!.mom2Sum.dispose();
  expect(memory().numBytes).toBe(before.numBytes);
});

test('statistics of a model with non-finite activations are an error, and nothing is cached', async () => {
  const broken = await loadModel(MODEL);
  const w = broken.params.get('transformer.h.0.mlp.c_fc.weight')!;
  const d = (w.data() as Float32Array).slice();
  d.fill(Infinity, 0, 8);
  w.dispose();
  broken.params.set('transformer.h.0.mlp.c_fc.weight', keep(tensorOf(d, w.shape)));
  const cacheDir = tmp();
  const live = memory();
  const err = await computeLayerStats(broken, { layers: [0], corpus: readCorpus(FILLER), maxDocs: 40, cacheDir, checkpointEvery: 1 }).catch((e) => e);
  expect(err).toBeInstanceOf(NonFiniteError);
  expect(err.message).toMatch(/^the covariance statistics of layer 0 \(Σ k kᵀ over \d+ tokens of .*filler\.txt\) holds \d+ non-finite values .*: the model's MLP keys are not finite on this text; nothing was cached$/);
  expect(fs.readdirSync(cacheDir)).toEqual([]);
  expect(memory().numTensors).toBe(live.numTensors);
  broken.dispose();
});

test('a cached statistics file holding NaN is refused naming the file', async () => {
  const cacheDir = tmp();
  const file = path.join(cacheDir, 'mom2-bad.safetensors');
  const t = tensorOf(new Float64Array([1, NaN, 0, 1]), [2, 2], 'float64');
  await writeCheckpointFile(file, new Map([['mom2', t.handle()]]), { layer: '0', count: '3' });
  t.dispose();
  const live = memory();
  await expect(loadStatsFile(file)).rejects.toThrow(`${file}: the covariance statistics mom2 of layer 0 holds 1 non-finite value (NaN or ±Inf) of 4; the first is NaN (element 1 of shape [2, 2])`);
  expect(memory().numTensors).toBe(live.numTensors);
});
