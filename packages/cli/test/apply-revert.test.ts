/**
 * `medit apply` / `medit revert` check that a saved edit belongs to the model on disk: applying
 * it twice or reverting it from a model that never had it (or has another edit) is refused with
 * the reason and exit 1, and writes nothing; `--force` goes on with a warning. Load checks a user
 * may relax per command: --allow-nonfinite (NaN weights) and --allow-unk (unknown words).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, EditDelta, loadModel, modelFingerprint, readCheckpoint, Tensor, tensor, writeCheckpointFile } from '@medit/core';

import { FIX, PARITY_MODEL, runCli } from './helpers/run';

const FAST = ['--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')];
const EDIT = ['--prompt', 'The {} is located in', '--subject', 'Eiffel Tower'];

let tmp: string;
let original: CausalLM;
const at = (name: string) => path.join(tmp, name);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-apply-'));
  original = await loadModel(PARITY_MODEL);
  for (const [file, target] of [['tokyo.safetensors', 'Tokyo'], ['rome.safetensors', 'Rome']]) {
    const r = await runCli(['edit', '--model', PARITY_MODEL, ...EDIT, '--target', target, ...FAST, '--save-delta', at(file)]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  }
});
afterAll(() => {
  original.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('apply writes the model plus the edit, bit for bit what the delta does in memory', async () => {
  const r = await runCli(['apply', '--model', PARITY_MODEL, '--delta', at('tokyo.safetensors'), '--out', at('tokyo'), '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ method: 'ROME', forced: false });
  const d = await EditDelta.load(at('tokyo.safetensors'));
  const fresh = await loadModel(PARITY_MODEL);
  d.apply(fresh);
  const onDisk = await loadModel(at('tokyo'));
  expect(modelFingerprint(onDisk)).toBe(modelFingerprint(fresh));
  expect(r.result!.weights).toBe(d.info.weights!.after);
  d.dispose();
  for (const m of [onDisk, fresh]) m.dispose();
});

test('apply refuses a model that already carries the edit, writes nothing, and --force applies it again', async () => {
  const twice = await runCli(['apply', '--model', at('tokyo'), '--delta', at('tokyo.safetensors'), '--out', at('twice')]);
  expect(twice.code).toBe(1);
  expect(twice.stderr).toMatch(/^medit apply: error: cannot apply the ROME edit of transformer\.h\.0\.mlp\.c_proj\.weight: the weights are not those it was computed on .*they already carry this edit \(applied twice\?\); nothing was written \(--force applies anyway\)$/m);
  expect(fs.existsSync(at('twice'))).toBe(false);
  const forced = await runCli(['apply', '--model', at('tokyo'), '--delta', at('tokyo.safetensors'), '--out', at('twice'), '--force']);
  expect(forced.code).toBe(0);
  expect(forced.stderr).toMatch(/warning: cannot apply .*applied twice\?\); going on because of --force/);
  expect(fs.existsSync(at('twice'))).toBe(true);
});

test('revert refuses a model that never had the edit, one that has it twice, and one with another edit', async () => {
  const cases: [string, RegExp][] = [
    [PARITY_MODEL, /the weights do not carry it .*they are the weights the edit was computed on: it was never applied; nothing was written \(--force reverts anyway\)/],
    [at('twice'), /the weights do not carry it .*it was applied twice, it is another edit, or the weights changed since; nothing was written/],
  ];
  for (const [model, why] of cases) {
    const r = await runCli(['revert', '--model', model, '--delta', at('tokyo.safetensors'), '--out', at('reverted-bad')]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(why)]);
    expect(r.stdout).not.toMatch(/restored/);
  }
  const other = await runCli(['revert', '--model', at('tokyo'), '--delta', at('rome.safetensors'), '--out', at('reverted-bad')]);
  expect(other.code).toBe(1);
  expect(other.stderr).toMatch(/cannot revert the ROME edit .*it is another edit/);
  expect(fs.existsSync(at('reverted-bad'))).toBe(false);
});

test('revert of the model that carries the edit writes the original up to rounding; --force reverts a mismatch with a warning', async () => {
  const r = await runCli(['revert', '--model', at('tokyo'), '--delta', at('tokyo.safetensors'), '--out', at('reverted'), '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ forced: false, originalFingerprint: modelFingerprint(original) });
  const forced = await runCli(['revert', '--model', PARITY_MODEL, '--delta', at('tokyo.safetensors'), '--out', at('reverted-forced'), '--force']);
  expect(forced.code).toBe(0);
  expect(forced.stderr).toMatch(/^medit revert: warning: cannot revert .*never applied; going on because of --force$/m);
});

test('generate --delta previews an edit on a model it does not fit with a warning naming why', async () => {
  const r = await runCli(['generate', '--model', at('tokyo'), '--delta', at('tokyo.safetensors'), '--prompt', 'The Eiffel Tower is located in', '--json']);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/^medit generate: warning: cannot apply the ROME edit .*already carry this edit \(applied twice\?\); applying it anyway$/m);
  expect(r.result).toMatchObject({ sameModel: false });
});

describe('load checks a command may relax', () => {
  let nanModel: string;
  beforeAll(async () => {
    nanModel = at('nan-model');
    fs.mkdirSync(nanModel);
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(PARITY_MODEL, f), path.join(nanModel, f));
    const ckpt = await readCheckpoint(PARITY_MODEL);
    const tensors = new Map([...ckpt.tensors].map(([k, h]) => [k, new Tensor(h)]));
    const w = 'transformer.h.1.attn.c_proj.bias';
    const d = (tensors.get(w)!.data() as Float32Array).slice();
    d[3] = NaN;
    tensors.get(w)!.dispose();
    tensors.set(w, tensor(d, [d.length]));
    await writeCheckpointFile(path.join(nanModel, 'model.safetensors'), new Map([...tensors].map(([k, t]) => [k, t.handle()])), { format: 'pt' });
    for (const t of tensors.values()) t.dispose();
  });

  test('a NaN weight is refused naming the tensor and file; --allow-nonfinite loads it', async () => {
    const r = await runCli(['generate', '--model', nanModel, '--prompt', 'The Eiffel Tower is located in']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `medit generate: error: ${path.join(nanModel, 'model.safetensors')}: tensor transformer.h.1.attn.c_proj.bias holds 1 non-finite value (NaN or ±Inf) of`,
    );
    expect(r.stderr).toMatch(/the first is NaN \(element 3\) \(--allow-nonfinite loads it anyway, to inspect it\)/);
    const allowed = await runCli(['generate', '--model', nanModel, '--prompt', 'The Eiffel Tower is located in', '--allow-nonfinite']);
    expect(allowed.code).toBe(0);
  });

  test('an edit of a subject with unknown words is refused naming them; --allow-unk edits with a warning', async () => {
    const args = ['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Qqq Tower', '--target', 'Tokyo', ...FAST];
    const r = await runCli(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'medit edit: error: edit request 0: subject "Qqq Tower" has a word the tokenizer does not know: "Qqq" (tokenized as the unknown token "<|unk|>"); editing it would change the answers for every unknown word, not this fact\nPass --allow-unk to edit it anyway.\n',
    );
    const allowed = await runCli([...args, '--allow-unk']);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toMatch(/^medit edit: warning: edit request 0: subject "Qqq Tower" has a word the tokenizer does not know: "Qqq" .*; editing anyway \(--allow-unk\)$/m);
    expect(allowed.stderr.match(/warning/g)!.length).toBe(1); // once, however often the editor looks at the subject
  });

  test('a misspelt hyperparameter is refused naming the closest field', async () => {
    const f = at('typo.yaml');
    fs.writeFileSync(f, 'layerz: [0]\n');
    const r = await runCli(['edit', '--model', PARITY_MODEL, ...EDIT, '--target', 'Tokyo', '--no-covariance', '--hparams', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^medit edit: error: .*typo\.yaml: unknown hyperparameter "layerz" \(did you mean "layers"\?\)/);
  });
});
