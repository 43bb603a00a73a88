/**
 * `medit train mend|ke`: dispatch, a short run on fact-tiny writing the editor and its log,
 * --resume continuing the run, refusing to overwrite a run, and `medit eval --method mend`
 * reading the trained editor.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadEditorFile } from '@medit/mend';

import { ROOT, runCli } from './helpers/run';

const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const TRAIN = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/zsre-train.json');
const EVAL = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/zsre-eval.json');
const VALIDATION = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/zsre-validation.json');

let tmp: string;
let hparams: string;
let keHparams: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-train-'));
  // one file per method: a field the method does not read is an error
  hparams = path.join(tmp, 'hp.json');
  fs.writeFileSync(hparams, JSON.stringify({ rank: 8, lr: 1e-3, accumulate_bs: 2, val_interval: 4, val_steps: 2 }));
  keHparams = path.join(tmp, 'ke-hp.json');
  fs.writeFileSync(keHparams, JSON.stringify({ lr: 1e-3, accumulate_bs: 2, val_interval: 4, val_steps: 2, hidden_dim: 8, condition_dim: 16, param_hidden: 4 }));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('an unknown method is a usage error listing the known ones', async () => {
  const r = await runCli(['train', 'nope']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/unknown method "nope": medit train <mend\|ke/);
});

test('train mend writes the editor and its log, resumes, and eval --method mend uses it', async () => {
  const out = path.join(tmp, 'mend');
  const base = ['train', 'mend', '--model', TINY, '--dataset', TRAIN, '--hparams', hparams, '--out', out, '--json'];
  const r = await runCli([...base, '--max-iters', '4']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ method: 'MEND', iterations: 4, bestFile: path.join(out, 'best.safetensors') });
  expect(r.lines.filter((l) => l.type === 'progress').length).toBeGreaterThan(0);
  const log = fs.readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(log.some((row) => row.kind === 'val' && row.iter === 4)).toBe(true);

  const again = await runCli([...base, '--max-iters', '8']);
  expect(again.code).toBe(2);
  expect(again.stdout).toMatch(/already holds a training run; pass --resume/);
  const resumed = await runCli([...base, '--max-iters', '8', '--resume']);
  expect(resumed.code).toBe(0);
  expect(resumed.result).toMatchObject({ iterations: 8 });

  const report = path.join(tmp, 'mend-eval');
  const ev = await runCli(['eval', '--model', TINY, '--dataset', EVAL, '--method', 'mend', '--editor', path.join(out, 'best.safetensors'), '--limit', '2', '--out', report, '--json']);
  expect(ev.code).toBe(0);
  expect(Object.keys(ev.result!.summary)).toEqual(['unedited', 'MEND']);
  const missing = await runCli(['eval', '--model', TINY, '--dataset', EVAL, '--method', 'mend']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/--editor/);
});

test('train ke runs through the same command; --validation early-stops on a validation split, and the editor lists its data and its command', async () => {
  const out = path.join(tmp, 'ke');
  const argv = ['train', 'ke', '--model', TINY, '--dataset', TRAIN, '--validation', VALIDATION, '--hparams', keHparams, '--out', out, '--max-iters', '2', '--limit', '6', '--json'];
  const r = await runCli(argv);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ method: 'KE', iterations: 2 });
  expect(fs.existsSync(path.join(out, 'best.safetensors.json'))).toBe(false); // the description is in the file's header
  const { tensors, info } = await loadEditorFile(path.join(out, 'best.safetensors'), 'KE');
  for (const t of tensors.values()) t.dispose();
  const ids = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).slice(0, 6).map((_: unknown, i: number) => String(i));
  expect(info.training?.data).toEqual([
    { use: 'train', file: 'test-fixtures/factworld/edits-tiny/zsre-train.json', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), caseIds: ids(TRAIN) },
    { use: 'validation', file: 'test-fixtures/factworld/edits-tiny/zsre-validation.json', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), caseIds: ids(VALIDATION) },
  ]);
  // and the command that made it
  expect(info.training?.command).toBe(`medit ${argv.join(' ')}`);
});
