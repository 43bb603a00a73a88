/**
 * Finite-difference checks (f64) of the vision side: patch extraction, the patch embedding as a
 * stride-p convolution, a whole medit-vlm with images (vision, Q-Former, projection and language
 * model weights), and the gradient decomposition of Q-Former and language-model linears under
 * image inputs.
 */
import {
  type Tensor,
  type VisionLanguageModel,
  createModel,
  crossEntropy,
  decomposeGradients,
  grad,
  linear,
  lowRankDelta,
  mlpLinears,
  mul,
  noGrad,
  patchify,
  poolPatchGrid,
  reshape,
  sum,
  tensor,
  tidy,
} from '../src';
import { gradcheck, randData } from '../test-utils/gradcheck';
import { TINY_POOLED_VLM, TINY_VLM, testImage } from '../test-utils/tiny-vlm';

test('patchify: values in conv order, gradient by central differences', () => {
  const [B, C, H, W, p] = [2, 3, 4, 6, 2];
  const x = randData(B * C * H * W, 1);
  const out = tidy(() => patchify(tensor(x, [B, C, H, W], 'float64'), p).data() as Float64Array);
  const N = (H / p) * (W / p);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < p; i++)
          for (let j = 0; j < p; j++) {
            const row = Math.floor(n / (W / p)) * p + i;
            const col = (n % (W / p)) * p + j;
            expect(out[(b * N + n) * C * p * p + (c * p + i) * p + j]).toBe(x[((b * C + c) * H + row) * W + col]);
          }
  const weights = randData(B * N * C * p * p, 2);
  const r = gradcheck((t) => sum(mul(patchify(t, p), tensor(weights, [B, N, C * p * p], 'float64'))), [x], [[B, C, H, W]]);
  expect(r.maxRelErr).toBeLessThan(1e-6);
  expect(() => tidy(() => patchify(tensor(x, [B, C, H, W], 'float64'), 4))).toThrow(/not a multiple of the patch size 4/);
});

test('the patch embedding is the stride-p convolution of its Conv2d weight, and differentiable', () => {
  const [C, S, p, D] = [3, 4, 2, 5];
  const img = randData(C * S * S, 3);
  const w = randData(D * C * p * p, 4);
  const conv = tidy(() => linear(patchify(tensor(img, [1, C, S, S], 'float64'), p), reshape(tensor(w, [D, C, p, p], 'float64'), [D, C * p * p])).data() as Float64Array);
  for (let oy = 0; oy < S / p; oy++)
    for (let ox = 0; ox < S / p; ox++)
      for (let d = 0; d < D; d++) {
        let v = 0;
        for (let c = 0; c < C; c++) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) v += w[((d * C + c) * p + i) * p + j] * img[(c * S + oy * p + i) * S + ox * p + j];
        expect(conv[(oy * (S / p) + ox) * D + d]).toBeCloseTo(v, 12);
      }
  const r = gradcheck(
    (x, k) => sum(mul(linear(patchify(x, p), reshape(k, [D, C * p * p])), tensor(randData(4 * D, 5), [1, 4, D], 'float64'))),
    [img, w],
    [
      [1, C, S, S],
      [D, C, p, p],
    ],
  );
  expect(r.maxRelErr).toBeLessThan(1e-6);
});

test('poolPatchGrid: window means in grid order after the class token, gradient by central differences', () => {
  const [B, g, p, D] = [2, 4, 2, 3];
  const x = randData(B * (1 + g * g) * D, 6);
  const out = tidy(() => poolPatchGrid(tensor(x, [B, 1 + g * g, D], 'float64'), g, p).data() as Float64Array);
  const G = g / p;
  for (let b = 0; b < B; b++)
    for (let d = 0; d < D; d++) {
      expect(out[(b * (1 + G * G)) * D + d]).toBe(x[b * (1 + g * g) * D + d]);
      for (let wy = 0; wy < G; wy++)
        for (let wx = 0; wx < G; wx++) {
          let m = 0;
          for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) m += x[(b * (1 + g * g) + 1 + (wy * p + i) * g + wx * p + j) * D + d] / (p * p);
          expect(out[(b * (1 + G * G) + 1 + wy * G + wx) * D + d]).toBeCloseTo(m, 12);
        }
    }
  const w = randData(B * (1 + G * G) * D, 7);
  const r = gradcheck((t) => sum(mul(poolPatchGrid(t, g, p), tensor(w, [B, 1 + G * G, D], 'float64'))), [x], [[B, 1 + g * g, D]]);
  expect(r.maxRelErr).toBeLessThan(1e-6);
  expect(() => tidy(() => poolPatchGrid(tensor(x, [B, 1 + g * g, D], 'float64'), g, 3))).toThrow(/not a multiple of the pool size 3/);
});

/** The tiny VLM in float64 with weights scaled up so every path carries gradient. */
function f64Vlm(config: Record<string, unknown> = TINY_VLM): VisionLanguageModel {
  const model = createModel(config, { seed: 11 }) as VisionLanguageModel;
  for (const [name, t] of [...model.params]) {
    const d = t.data() as Float32Array;
    const v = /norm|LayerNorm/.test(name) ? d.map((x, i) => x + 0.1 * Math.sin(i + name.length)) : d.map((x, i) => x * 8 + 0.03 * Math.cos(i + name.length));
    model.params.set(name, tensor(Float64Array.from(v), t.shape, 'float64'));
    t.dispose();
  }
  return model;
}

const IMAGES = [testImage(3), null, testImage(4)];
const IDS = [
  [1, 4, 2, 7],
  [5, 5, 9, 3],
  [2, 8, 6, 0],
];
const LABELS = [4, 2, 7, -100, 5, 9, 3, -100, 8, 6, 0, -100];

