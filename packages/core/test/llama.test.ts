/**
 * Llama family and the rotary op: rotary against a hand computation (both pairings,
 * partial), rope_scaling frequencies against HF's formulas, config and loader errors,
 * Mistral's sliding-window guard, init params, save/load round trip, and sharded bf16
 * checkpoints.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  ArgumentError,
  KVCache,
  Llama,
  applyRotary,
  createModel,
  hookName,
  llamaConfig,
  loadModel,
  memory,
  noGrad,
  parseRopeScaling,
  ropeInvFreq,
  rotaryTables,
  saveModel,
  tensor,
  tidy,
  type RotaryConfig,
  type Tensor,
} from '../src';
import { TOLERANCES } from '../test-utils/tolerances';

const FIXTURES = path.resolve(__dirname, '../../../test-fixtures/parity');
const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-llama-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('rotary', () => {
  const cfg = (rotaryDim: number, layout: RotaryConfig['layout']): RotaryConfig => ({ rotaryDim, base: 10000, layout, scaling: { type: 'default' }, maxPositions: 64 });
  const B = 1;
  const H = 2;
  const T = 3;
  const HS = 6;
  const x = Float64Array.from({ length: B * H * T * HS }, (_, i) => Math.sin(i + 1));
  const positions = [[0, 4, 9]];

  /** RoFormer's rotation written out per pair: (x_a, x_b) → (x_a cos − x_b sin, x_b cos + x_a sin). */
  function handRotary(d: number, pair: (i: number) => [number, number]): Float64Array {
    const out = Float64Array.from(x);
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const row = (h * T + t) * HS;
        for (let i = 0; i < d / 2; i++) {
          const angle = positions[0][t] * 10000 ** ((-2 * i) / d);
          const [a, b] = pair(i);
          out[row + a] = x[row + a] * Math.cos(angle) - x[row + b] * Math.sin(angle);
          out[row + b] = x[row + b] * Math.cos(angle) + x[row + a] * Math.sin(angle);
        }
      }
    }
    return out;
  }

  test.each([
    ['half, full head', 6, 'half', (i: number): [number, number] => [i, i + 3]],
    ['half, partial (4 of 6)', 4, 'half', (i: number): [number, number] => [i, i + 2]],
    ['interleaved, full head', 6, 'interleaved', (i: number): [number, number] => [2 * i, 2 * i + 1]],
    ['interleaved, partial (2 of 6)', 2, 'interleaved', (i: number): [number, number] => [2 * i, 2 * i + 1]],
  ] as const)('%s matches the pairwise rotation', (_, d, layout, pair) => {
    const before = memory();
    const got = tidy(() => {
      const xt = tensor(x, [B, H, T, HS], 'float64');
      return applyRotary(xt, rotaryTables(cfg(d, layout), positions, 'float64'), layout).data() as Float64Array;
    });
    expect(maxAbsDiff(got, handRotary(d, pair))).toBeLessThan(1e-12);
    expect(memory().numBytes).toBe(before.numBytes);
  });

  test('position 0 is the identity', () => {
    tidy(() => {
      const xt = tensor(x, [B, H, T, HS], 'float64');
      const y = applyRotary(xt, rotaryTables(cfg(6, 'half'), [[0, 0, 0]], 'float64'), 'half').data() as Float64Array;
      expect(maxAbsDiff(y, x)).toBe(0);
    });
  });

  test('tables that do not fit x are refused with both shapes', () => {
    tidy(() => {
      const xt = tensor(x, [B, H, T, HS], 'float64');
      expect(() => applyRotary(xt, rotaryTables(cfg(8, 'half'), positions, 'float64'), 'half')).toThrow(/tables \[1,1,3,8\] do not fit x \[1,2,3,6\]/);
      expect(() => applyRotary(xt, rotaryTables(cfg(6, 'half'), [[0, 1]], 'float64'), 'half')).toThrow(/do not fit/);
    });
  });
});

