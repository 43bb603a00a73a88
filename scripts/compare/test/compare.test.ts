/**
 * The comparison script's old-vs-new table: means over the edits both runs hold, joined through
 * the case map (old and new case ids differ), and every method of the comparison has settings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildMethodReport, createEvalReport, type EvalReport } from '@medit/metrics';

import { METHODS, oldVsNew, validationVsEval } from '../compare';

const ROOT = path.resolve(__dirname, '../../..');

function report(rows: [string, number, number][]): EvalReport {
  const row = ([id, es, loc]: [string, number, number]) => ({ id, metrics: { efficacyScore: es, locality: loc } });
  return createEvalReport({
    model: { name: 'm' },
    dataset: { name: 'd', cases: rows.length },
    methods: [buildMethodReport({ name: 'unedited', rows: rows.map(row) }), buildMethodReport({ name: 'X', rows: rows.map(row) })],
  });
}

test('old vs new: the means of each run over the shared edits only', () => {
  const old = report([['10', 1, 1], ['11', 1, 0.5], ['12', 0, 1]]);
  const now = report([['0', 0, 0.5], ['1', 1, 1], ['2', 1, 1]]);
  // new 0 ↔ old 10, new 1 ↔ old 12; new 2 and old 11 have no counterpart
  const md = oldVsNew([{ name: 'x', oldReport: old, newReport: now }], [[0, 10], [1, 12], [5, 11]]);
  const row = md.split('\n').find((l) => l.startsWith('| X |'))!.split('|').map((c) => c.trim());
  expect(row[2]).toBe('2');
  expect(row[3]).toBe('0.500 → 0.500'); // efficacyScore: old (1 + 0) / 2, new (0 + 1) / 2
  expect(row[8]).toBe('1.000 → 0.750'); // locality: old (1 + 1) / 2, new (0.5 + 1) / 2
  expect(row[4]).toBe('–'); // paraphraseScore: in neither
});

test('every method with settings names files that exist', () => {
  for (const [name, m] of Object.entries(METHODS)) {
    for (const a of m.args(200)) if (/^(bench|test-fixtures)\//.test(a)) expect([name, a, fs.existsSync(path.join(ROOT, a))]).toEqual([name, a, true]);
    if (m.old) expect([name, fs.existsSync(path.join(ROOT, 'bench/reports', `${m.old}.json`))]).toEqual([name, true]);
  }
});

test('validation vs eval: each metric\'s mean on both splits, with the case counts', () => {
  const md = validationVsEval([{ name: 'x', validation: report([['0', 1, 1], ['1', 0, 1]]), eval: report([['5', 1, 0.5]]) }]);
  const row = md.split('\n').find((l) => l.startsWith('| X |'))!.split('|').map((c) => c.trim());
  expect(row[2]).toBe('2 / 1');
  expect(row[3]).toBe('0.500 / 1.000'); // efficacyScore
  expect(row[6]).toBe('1.000 / 0.500'); // locality
  expect(row[4]).toBe('–'); // paraphraseScore: in neither
  // the unedited model's report holds one method: its own row
  const unedited = (rows: [string, number, number][]) => ({ ...report(rows), methods: report(rows).methods.slice(0, 1) });
  const alone = validationVsEval([{ name: 'unedited', validation: unedited([['0', 0, 1]]), eval: unedited([['5', 0, 1]]) }]);
  expect(alone.split('\n').find((l) => l.startsWith('| unedited |'))).toContain('0.000 / 0.000');
});

test('what an editor stores or trains on comes from the train split: T-Patcher\'s memory, IKE\'s pool, the TrainR set', () => {
  for (const [name, m] of Object.entries(METHODS)) {
    const args = m.args(200);
    for (const flag of ['--memory', '--pool', '--train-retain']) {
      const i = args.indexOf(flag);
      if (i >= 0) expect([name, flag, args[i + 1]]).toEqual([name, flag, expect.stringMatching(/^test-fixtures\/factworld\/edits\/[a-z_]+-train\.json$/)]);
    }
  }
  // FT+KL's KL texts: the filler text (no --memory), checked by scripts/factworld/test/leaks.test.ts
  expect(METHODS['ft+kl'].args(200)).not.toContain('--memory');
});
