/**
 * The method comparison on the fact world under the clean protocol: every method on the same
 * eval edits (default the first 200 CounterFact eval records of fact-small) with the settings in
 * bench/hparams (each records what it was tuned on) and the artefacts trained on the train split,
 * and the same runs on validation edits, so validation and eval numbers stand side by side. Each
 * run is one `medit eval` (CounterFact + EasyEdit suites, generation for the Reference Score and
 * generation entropy); the runs of a split are joined by `medit report` (JSON, HTML, Markdown
 * with both the Neighbourhood Score and EasyEdit's locality). Last, "old vs new": each method's
 * per-case rows of the old report (format-1 edit sets, bench/reports) and of the new one, on the
 * edits both hold (test-fixtures/factworld/edits/case-map.json), and each method's validation
 * and eval means side by side (validation-vs-eval.md) once both splits have its report.
 *
 *   npx tsc -b && npx tsc -p scripts
 *   flock /work/.heavy.lock node scripts/dist/compare/compare.js --out bench/reports/v2 \
 *     [--methods ft-m,rome,...] [--limit 200] [--splits eval,validation] [--no-generation | --no-generation-for ft+kl,...]
 *
 * Resumable: a run whose report exists is not rerun (delete it to redo). Runs are
 * single-threaded (OMP_NUM_THREADS=1), one after another.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type EvalReport, validateEvalReport } from '@medit/metrics';

import { arg } from '../args';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'packages/cli/dist/bin.js');
const EDITS = 'test-fixtures/factworld/edits';
const TRAIN_CORPUS = 'test-fixtures/factworld/corpus/train-full.txt';
const hp = (m: string) => ['--hparams', `bench/hparams/fact-small-${m}.json`];

/** One row of the comparison: how `medit eval` runs the method, and its report under the old protocol. */
interface MethodRun {
  /** `medit eval --method` */
  method: string;
  args: (limit: number) => string[];
  /** bench/reports/<old>.json: the same method on the format-1 edit sets (first 200 eval edits) */
  old?: string;
}

/** Every method of the comparison, in table order. */
export const METHODS: Record<string, MethodRun> = {
  unedited: { method: 'none', args: () => [] },
  'ft-m': { method: 'ft-m', args: () => hp('ft-m'), old: 'ft-m-fact-small-200' },
  'ft+kl': { method: 'ft+kl', args: () => hp('ft-kl'), old: 'ft-kl-fact-small-200' },
  rome: { method: 'rome', args: () => [...hp('rome'), '--stats-corpus', TRAIN_CORPUS], old: 'rome-fact-small-covariance' },
  'ft-l': { method: 'ft-l', args: () => hp('ft-l'), old: 'ft-l-tuned-fact-small-200' },
  kn: { method: 'kn', args: () => hp('kn'), old: 'kn-tuned-fact-small-200' },
  calinet: { method: 'calinet', args: () => [], old: 'calinet-fact-small-200' },
  mend: { method: 'mend', args: () => ['--editor', 'test-fixtures/editors/mend-fact-small.safetensors'], old: 'mend-fact-small-200' },
  ke: { method: 'ke', args: () => ['--editor', 'test-fixtures/editors/ke-fact-small.safetensors'], old: 'ke-fact-small-200' },
  serac: { method: 'serac', args: () => ['--editor', 'test-fixtures/serac/fact-small'], old: 'serac-embedding-fact-small-200' },
  ike: { method: 'ike', args: () => ['--editor', 'test-fixtures/serac/fact-small/scope-embedding', '--pool', `${EDITS}/counterfact-train.json`, '--k', '8'], old: 'ike-k8-fact-small-200' },
  memit: { method: 'memit', args: (n) => [...hp('memit'), '--mode', 'batch', '--batch-size', String(n), '--stats-corpus', TRAIN_CORPUS], old: 'memit-batch200-fact-small-200' },
  emmet: { method: 'emmet', args: (n) => [...hp('memit'), '--mode', 'batch', '--batch-size', String(n), '--stats-corpus', TRAIN_CORPUS], old: 'emmet-batch200-fact-small-200' },
  alphaedit: { method: 'alphaedit', args: (n) => [...hp('alphaedit'), '--mode', 'batch', '--batch-size', String(n), '--stats-corpus', TRAIN_CORPUS], old: 'alphaedit-batch200-fact-small-200' },
  tpatcher: {
    method: 'tpatcher',
    args: () => [...hp('tpatcher'), '--mode', 'sequential', '--memory', `${EDITS}/counterfact-train.json`, '--train-retain', `${EDITS}/zsre-train.json`],
    old: 'tpatcher-seq-tuned-fact-small-200',
  },
};

