/**
 * The method comparison on a fact world under the clean protocol: every method on the same
 * eval edits (default the first 200 CounterFact eval records of the world) with the settings in
 * bench/hparams (each records what it was tuned on) and the artefacts trained on the train split,
 * and the same runs on validation edits, so validation and eval numbers stand side by side. Each
 * run is one `medit eval` (CounterFact + EasyEdit suites — portability included — generation for
 * the Reference Score and generation entropy); the runs of a split are joined by `medit report`
 * (JSON, HTML, Markdown with both the Neighbourhood Score and EasyEdit's locality).
 *
 * Worlds (`worlds.ts`): `fact-small` (the default; bench/reports/v2) and `fact-base`
 * (bench/reports/fact-base-comparison; its covariance text, KL texts and Reference Score
 * references are derived from the fixtures first, `../factbase/derived-inputs.ts`). On
 * fact-small, last, "old vs new": each method's per-case rows of the old report (format-1 edit
 * sets, bench/reports) and of the new one, on the edits both hold
 * (test-fixtures/factworld/edits/case-map.json). On both, each method's validation and eval means
 * side by side (validation-vs-eval.md) once both splits have its report; on fact-base, each
 * method's eval means beside fact-small's (fact-small-vs-fact-base.md) once both worlds have it.
 *
 *   npx tsc -b && npx tsc -p scripts
 *   flock /work/.heavy.lock node scripts/dist/compare/compare.js [--world fact-small|fact-base] [--out DIR] \
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
import { ensureDerivedInputs } from '../factbase/derived-inputs';
import { type WorldDescription, WORLDS, editFile, hparamsFile, worldByName } from './worlds';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'packages/cli/dist/bin.js');

/** One row of the comparison: how `medit eval` runs the method. */
export interface MethodRun {
  /** `medit eval --method` */
  method: string;
  args: (limit: number) => string[];
}

/** Every method of the comparison on `world`, in table order. */
export function methodRuns(world: WorldDescription): Record<string, MethodRun> {
  const hp = (key: string) => ['--hparams', hparamsFile(world, key)];
  const stats = ['--stats-corpus', world.statsCorpus, ...(world.statsCache ? ['--stats-cache', world.statsCache] : [])];
  const train = (format: string) => editFile(world, format, 'train');
  const batch = (key: string) => (n: number) => [...hp(key), '--mode', 'batch', '--batch-size', String(n), ...stats, ...(world.zCache ? ['--z-cache', world.zCache] : [])];
  return {
    unedited: { method: 'none', args: () => [] },
    'ft-m': { method: 'ft-m', args: () => hp('ft-m') },
    'ft+kl': { method: 'ft+kl', args: () => [...hp('ft-kl'), ...(world.klTexts ? ['--memory', world.klTexts] : [])] },
    rome: { method: 'rome', args: () => [...hp('rome'), ...stats] },
    'ft-l': { method: 'ft-l', args: () => hp('ft-l') },
    kn: { method: 'kn', args: () => hp('kn') },
    calinet: { method: 'calinet', args: () => [] },
    mend: { method: 'mend', args: () => ['--editor', world.editors.mend] },
    ke: { method: 'ke', args: () => ['--editor', world.editors.ke] },
    serac: { method: 'serac', args: () => ['--editor', world.editors.serac] },
    ike: { method: 'ike', args: () => ['--editor', world.editors.ikeEncoder, '--pool', train('counterfact'), '--k', '8'] },
    memit: { method: 'memit', args: batch('memit') },
    emmet: { method: 'emmet', args: batch(world.emmetHparams) },
    alphaedit: { method: 'alphaedit', args: batch('alphaedit') },
    tpatcher: { method: 'tpatcher', args: () => [...hp('tpatcher'), '--mode', 'sequential', '--memory', train('counterfact'), '--train-retain', train('zsre')] },
  };
}

/** A method's report file name in a split's directory. */
export const reportName = (name: string) => `${name.replace('+', '-')}.json`;