describe('rope_scaling (HF modeling_rope_utils formulas)', () => {
  const base = { rotaryDim: 16, base: 500000, layout: 'half' as const, maxPositions: 64 };

  test('llama3: high frequencies kept, low ones divided by factor, the middle interpolated', () => {
    // the llama-rope-llama3 fixture's settings; values worked out from _compute_llama3_parameters
    const scaling = parseRopeScaling({ factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 16, rope_type: 'llama3' });
    const inv = ropeInvFreq({ ...base, scaling });
    const want = [0.5760564010955116, 0.02424034309358572, 0.004700753866357992, 0.0009115830921521387, 0.00017677669529663688, 3.428102195952591e-5, 6.647869871181235e-6, 1.2891731721515574e-6];
    want.forEach((w, i) => expect(inv[i]).toBeCloseTo(w, 15));
  });

  test('linear divides every frequency by the factor; dynamic rescales the base past max_position_embeddings', () => {
    const plain = ropeInvFreq({ ...base, scaling: { type: 'default' } });
    const linear = ropeInvFreq({ ...base, scaling: parseRopeScaling({ type: 'linear', factor: 4 }) });
    plain.forEach((f, i) => expect(linear[i]).toBeCloseTo(f / 4, 15));
    const dyn = { ...base, scaling: parseRopeScaling({ rope_type: 'dynamic', factor: 2 }) };
    // within max_position_embeddings: unchanged
    expect([...ropeInvFreq(dyn, 63)]).toEqual([...plain]);
    // seq_len 128 = 2·max: base · (2·2 − 1)^(d/(d−2))
    const scaledBase = 500000 * 3 ** (16 / 14);
    ropeInvFreq(dyn, 127).forEach((f, i) => expect(f / scaledBase ** ((-2 * i) / 16)).toBeCloseTo(1, 12));
  });

  test('unsupported or incomplete rope_scaling names the problem', () => {
    expect(() => parseRopeScaling({ rope_type: 'yarn', factor: 4 })).toThrow(/rope_scaling type "yarn" is not supported/);
    expect(() => parseRopeScaling({ rope_type: 'llama3', factor: 8 })).toThrow(/rope_scaling\.low_freq_factor/);
    expect(() => parseRopeScaling(null)).not.toThrow();
  });
});

const TINY = { model_type: 'llama', vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 24, max_position_embeddings: 32 };