test('whole-model gradients with images match central differences', () => {
  const model = f64Vlm();
  const names = [
    'vision_model.embeddings.patch_embedding.weight',
    'vision_model.embeddings.class_embedding',
    'vision_model.embeddings.position_embedding',
    'vision_model.encoder.layers.0.self_attn.qkv.weight',
    'vision_model.encoder.layers.0.mlp.fc1.weight',
    'vision_model.post_layernorm.weight',
    'query_tokens',
    'qformer.layernorm.bias',
    'qformer.encoder.layer.0.attention.attention.query.weight',
    'qformer.encoder.layer.0.crossattention.attention.key.weight',
    'qformer.encoder.layer.1.output_query.dense.weight',
    'qformer.encoder.layer.1.output_query.LayerNorm.weight',
    'language_projection.weight',
    'language_model.transformer.h.0.mlp.c_fc.weight',
    'language_model.transformer.wte.weight',
  ];
  const loss = () => crossEntropy(model.forward(IDS, { images: IMAGES }).logits, LABELS);
  const params = names.map((n) => model.param(n));
  const analytic = tidy(() => {
    for (const p of params) p.requiresGrad = true;
    const gs = grad(loss(), params).map((g) => g.data() as Float64Array);
    for (const p of params) p.requiresGrad = false;
    return gs;
  });
  const eps = 1e-6;
  let worst = 0;
  params.forEach((p, pi) => {
    const step = Math.max(1, Math.ceil(p.size / 3));
    for (let j = 0; j < p.size; j += step) {
      const base = p.data() as Float64Array;
      const at = (v: number) => {
        const d = base.slice();
        d[j] = v;
        const t = tensor(d, p.shape, 'float64');
        model.params.set(names[pi], t);
        const value = noGrad(() => tidy(() => loss().item()));
        model.params.set(names[pi], p);
        t.dispose();
        return value;
      };
      const numeric = (at(base[j] + eps) - at(base[j] - eps)) / (2 * eps);
      const err = Math.abs(numeric - analytic[pi][j]) / Math.max(1e-3, Math.abs(numeric));
      if (err > worst) worst = err;
    }
  });
  expect(worst).toBeLessThan(1e-5);
  model.dispose();
});

test('gradient decomposition under images: Q-Former output projections and LM MLPs', () => {
  const model = f64Vlm();
  const linears = [...model.visionMlpLinears('qformer', 1).filter((l) => l.role === 'out'), ...model.visionMlpLinears('qformer', 0).filter((l) => l.role === 'out'), ...model.visionMlpLinears('vision', 0).filter((l) => l.role === 'out'), ...mlpLinears(model, 1)];
  tidy(() => {
    const lossFn = (logits: Tensor) => crossEntropy(logits, LABELS);
    const { factors } = decomposeGradients(model, IDS, lossFn, linears, { images: IMAGES });
    const weights = linears.map((l) => model.param(l.weightName));
    for (const w of weights) w.requiresGrad = true;
    const dense = grad(lossFn(model.forward(IDS, { images: IMAGES }).logits), weights);
    for (const w of weights) w.requiresGrad = false;
    factors.forEach((f, i) => {
      const fromFactors = lowRankDelta(f.u, f.delta, f.linear.layout).data() as Float64Array;
      const expected = dense[i].data() as Float64Array;
      let worst = 0;
      expected.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - fromFactors[k]))));
      expect(worst).toBeLessThan(1e-10);
    });
    // Q-Former rows are the image rows' query tokens (2 images × 3 queries)
    expect(factors[0].u.shape).toEqual([6, 12]);
  });
  expect(() => tidy(() => decomposeGradients(model, IDS, (l) => crossEntropy(l, LABELS), model.visionMlpLinears('qformer', 0), { images: IMAGES }))).toThrow(
    /input projection of a qformer\. block/,
  );
  model.dispose();
});

test('pooled linear projector: gradients of the ViT, the projection and the LM with images', () => {
  const model = f64Vlm(TINY_POOLED_VLM);
  const images = [testImage(5, 16), testImage(6, 16), null];
  const names = ['vision_model.embeddings.position_embedding', 'vision_model.encoder.layers.1.mlp.fc2.weight', 'language_projection.weight', 'language_model.transformer.h.1.attn.c_attn.weight'];
  const loss = () => crossEntropy(model.forward(IDS, { images }).logits, LABELS);
  const params = names.map((n) => model.param(n));
  const analytic = tidy(() => {
    for (const p of params) p.requiresGrad = true;
    const gs = grad(loss(), params).map((g) => g.data() as Float64Array);
    for (const p of params) p.requiresGrad = false;
    return gs;
  });
  let worst = 0;
  params.forEach((p, pi) => {
    for (let j = 0; j < p.size; j += Math.ceil(p.size / 4)) {
      const base = p.data() as Float64Array;
      const at = (v: number) => {
        const d = base.slice();
        d[j] = v;
        const t = tensor(d, p.shape, 'float64');
        model.params.set(names[pi], t);
        const value = noGrad(() => tidy(() => loss().item()));
        model.params.set(names[pi], p);
        t.dispose();
        return value;
      };
      const numeric = (at(base[j] + 1e-6) - at(base[j] - 1e-6)) / 2e-6;
      worst = Math.max(worst, Math.abs(numeric - analytic[pi][j]) / Math.max(1e-3, Math.abs(numeric)));
    }
  });
  expect(worst).toBeLessThan(1e-5);
  model.dispose();
});