/** The `medit eval` arguments of one method's run on one split. */
export function evalArgv(world: WorldDescription, name: string, o: { split: string; limit: number; generation: boolean; out: string }): string[] {
  const m = methodRuns(world)[name];
  if (!m) throw new Error(`unknown method "${name}" (known: ${Object.keys(methodRuns(world)).join(', ')})`);
  const generation = o.generation ? ['--generation', ...(world.snippets ? ['--snippets', world.snippets] : [])] : [];
  return [
    'eval', '--model', world.model, '--dataset', editFile(world, 'counterfact', o.split), '--limit', String(o.limit),
    '--method', m.method, ...m.args(o.limit), '--suites', 'counterfact,easyedit', ...generation, '--out', o.out,
  ];
}

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

/** Per method, each metric's mean in two runs (`a / b`), with each run's case count. */
function pairedMeans(runs: { name: string; a: EvalReport; b: EvalReport }[], labels: [string, string], note: string): string {
  const f = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(3) : '–');
  const lines = [
    `| method | cases (${labels[0]} / ${labels[1]}) | ${SPLIT_METRICS.join(' | ')} |`,
    `|---|---:|${SPLIT_METRICS.map(() => '---:').join('|')}|`,
  ];
  for (const r of runs) {
    // the edited method's row (the unedited model's report has only its own)
    const [a, b] = [r.a.methods.at(-1), r.b.methods.at(-1)];
    const cells = SPLIT_METRICS.map((k) => (a?.aggregates[k] || b?.aggregates[k] ? `${f(a?.aggregates[k]?.mean)} / ${f(b?.aggregates[k]?.mean)}` : '–'));
    lines.push(`| ${b?.name ?? r.name} | ${r.a.dataset.cases} / ${r.b.dataset.cases} | ${cells.join(' | ')} |`);
  }
  return [...lines, '', note].join('\n') + '\n';
}

/**
 * The validation-vs-eval table: per method, each metric's mean on the validation cases (where
 * the settings were chosen) and on the eval cases (reported once), with each run's case count.
 */
export function validationVsEval(runs: { name: string; validation: EvalReport; eval: EvalReport }[]): string {
  return pairedMeans(
    runs.map((r) => ({ name: r.name, a: r.validation, b: r.eval })),
    ['validation', 'eval'],
    'Each cell: the mean on the validation cases / on the eval cases (the first cases of counterfact-validation.json and counterfact-eval.json).',
  );
}

/**
 * Two worlds side by side: per method, each metric's mean on the first world's eval cases and on
 * the second's (portability is the records' one-hop questions in both).
 */
export function worldsSideBySide(runs: { name: string; first: EvalReport; second: EvalReport }[], worlds: [string, string]): string {
  return pairedMeans(
    runs.map((r) => ({ name: r.name, a: r.first, b: r.second })),
    worlds,
    `Each cell: the mean on ${worlds[0]}'s eval cases / on ${worlds[1]}'s (the first cases of each world's counterfact-eval.json, each method with its own world's settings and editors).`,
  );
}

/** What {@link runComparison} runs and where. */
export interface CompareOptions {
  /** repository root: the world's relative paths resolve against it */
  root: string;
  world: WorldDescription;
  /** output directory (`<out>/<split>/<method>.json`, the merged reports, the tables) */
  out: string;
  /** first records of each split's CounterFact file */
  limit: number;
  /** methods of {@link methodRuns}, `unedited` first */
  methods: string[];
  splits: string[];
  /** methods run without --generation */
  noGeneration: ReadonlySet<string>;
  /** fact-small's comparison directory (its eval reports go beside another world's) */
  factSmallOut: string;
  /** runs `medit <argv>` in `root`; throws when it fails */
  medit: (argv: string[]) => Promise<void>;
  log?: (line: string) => void;
}