describe('config and loading', () => {
  test('config defaults and errors', () => {
    const c = llamaConfig(TINY);
    expect(c).toMatchObject({ headDim: 4, numKvHeads: 2, normEps: 1e-6, activation: 'silu', tieWordEmbeddings: false });
    expect(llamaConfig({ ...TINY, eos_token_id: [7, 8] }).eosTokenId).toBe(7);
    expect(() => llamaConfig({ ...TINY, num_key_value_heads: 3 })).toThrow(/num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
    expect(() => llamaConfig({ ...TINY, hidden_size: undefined })).toThrow(/expected a number for hidden_size/);
  });

  test('init params follow HF: N(0, initializer_range) matrices, unit norms, named like the checkpoint', () => {
    const model = createModel({ ...TINY, initializer_range: 0.05, model_type: 'qwen2' }, { seed: 1 });
    expect(model).toBeInstanceOf(Llama);
    expect(model.param('model.layers.1.self_attn.k_proj.weight').shape).toEqual([8, 16]);
    expect(model.param('model.layers.0.self_attn.q_proj.bias').shape).toEqual([16]); // qwen2 biases
    expect(model.params.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    const w = model.param('model.layers.0.mlp.gate_proj.weight').data() as Float32Array;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.045);
    expect(std).toBeLessThan(0.055);
    expect([...(model.param('model.norm.weight').data() as Float32Array)].every((v) => v === 1)).toBe(true);
    model.dispose();
  });

  test('save → load round trip gives the same logits; rewrite module is down_proj [out, in]', async () => {
    const model = createModel({ ...TINY, rope_scaling: { rope_type: 'linear', factor: 2.0 }, initializer_range: 0.2 }, { seed: 2 });
    const dir = path.join(tmpDir(), 'm');
    await saveModel(model, dir);
    const back = await loadModel(dir);
    const ids = [[1, 2, 3, 4, 5]];
    noGrad(() =>
      tidy(() => {
        expect(maxAbsDiff(model.forward(ids).logits.data() as Float32Array, back.forward(ids).logits.data() as Float32Array)).toBe(0);
      }),
    );
    const rm = back.rewriteModule(1);
    expect(rm).toMatchObject({ weightName: 'model.layers.1.mlp.down_proj.weight', layout: 'out_in', keyHook: 'h.1.mlp_key', keyDim: 24, valueDim: 16 });
    expect(back.param(rm.weightName).shape).toEqual([16, 24]);
    model.dispose();
    back.dispose();
  });

  test('saveModel in bfloat16: the file holds BF16, config.json says so, and the reloaded weights are the float32 ones rounded to bfloat16', async () => {
    const model = createModel({ ...TINY, initializer_range: 0.2 }, { seed: 3 });
    const dir = path.join(tmpDir(), 'bf16');
    await saveModel(model, dir, { dtype: 'bfloat16' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    const nParams = model.checkpointNames().reduce((n, k) => n + model.param(k).size, 0);
    const bytes = fs.statSync(path.join(dir, 'model.safetensors')).size;
    expect(bytes).toBeGreaterThanOrEqual(2 * nParams);
    expect(bytes).toBeLessThan(2 * nParams + 16384); // two bytes a weight and the header
    const back = await loadModel(dir);
    const name = 'model.layers.0.mlp.gate_proj.weight';
    const a = model.param(name).data() as Float32Array;
    const b = back.param(name).data() as Float32Array;
    // round to nearest even on the upper 16 bits of each float32
    const bits = new Uint32Array(Float32Array.from(a).buffer);
    const rounded = new Float32Array(Uint32Array.from(bits, (u) => ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16).buffer);
    expect(maxAbsDiff(b, rounded)).toBe(0);
    expect(maxAbsDiff(b, a)).toBeGreaterThan(0);
    await expect(saveModel(model, path.join(tmpDir(), 'x'), { dtype: 'int8' as never })).rejects.toThrow(/dtype must be one of float32, bfloat16, float16/);
    model.dispose();
    back.dispose();
  });

  test('a missing tensor and an unknown model_type are named', async () => {
    const src = path.join(FIXTURES, 'llama');
    const dir = tmpDir();
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const before = memory();
    await expect(loadModel(dir)).rejects.toThrow(/missing a tensor.*model\.layers\.2\.input_layernorm\.weight/);
    expect(memory().numBytes).toBe(before.numBytes);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'falcon' }));
    await expect(loadModel(dir)).rejects.toThrow(/unknown model_type "falcon"/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'longrope' } }));
    await expect(loadModel(dir)).rejects.toThrow(ArgumentError);
    expect(memory().numBytes).toBe(before.numBytes);
  });

  test('a sharded bf16 checkpoint loads as f32 and equals the f32 model with bf16-rounded weights', async () => {
    const src = path.join(FIXTURES, 'llama');
    const dir = tmpDir();
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const buf = fs.readFileSync(path.join(src, 'model.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const names = Object.keys(header).filter((k) => k !== '__metadata__').sort();
    const rounded = new Map<string, Float32Array>();
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, s) => {
      const file = `model-0000${s + 1}-of-00002.safetensors`;
      const hdr: Record<string, unknown> = {};
      const parts: Buffer[] = [];
      let offset = 0;
      for (const name of shard) {
        const { shape, data_offsets: [a, b] } = header[name];
        const f32 = new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b));
        const bits = new Uint32Array(f32.buffer);
        const bf = new Uint16Array(f32.length);
        // round to nearest even on the dropped 16 bits (finite inputs)
        for (let i = 0; i < bits.length; i++) bf[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
        const back = new Float32Array(new Uint32Array(Array.from(bf, (h) => h << 16)).buffer);
        rounded.set(name, back);
        hdr[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bf.byteLength] };
        parts.push(Buffer.from(bf.buffer));
        offset += bf.byteLength;
        weightMap[name] = file;
      }
      const json = Buffer.from(JSON.stringify(hdr));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      fs.writeFileSync(path.join(dir, file), Buffer.concat([len, json, ...parts]));
    });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));

    const bf16 = await loadModel(dir);
    const f32 = await loadModel(src);
    for (const [name, data] of rounded) {
      expect(bf16.param(name).dtype).toBe('float32');
      const old = f32.params.get(name)!;
      f32.params.set(name, tensor(data, old.shape));
      old.dispose();
    }
    const ids = [[818, 726, 297, 56, 207, 375]];
    noGrad(() =>
      tidy(() => {
        const a = bf16.forward(ids).logits.data() as Float32Array;
        const b = f32.forward(ids).logits.data() as Float32Array;
        expect(maxAbsDiff(a, b)).toBe(0);
      }),
    );
    bf16.dispose();
    f32.dispose();
  });
});