/** Metrics of the old-vs-new table: CounterFact's scores and EasyEdit's accuracies. */
const OLD_VS_NEW = ['efficacyScore', 'paraphraseScore', 'neighborhoodScore', 'rewriteAcc', 'rephraseAcc', 'locality', 'portability'] as const;

function medit(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`medit ${args.slice(0, 3).join(' ')} … failed with exit code ${r.status}`);
}

const readReport = (file: string): EvalReport => validateEvalReport(JSON.parse(fs.readFileSync(file, 'utf8')));

/** The mean of `key` over the rows whose ids are in `ids` (in that order), and how many had it. */
function meanOver(report: EvalReport, ids: readonly string[], key: string): { mean: number | null; n: number } {
  const rows = new Map((report.methods[1]?.rows ?? []).map((r) => [r.id, r.metrics]));
  const xs = ids.map((id) => rows.get(id)?.[key]).filter((x): x is number => typeof x === 'number');
  return { mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null, n: xs.length };
}

/**
 * The old-vs-new table: per method, on the eval edits both the old report (format-1 case ids)
 * and the new one (new case ids) hold, the old and new means of each metric.
 */
export function oldVsNew(runs: { name: string; oldReport: EvalReport; newReport: EvalReport }[], caseMap: readonly [number, number][]): string {
  const lines = [
    `| method | shared edits | ${OLD_VS_NEW.join(' | ')} |`,
    `|---|---:|${OLD_VS_NEW.map(() => '---:').join('|')}|`,
  ];
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(3));
  for (const { name, oldReport, newReport } of runs) {
    const oldIds = new Set(oldReport.methods[1]?.rows?.map((r) => r.id) ?? []);
    const newIds = new Set(newReport.methods[1]?.rows?.map((r) => r.id) ?? []);
    const pairs = caseMap.filter(([now, before]) => newIds.has(String(now)) && oldIds.has(String(before)));
    const cells = OLD_VS_NEW.map((k) => {
      const o = meanOver(oldReport, pairs.map(([, before]) => String(before)), k);
      const n = meanOver(newReport, pairs.map(([now]) => String(now)), k);
      return o.n === 0 && n.n === 0 ? '–' : `${f(o.mean)} → ${f(n.mean)}`;
    });
    lines.push(`| ${newReport.methods[1]?.name ?? name} | ${pairs.length} | ${cells.join(' | ')} |`);
  }
  return [
    ...lines,
    '',
    'Old = the method\'s report on the format-1 edit sets (bench/reports, old protocol: leaky train splits, settings chosen on eval, in-scope exclusion over the whole stream); new = this run. Means over the edits both runs hold (same fact, target, rewrite prompt and paraphrases; test-fixtures/factworld/edits/case-map.json). Neighbourhood prompts differ between the two edit sets (new: eval-split subjects only). In batch and sequential runs a case\'s numbers also depend on the other edits of the run.',
  ].join('\n') + '\n';
}

/** Metrics of the validation-vs-eval table. */
const SPLIT_METRICS = ['efficacyScore', 'paraphraseScore', 'neighborhoodScore', 'locality', 'rewriteAcc', 'rephraseAcc', 'portability'] as const;

/**
 * The validation-vs-eval table: per method, each metric's mean on the validation cases (where
 * the settings were chosen) and on the eval cases (reported once), with each run's case count.
 */
