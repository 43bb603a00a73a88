/**
 * The full-size MEMIT / AlphaEdit runs on fact-small (issue 6), reproducible:
 *
 *   npx tsc -b scripts
 *   export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MEDIT_ROOT=$PWD
 *   node scripts/dist/memit/full-runs.js batch --alg MEMIT --n 1000 --out bench/reports/memit-fact-small-batch1000
 *   node scripts/dist/memit/full-runs.js sequential --alg AlphaEdit --out bench/reports/alphaedit-fact-small-seq50x20
 *   node scripts/dist/memit/full-runs.js sequential --alg MEMIT --out bench/reports/memit-fact-small-seq50x20
 *   node scripts/dist/memit/full-runs.js merge bench/reports/alphaedit-fact-small-seq50x20.json \
 *     bench/reports/memit-fact-small-seq50x20.json --out bench/reports/memit-alphaedit-fact-small-sequential
 *
 * Cases: the 500 CounterFact records of the eval split, then the 500 of the train split
 * (disjoint subjects; MEMIT and AlphaEdit train nothing, so the train split is as unseen as the
 * eval split), so 1,000 edits. Metrics: the CounterFact suite. Statistics C = E[kkᵀ] come from
 * the fact world's training corpus (its first 20,000 documents), the analog of the Wikipedia
 * text of MEMIT's experiments; `--corpus` names another (the library's default stays the
 * filler text). Sequential streams are ordered so that the requests of one subject arrive in
 * one batch (their keys coincide), 50 batches × 20, evaluated on the final model, with the
 * curve measured every `--curve-every` batches; `--model` edits another model directory. Each
 * run writes `<out>.json` (EvalReport), `<out>.html` and `<out>.log.jsonl` (progress, per-batch
 * editor timings, final summary).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type EditDelta, type EditOptions, type EditRequest, loadModel, mulberry32, readCorpus } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { type EvalReport, evaluate, mergeEvalReports, renderHtmlReport } from '@medit/metrics';
import { type MassEditAlgorithm, type MassEditStats, type MemitHyperParams, createMassEditor } from '@medit/memit';

const ROOT = path.resolve(process.env.MEDIT_ROOT ?? process.cwd());
const FIX = path.join(ROOT, 'test-fixtures');

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string>;
}

function parseArgs(argv: string[]): Args {
  const [command = 'help', ...rest] = argv;
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i].startsWith('--')) {
      const v = rest[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`expected a value after ${rest[i]}`);
      flags.set(rest[i].slice(2), v);
      i++;
    } else positional.push(rest[i]);
  }
  return { command, positional, flags };
}

/** The 1,000 cases: eval split, then train split (first `n`). */
export function fullCases(n: number): EditCase[] {
  const cases = ['counterfact-eval.json', 'counterfact-train.json'].flatMap((f) => readDataset(path.join(FIX, 'factworld/edits', f)).cases);
  if (n > cases.length) throw new Error(`--n ${n} exceeds the ${cases.length} CounterFact records of the two splits`);
  return cases.slice(0, n);
}

/**
 * Orders cases into batches of `size` so that each subject's cases share a batch: subject
 * groups, largest first, go to the first batch with room (first fit; the many single-case
 * subjects fill the gaps); the batches are then shuffled (seeded), so that eval and train
 * records and large and small subject groups spread over the stream. Deterministic.
 */
export function packBySubject(cases: EditCase[], size: number, seed = 0): EditCase[] {
  const groups = new Map<string, EditCase[]>();
  for (const c of cases) groups.set(c.request.subject, [...(groups.get(c.request.subject) ?? []), c]);
  const sorted = [...groups.values()].sort((a, b) => b.length - a.length);
  const bins: EditCase[][] = Array.from({ length: Math.ceil(cases.length / size) }, () => []);
  for (const g of sorted) {
    if (g.length > size) throw new Error(`subject ${g[0].request.subject} has ${g.length} cases, more than a batch of ${size}`);
    const bin = bins.find((b) => b.length + g.length <= size);
    if (!bin) throw new Error(`cannot pack ${cases.length} cases by subject into batches of ${size}`);
    bin.push(...g);
  }
  const rand = mulberry32(seed);
  for (let i = bins.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [bins[i], bins[j]] = [bins[j], bins[i]];
  }
  return bins.flat();
}

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function writeReport(out: string, report: EvalReport): void {
  writeAtomic(`${out}.json`, JSON.stringify(report, null, 2) + '\n');
  writeAtomic(`${out}.html`, renderHtmlReport(report));
}

