/**
 * The comparison script: its worlds (fact-small's runs are exactly the command lines the
 * comparison ran before it took a world; fact-base's name only fact-base files), the old-vs-new
 * table (means over the edits both runs hold, joined through the case map: old and new case ids
 * differ), the paired tables, and every method of the comparison has settings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildMethodReport, createEvalReport, type EvalReport } from '@medit/metrics';

import { evalArgv, methodRuns, oldVsNew, reportName, validationVsEval, worldsSideBySide } from '../compare';
import { WORLDS } from '../worlds';

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

/** The `medit eval` lines of fact-small's comparison (first 200 eval edits) before compare.ts took a world. */
const FACT_SMALL_EVAL_LINES = [
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method none --suites counterfact,easyedit --generation --out OUT/eval/unedited.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method ft-m --hparams bench/hparams/fact-small-ft-m.json --suites counterfact,easyedit --generation --out OUT/eval/ft-m.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method ft+kl --hparams bench/hparams/fact-small-ft-kl.json --suites counterfact,easyedit --generation --out OUT/eval/ft-kl.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method rome --hparams bench/hparams/fact-small-rome.json --stats-corpus test-fixtures/factworld/corpus/train-full.txt --suites counterfact,easyedit --generation --out OUT/eval/rome.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method ft-l --hparams bench/hparams/fact-small-ft-l.json --suites counterfact,easyedit --generation --out OUT/eval/ft-l.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method kn --hparams bench/hparams/fact-small-kn.json --suites counterfact,easyedit --generation --out OUT/eval/kn.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method calinet --suites counterfact,easyedit --generation --out OUT/eval/calinet.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method mend --editor test-fixtures/editors/mend-fact-small.safetensors --suites counterfact,easyedit --generation --out OUT/eval/mend.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method ke --editor test-fixtures/editors/ke-fact-small.safetensors --suites counterfact,easyedit --generation --out OUT/eval/ke.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method serac --editor test-fixtures/serac/fact-small --suites counterfact,easyedit --generation --out OUT/eval/serac.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method ike --editor test-fixtures/serac/fact-small/scope-embedding --pool test-fixtures/factworld/edits/counterfact-train.json --k 8 --suites counterfact,easyedit --generation --out OUT/eval/ike.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method memit --hparams bench/hparams/fact-small-memit.json --mode batch --batch-size 200 --stats-corpus test-fixtures/factworld/corpus/train-full.txt --suites counterfact,easyedit --generation --out OUT/eval/memit.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method emmet --hparams bench/hparams/fact-small-memit.json --mode batch --batch-size 200 --stats-corpus test-fixtures/factworld/corpus/train-full.txt --suites counterfact,easyedit --generation --out OUT/eval/emmet.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method alphaedit --hparams bench/hparams/fact-small-alphaedit.json --mode batch --batch-size 200 --stats-corpus test-fixtures/factworld/corpus/train-full.txt --suites counterfact,easyedit --generation --out OUT/eval/alphaedit.json',
  'eval --model test-fixtures/models/fact-small --dataset test-fixtures/factworld/edits/counterfact-eval.json --limit 200 --method tpatcher --hparams bench/hparams/fact-small-tpatcher.json --mode sequential --memory test-fixtures/factworld/edits/counterfact-train.json --train-retain test-fixtures/factworld/edits/zsre-train.json --suites counterfact,easyedit --generation --out OUT/eval/tpatcher.json',
];

test('fact-small: every run is the command line it was before worlds (eval and validation)', () => {
  const small = WORLDS['fact-small'];
  const names = Object.keys(methodRuns(small));
  const line = (name: string, split: string, limit: number) => evalArgv(small, name, { split, limit, generation: true, out: `OUT/${split}/${reportName(name)}` }).join(' ');
  expect(names.map((n) => line(n, 'eval', 200))).toEqual(FACT_SMALL_EVAL_LINES);
  const validation = FACT_SMALL_EVAL_LINES.map((l) => l.replace('counterfact-eval.json', 'counterfact-validation.json').replace('--limit 200', '--limit 32').replace('--batch-size 200', '--batch-size 32').replace('OUT/eval/', 'OUT/validation/'));
  expect(names.map((n) => line(n, 'validation', 32))).toEqual(validation);
  // --no-generation-for drops only the flag
  expect(evalArgv(small, 'rome', { split: 'eval', limit: 200, generation: false, out: 'OUT/eval/rome.json' }).join(' ')).toBe(FACT_SMALL_EVAL_LINES[3].replace(' --generation', ''));
});