export function validationVsEval(runs: { name: string; validation: EvalReport; eval: EvalReport }[]): string {
  const f = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(3) : '–');
  const lines = [
    `| method | cases (validation / eval) | ${SPLIT_METRICS.join(' | ')} |`,
    `|---|---:|${SPLIT_METRICS.map(() => '---:').join('|')}|`,
  ];
  for (const r of runs) {
    // the edited method's row (the unedited model's report has only its own)
    const [v, e] = [r.validation.methods.at(-1), r.eval.methods.at(-1)];
    const cells = SPLIT_METRICS.map((k) => (v?.aggregates[k] || e?.aggregates[k] ? `${f(v?.aggregates[k]?.mean)} / ${f(e?.aggregates[k]?.mean)}` : '–'));
    lines.push(`| ${e?.name ?? r.name} | ${r.validation.dataset.cases} / ${r.eval.dataset.cases} | ${cells.join(' | ')} |`);
  }
  return [...lines, '', 'Each cell: the mean on the validation cases / on the eval cases (the first cases of counterfact-validation.json and counterfact-eval.json).'].join('\n') + '\n';
}

function main(): void {
  const out = path.resolve(ROOT, arg('out', 'bench/reports/v2'));
  const limit = Number(arg('limit', '200'));
  const names = arg('methods', Object.keys(METHODS).join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!METHODS[n]) throw new Error(`unknown method "${n}" for --methods (known: ${Object.keys(METHODS).join(', ')})`);
  if (!names.includes('unedited')) names.unshift('unedited');
  const splits = arg('splits', 'eval,validation').split(',').map((s) => s.trim());
  // --no-generation: no Reference Score / generation entropy; --no-generation-for LIST: not for those methods
  const noGeneration = new Set(process.argv.includes('--no-generation') ? names : arg('no-generation-for', '').split(',').map((s) => s.trim()).filter(Boolean));
  for (const split of splits) {
    if (!['eval', 'validation'].includes(split)) throw new Error(`--splits: expected eval and/or validation but received "${split}"`);
    const dir = path.join(out, split);
    fs.mkdirSync(dir, { recursive: true });
    const reports: string[] = [];
    for (const name of names) {
      const file = path.join(dir, `${name.replace('+', '-')}.json`);
      reports.push(file);
      if (fs.existsSync(file)) continue;
      const m = METHODS[name];
      console.log(`[compare] ${split}: ${name}`);
      medit([
        'eval', '--model', 'test-fixtures/models/fact-small', '--dataset', `${EDITS}/counterfact-${split}.json`, '--limit', String(limit),
        '--method', m.method, ...m.args(limit), '--suites', 'counterfact,easyedit', ...(noGeneration.has(name) ? [] : ['--generation']), '--out', file,
      ]);
    }
    const stem = path.join(dir, 'comparison');
    medit(['report', '--reports', reports.join(','), '--out', stem, '--markdown', `${stem}.md`]);
  }
  const both = names.filter((n) => ['validation', 'eval'].every((s) => fs.existsSync(path.join(out, s, `${n.replace('+', '-')}.json`))));
  if (both.length > 0) {
    const read = (s: string, n: string) => readReport(path.join(out, s, `${n.replace('+', '-')}.json`));
    fs.writeFileSync(path.join(out, 'validation-vs-eval.md'), validationVsEval(both.map((n) => ({ name: n, validation: read('validation', n), eval: read('eval', n) }))));
    console.log(`[compare] wrote ${path.relative(ROOT, path.join(out, 'validation-vs-eval.md'))}`);
  }
  if (splits.includes('eval')) {
    const caseMap = (JSON.parse(fs.readFileSync(path.join(ROOT, EDITS, 'case-map.json'), 'utf8')) as { eval: [number, number][] }).eval;
    const runs = names
      .filter((n) => METHODS[n].old && fs.existsSync(path.join(ROOT, 'bench/reports', `${METHODS[n].old}.json`)))
      .map((n) => ({ name: n, oldReport: readReport(path.join(ROOT, 'bench/reports', `${METHODS[n].old}.json`)), newReport: readReport(path.join(out, 'eval', `${n.replace('+', '-')}.json`)) }));
    fs.writeFileSync(path.join(out, 'old-vs-new.md'), oldVsNew(runs, caseMap));
    console.log(`[compare] wrote ${path.relative(ROOT, path.join(out, 'old-vs-new.md'))}`);
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`compare: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