function summary(report: EvalReport): Record<string, Record<string, number | null>> {
  return Object.fromEntries(report.methods.map((m) => [m.name, Object.fromEntries(Object.entries(m.aggregates).map(([k, a]) => [k, a.mean]))]));
}

async function run(args: Args): Promise<void> {
  const { command, flags } = args;
  if (command === 'merge') {
    const out = flags.get('out');
    if (!out || args.positional.length < 2) throw new Error('merge: expected two or more report files and --out');
    const reports = args.positional.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as EvalReport);
    const merged = mergeEvalReports(reports);
    writeReport(out, merged);
    console.log(JSON.stringify({ event: 'merged', out, summary: summary(merged) }));
    return;
  }
  if (command !== 'batch' && command !== 'sequential') {
    throw new Error('usage: full-runs.js batch|sequential|merge [--alg MEMIT|EMMET|AlphaEdit] [--n N] [--batch-size B] [--curve-every K] [--hparams JSON] [--corpus FILE] [--model DIR] [--out STEM]');
  }
  const alg = (flags.get('alg') ?? 'MEMIT') as MassEditAlgorithm;
  const n = Number(flags.get('n') ?? 1000);
  const batchSize = command === 'batch' ? Number(flags.get('batch-size') ?? n) : Number(flags.get('batch-size') ?? 20);
  const curveEvery = Number(flags.get('curve-every') ?? 5);
  const corpusFile = path.resolve(ROOT, flags.get('corpus') ?? path.join(FIX, 'factworld/corpus/train-full.txt'));
  const out = path.resolve(ROOT, flags.get('out') ?? `bench/reports/${alg.toLowerCase()}-fact-small-${command}`);
  const hp: Partial<MemitHyperParams> = { mom2_n_samples: 20000, ...JSON.parse(flags.get('hparams') ?? '{}') };
  const logFile = `${out}.log.jsonl`;
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = (rec: Record<string, unknown>) => fs.appendFileSync(logFile, JSON.stringify({ time: new Date().toISOString(), ...rec }) + '\n');

  const modelDir = path.resolve(ROOT, flags.get('model') ?? path.join(FIX, 'models/fact-small'));
  const model = await loadModel(modelDir);
  const corpus = readCorpus(corpusFile);
  const all = fullCases(n);
  const cases = command === 'sequential' ? packBySubject(all, batchSize) : all;
  const editor = createMassEditor(alg, hp, { corpus, statsCacheDir: flags.get('stats-cache') ?? path.join(os.tmpdir(), 'memit-stats') });
  // Record each editor call's own stage timings (z, keys, solve) next to the harness's wall time.
  const inner = editor.edit.bind(editor);
  let call = 0;
  editor.edit = async (m, requests: EditRequest[], opts?: EditOptions): Promise<EditDelta> => {
    const d = await inner(m, requests, opts);
    const s = d.info.stats as unknown as MassEditStats;
    log({ event: 'edit', call: call++, requests: requests.length, timings: s.timings, layers: s.layers, finalResidualNorm: s.finalResidualNorm });
    return d;
  };
  log({ event: 'start', command, alg, n, batchSize, curveEvery, corpus: path.relative(ROOT, corpusFile), corpusDocs: corpus.docs.length, hparams: editor.resolve(model) });
  let last = 0;
  const started = Date.now();
  const report = await evaluate({
    editor,
    model,
    cases,
    mode: command === 'batch' ? 'batch' : 'sequential',
    batchSize,
    evalAfter: 'all',
    curveEvery,
    suites: ['counterfact'],
    modelName: path.basename(modelDir),
    datasetName: n > 500 ? `counterfact-eval+train (${n})` : `counterfact-eval (${n})`,
    methodName: command === 'sequential' ? `${alg} (${cases.length / batchSize}×${batchSize})` : `${alg} (1×${n})`,
    onProgress: (p) => {
      if (Date.now() - last < 30000) return;
      last = Date.now();
      log({ event: 'progress', stage: p.stage, done: p.done, total: p.total, detail: p.detail });
    },
  });
  writeReport(out, report);
  const m = report.methods[report.methods.length - 1];
  log({ event: 'done', seconds: (Date.now() - started) / 1000, summary: summary(report), efficiency: m.efficiency, curve: m.sequentialCurve });
  console.log(JSON.stringify({ event: 'done', out, summary: summary(report) }));
  editor.dispose();
  model.dispose();
}

if (require.main === module) {
  run(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