/** Runs the comparison's missing reports, merges each split's and writes the tables. */
export async function runComparison(o: CompareOptions): Promise<void> {
  const { world, out, methods: names } = o;
  const log = o.log ?? ((l: string) => console.log(l));
  const rel = (f: string) => path.relative(o.root, f);
  const runs = methodRuns(world);
  for (const n of names) if (!runs[n]) throw new Error(`unknown method "${n}" for --methods (known: ${Object.keys(runs).join(', ')})`);
  for (const split of o.splits) if (!['eval', 'validation'].includes(split)) throw new Error(`--splits: expected eval and/or validation but received "${split}"`);
  if (world.derivedFrom) {
    const made = ensureDerivedInputs(o.root, world.derivedFrom, {
      statsCorpus: world.statsCorpus,
      ...(world.klTexts ? { klTexts: world.klTexts } : {}),
      ...(world.snippets ? { snippets: world.snippets } : {}),
    });
    if (made.length > 0) log(`[compare] derived from ${world.derivedFrom}: ${made.join(', ')}`);
  }
  for (const split of o.splits) {
    const dir = path.join(out, split);
    fs.mkdirSync(dir, { recursive: true });
    const reports: string[] = [];
    for (const name of names) {
      const file = path.join(dir, reportName(name));
      reports.push(file);
      if (fs.existsSync(file)) continue;
      log(`[compare] ${world.name} ${split}: ${name}`);
      await o.medit(evalArgv(world, name, { split, limit: o.limit, generation: !o.noGeneration.has(name), out: file }));
    }
    const stem = path.join(dir, 'comparison');
    await o.medit(['report', '--reports', reports.join(','), '--out', stem, '--markdown', `${stem}.md`]);
  }
  const read = (dir: string, s: string, n: string) => readReport(path.join(dir, s, reportName(n)));
  const both = names.filter((n) => ['validation', 'eval'].every((s) => fs.existsSync(path.join(out, s, reportName(n)))));
  if (both.length > 0) {
    fs.writeFileSync(path.join(out, 'validation-vs-eval.md'), validationVsEval(both.map((n) => ({ name: n, validation: read(out, 'validation', n), eval: read(out, 'eval', n) }))));
    log(`[compare] wrote ${rel(path.join(out, 'validation-vs-eval.md'))}`);
  }
  const old = world.oldVsNew;
  if (old && o.splits.includes('eval')) {
    const caseMap = (JSON.parse(fs.readFileSync(path.join(o.root, old.caseMap), 'utf8')) as { eval: [number, number][] }).eval;
    const oldFile = (n: string) => path.join(o.root, old.reportsDir, `${old.reports[n]}.json`);
    const pairs = names
      .filter((n) => old.reports[n] && fs.existsSync(oldFile(n)))
      .map((n) => ({ name: n, oldReport: readReport(oldFile(n)), newReport: read(out, 'eval', n) }));
    fs.writeFileSync(path.join(out, 'old-vs-new.md'), oldVsNew(pairs, caseMap));
    log(`[compare] wrote ${rel(path.join(out, 'old-vs-new.md'))}`);
  }
  if (world.name !== 'fact-small' && o.splits.includes('eval')) {
    const small = o.factSmallOut;
    const shared = names.filter((n) => fs.existsSync(path.join(small, 'eval', reportName(n))) && fs.existsSync(path.join(out, 'eval', reportName(n))));
    const file = path.join(out, `fact-small-vs-${world.name}.md`);
    fs.writeFileSync(file, worldsSideBySide(shared.map((n) => ({ name: n, first: read(small, 'eval', n), second: read(out, 'eval', n) })), ['fact-small', world.name]));
    log(`[compare] wrote ${rel(file)}`);
  }
}

async function main(): Promise<void> {
  const world = worldByName(arg('world', 'fact-small'));
  const names = arg('methods', Object.keys(methodRuns(world)).join(',')).split(',').map((s) => s.trim());
  if (!names.includes('unedited')) names.unshift('unedited');
  await runComparison({
    root: ROOT,
    world,
    out: path.resolve(ROOT, arg('out', world.out)),
    limit: Number(arg('limit', '200')),
    methods: names,
    splits: arg('splits', 'eval,validation').split(',').map((s) => s.trim()),
    // --no-generation: no Reference Score / generation entropy; --no-generation-for LIST: not for those methods
    noGeneration: new Set(process.argv.includes('--no-generation') ? names : arg('no-generation-for', '').split(',').map((s) => s.trim()).filter(Boolean)),
    factSmallOut: path.resolve(ROOT, WORLDS['fact-small'].out),
    medit: async (argv) => medit(argv),
  });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`compare: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
