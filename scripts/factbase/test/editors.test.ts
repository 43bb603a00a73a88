/**
 * fact-base's editor training scripts end to end on the tiny fact-base (its BPE tokenizer, its
 * 384-token context), a few iterations each: packages/mend/scripts/train-fact-base.sh (MEND,
 * KE) and packages/serac/scripts/train-fact-base.sh (both classifiers calibrated on validation,
 * the two-stage counterfactual model). Each artefact lands at its fixture path, records its
 * train / validation files (SHA-256, case ids) and the medit command, resumes or skips on a
 * rerun, and edits through `medit eval` (SERAC's scope encoder also as IKE's retriever). The
 * scripts run the built CLI (`npx tsc -b` first, as the CLI tests need).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { main as medit } from '@medit/cli';
import { loadEditorFile } from '@medit/mend';

import { type TinyFactbase, makeTinyFactbase } from './tiny';

const ROOT = path.join(__dirname, '../../..');
let tmp: string;
let tiny: TinyFactbase;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-editors-'));
  tiny = await makeTinyFactbase(tmp);
}, 120_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs a training script with the tiny fact-base's paths; returns its exit code and output. */
function script(file: string, args: string[], env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync('bash', [path.join(ROOT, file), ...args], { encoding: 'utf8', env: { ...process.env, MODEL: tiny.model, EDITS: tiny.edits, MEDIT_NUM_THREADS: '1', ...env } });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** `medit eval` in this process on the first 2 eval records of the tiny fact-base; its report. */
async function evaluate(method: string, args: string[]): Promise<{ methods: { name: string; aggregates: Record<string, { mean: number | null }> }[] }> {
  const out = path.join(tmp, `eval-${method}`);
  const lines: string[] = [];
  const sink = { write: (s: string) => { lines.push(s); return true; } };
  const code = await medit(['eval', '--model', tiny.model, '--dataset', path.join(tiny.edits, 'counterfact-eval.json'), '--limit', '2', '--method', method, ...args, '--out', out], { cwd: ROOT, stdout: sink, stderr: sink });
  expect([method, code, code === 0 ? '' : lines.join('')]).toEqual([method, 0, '']);
  return JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
}

/** The data entries an artefact records must be the tiny fact-base's train and validation files. */
function expectTrainData(data: { use: string; file: string; sha256: string; caseIds: string[] }[] | undefined, formats: string[]): void {
  const files = (split: string) => formats.map((f) => path.join(tiny.edits, `${f}-${split}.json`));
  expect(data?.map((d) => [d.use, d.file])).toEqual([...files('train').map((f) => ['train', f]), ...files('validation').map((f) => ['validation', f])]);
  for (const d of data!) {
    expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(d.caseIds.length).toBe((JSON.parse(fs.readFileSync(d.file, 'utf8')) as unknown[]).length);
  }
}

test('MEND: trains, lands at its fixture path with its data and command, resumes, and edits', async () => {
  const env = { OUT: path.join(tmp, 'runs/mend'), DEST: path.join(tmp, 'fixtures/editors/mend-fact-base'), MAX_ITERS: '4' };
  const r = script('packages/mend/scripts/train-fact-base.sh', ['mend'], env);
  expect([r.code, r.code === 0 ? '' : r.out]).toEqual([0, '']);
  const file = `${env.DEST}.safetensors`;
  const first = await loadEditorFile(file, 'MEND');
  for (const t of first.tensors.values()) t.dispose();
  expectTrainData(first.info.training?.data as never, ['zsre', 'counterfact']);
  const edits = tiny.edits;
  expect(first.info.training?.command).toBe(
    `medit train mend --model ${tiny.model} --dataset ${edits}/zsre-train.json,${edits}/counterfact-train.json --validation ${edits}/zsre-validation.json,${edits}/counterfact-validation.json --hparams packages/mend/hparams/fact-base-mend.json --out ${env.OUT} --max-iters 4`,
  );
  // fact-base's settings: the last 3 blocks (here both of the tiny model's 2), rank 128
  expect(first.info.innerParams).toEqual([0, 1].flatMap((l) => [`transformer.h.${l}.mlp.c_fc.weight`, `transformer.h.${l}.mlp.c_proj.weight`]));
  expect(first.info.hparams).toMatchObject({ rank: 128, max_iters: 4 });
  expect(fs.existsSync(`${env.DEST}.train-log.jsonl`)).toBe(true);

  // finished: a rerun only copies; an unfinished run continues from its checkpoint
  expect(script('packages/mend/scripts/train-fact-base.sh', ['mend'], env).code).toBe(0);
  expect(fs.readFileSync(path.join(env.OUT, 'train-log.jsonl'), 'utf8').trim().split('\n').every((l) => JSON.parse(l).iter <= 4)).toBe(true);
  fs.rmSync(path.join(env.OUT, 'finished'));
  expect(script('packages/mend/scripts/train-fact-base.sh', ['mend'], { ...env, MAX_ITERS: '8' }).code).toBe(0);
  const log = fs.readFileSync(`${env.DEST}.train-log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(log.some((row) => row.kind === 'val' && row.iter === 8)).toBe(true);

  const report = await evaluate('mend', ['--editor', file]);
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', 'MEND']);
}, 120_000);

test('KE: trains through the same script and edits', async () => {
  const env = { OUT: path.join(tmp, 'runs/ke'), DEST: path.join(tmp, 'fixtures/editors/ke-fact-base'), MAX_ITERS: '2' };
  const r = script('packages/mend/scripts/train-fact-base.sh', ['ke'], env);
  expect([r.code, r.code === 0 ? '' : r.out]).toEqual([0, '']);
  const { tensors, info } = await loadEditorFile(`${env.DEST}.safetensors`, 'KE');
  for (const t of tensors.values()) t.dispose();
  expectTrainData(info.training?.data as never, ['zsre', 'counterfact']);
  expect(info.training?.command).toMatch(/^medit train ke .*--hparams packages\/mend\/hparams\/fact-base-ke\.json/);
  const report = await evaluate('ke', ['--editor', `${env.DEST}.safetensors`]);
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', 'KE']);
  expect(script('packages/mend/scripts/train-fact-base.sh', ['rome'], env).code).toBe(2);
}, 120_000);

test('SERAC: classifiers calibrated on validation, a two-stage counterfactual model, skipped on a rerun; SERAC and IKE edit with it', async () => {
  const env = { OUT: path.join(tmp, 'runs/serac'), DEST: path.join(tmp, 'fixtures/serac/fact-base'), SCOPE_STEPS: '4', CROSS_STEPS: '2', CF1_STEPS: '2', CF2_STEPS: '2' };
  const r = script('packages/serac/scripts/train-fact-base.sh', [], env);
  expect([r.code, r.code === 0 ? '' : r.out]).toEqual([0, '']);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(env.DEST, f), 'utf8'));
  expect(read('serac.json')).toEqual({ format: 'medit-serac/1', classifier: 'scope-embedding' });
  for (const c of ['scope-embedding', 'scope-cross']) {
    const t = read(`${c}/training.json`);
    expect(t.validation).toMatchObject({ split: true, threshold: expect.any(Number) });
    expect(read(`${c}/scope.json`).threshold).toBe(t.validation.threshold);
    expectTrainData(t.data, ['counterfact', 'zsre']);
    expect(t.command).toMatch(new RegExp(`^medit train serac --dataset \\S+ --validation \\S+ --model ${tiny.model} --out ${env.OUT} --components ${c} `));
    // the classifier reads fact-base's BPE with its EOS as [CLS] / [SEP]
    expect(read(`${c}/tokenizer_config.json`)).toMatchObject({ cls_token: '<|endoftext|>', sep_token: '<|endoftext|>' });
  }
  const cf = read('counterfactual/training.json');
  expect(cf.data.map((d: { use: string }) => d.use)).toEqual(['train', 'train']);
  expect(cf.command).toContain(`--model ${env.OUT}-stage1/counterfactual --out ${env.OUT} --components counterfactual --cf-steps 2 --seed 1`);
  expect(read('counterfactual/training-stage1.json').command).toContain(`--model ${tiny.model} --out ${env.OUT}-stage1 --components counterfactual --cf-steps 2`);
  expect(read('counterfactual/config.json').n_positions).toBe(384);

  const again = script('packages/serac/scripts/train-fact-base.sh', [], env);
  expect(again.code).toBe(0);
  expect(again.out).not.toContain('training SERAC');

  expect((await evaluate('serac', ['--editor', env.DEST])).methods.map((m) => m.name)).toEqual(['unedited', 'SERAC']);
  const ike = await evaluate('ike', ['--editor', path.join(env.DEST, 'scope-embedding'), '--pool', path.join(tiny.edits, 'counterfact-train.json'), '--k', '2']);
  expect(ike.methods.map((m) => m.name)).toEqual(['unedited', 'IKE']);
}, 120_000);
