/**
 * Edits as PEFT LoRA adapters: the files follow PEFT's format (config fields, key names,
 * shapes — checked on the raw files, not through medit's reader), base + adapter gives the
 * edited model's logits, dense changes are factored exactly or refused with the rank they
 * need, and adapters written by others (another alpha, rsLoRA, rank_pattern) load with PEFT's
 * scaling. GPT-2 (Conv1D, fan_in_fan_out) and Llama (nn.Linear) parity models.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  type CausalLM,
  EditDelta,
  exportLoraAdapter,
  factorLowRank,
  loadAdapter,
  loadModel,
  matmul,
  memory,
  modelFingerprint,
  noGrad,
  randn,
  tensor,
  tidy,
  writeCheckpointFile,
} from '../src';

const PARITY = path.resolve(__dirname, '../../../test-fixtures/parity');
const IDS = [[3, 7, 11, 5, 9, 2]];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-lora-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const logits = (m: CausalLM) => noGrad(() => tidy(() => Array.from(m.forward(IDS).logits.data() as Float32Array)));
const maxDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/** The safetensors header of a file, parsed from its bytes (8-byte little-endian length + JSON). */
function safetensorsHeader(file: string): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
}

/** A float32 tensor of the file, read from its bytes. */
function safetensorsTensor(file: string, key: string): { shape: number[]; data: Float32Array } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = safetensorsHeader(file)[key] as { dtype: string; shape: number[]; data_offsets: [number, number] };
  expect(h.dtype).toBe('F32');
  const bytes = buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
  return { shape: h.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

/** PEFT LoraConfig fields and the JSON types save_pretrained writes for them (huggingface/peft tuners/lora/config.py). */
const CONFIG_SCHEMA: Record<string, (v: unknown) => boolean> = {
  peft_type: (v) => v === 'LORA',
  task_type: (v) => v === 'CAUSAL_LM',
  base_model_name_or_path: (v) => typeof v === 'string',
  revision: (v) => v === null,
  inference_mode: (v) => v === true,
  r: (v) => Number.isInteger(v) && (v as number) > 0,
  lora_alpha: (v) => Number.isInteger(v) && (v as number) > 0,
  lora_dropout: (v) => v === 0,
  target_modules: (v) => Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'string'),
  fan_in_fan_out: (v) => typeof v === 'boolean',
  bias: (v) => v === 'none',
  use_rslora: (v) => v === false,
  use_dora: (v) => v === false,
  rank_pattern: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  alpha_pattern: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  modules_to_save: (v) => v === null,
  init_lora_weights: (v) => v === true,
  layers_to_transform: (v) => v === null,
  layers_pattern: (v) => v === null,
};

/** Checks an adapter directory against PEFT's format; returns, per module, the change PEFT adds to the stored weight. */
function checkPeftFiles(dir: string, model: CausalLM): Map<string, { weight: string; delta: Float64Array }> {
  expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const text = fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8');
  const config = JSON.parse(text);
  expect(Object.keys(config)).toEqual(Object.keys(config).sort()); // json.dumps(sort_keys=True)
  expect(Object.keys(config).sort()).toEqual(Object.keys(CONFIG_SCHEMA).sort());
  for (const [k, ok] of Object.entries(CONFIG_SCHEMA)) expect([k, ok(config[k])]).toEqual([k, true]);
  expect(config.lora_alpha).toBe(config.r); // scaling 1
  expect(config.alpha_pattern).toEqual(config.rank_pattern);
  const file = path.join(dir, 'adapter_model.safetensors');
  const header = safetensorsHeader(file);
  expect((header.__metadata__ as Record<string, string>).format).toBe('pt');
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  expect(keys.sort()).toEqual(config.target_modules.flatMap((m: string) => [`base_model.model.${m}.lora_A.weight`, `base_model.model.${m}.lora_B.weight`]).sort());
  const conv1d = model.config.modelType === 'gpt2';
  expect(config.fan_in_fan_out).toBe(conv1d);
  const out = new Map<string, { weight: string; delta: Float64Array }>();
  for (const module of config.target_modules as string[]) {
    const weight = `${module}.weight`;
    const [rows, cols] = model.param(weight).shape;
    // Conv1D [in, out]; nn.Linear [out, in]
    const [outF, inF] = conv1d ? [cols, rows] : [rows, cols];
    const key = Object.keys(config.rank_pattern).find((k) => new RegExp(`^(.*\\.)?(${k})$`).test(module));
    const r = key ? config.rank_pattern[key] : config.r;
    const alpha = key ? config.alpha_pattern[key] : config.lora_alpha;
    const A = safetensorsTensor(file, `base_model.model.${module}.lora_A.weight`);
    const B = safetensorsTensor(file, `base_model.model.${module}.lora_B.weight`);
    expect([module, A.shape, B.shape]).toEqual([module, [r, inF], [outF, r]]);
    // PEFT get_delta_weight: transpose(B @ A, fan_in_fan_out) · alpha / r
    const delta = new Float64Array(rows * cols);
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += B.data[o * r + k] * A.data[k * inF + i];
        delta[conv1d ? i * cols + o : o * cols + i] = (s * alpha) / r;
      }
    out.set(module, { weight, delta });
  }
  return out;
}

