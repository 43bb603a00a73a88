/**
 * medit-vlm: image tokens in front of the text (logits aligned to the text, batch rows
 * independent, mixed image / text-only rows), the language model as a standalone GPT-2, the KV
 * cache, the `withImages` view, hook points, the HF directory round trip and the loader's errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  ArgumentError,
  EditDelta,
  GPT2,
  KVCache,
  ShapeError,
  VisionLanguageModel,
  createModel,
  generate,
  hookName,
  keep,
  loadModel,
  memory,
  noGrad,
  randn,
  residualAt,
  saveModel,
  tensor,
  tidy,
  withImages,
  Tokenizer,
} from '../src';
import { TINY_POOLED_VLM, TINY_VLM, testImage } from '../test-utils/tiny-vlm';

const IMG = [testImage(1), testImage(2)];
const IDS = [
  [1, 4, 2, 7],
  [5, 5, 9, 3],
];

/** A tiny VLM with weights 5× the init scale, so that images move the logits visibly. */
function vlm(seed = 3): VisionLanguageModel {
  const model = createModel(TINY_VLM, { seed }) as VisionLanguageModel;
  for (const [name, t] of [...model.params]) {
    if (/norm|LayerNorm|bias/.test(name)) continue;
    model.params.set(name, keep(tensor((t.data() as Float32Array).map((x) => x * 5), t.shape)));
    t.dispose();
  }
  return model;
}

const logitsOf = (m: { forward: VisionLanguageModel['forward'] }, ids: number[][], opts: Parameters<VisionLanguageModel['forward']>[1] = {}) =>
  noGrad(() => tidy(() => m.forward(ids, opts).logits.data() as Float32Array));