describe('forward', () => {
  test('Mistral: a sequence longer than the sliding window is refused, the cache counted', () => {
    const model = createModel({ ...TINY, model_type: 'mistral', sliding_window: 4 });
    noGrad(() =>
      tidy(() => {
        expect(() => model.forward([[1, 2, 3, 4, 5]])).toThrow(/5 tokens exceed the sliding window \(4\)/);
        expect(model.forward([[1, 2, 3, 4]]).logits.shape).toEqual([1, 4, 50]);
        const cache = new KVCache();
        model.forward([[1, 2, 3]], { cache });
        expect(() => model.forward([[4, 5]], { cache })).toThrow(/5 tokens exceed the sliding window/);
        cache.dispose();
      }),
    );
    model.dispose();
  });

  test('the KV cache gives the same last logits as a full forward; logitsAt picks rows', async () => {
    const model = await loadModel(path.join(FIXTURES, 'llama-rope-llama3'));
    const ids = [818, 726, 297, 56, 207, 375, 667];
    noGrad(() =>
      tidy(() => {
        const full = model.forward([ids]).logits.data() as Float32Array;
        const V = model.config.vocabSize;
        const cache = new KVCache();
        model.forward([ids.slice(0, 5)], { cache });
        const step = model.forward([ids.slice(5)], { cache }).logits.data() as Float32Array;
        expect(cache.length).toBe(7);
        expect(maxAbsDiff(step, full.subarray(5 * V))).toBeLessThan(TOLERANCES.f32Closed.atol);
        cache.dispose();
        const at = model.forward([ids], { logitsAt: [3] }).logits;
        expect(at.shape).toEqual([1, 1, V]);
        expect(maxAbsDiff(at.data() as Float32Array, full.subarray(3 * V, 4 * V))).toBeLessThan(TOLERANCES.f32Closed.atol);
      }),
    );
    model.dispose();
  });

  test('hooks: mlp_key is down_proj’s input and mlp_out its output; a replaced resid_out changes the logits', async () => {
    const model = await loadModel(path.join(FIXTURES, 'llama'));
    const rm = model.rewriteModule(0);
    noGrad(() =>
      tidy(() => {
        const seen: Record<string, Tensor> = {};
        const base = model.forward([[5, 6, 7]], { hooks: { [rm.keyHook]: (k) => void (seen.k = k), [rm.valueHook]: (v) => void (seen.v = v) } });
        expect(seen.k.shape).toEqual([1, 3, rm.keyDim]);
        const W = model.param(rm.weightName).data() as Float32Array;
        const k = seen.k.data() as Float32Array;
        const v = seen.v.data() as Float32Array;
        let worst = 0;
        for (let o = 0; o < rm.valueDim; o++) {
          let s = 0;
          for (let i = 0; i < rm.keyDim; i++) s += W[o * rm.keyDim + i] * k[2 * rm.keyDim + i];
          worst = Math.max(worst, Math.abs(s - v[2 * rm.valueDim + o]));
        }
        expect(worst).toBeLessThan(1e-5);
        const steered = model.forward([[5, 6, 7]], { hooks: { [hookName(1, 'resid_out')]: (h) => tidy(() => tensor(new Float32Array(h.size).fill(1), h.shape)) } });
        expect(maxAbsDiff(base.logits.data() as Float32Array, steered.logits.data() as Float32Array)).toBeGreaterThan(1e-2);
      }),
    );
    model.dispose();
  });
});
