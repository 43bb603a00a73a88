/**
 * `medit eval --method <name>` for every method of the registry (packages/cli/src/methods.ts)
 * not covered elsewhere: each runs end to end on the parity model's two CounterFact cases with
 * fast hyperparameters and writes a valid report; unknown methods and other methods' flags are
 * usage errors; `medit eval --help` lists the methods.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { EditCase } from '@medit/data';
import { validateEvalReport } from '@medit/metrics';

import { METHOD_NAMES, refuseEvaluatedSubjects } from '../src/methods';
import { FIX, PARITY_MODEL, ROOT, runCli } from './helpers/run';

const DATASET = path.join(FIX, 'counterfact-parity.json');
const FILLER = path.join(ROOT, 'test-fixtures/factworld/filler.txt');

let tmp: string;
let memory: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-methods-'));
  // Unrelated texts in the parity model's vocabulary.
  memory = path.join(tmp, 'memory.txt');
  fs.writeFileSync(memory, ['The Big Ben is located in London', '', 'The mother tongue of Marie Curie is Polish', 'The Colosseum is located in Rome'].join('\n'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function hparams(name: string, h: object): string {
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(h));
  return file;
}

const MASS = { v_num_grad_steps: 2, context_template_length_params: [[5, 1]], mom2_n_samples: 300 };

/** method → [editor name in the report, extra arguments, expected hyperparameters in the report] */
const CASES: [string, string, () => string[], Record<string, unknown>][] = [
  ['ft', 'FT', () => ['--hparams', hparams('ft', { num_steps: 3 })], { num_steps: 3, layers: [1], objective_optimization: 'prompt_last' }],
  ['ft-l', 'FT-L', () => ['--hparams', hparams('ft-l', { num_steps: 3 })], { num_steps: 3, layers: [0], norm_constraint: 5e-4 }],
  ['ft-m', 'FT-M', () => ['--hparams', hparams('ft-m', { num_steps: 3 })], { objective_optimization: 'target_new', kl_factor: 0 }],
  ['ft+kl', 'FT+KL', () => ['--hparams', hparams('ft-kl', { num_steps: 3 }), '--memory', memory], { kl_factor: 1 }],
  ['kn', 'KN', () => ['--hparams', hparams('kn', { steps: 4, batch_size: 4, refine: true })], { steps: 4, refine: true }],
  ['calinet', 'CaliNet', () => ['--hparams', hparams('calinet', { ex_size: 4, max_steps: 5, check_every: 5 })], { ex_size: 4, max_steps: 5, layer: 1, lr: 1e-2 }],
  ['memit', 'MEMIT', () => ['--hparams', hparams('memit', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')], { layers: [0], v_num_grad_steps: 2 }],
  ['emmet', 'EMMET', () => ['--hparams', hparams('emmet', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')], { layers: [0] }],
  ['alphaedit', 'AlphaEdit', () => ['--hparams', hparams('alphaedit', MASS), '--stats-corpus', FILLER, '--stats-cache', path.join(tmp, 'stats')], { layers: [0] }],
];

test.each(CASES)('eval --method %s runs end to end and writes a valid report', async (method, name, extra, expected) => {
  const out = path.join(tmp, method);
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', method, ...extra(), '--out', out, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ cases: 2, method, report: `${out}.json` });
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', name]);
  const m = report.methods[1];
  expect(m.hparams).toMatchObject(expected);
  expect(m.aggregates.efficacyScore.n).toBe(2);
  expect(m.efficiency!.edits).toBe(2);
  expect(fs.existsSync(`${out}.html`)).toBe(true);
  if (['memit', 'emmet', 'alphaedit'].includes(method)) expect(r.result!.covariance).toMatchObject({ layers: [0], cached: expect.any(Boolean) });
});

test('eval --method tpatcher --mode sequential reports the T-Patcher rates (memory: a dataset\'s prompts)', async () => {
  const out = path.join(tmp, 'tpatcher');
  const hp = hparams('tpatcher', { max_edit_step: 6, start_val_epoch: 2, check_val_every_n_epoch: 2, memory_top_k: 4 });
  // --memory as an edit dataset: its cases' edit and locality prompts are the memory (ft+kl above reads a text file);
  // a train split names other subjects than the evaluated cases
  const trainSplit = path.join(tmp, 'memory-train.json');
  fs.writeFileSync(
    trainSplit,
    JSON.stringify([
      {
        case_id: 7,
        requested_rewrite: { prompt: 'The {} is located in', relation_id: 'P131', target_new: { str: 'Rome', id: 'Q220' }, target_true: { str: 'London', id: 'Q84' }, subject: 'Big Ben' },
        paraphrase_prompts: ['Tourists visit the Big Ben in'],
        neighborhood_prompts: ['The Colosseum is located in'],
        attribute_prompts: [],
        generation_prompts: [],
      },
    ]),
  );
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'tpatcher', '--hparams', hp, '--memory', trainSplit, '--mode', 'sequential', '--out', out, '--json']);
  expect(r.code).toBe(0);
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  const m = report.methods[1];
  expect(m.name).toBe('T-Patcher');
  expect(m.hparams).toMatchObject({ max_edit_step: 6, protocol: { mode: 'sequential', batchSize: 1, evalAfter: 'each' } });
  expect(Object.keys(m.aggregates)).toEqual(expect.arrayContaining(['SR', 'GR', 'ER', 'TestR']));
});

test('a memory or demonstration pool that names an evaluated subject is refused (the eval split\'s own text)', async () => {
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'tpatcher', '--memory', DATASET, '--mode', 'sequential', '--out', path.join(tmp, 'leak')]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("T-Patcher's memory");
  expect(r.stderr).toMatch(/names 2 subjects of the evaluated cases \(e\.g\. "(Eiffel Tower|Danielle Darrieux)" in/);
  expect(() => refuseEvaluatedSubjects(['The Eiffel Towers are tall'], [{ request: { subject: 'Eiffel Tower' } } as EditCase], 'x')).not.toThrow();
  expect(() => refuseEvaluatedSubjects(['Paris has the Eiffel Tower.'], [{ request: { subject: 'Eiffel Tower' } } as EditCase], 'x')).toThrow(/x names 1 subject/);
});

test('an unknown method is a usage error listing the known ones; another method\'s flag is refused', async () => {
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'grace']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`unknown method "grace" for --method (known: ${METHOD_NAMES.join(', ')})`);
  for (const m of ['rome', 'memit', 'alphaedit', 'ft-l', 'ft-m', 'kn', 'tpatcher', 'calinet', 'mend', 'ke', 'serac', 'ike', 'none']) expect(METHOD_NAMES).toContain(m);
  const memoryForRome = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'rome', '--memory', memory]);
  expect(memoryForRome.code).toBe(2);
  expect(memoryForRome.stderr).toMatch(/--memory applies to --method ft\+kl, tpatcher/);
  const poolForNone = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'none', '--pool', DATASET]);
  expect(poolForNone.code).toBe(2);
  expect(poolForNone.stderr).toMatch(/--pool applies to --method ike/);
});

test('eval --help lists every method with its description', async () => {
  const r = await runCli(['eval', '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^Methods \(--method\):$/m);
  for (const m of METHOD_NAMES) expect(r.stdout).toMatch(new RegExp(`^  ${m.replace('+', '\\+')} +\\S`, 'm'));
  expect(r.stdout).toContain(`--method ${METHOD_NAMES.join('|')}`);
});