/** The dense change of a delta's updates of one weight, in the stored layout. */
function denseChange(delta: EditDelta, weight: string, shape: readonly number[]): Float64Array {
  const out = new Float64Array(shape[0] * shape[1]);
  for (const u of delta.updates.filter((x) => x.name === weight)) {
    const d = noGrad(() => tidy(() => (u.delta ? u.delta : matmul(u.left!, u.right!)).data() as Float32Array));
    d.forEach((v, i) => (out[i] += v));
  }
  return out;
}

describe.each([
  ['gpt2', ['transformer.h.1.mlp.c_proj.weight', 'transformer.h.0.attn.c_attn.weight']],
  ['llama', ['model.layers.1.mlp.down_proj.weight', 'model.layers.0.self_attn.k_proj.weight']],
])('%s', (family, [rewrite, attn]) => {
  let model: CausalLM;
  const src = path.join(PARITY, family);
  beforeAll(async () => {
    model = await loadModel(src);
  });
  afterAll(() => model.dispose());

  /** Two rank-1 updates of one weight (as ROME makes for two requests) and a rank-3 one of another. */
  function lowRankDelta(): EditDelta {
    const shape = (w: string) => model.param(w).shape;
    const [r0, c0] = shape(rewrite);
    const [r1, c1] = shape(attn);
    return new EditDelta(
      [
        { name: rewrite, left: randn([r0, 1], { seed: 1, std: 0.5 }), right: randn([1, c0], { seed: 2, std: 0.5 }) },
        { name: rewrite, left: randn([r0, 1], { seed: 3, std: 0.5 }), right: randn([1, c0], { seed: 4, std: 0.5 }) },
        { name: attn, left: randn([r1, 3], { seed: 5, std: 0.3 }), right: randn([3, c1], { seed: 6, std: 0.3 }) },
      ],
      { method: 'test', modelFingerprint: modelFingerprint(model) },
    );
  }

  test('a low-rank delta is written in PEFT format, and base + adapter gives the edited logits', async () => {
    const before = memory().numTensors;
    const delta = lowRankDelta();
    const dir = path.join(tmp, `${family}-lowrank`);
    const summary = await exportLoraAdapter(model, delta, dir);
    expect(summary.r).toBe(3); // the most common rank, the larger on a tie
    expect(summary.modules.map((m) => [m.weightName, m.rank, m.from])).toEqual([
      [rewrite, 2, 'factors'],
      [attn, 3, 'factors'],
    ]);
    // the PEFT-side change equals the delta's change, module by module
    const modules = checkPeftFiles(dir, model);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config.base_model_name_or_path).toBe(src);
    expect(config.rank_pattern).toEqual({ [rewrite.replace(/^(transformer|model)\./, '').replace(/\.weight$/, '')]: 2 });
    for (const { weight, delta: peft } of modules.values()) {
      const mine = denseChange(delta, weight, model.param(weight).shape);
      expect(maxDiff(Array.from(peft), Array.from(mine))).toBeLessThan(1e-6);
    }
    const base = logits(model);
    delta.apply(model);
    const edited = logits(model);
    delta.revert(model);
    expect(maxDiff(edited, base)).toBeGreaterThan(1e-2);
    // loadModel merges the adapter
    const merged = await loadModel(src, { adapter: dir });
    expect(maxDiff(logits(merged), edited)).toBeLessThan(1e-5);
    merged.dispose();
    // loadAdapter gives an EditDelta that applies and reverts
    const fingerprint = modelFingerprint(model);
    const lora = await loadAdapter(model, dir);
    expect(lora.info.method).toBe('LoRA');
    lora.apply(model);
    expect(maxDiff(logits(model), edited)).toBeLessThan(1e-5);
    lora.revert(model);
    expect(modelFingerprint(model)).toBe(fingerprint);
    lora.dispose();
    delta.dispose();
    expect(memory().numTensors).toBe(before);
  });

  test('a dense change is factored exactly at its numerical rank; a full-rank one is refused with the rank it needs', async () => {
    const before = memory().numTensors;
    const [rows, cols] = model.param(rewrite).shape;
    const dense = noGrad(() => tidy(() => matmul(randn([rows, 4], { seed: 7, std: 0.3 }), randn([4, cols], { seed: 8, std: 0.3 }))));
    const delta = new EditDelta([{ name: rewrite, delta: dense }], { method: 'test' });
    const dir = path.join(tmp, `${family}-dense`);
    const summary = await exportLoraAdapter(model, delta, dir);
    expect(summary.modules).toEqual([{ module: rewrite.replace(/\.weight$/, ''), weightName: rewrite, rank: 4, from: 'dense' }]);
    const [{ delta: peft }] = [...checkPeftFiles(dir, model).values()];
    const d = dense.data() as Float32Array;
    const scale = d.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(maxDiff(Array.from(peft), Array.from(d))).toBeLessThan(1e-5 * scale);
    const base = logits(model);
    delta.apply(model);
    const edited = logits(model);
    delta.revert(model);
    expect(maxDiff(edited, base)).toBeGreaterThan(1e-2);
    const merged = await loadModel(src, { adapter: dir });
    expect(maxDiff(logits(merged), edited)).toBeLessThan(1e-5);
    merged.dispose();
    delta.dispose();

    const full = new EditDelta([{ name: rewrite, delta: randn([rows, cols], { seed: 9, std: 0.01 }) }], { method: 'FT' });
    const n = Math.min(rows, cols);
    await expect(exportLoraAdapter(model, full, path.join(tmp, `${family}-full`))).rejects.toThrow(new RegExp(`change to ${rewrite.replace(/\./g, '\\.')} \\[${rows}, ${cols}\\] has numerical rank ${n} .*needs rank ${n}`));
    await expect(exportLoraAdapter(model, full, path.join(tmp, `${family}-full`), { maxRank: 8 })).rejects.toThrow(/rank limit 8/);
    expect(fs.existsSync(path.join(tmp, `${family}-full`))).toBe(false);
    // a low-rank delta whose factors exceed --max-rank is reduced to its numerical rank first
    const lr = lowRankDelta();
    const reduced = await exportLoraAdapter(model, lr, path.join(tmp, `${family}-reduced`), { maxRank: 1 }).catch((e: Error) => e.message);
    expect(reduced).toMatch(/has numerical rank 2 .*rank limit 1/);
    full.dispose();
    lr.dispose();
    expect(memory().numTensors).toBe(before);
  });
});