test('fact-base: every run names fact-base files only, EMMET its own settings, generation fact-base\'s snippets', () => {
  const base = WORLDS['fact-base'];
  for (const split of ['eval', 'validation']) {
    for (const name of Object.keys(methodRuns(base))) {
      const argv = evalArgv(base, name, { split, limit: 200, generation: true, out: `OUT/${split}/${reportName(name)}` });
      const files = argv.filter((a) => a.includes('/') && !a.startsWith('OUT/'));
      expect(files.length).toBeGreaterThan(1);
      for (const f of files) expect([name, f]).toEqual([name, expect.stringMatching(/fact-?base/)]);
      expect([name, argv.filter((a) => /fact-small|factworld/.test(a))]).toEqual([name, []]);
    }
  }
  const line = (name: string) => evalArgv(base, name, { split: 'eval', limit: 200, generation: true, out: 'OUT' }).join(' ');
  expect(line('emmet')).toContain('--hparams bench/hparams/fact-base-emmet.json --mode batch --batch-size 200 --stats-corpus reports/fact-base/stats-corpus.jsonl --stats-cache reports/fact-base/stats-cache');
  expect(line('ft+kl')).toContain('--hparams bench/hparams/fact-base-ft-kl.json --memory reports/fact-base/kl-texts.txt');
  expect(line('ike')).toContain('--editor test-fixtures/serac/fact-base/scope-embedding --pool test-fixtures/factbase/edits/counterfact-train.json --k 8');
  expect(line('unedited')).toContain('--generation --snippets reports/fact-base/attribute_snippets.json');
  expect(line('mend')).toContain('--editor test-fixtures/editors/mend-fact-base.safetensors');
  expect(line('serac')).toContain('--editor test-fixtures/serac/fact-base');
  expect(base.oldVsNew).toBeUndefined();
});

test('fact-small: every method with settings names files that exist, and its old report exists', () => {
  const small = WORLDS['fact-small'];
  for (const [name, m] of Object.entries(methodRuns(small))) {
    for (const a of m.args(200)) if (/^(bench|test-fixtures)\//.test(a)) expect([name, a, fs.existsSync(path.join(ROOT, a))]).toEqual([name, a, true]);
    const old = small.oldVsNew!.reports[name];
    if (old) expect([name, fs.existsSync(path.join(ROOT, small.oldVsNew!.reportsDir, `${old}.json`))]).toEqual([name, true]);
  }
  expect(Object.keys(small.oldVsNew!.reports).sort()).toEqual(Object.keys(methodRuns(small)).filter((n) => n !== 'unedited').sort());
});

test('fact-base: every method tuned has its settings file', () => {
  const base = WORLDS['fact-base'];
  for (const [name, m] of Object.entries(methodRuns(base))) {
    for (const a of m.args(200)) if (/^bench\//.test(a)) expect([name, a, fs.existsSync(path.join(ROOT, a))]).toEqual([name, a, true]);
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
  for (const world of Object.values(WORLDS)) {
    for (const [name, m] of Object.entries(methodRuns(world))) {
      const args = m.args(200);
      for (const flag of ['--memory', '--pool', '--train-retain']) {
        const i = args.indexOf(flag);
        if (i >= 0 && !(name === 'ft+kl' && flag === '--memory')) expect([name, flag, args[i + 1]]).toEqual([name, flag, expect.stringMatching(new RegExp(`^${world.edits}/[a-z_]+-train\\.json$`))]);
      }
    }
  }
  // FT+KL's KL texts: fact-small's filler text (no --memory), checked by scripts/factworld/test/leaks.test.ts;
  // fact-base's filler lines (derived-inputs.test.ts)
  expect(methodRuns(WORLDS['fact-small'])['ft+kl'].args(200)).not.toContain('--memory');
  expect(methodRuns(WORLDS['fact-base'])['ft+kl'].args(200)).toEqual(['--hparams', 'bench/hparams/fact-base-ft-kl.json', '--memory', 'reports/fact-base/kl-texts.txt']);
});

test('two worlds side by side: each metric\'s mean in both, with the case counts', () => {
  const md = worldsSideBySide([{ name: 'x', first: report([['0', 1, 1], ['1', 0, 1]]), second: report([['5', 1, 0.5]]) }], ['fact-small', 'fact-base']);
  expect(md.split('\n')[0]).toBe('| method | cases (fact-small / fact-base) | efficacyScore | paraphraseScore | neighborhoodScore | locality | rewriteAcc | rephraseAcc | portability |');
  const row = md.split('\n').find((l) => l.startsWith('| X |'))!.split('|').map((c) => c.trim());
  expect(row[2]).toBe('2 / 1');
  expect(row[3]).toBe('0.500 / 1.000');
  expect(md).toContain("fact-small's eval cases / on fact-base's");
});
