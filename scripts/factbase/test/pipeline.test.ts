/**
 * fact-base's post-training pipeline after tuning (tune.test.ts), end to end on the tiny
 * fact-base (its BPE tokenizer, its 384-token context), a few iterations each:
 *
 * - the editor training scripts: packages/mend/scripts/train-fact-base.sh (MEND, KE) and
 *   packages/serac/scripts/train-fact-base.sh (both classifiers calibrated on validation, the
 *   two-stage counterfactual model). Each artefact lands at its fixture path, records its train /
 *   validation files (SHA-256, case ids) and the medit command, resumes or skips on a rerun, and
 *   edits through `medit eval` (SERAC's scope encoder also as IKE's retriever);
 * - the comparison (`compare.ts`) with fact-base's world table pointed at the tiny files and the
 *   editors trained above: every method on both splits, portability in every report, the
 *   Reference Score from the derived snippets, the merged reports and tables, nothing rerun on a
 *   second run.
 *
 * The tests run in order (the comparison uses the editors the tests before it trained). The
 * scripts run the built CLI (`npx tsc -b` first, as the CLI tests need).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { main as medit } from '@medit/cli';
import { loadEditorFile } from '@medit/mend';
import { validateEvalReport } from '@medit/metrics';

import { methodRuns, reportName, runComparison } from '../../compare/compare';
import { WORLDS } from '../../compare/worlds';
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

test('the comparison: every method of fact-base\'s world table on the tiny files and the editors above, both splits, resumable', async () => {
  const fixtures = path.join(tmp, 'fixtures');
  const work = path.join(tmp, 'work');
  const world = {
    ...WORLDS['fact-base'],
    model: tiny.model, edits: tiny.edits, hparams: path.join(tmp, 'hparams/fact-base-'), derivedFrom: tiny.factbase,
    statsCorpus: path.join(work, 'stats.jsonl'), statsCache: path.join(work, 'cache'), klTexts: path.join(work, 'kl.txt'), snippets: path.join(work, 'snippets.json'),
    editors: { mend: path.join(fixtures, 'editors/mend-fact-base.safetensors'), ke: path.join(fixtures, 'editors/ke-fact-base.safetensors'), serac: path.join(fixtures, 'serac/fact-base'), ikeEncoder: path.join(fixtures, 'serac/fact-base/scope-embedding') },
  };
  // settings for the 2-layer model (fact-base's own name layers up to 5)
  const mass = { layers: [0], v_num_grad_steps: 4, mom2_n_samples: 200, context_template_length_params: [[5, 5]] };
  const settings: Record<string, object> = {
    'ft-m': { lr: 5e-2 }, 'ft-kl': { lr: 5e-3, kl_factor: 10 }, 'ft-l': { lr: 5e-3, norm_constraint: 0.02 }, kn: { layers: [0], adaptive_threshold: 0.4, edit_scale: 0.5 },
    rome: { layers: [1], v_num_grad_steps: 4, mom2_n_samples: 200 }, tpatcher: { layer: 1, max_edit_step: 20, start_val_epoch: 5 },
    memit: mass, emmet: mass, alphaedit: { ...mass, nullspace_threshold: 0.2, L2: 10 },
  };
  for (const [key, hp] of Object.entries(settings)) fs.writeFileSync(`${world.hparams}${key}.json`, JSON.stringify(hp));
  const out = path.join(tmp, 'comparison');
  const names = Object.keys(methodRuns(world));
  const calls: string[][] = [];
  const opts = {
    root: ROOT, world, out, limit: 3, methods: names, splits: ['eval', 'validation'],
    // generation (Reference Score from the derived snippets) for two methods keeps the run short
    noGeneration: new Set(names.filter((n) => n !== 'unedited' && n !== 'serac')),
    factSmallOut: out,
    medit: async (argv: string[]) => {
      calls.push(argv);
      const lines: string[] = [];
      const sink = { write: (x: string) => { lines.push(x); return true; } };
      const code = await medit(argv, { cwd: ROOT, stdout: sink, stderr: sink });
      if (code !== 0) throw new Error(`medit ${argv.join(' ')} failed (exit ${code}):\n${lines.join('').slice(-2000)}`);
    },
    log: () => undefined,
  };
  await runComparison(opts);
  expect(calls.filter((a) => a[0] === 'eval')).toHaveLength(2 * names.length);
  const records = JSON.parse(fs.readFileSync(path.join(tiny.edits, 'counterfact-eval.json'), 'utf8')).slice(0, 3);
  expect(records.some((r: { portability?: unknown }) => r.portability)).toBe(true);
  const expected: Record<string, string> = { unedited: 'unedited', 'ft-m': 'FT-M', 'ft+kl': 'FT+KL', rome: 'ROME', 'ft-l': 'FT-L', kn: 'KN', calinet: 'CaliNet', mend: 'MEND', ke: 'KE', serac: 'SERAC', ike: 'IKE', memit: 'MEMIT', emmet: 'EMMET', alphaedit: 'AlphaEdit', tpatcher: 'T-Patcher' };
  for (const split of ['eval', 'validation']) {
    for (const n of names) {
      const report = validateEvalReport(JSON.parse(fs.readFileSync(path.join(out, split, reportName(n)), 'utf8')));
      const row = report.methods.at(-1)!;
      expect([split, n, row.name]).toEqual([split, n, expected[n]]);
      if (split === 'eval') expect([n, row.aggregates.portability?.n]).toEqual([n, expect.any(Number)]);
    }
    expect(fs.existsSync(path.join(out, split, 'comparison.md'))).toBe(true);
  }
  const unedited = validateEvalReport(JSON.parse(fs.readFileSync(path.join(out, 'eval', 'unedited.json'), 'utf8')));
  expect(typeof unedited.methods[0].aggregates.referenceScore?.mean).toBe('number');
  expect(fs.readFileSync(path.join(out, 'validation-vs-eval.md'), 'utf8').split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| method'))).toHaveLength(names.length);
  expect(fs.readFileSync(path.join(out, 'fact-small-vs-fact-base.md'), 'utf8')).toContain('| MEMIT | 3 / 3 |');
  expect(fs.existsSync(path.join(out, 'old-vs-new.md'))).toBe(false);

  calls.length = 0;
  await runComparison(opts);
  expect(calls.map((a) => a[0])).toEqual(['report', 'report']);
}, 240_000);