function expectClose(a: Float32Array, b: Float32Array, tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('medit-vlm forward', () => {
  const model = vlm();
  afterAll(() => model.dispose());

  test('the config is the language model with the image tokens taken from its context', () => {
    expect(model.config.modelType).toBe('medit-vlm');
    expect(model.config.numLayers).toBe(2);
    expect(model.config.maxPositions).toBe(16 - 3);
    expect(model.numImageTokens).toBe(3);
    expect(model.rewriteModule(1).weightName).toBe('language_model.transformer.h.1.mlp.c_proj.weight');
  });

  test('without images it is the language model alone', () => {
    expectClose(logitsOf(model, IDS), logitsOf(model.lm, IDS), 0);
  });

  test('textModel: a standalone GPT-2 copy of the language model, with the text-only logits', () => {
    const lm = model.textModel();
    expect(lm).toBeInstanceOf(GPT2);
    expect(lm.config.raw.model_type).toBe('gpt2');
    // the whole position table: no image tokens to make room for
    expect(lm.config.maxPositions).toBe(16);
    expect([...lm.params.keys()].every((n) => !n.startsWith('language_model.'))).toBe(true);
    expect(lm.params.size).toBe([...model.params.keys()].filter((n) => n.startsWith('language_model.')).length);
    expectClose(logitsOf(lm, IDS), logitsOf(model, IDS), 0);
    // copies: freeing the standalone model leaves the VLM whole
    lm.dispose();
    expectClose(logitsOf(model, IDS), logitsOf(model.lm, IDS), 0);
  });

  test('image rows: logits aligned to the text, rows independent, image changes them', () => {
    const before = memory();
    const both = logitsOf(model, IDS, { images: IMG });
    expect(both.length).toBe(2 * 4 * 11);
    const first = logitsOf(model, [IDS[0]], { images: [IMG[0]] });
    const second = logitsOf(model, [IDS[1]], { images: [IMG[1]] });
    expectClose(both.subarray(0, 44), first);
    expectClose(both.subarray(44), second);
    const swapped = logitsOf(model, [IDS[0]], { images: [IMG[1]] });
    expect(Math.max(...first.map((x, i) => Math.abs(x - swapped[i])))).toBeGreaterThan(1e-4);
    expect(memory().numTensors).toBe(before.numTensors);
  });

  test('a mixed batch: the text-only row equals the language model, the image row its own pass', () => {
    const mixed = logitsOf(model, IDS, { images: [IMG[0], null] });
    expectClose(mixed.subarray(0, 44), logitsOf(model, [IDS[0]], { images: [IMG[0]] }));
    expectClose(mixed.subarray(44), logitsOf(model, [IDS[1]]));
  });

  test('padding and logitsAt stay in text positions', () => {
    const mask = [
      [1, 1, 1, 1],
      [1, 1, 0, 0],
    ];
    const padded = logitsOf(model, IDS, { images: IMG, attentionMask: mask });
    const short = logitsOf(model, [IDS[1].slice(0, 2)], { images: [IMG[1]] });
    expectClose(padded.subarray(44, 44 + 22), short);
    const at = logitsOf(model, IDS, { images: IMG, attentionMask: mask, logitsAt: [3, 1] });
    expectClose(at.subarray(11), short.subarray(11, 22));
  });

  test('logitsFor picks text positions; startAt resumes from a residual that holds the image tokens', () => {
    const full = logitsOf(model, IDS, { images: IMG });
    const rows = logitsOf(model, IDS, { images: IMG, logitsFor: [{ batch: 1, token: 2 }, { batch: 0, token: 0 }] });
    expectClose(rows, Float32Array.from([...full.subarray(44 + 22, 44 + 33), ...full.subarray(0, 11)]));
    const view = withImages(model, IMG);
    const hidden = residualAt(view, IDS, 1);
    expect(hidden.shape).toEqual([2, model.numImageTokens + 4, 8]);
    expectClose(logitsOf(view, IDS, { startAt: { layer: 1, hidden } }), full);
    hidden.dispose();
  });

  test('generation with a KV cache reads the image once and matches the full forward', () => {
    const out = generate(model, [IDS[0].slice(0, 2)], { maxNewTokens: 3, images: [IMG[0]], eosTokenId: null });
    // greedy step by step without a cache
    let seq = IDS[0].slice(0, 2);
    for (let i = 0; i < 3; i++) {
      const l = logitsOf(model, [seq], { images: [IMG[0]] });
      const last = l.subarray((seq.length - 1) * 11);
      seq = [...seq, last.indexOf(Math.max(...last))];
    }
    expect(out[0]).toEqual(seq.slice(2));
    const cache = new KVCache();
    noGrad(() => tidy(() => model.forward([IDS[0]], { images: [IMG[0]], cache })));
    expect(cache.length).toBe(3 + 4);
    cache.dispose();
  });

  test('withImages passes the images to image-unaware callers and shares the weights', () => {
    const view = withImages(model, [IMG[0]]);
    expectClose(logitsOf(view, [IDS[0]]), logitsOf(model, [IDS[0]], { images: [IMG[0]] }), 0);
    expect(view.params).toBe(model.params);
    const name = 'language_model.transformer.h.1.mlp.c_proj.weight';
    const before = logitsOf(model, IDS);
    const delta = new EditDelta([{ name, delta: randn(model.param(name).shape, { seed: 9, std: 0.5 }) }], { method: 'test' });
    delta.apply(view);
    expect(Math.max(...logitsOf(model, IDS).map((x, i) => Math.abs(x - before[i])))).toBeGreaterThan(1e-4);
    delta.revert(view);
    expectClose(logitsOf(model, IDS), before, 0);
    delta.dispose();
    view.dispose();
    expect(model.param(name).isDisposed).toBe(false);
  });

  test('hooks: the Q-Former and vision stacks are prefixed, the language model sees image + text', () => {
    const seen: Record<string, readonly number[]> = {};
    const grab = (name: string) => ({ [name]: (x: { shape: readonly number[] }) => void (seen[name] = x.shape) });
    noGrad(() =>
      tidy(() =>
        model.forward(IDS, {
          images: IMG,
          hooks: { ...grab(hookName(1, 'mlp_key', 'qformer.')), ...grab(hookName(0, 'mlp_out', 'vision.')), ...grab(hookName(0, 'resid_out')) },
        }),
      ),
    );
    expect(seen['qformer.h.1.mlp_key']).toEqual([2, 3, 12]);
    expect(model.visionMlpLinears('qformer', 1)[1].weightName).toBe('qformer.encoder.layer.1.output_query.dense.weight');
    expect(seen['vision.h.0.mlp_out']).toEqual([2, 10, 8]);
    expect(seen['h.0.resid_out']).toEqual([2, 7, 8]);
  });

  test('bad inputs are named', () => {
    expect(() => model.forward(IDS, { images: [IMG[0]] })).toThrow(/one image \(or null\) per batch row, 2/);
    expect(() => model.forward([IDS[0]], { images: [testImage(1, 16)] })).toThrow(/16×16; the vision encoder takes 12×12/);
    const gpt2 = createModel({ model_type: 'gpt2', vocab_size: 11, n_embd: 8, n_head: 2, n_layer: 1, n_positions: 8 });
    expect(() => gpt2.forward([IDS[0]], { images: [IMG[0]] })).toThrow(/gpt2 is a text-only model/);
    gpt2.dispose();
  });
});

describe('medit-vlm with a pooled linear projector', () => {
  test('image tokens are the class token and the pooled grid; rows stay independent', () => {
    const model = createModel(TINY_POOLED_VLM, { seed: 2 }) as VisionLanguageModel;
    expect(model.numImageTokens).toBe(5);
    expect(model.qformer).toBeUndefined();
    expect(model.config.maxPositions).toBe(16 - 5);
    expect([...model.params.keys()].some((k) => k.startsWith('qformer.'))).toBe(false);
    const imgs = [testImage(1, 16), testImage(2, 16)];
    const both = logitsOf(model, IDS, { images: imgs });
    expectClose(both.subarray(44), logitsOf(model, [IDS[1]], { images: [imgs[1]] }));
    expect(model.visionMlpLinears('vision', 1).map((l) => l.weightName)).toEqual(['vision_model.encoder.layers.1.mlp.fc1.weight', 'vision_model.encoder.layers.1.mlp.fc2.weight']);
    expect(() => model.visionMlpLinears('qformer', 0)).toThrow(/no Q-Former/);
    model.dispose();
  });

  test('config errors: both projectors, or a pool that does not divide the grid', () => {
    expect(() => createModel({ ...TINY_POOLED_VLM, qformer_config: TINY_VLM.qformer_config, num_query_tokens: 3 })).toThrow(/exactly one of qformer_config/);
    expect(() => createModel({ ...TINY_POOLED_VLM, projector_config: { pool_size: 3 } })).toThrow(/pool_size to divide the 4×4 patch grid/);
  });
});

describe('medit-vlm directories', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-vlm-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('save and load give the same model', async () => {
    const model = vlm(5);
    const out = path.join(dir, 'model');
    await saveModel(model, out);
    const loaded = await loadModel(out);
    expect(loaded).toBeInstanceOf(VisionLanguageModel);
    expectClose(logitsOf(loaded, IDS, { images: IMG }), logitsOf(model, IDS, { images: IMG }), 0);
    loaded.dispose();
    model.dispose();
  });

  async function broken(edit: (config: Record<string, unknown>, params: Map<string, unknown>) => void): Promise<string> {
    const model = vlm(6);
    const out = path.join(dir, `broken-${Math.random().toString(36).slice(2)}`);
    const config = JSON.parse(JSON.stringify(TINY_VLM));
    edit(config, model.params as Map<string, unknown>);
    (model.config as { raw: Record<string, unknown> }).raw = config;
    await saveModel(model, out);
    model.dispose();
    return out;
  }

  test('a missing vision tensor is named', async () => {
    const out = await broken((_, params) => params.delete('qformer.encoder.layer.1.output_query.dense.weight'));
    await expect(loadModel(out)).rejects.toThrow(/checkpoint is missing a tensor .*qformer\.encoder\.layer\.1\.output_query\.dense\.weight/);
  });

  test('a tensor whose shape contradicts config.json is named', async () => {
    const out = await broken((config) => ((config.vision_config as Record<string, unknown>).intermediate_size = 20));
    await expect(loadModel(out)).rejects.toThrow(ShapeError);
    await expect(loadModel(out)).rejects.toThrow(/vision_model\.encoder\.layers\.0\.mlp\.fc1\.weight has shape \[16,8\], expected \[20,8\]/);
  });

  test('a missing config field is named', async () => {
    const out = await broken((config) => delete (config.vision_config as Record<string, unknown>).patch_size);
    await expect(loadModel(out)).rejects.toThrow(ArgumentError);
    await expect(loadModel(out)).rejects.toThrow(/vision_config\.patch_size/);
  });

  test('a tokenizer travels with the directory', async () => {
    const tokDir = path.join(__dirname, '../../../test-fixtures/factworld/tokenizer');
    const model = vlm(7);
    model.tokenizer = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
    const out = path.join(dir, 'with-tokenizer');
    await saveModel(model, out, { sideFilesFrom: tokDir });
    const loaded = await loadModel(out);
    expect(loaded.tokenizer?.vocabSize).toBe(model.tokenizer.vocabSize);
    loaded.dispose();
    model.dispose();
  });
});
