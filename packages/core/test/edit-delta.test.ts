/**
 * EditDelta: apply/revert is bit-exact, save/load round-trips, an edited checkpoint loads
 * back with identical logits, and a save killed at any moment leaves the source intact and
 * no directory that looks complete. Fingerprints of the changed weights make apply and
 * revert refuse weights the delta does not belong to; the one-file format keeps tensors and
 * description together; non-finite changes are refused.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  EditDelta,
  clone,
  copyInplace,
  FingerprintMismatchError,
  IOError,
  NonFiniteError,
  loadModel,
  memory,
  modelFingerprint,
  noGrad,
  randn,
  readCheckpoint,
  Tensor,
  tensor,
  tidy,
  weightsFingerprint,
  writeCheckpointFile,
  type CausalLM,
} from '../src';

const SRC = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');
const IDS = [[3, 7, 11, 5, 9]];
const W = 'transformer.h.1.mlp.c_proj.weight';

let model: CausalLM;
let tmp: string;
beforeAll(async () => {
  model = await loadModel(SRC);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-delta-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const logits = (m: CausalLM) => noGrad(() => tidy(() => Array.from(m.forward(IDS).logits.data() as Float32Array)));

function makeDelta(): EditDelta {
  const [F, C] = model.param(W).shape;
  return new EditDelta(
    [
      { name: W, left: randn([F, 2], { seed: 1, std: 0.3 }), right: randn([2, C], { seed: 2, std: 0.3 }) },
      { name: 'transformer.h.0.attn.c_proj.bias', delta: randn([C], { seed: 3 }) },
    ],
    { method: 'test', modelFingerprint: modelFingerprint(model) },
  );
}

test('apply changes the outputs and revert restores every weight bit-exactly', () => {
  const before = modelFingerprint(model);
  const base = logits(model);
  const delta = makeDelta();
  delta.apply(model);
  expect(modelFingerprint(model)).not.toBe(before);
  expect(logits(model)).not.toEqual(base);
  expect(() => delta.apply(model)).toThrow(/already applied/);
  delta.revert(model);
  expect(modelFingerprint(model)).toBe(before);
  expect(logits(model)).toEqual(base);
  delta.dispose();
});

test('a delta whose shape does not fit the weight is refused before touching the model', () => {
  const before = modelFingerprint(model);
  const bad = new EditDelta([{ name: W, delta: randn([3, 3], { seed: 1 }) }], { method: 'test' });
  expect(() => bad.apply(model)).toThrow(/has shape \[3,3\] but the weight is/);
  const missing = new EditDelta([{ name: 'nope.weight', delta: randn([3], { seed: 1 }) }], { method: 'test' });
  expect(() => missing.apply(model)).toThrow(/no weight nope.weight/);
  expect(modelFingerprint(model)).toBe(before);
  bad.dispose();
  missing.dispose();
});

test('save writes one file whose header holds the description, and load round-trips it', async () => {
  const delta = makeDelta();
  const file = path.join(tmp, 'edit.safetensors');
  await delta.save(file);
  expect(fs.existsSync(`${file}.json`)).toBe(false);
  const ckpt = await readCheckpoint(tmp, { file: 'edit.safetensors' });
  for (const h of ckpt.tensors.values()) new Tensor(h).dispose();
  expect(ckpt.metadata.format).toBe('medit-edit-delta');
  expect(JSON.parse(ckpt.metadata.medit_document)).toMatchObject({ formatVersion: 2, method: 'test', updates: delta.updates.map((u) => u.name) });
  const loaded = await EditDelta.load(file);
  expect(loaded.info.method).toBe('test');
  expect(loaded.updates.map((u) => u.name)).toEqual(delta.updates.map((u) => u.name));
  delta.apply(model);
  const a = logits(model);
  delta.revert(model);
  loaded.apply(model);
  expect(logits(model)).toEqual(a);
  loaded.revert(model);
  delta.dispose();
  loaded.dispose();
  await expect(EditDelta.load(path.join(tmp, 'missing.safetensors'))).rejects.toThrow(/edit delta not found: .*missing\.safetensors/);
});

test('an edited checkpoint loads back with identical logits and leaves the source untouched', async () => {
  const srcBytes = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const delta = makeDelta();
  const out = path.join(tmp, 'edited');
  const fp = modelFingerprint(model);
  await delta.writeEditedCheckpoint(model, out);
  expect(modelFingerprint(model)).toBe(fp); // the in-memory model is as it was
  delta.apply(model);
  const want = logits(model);
  delta.revert(model);
  const edited = await loadModel(out);
  expect(logits(edited)).toEqual(want);
  expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
  edited.dispose();
  expect(fs.readFileSync(path.join(SRC, 'model.safetensors')).equals(srcBytes)).toBe(true);
  await expect(delta.writeEditedCheckpoint(model, out)).rejects.toThrow(/already exists/);
  expect(modelFingerprint(model)).toBe(fp);
  delta.dispose();
});

test('killing the process during a save never leaves a complete-looking directory or a changed source', async () => {
  const dist = path.resolve(__dirname, '../dist/index.js');
  if (!fs.existsSync(dist)) throw new Error('packages/core/dist is missing: run `npm run build` (npm ci does) before the tests');
  const srcBytes = fs.readFileSync(path.join(SRC, 'model.safetensors'));
  const script = `
    const m = require(${JSON.stringify(dist)});
    (async () => {
      const model = await m.loadModel(${JSON.stringify(SRC)});
      const [F, C] = model.param(${JSON.stringify(W)}).shape;
      const d = new m.EditDelta([{ name: ${JSON.stringify(W)}, delta: m.randn([F, C], { seed: 1 }) }], { method: 'kill-test' });
      process.stdout.write('saving\\n');
      await d.writeEditedCheckpoint(model, process.argv[1]);
      process.stdout.write('saved\\n');
    })();`;
  for (const delayMs of [0, 5, 20, 60, 150]) {
    const out = path.join(tmp, `killed-${delayMs}`);
    const child = spawn(process.execPath, ['-e', script, out], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    if (fs.existsSync(out)) {
      // renamed into place only when complete: it must load
      const m = await loadModel(out);
      m.dispose();
    }
    for (const f of fs.readdirSync(tmp).filter((f) => f.startsWith(`killed-${delayMs}.tmp-`))) {
      expect(fs.existsSync(path.join(tmp, f, 'config.json')) && fs.existsSync(out)).toBe(false);
    }
  }
  expect(fs.readFileSync(path.join(SRC, 'model.safetensors')).equals(srcBytes)).toBe(true);
});

test('no native memory leaks across apply/revert cycles', () => {
  const delta = makeDelta();
  delta.apply(model);
  delta.revert(model);
  const before = memory();
  for (let i = 0; i < 20; i++) {
    delta.apply(model);
    delta.revert(model);
  }
  expect(memory().numBytes).toBe(before.numBytes);
  expect(memory().numTensors).toBe(before.numTensors);
  delta.dispose();
});

/** A pid that is certainly not running (a process that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('fingerprints of the changed weights', () => {
  test('the first apply records them; a second copy of the delta refuses the model that already carries it', async () => {
    const delta = makeDelta();
    const names = delta.weightNames;
    const before = weightsFingerprint(model.params, names);
    delta.apply(model);
    expect(delta.info.weights).toEqual({ before, after: weightsFingerprint(model.params, names) });
    const file = path.join(tmp, 'fp.safetensors');
    await delta.save(file);
    const copy = await EditDelta.load(file);
    expect(copy.info.weights).toEqual(delta.info.weights);
    const fp = modelFingerprint(model);
    expect(() => copy.apply(model)).toThrow(FingerprintMismatchError);
    expect(() => copy.apply(model)).toThrow(/cannot apply the test edit of 2 weights .*already carry this edit \(applied twice\?\); nothing was changed/);
    expect(modelFingerprint(model)).toBe(fp);
    delta.revert(model);
    copy.apply(model); // on the weights it was computed on
    expect(copy.fingerprintOf(model)).toBe(delta.info.weights!.after);
    copy.revert(model);
    expect(weightsFingerprint(model.params, names)).toBe(before);
    copy.dispose();
    delta.dispose();
  });

  test("another edit's delta is refused, and force applies it anyway", async () => {
    const a = makeDelta();
    a.apply(model);
    a.revert(model);
    const [F, C] = model.param(W).shape;
    const b = new EditDelta([{ name: W, left: randn([F, 1], { seed: 7 }), right: randn([1, C], { seed: 8 }) }], { method: 'other' });
    b.apply(model);
    const fp = modelFingerprint(model);
    expect(() => a.apply(model)).toThrow(/another model's, or carry another edit; nothing was changed/);
    expect(modelFingerprint(model)).toBe(fp);
    a.apply(model, { force: true });
    expect(modelFingerprint(model)).not.toBe(fp);
    a.revert(model);
    b.revert(model);
    a.dispose();
    b.dispose();
  });

  test('revert refuses weights that changed since the apply (out of order) and leaves them; in reverse order both revert exactly', () => {
    const base = modelFingerprint(model);
    const a = makeDelta();
    const [F, C] = model.param(W).shape;
    const b = new EditDelta([{ name: W, left: randn([F, 1], { seed: 9 }), right: randn([1, C], { seed: 10 }) }], { method: 'later' });
    a.apply(model);
    b.apply(model);
    const both = modelFingerprint(model);
    expect(() => a.revert(model)).toThrow(/cannot revert the test edit .*the weights changed since it was applied .*revert edits in reverse order/);
    expect(modelFingerprint(model)).toBe(both);
    b.revert(model);
    a.revert(model);
    expect(modelFingerprint(model)).toBe(base);
    a.dispose();
    b.dispose();
  });

  test('recordFingerprints without applying gives what apply would, and releaseSnapshot keeps the change and frees the copy', () => {
    const base = modelFingerprint(model);
    const a = makeDelta();
    a.recordFingerprints(model);
    expect(modelFingerprint(model)).toBe(base);
    const recorded = a.info.weights;
    const saved = new Map(a.weightNames.map((n) => [n, clone(model.param(n))]));
    const live = memory().numTensors;
    a.apply(model);
    expect(a.fingerprintOf(model)).toBe(recorded!.after);
    a.releaseSnapshot();
    expect(a.applied).toBe(false);
    expect(memory().numTensors).toBe(live);
    expect(modelFingerprint(model)).not.toBe(base);
    a.dispose(); // not applied any more: the change stays
    expect(modelFingerprint(model)).not.toBe(base);
    for (const [n, t] of saved) {
      copyInplace(model.param(n), t);
      t.dispose();
    }
    expect(modelFingerprint(model)).toBe(base);
  });
});

describe('one-file format and the two-file format before it', () => {
  async function writeV1Pair(file: string, tensorName: string, listed: string[]): Promise<void> {
    const t = randn([3], { seed: 4 });
    await writeCheckpointFile(file, new Map([[`0:${tensorName}::delta`, t.handle()]]), { format: 'medit-edit-delta', version: '1' });
    t.dispose();
    fs.writeFileSync(`${file}.json`, JSON.stringify({ formatVersion: 1, method: 'old', updates: listed }));
  }

  test('a two-file delta whose sidecar lists its updates loads', async () => {
    const file = path.join(tmp, 'v1.safetensors');
    await writeV1Pair(file, 'transformer.h.0.attn.c_proj.bias', ['transformer.h.0.attn.c_proj.bias']);
    const d = await EditDelta.load(file);
    expect(d.info.method).toBe('old');
    expect(d.weightNames).toEqual(['transformer.h.0.attn.c_proj.bias']);
    d.dispose();
  });

  test('a pair from two different saves is refused, naming both parts, and frees what it read', async () => {
    const file = path.join(tmp, 'mixed.safetensors');
    await writeV1Pair(file, 'transformer.h.0.attn.c_proj.bias', ['transformer.h.1.mlp.c_proj.weight']);
    const live = memory().numTensors;
    const err = await EditDelta.load(file).catch((e) => e);
    expect(err).toBeInstanceOf(IOError);
    expect(err.message).toMatch(/mixed\.safetensors: the tensors \(1 update\(s\): transformer\.h\.0\.attn\.c_proj\.bias\) do not match the description in mixed\.safetensors\.json .*two different saves/);
    expect(memory().numTensors).toBe(live);
  });

  test('saving over a two-file delta removes its stale sidecar', async () => {
    const file = path.join(tmp, 'upgrade.safetensors');
    await writeV1Pair(file, 'transformer.h.0.attn.c_proj.bias', ['transformer.h.0.attn.c_proj.bias']);
    const d = makeDelta();
    await d.save(file);
    expect(fs.existsSync(`${file}.json`)).toBe(false);
    const back = await EditDelta.load(file);
    expect(back.info.method).toBe('test');
    back.dispose();
    d.dispose();
  });

  test('stale temporaries of dead processes are removed by the next save; those of live ones are kept', async () => {
    const dir = path.join(tmp, 'stale');
    fs.mkdirSync(dir);
    const dead = deadPid();
    fs.writeFileSync(path.join(dir, `edit.safetensors.tmp-${dead}-0123456789abcdef`), 'partial');
    fs.mkdirSync(path.join(dir, `edited.tmp-${dead}-1717171717171`));
    fs.writeFileSync(path.join(dir, `edited.tmp-${dead}-1717171717171`, 'config.json'), '{}');
    const mine = `other.safetensors.tmp-${process.pid}-00000000aaaaaaaa`;
    fs.writeFileSync(path.join(dir, mine), 'in progress');
    fs.writeFileSync(path.join(dir, 'notes.tmp-5'), 'not ours');
    const d = makeDelta();
    await d.save(path.join(dir, 'edit.safetensors'));
    d.dispose();
    expect(fs.readdirSync(dir).sort()).toEqual(['edit.safetensors', 'notes.tmp-5', mine].sort());
  });
});

describe('non-finite changes', () => {
  test('a delta with NaN is refused at construction, naming the method, weight and part', () => {
    const bad = tensor([1, NaN, 3]);
    expect(() => new EditDelta([{ name: 'transformer.h.0.attn.c_proj.bias', delta: bad }], { method: 'ROME' })).toThrow(NonFiniteError);
    expect(() => new EditDelta([{ name: 'transformer.h.0.attn.c_proj.bias', delta: bad }], { method: 'ROME' })).toThrow(
      /the ROME update of transformer\.h\.0\.attn\.c_proj\.bias \(delta\) holds 1 non-finite value \(NaN or ±Inf\) of 3; the first is NaN \(element 1\)/,
    );
    bad.dispose();
  });

  test('a saved delta holding Inf is refused at load, naming the file', async () => {
    const file = path.join(tmp, 'inf.safetensors');
    const t = tensor([0, Infinity]);
    await writeCheckpointFile(file, new Map([['0:w::delta', t.handle()]]), {
      format: 'medit-edit-delta',
      medit_document: JSON.stringify({ formatVersion: 2, method: 'test', updates: ['w'] }),
    });
    t.dispose();
    const live = memory().numTensors;
    await expect(EditDelta.load(file)).rejects.toThrow(/inf\.safetensors: the test update of w \(delta\) holds 1 non-finite value/);
    expect(memory().numTensors).toBe(live);
  });
});

test('kill -9 during overwrites of a delta always leaves one whole delta, never a mix', async () => {
  const dist = path.resolve(__dirname, '../dist/index.js');
  if (!fs.existsSync(dist)) throw new Error('packages/core/dist is missing: run `npm run build` (npm ci does) before the tests');
  const file = path.join(tmp, 'overwritten.safetensors');
  // Two deltas of different sizes over the same weight; the child saves them alternately.
  const script = `
    const m = require(${JSON.stringify(dist)});
    (async () => {
      const file = process.argv[1];
      const make = (k, seed) => new m.EditDelta([{ name: 'w', left: m.randn([64, k], { seed }), right: m.randn([k, 64], { seed: seed + 1 }) }], { method: 'k' + k });
      const deltas = [make(1, 1), make(8, 3)];
      process.stdout.write('go\\n');
      for (let i = 0; ; i++) await deltas[i % 2].save(file);
    })();`;
  const seen = new Set<string>();
  for (let trial = 0; trial < 8; trial++) {
    const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 5 + trial * 7));
    child.kill('SIGKILL');
    await exited;
    if (!fs.existsSync(file)) continue;
    const d = await EditDelta.load(file); // throws on a mixed or partial file
    const k = d.updates[0].left!.shape[1];
    expect(d.info.method).toBe(`k${k}`);
    seen.add(d.info.method);
    d.dispose();
  }
  expect(seen.size).toBeGreaterThan(0);
  const d = makeDelta();
  await d.save(path.join(tmp, 'after-kills.safetensors'));
  d.dispose();
  expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
});

test('a delta file with a low-rank update missing its right factor is an IOError naming the file', async () => {
  const file = path.join(tmp, 'half.safetensors');
  const t = randn([4, 1], { seed: 1 });
  await writeCheckpointFile(file, new Map([['0:w::left', t.handle()]]), {
    format: 'medit-edit-delta',
    medit_document: JSON.stringify({ formatVersion: 2, method: 'test', updates: ['w'] }),
  });
  t.dispose();
  const live = memory().numTensors;
  await expect(EditDelta.load(file)).rejects.toThrow(new IOError(`${file}: EditDelta: update of w needs either delta or left+right`));
  expect(memory().numTensors).toBe(live);
});