describe('refusals and third-party adapters (gpt2)', () => {
  let model: CausalLM;
  const src = path.join(PARITY, 'gpt2');
  beforeAll(async () => {
    model = await loadModel(src);
  });
  afterAll(() => model.dispose());

  test('weights LoRA cannot adapt are named; nothing is written', async () => {
    for (const name of ['transformer.h.0.mlp.c_proj.bias', 'transformer.h.0.ln_1.weight', 'transformer.wte.weight']) {
      const shape = model.param(name).shape;
      const d = new EditDelta([{ name, delta: randn([...shape], { seed: 1 }) }], { method: 'test' });
      const out = path.join(tmp, 'refused');
      await expect(exportLoraAdapter(model, d, out)).rejects.toThrow(new RegExp(`${name.replace(/\./g, '\\.')} is not a linear layer of the gpt2 blocks`));
      expect(fs.existsSync(out)).toBe(false);
      d.dispose();
    }
    const patch = new EditDelta([{ name: 'tpatcher.h.1.keys', delta: randn([2, 3], { seed: 1 }) }], { method: 'T-Patcher' });
    await expect(exportLoraAdapter(model, patch, path.join(tmp, 'refused'))).rejects.toThrow(/tpatcher\.h\.1\.keys, which is not a weight of the model/);
    patch.dispose();
    const empty = new EditDelta([], { method: 'SERAC' });
    await expect(exportLoraAdapter(model, empty, path.join(tmp, 'refused'))).rejects.toThrow(/no weight updates/);
  });

  test('an adapter with another alpha, rsLoRA and a rank_pattern loads with PEFT scaling', async () => {
    const dir = path.join(tmp, 'third-party');
    fs.mkdirSync(dir);
    const W = 'transformer.h.1.mlp.c_fc.weight'; // Conv1D [64, 256]
    const V = 'transformer.h.0.attn.c_proj.weight'; // Conv1D [64, 64]
    const a1 = randn([4, 64], { seed: 11, std: 0.2 });
    const b1 = randn([256, 4], { seed: 12, std: 0.2 });
    const a2 = randn([2, 64], { seed: 13, std: 0.2 });
    const b2 = randn([64, 2], { seed: 14, std: 0.2 });
    const keys = (m: string) => [`base_model.model.${m}.lora_A.weight`, `base_model.model.${m}.lora_B.weight`];
    await writeCheckpointFile(
      path.join(dir, 'adapter_model.safetensors'),
      new Map([
        [keys('transformer.h.1.mlp.c_fc')[0], a1.handle()],
        [keys('transformer.h.1.mlp.c_fc')[1], b1.handle()],
        [keys('transformer.h.0.attn.c_proj')[0], a2.handle()],
        [keys('transformer.h.0.attn.c_proj')[1], b2.handle()],
      ]),
      { format: 'pt' },
    );
    const write = (config: object) => fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(config));
    const config = { peft_type: 'LORA', r: 4, lora_alpha: 16, use_rslora: true, target_modules: ['c_fc', 'c_proj'], rank_pattern: { 'h.0.attn.c_proj': 2 }, alpha_pattern: { 'h.0.attn.c_proj': 3 }, fan_in_fan_out: true };
    write(config);
    const lora = await loadAdapter(model, dir);
    // PEFT: scaling = alpha / √r with use_rslora; the change is (s · B A)ᵀ in Conv1D's layout
    const check = (name: string, a: typeof a1, b: typeof b1, s: number) => {
      const [rows, cols] = model.param(name).shape;
      const mine = denseChange(lora, name, [rows, cols]);
      const ba = noGrad(() => tidy(() => matmul(b, a).data() as Float32Array)); // [out, in] = [cols, rows]
      let worst = 0;
      for (let i = 0; i < rows; i++) for (let o = 0; o < cols; o++) worst = Math.max(worst, Math.abs(mine[i * cols + o] - s * ba[o * rows + i]));
      expect([name, worst < 1e-6]).toEqual([name, true]);
    };
    check(W, a1, b1, 16 / Math.sqrt(4));
    check(V, a2, b2, 3 / Math.sqrt(2));
    lora.dispose();

    // errors name the field, the tensor or the module
    write({ ...config, peft_type: 'IA3' });
    await expect(loadAdapter(model, dir)).rejects.toThrow(/adapter_config\.json: expected "LORA".* for peft_type but received "IA3"/);
    write({ ...config, use_dora: true });
    await expect(loadAdapter(model, dir)).rejects.toThrow(/for use_dora/);
    write({ ...config, rank_pattern: {} });
    await expect(loadAdapter(model, dir)).rejects.toThrow(/module transformer\.h\.0\.attn\.c_proj has lora_A \[2,64\] and lora_B \[64,2\], expected \[4, in\] and \[out, 4\]/);
    write({ ...config, target_modules: ['c_fc'] });
    await expect(loadAdapter(model, dir)).rejects.toThrow(/target_modules \["c_fc"\] does not include module transformer\.h\.0\.attn\.c_proj/);
    write(config);
    const llama = await loadModel(path.join(PARITY, 'llama'));
    await expect(loadAdapter(llama, dir)).rejects.toThrow(/changes module transformer\.h\.\d\.\S+, which is not a linear layer of this llama model/);
    llama.dispose();
    await expect(loadAdapter(model, path.join(tmp, 'nothing'))).rejects.toThrow(/no adapter_config\.json in .*nothing: not a PEFT adapter directory/);
    await expect(loadModel(src, { adapter: path.join(tmp, 'nothing') })).rejects.toThrow(/not a PEFT adapter directory/);
    for (const t of [a1, b1, a2, b2]) t.dispose();
  });

  test('factorLowRank: exact factors at the numerical rank, NumPy tolerance', () => {
    const before = memory().numTensors;
    for (const [rows, cols] of [
      [40, 12],
      [12, 40],
    ]) {
      const d = noGrad(() => tidy(() => matmul(randn([rows, 3], { seed: rows }), randn([3, cols], { seed: cols }))));
      const f = factorLowRank(d);
      expect(f.rank).toBe(3);
      expect(f.singularValues.length).toBe(Math.min(rows, cols));
      expect(f.tolerance).toBeCloseTo(f.singularValues[0] * Math.max(rows, cols) * 2 ** -23, 12);
      const back = noGrad(() => tidy(() => Array.from(matmul(f.left!, f.right!).data() as Float32Array)));
      expect(maxDiff(back, Array.from(d.data() as Float32Array))).toBeLessThan(1e-5);
      for (const t of [d, f.left!, f.right!]) t.dispose();
    }
    const zero = tensor(new Float32Array(12), [3, 4]);
    const z = factorLowRank(zero);
    expect([z.rank, z.left, z.right]).toEqual([0, null, null]);
    zero.dispose();
    expect(memory().numTensors).toBe(before);
  });
});
