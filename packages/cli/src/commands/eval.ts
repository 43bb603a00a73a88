/**
 * `medit eval`: any dataset `@medit/data` reads × an editing method, through the
 * `@medit/metrics` harness (`evaluate`), written as `<out>.json` (the versioned EvalReport)
 * and `<out>.html` (its offline view).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, fillTemplate, readHparamsMapping, writeFileAtomic } from '@medit/core';
import { type DatasetFormat, DATASET_FORMATS, DatasetFormatError, type EditCase, readDataset } from '@medit/data';
import { AttributeSnippets, checkLoadEdits, type EvalMode, type EvalReport, type EvalSuite, EVAL_SUITES, evaluate, type JsonValue, metricDefinition, MMEDIT_SUITE, renderHtmlReport, type TargetQuery } from '@medit/metrics';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, FACTWORLD_SNIPPETS, loadModelDir, repoFile, requireFile, resolvePath, shortPath } from '../common';
import { formatAggregate } from '../markdown';
import { type MethodEditor, METHOD_NAMES, createEditor, selectMethod, evalProgress, zCacheLine, zCacheResult } from '../methods';
import { dataUse } from '../provenance';
import { type SavedEdit, loadSavedEdit } from '../saved-edit';
import { formatDuration } from '../output';
import { runMmeditEval } from './eval-mmedit';

export const EVAL_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory' },
  dataset: { type: 'string', value: 'FILE', description: 'CounterFact, EasyEdit CounterFact, zsRE, KnowEdit (.json) or edit requests (.jsonl)' },
  format: { type: 'string', value: 'NAME', description: `dataset format (${DATASET_FORMATS.join(', ')}; default: detected)` },
  method: { type: 'string', value: 'NAME', description: `editing method: ${METHOD_NAMES.join(', ')} (default rome; see Methods below)` },
  editor: { type: 'string', value: 'FILE', description: 'mend/ke: the trained editor (best.safetensors of medit train); serac: the directory of medit train serac; ike: the retrieval encoder (BERT directory or .onnx)' },
  memory: { type: 'string', value: 'FILE', description: "tpatcher, ft+kl: unrelated texts, one per line, or an edit dataset .json whose edit and locality prompts are used (default: the fact world's filler text)" },
  pool: { type: 'string', value: 'FILE', description: 'ike: CounterFact-format training records to draw demonstrations from' },
  k: { type: 'string', value: 'N', description: 'ike: demonstrations per edit (default 32; those that do not fit the context are dropped)' },
  mode: { type: 'string', value: 'MODE', description: 'single (each edit on the clean model), batch, or sequential (default single)' },
  'batch-size': { type: 'string', value: 'N', description: 'edits per editor call in batch/sequential mode (default 1)' },
  'eval-after': { type: 'string', value: 'WHEN', description: 'sequential mode: measure each case right after its edit (each) or at the end (all)' },
  'curve-every': { type: 'string', value: 'N', description: 'sequential mode: measure the retention curve of all past edits every N batches and after the last (default 1)' },
  'train-retain': {
    type: 'string',
    value: 'FILE',
    description: "sequential mode: TrainR's retain set, an edit dataset .json whose edit and rephrase prompts are scored against their true targets (the model's own training facts; keep it apart from --memory)",
  },
  load: {
    type: 'string',
    value: 'FILE',
    description:
      'batch/sequential mode: load edits, an edit dataset (any format --dataset reads; e.g. the train split) whose records are edited in the same calls as the cases but never scored, to fill a batch up to the size under study; spread evenly over the batches (subjects must differ from the cases\')',
  },
  'load-limit': { type: 'string', value: 'N', description: 'with --load: its first N records (default all; the format of --load is detected)' },
  'keep-edited-facts': {
    type: 'boolean',
    description: 'batch/sequential mode: keep locality prompts that ask a fact another edit of the run rewrites (default: left out of locality and TestR)',
  },
  offset: { type: 'string', value: 'N', description: 'skip the first N cases (shards of one run; join them with medit report --shards)' },
  limit: { type: 'string', value: 'N', description: 'evaluate only the first N cases (after --offset)' },
  suites: { type: 'string', value: 'LIST', description: `metric suites, comma-separated (${EVAL_SUITES.join(', ')}; default: by dataset format), or ${MMEDIT_SUITE} alone: MMEdit records on a vision-language model` },
  generation: { type: 'boolean', description: 'also generate text for fluency / generation entropy and the Reference Score (slow)' },
  snippets: {
    type: 'string',
    value: 'FILE',
    description: "with --generation: ROME's attribute_snippets.json, the Reference Score's references (default: the fact world's, whose relation and target ids only fact-world cases match)",
  },
  hparams: { type: 'string', value: 'FILE', description: "the method's hyperparameters (.json or .yaml, EasyEdit field names)" },
  'stats-corpus': { type: 'string', value: 'FILE', description: "rome, memit, emmet, alphaedit: corpus for the covariance (default: the fact world's filler text)" },
  'stats-cache': { type: 'string', value: 'DIR', description: 'rome, memit, emmet, alphaedit: covariance cache directory' },
  'stats-file': { type: 'string', value: 'FILE', description: 'rome: precomputed statistics of the edited layer (from medit stats)' },
  'no-covariance': { type: 'boolean', description: 'rome: use C = I instead of covariance statistics' },
  'z-cache': { type: 'string', value: 'DIR', description: 'memit, emmet, alphaedit: cache of the target vectors z, one file per request (or per subject sharing one z); reused when the weights, z layer, z settings, templates and request are the same (sweeps over λ, the solver or the earlier layers)' },
  delta: { type: 'string', value: 'FILE', description: 'a saved edit (medit edit --save-delta; weights, patch neurons or a SERAC / IKE memory) applied to the model first: the edited model is evaluated' },
  out: { type: 'string', value: 'PATH', description: 'report path without extension, or a directory (default: reports/<model>-<method> → .json and .html)' },
  explain: { type: 'boolean', description: 'print what each metric in the table measures' },
};

/** `<out>.json` and `<out>.html` from `--out` as given and resolved (a stem, a .json/.html name, or a directory). */
export function reportPaths(given: string, resolved: string): { json: string; html: string } {
  let stem = resolved;
  if (given.endsWith('/') || given.endsWith(path.sep) || (fs.existsSync(resolved) && fs.statSync(resolved).isDirectory())) stem = path.join(resolved, 'report');
  else if (/\.(json|html)$/.test(resolved)) stem = resolved.replace(/\.(json|html)$/, '');
  return { json: `${stem}.json`, html: `${stem}.html` };
}

/** The summary table printed after a run: one row per metric, one column per method (mean (95 % interval) n). */
export function summaryTable(report: EvalReport): string[] {
  const methods = report.methods;
  const metrics = [...new Set(methods.flatMap((m) => Object.keys(m.aggregates)))];
  const cell = (m: EvalReport['methods'][number], k: string): string => {
    const a = m.aggregates[k];
    if (!a) return '';
    return `${formatAggregate(a)} n=${a.n}`;
  };
  const cells = metrics.map((k) => methods.map((m) => cell(m, k)));
  const cw = methods.map((m, j) => Math.max(m.name.length, ...cells.map((row) => row[j].length)) + 3);
  const w = Math.max(8, ...metrics.map((k) => k.length)) + 2;
  return [
    `${'metric'.padEnd(w)}${methods.map((m, j) => m.name.padStart(cw[j])).join('')}`,
    ...metrics.map((k, i) => `${k.padEnd(w)}${cells[i].map((c, j) => c.padStart(cw[j])).join('')}`),
  ];
}

/** What the table's numbers are (printed under it, always). */
export const TABLE_LEGEND = [
  'Each cell: the mean over the cases (its 95% confidence interval: Wilson score for proportions, normal otherwise) and n, the number of cases the metric is defined for.',
  '*Score, *Acc, locality, portability, SR/GR/ER: fractions in [0, 1], higher is better; *Magnitude: probability differences in [-1, 1].',
];

/** `--explain`: one definition per metric of the report. */
export function metricDefinitionsFor(report: EvalReport): string[] {
  const metrics = [...new Set(report.methods.flatMap((m) => Object.keys(m.aggregates)))];
  const w = Math.max(...metrics.map((k) => k.length)) + 2;
  return metrics.map((k) => `  ${k.padEnd(w)}${metricDefinition(k) ?? '(no definition recorded)'}`);
}

/**
 * What the `--hparams` file says it was tuned on (its `tuned` block, written by medit tune),
 * without the per-point results, for the report: which split, dataset, cases and metric.
 */
function tunedOn(ctx: CommandContext): JsonValue | undefined {
  const file = ctx.args.string('hparams');
  if (!file) return undefined;
  const tuned = readHparamsMapping(requireFile(resolvePath(ctx.io, file), 'hyperparameter file')).tuned as Record<string, JsonValue> | undefined;
  if (!tuned || typeof tuned !== 'object') return { split: null, note: `${shortPath(ctx.io, file)} records no tuning provenance` };
  const { results: _, caseIds, ...summary } = tuned;
  return { ...summary, cases: Array.isArray(caseIds) ? caseIds.length : null };
}

/** `--snippets FILE`, else the fact world's snippets (only read with --generation). */
function snippetsFor(ctx: CommandContext): AttributeSnippets | undefined {
  const { io, args } = ctx;
  const given = args.string('snippets');
  if (given !== undefined && !args.flag('generation')) throw new UsageError('--snippets applies to --generation (the Reference Score compares generated text with them)', 'eval');
  if (!args.flag('generation')) return undefined;
  const file = given ? requireFile(resolvePath(io, given), 'snippets file') : repoFile(io, FACTWORLD_SNIPPETS);
  if (!file) return undefined;
  let records: unknown;
  try {
    records = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--snippets: ${shortPath(io, file)} is not JSON (${(err as Error).message})`, 'eval');
  }
  return new AttributeSnippets(records as ConstructorParameters<typeof AttributeSnippets>[0]);
}

/** An edit dataset's cases, with the reader's format advice given as the --format flag. */
function readEditDataset(file: string, format?: DatasetFormat): ReturnType<typeof readDataset> {
  try {
    return readDataset(file, format ? { format } : {});
  } catch (err) {
    // The reader's advice is for its API ("pass { format: ... }"); here it is a flag.
    if (err instanceof DatasetFormatError) throw new DatasetFormatError(file, err.message.slice(file.length + 2).replace(/pass \{ format[^}]*\}/, `pass --format ${DATASET_FORMATS.join('|')}`));
    throw err;
  }
}

/** The load edits of `--load FILE` (its first `--load-limit N`), refused when they overlap `cases` ({@link checkLoadEdits}). */
export interface LoadEdits {
  file: string;
  limit: number | undefined;
  cases: EditCase[];
}

/**
 * `--load` / `--load-limit` (batch and sequential modes only): the load edits, checked against
 * the evaluated `cases` before any model is loaded; undefined without `--load`.
 */
export function loadEditsFor(ctx: CommandContext, cases: readonly EditCase[], mode: EvalMode): LoadEdits | undefined {
  const { io, args } = ctx;
  const command = ctx.out.command;
  const given = args.string('load');
  const limit = args.int('load-limit', { min: 1 });
  if (given === undefined) {
    if (limit !== undefined) throw new UsageError('--load-limit applies to --load', command);
    return undefined;
  }
  if (mode === 'single') throw new UsageError('--load applies to --mode batch or sequential (load edits share the editor calls of the cases)', command);
  const file = requireFile(resolvePath(io, given), 'load dataset');
  const dataset = readEditDataset(file);
  const load = dataset.cases.slice(0, limit);
  if (load.length === 0) throw new UsageError(`--load: ${shortPath(io, file)} has no usable cases${dataset.skipped.length ? ` (${dataset.skipped.length} skipped: ${dataset.skipped[0].reason})` : ''}`, command);
  try {
    checkLoadEdits(cases, load);
  } catch (err) {
    if (err instanceof ArgumentError) throw new UsageError(`--load ${shortPath(io, file)}: ${err.message.replace(/^load: /, '')}`, command);
    throw err;
  }
  return { file, limit, cases: load };
}

/** What a report records of its load edits: the harness's name and count, with the file, its sha256 and `--load-limit`. */
export function loadRecord(load: LoadEdits): { file: string; sha256: string; limit: number | null } {
  const use = dataUse('train', load.file, load.cases);
  return { file: use.file, sha256: use.sha256, limit: load.limit ?? null };
}

/** TrainR's queries from an edit dataset: each case's edit and rephrase prompts against its true target. */
function retainQueries(io: CommandContext['io'], file: string): TargetQuery[] {
  const cases = readDataset(file).cases.filter((c) => c.request.targetTrue !== undefined);
  if (cases.length === 0) throw new UsageError(`--train-retain: ${shortPath(io, file)} has no case with a true target to retain`, 'eval');
  return cases.flatMap((c) => [fillTemplate(c.request.prompt, c.request.subject), ...c.rephrasePrompts].map((prompt) => ({ prompt, target: c.request.targetTrue! })));
}

export async function runEval(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  if (args.string('suites')?.split(',').some((s) => s.trim() === MMEDIT_SUITE)) return runMmeditEval(ctx);
  const modelDir = args.required('model');
  const datasetFile = requireFile(resolvePath(io, args.required('dataset')), 'dataset file');
  const format = args.has('format') ? args.choice('format', DATASET_FORMATS as readonly DatasetFormat[], 'counterfact') : undefined;
  const { name: method, method: spec } = selectMethod(ctx, { allowNone: true });
  const mode = args.choice('mode', ['single', 'batch', 'sequential'] as const, 'single') as EvalMode;
  const batchSize = args.int('batch-size', { min: 1 });
  if (batchSize !== undefined && mode === 'single') throw new UsageError('--batch-size applies to --mode batch or sequential', 'eval');
  const evalAfter = args.has('eval-after') ? args.choice('eval-after', ['each', 'all'] as const, 'each') : undefined;
  if (evalAfter !== undefined && mode !== 'sequential') throw new UsageError('--eval-after applies to --mode sequential', 'eval');
  const curveEvery = args.int('curve-every', { min: 1 });
  if (curveEvery !== undefined && mode !== 'sequential') throw new UsageError('--curve-every applies to --mode sequential', 'eval');
  const retainArg = args.string('train-retain');
  if (retainArg !== undefined && mode !== 'sequential') throw new UsageError('--train-retain applies to --mode sequential', 'eval');
  const offset = args.int('offset', { min: 0 }) ?? 0;
  const limit = args.int('limit', { min: 1 });
  const suites = args.string('suites')?.split(',').map((s) => s.trim()) as EvalSuite[] | undefined;
  for (const s of suites ?? []) if (!EVAL_SUITES.includes(s)) throw new UsageError(`Expected ${EVAL_SUITES.join(', ')} in --suites but received ${JSON.stringify(s)}`, 'eval');
  // By default reports go to reports/ (gitignored), named after the model and method, never into the working directory itself.
  const outArg = args.string('out') ?? path.join('reports', `${path.basename(resolvePath(io, modelDir))}-${method}`);
  const paths = reportPaths(outArg, resolvePath(io, outArg));
  const deltaArg = args.string('delta');
  const deltaFile = deltaArg ? requireFile(resolvePath(io, deltaArg), 'delta file') : undefined;

  const dataset = readEditDataset(datasetFile, format);
  const cases = dataset.cases.slice(offset, limit ? offset + limit : undefined);
  if (cases.length === 0 && offset > 0) throw new UsageError(`--offset ${offset} skips all ${dataset.cases.length} cases of ${shortPath(io, datasetFile)}`, 'eval');
  if (cases.length === 0) throw new UsageError(`${shortPath(io, datasetFile)} has no usable cases${dataset.skipped.length ? ` (${dataset.skipped.length} skipped: ${dataset.skipped[0].reason})` : ''}`, 'eval');

  const load = loadEditsFor(ctx, cases, mode);
  const trainRetain = retainArg === undefined ? undefined : retainQueries(io, requireFile(resolvePath(io, retainArg), 'train-retain dataset'));
  const snippets = snippetsFor(ctx);
  const model = await loadModelDir(io, modelDir);
  let editor: MethodEditor | undefined;
  let saved: SavedEdit | undefined;
  try {
    if (deltaFile) {
      saved = await loadSavedEdit(deltaFile);
      saved.delta.apply(model);
      out.line(`applied the saved ${saved.delta.info.method} edit ${shortPath(io, deltaFile)}: "unedited" below is the model with it`);
    }
    editor = spec ? await createEditor(ctx, spec, model, cases, { evaluated: true, load: load?.cases }) : undefined;
    const covariance = editor?.statsSummary ?? null;
    out.line(`evaluating ${editor ? editor.name : deltaFile ? 'the model with the saved edit' : 'the unedited model'} on ${cases.length} ${dataset.format} case${cases.length === 1 ? '' : 's'} of ${shortPath(io, datasetFile)} (${mode})`);
    if (load) out.line(`with ${load.cases.length} load edit${load.cases.length === 1 ? '' : 's'} of ${shortPath(io, load.file)}: edited beside the cases, not scored`);
    const bar = out.progress('eval');
    const started = Date.now();
    let report: EvalReport;
    try {
      report = await evaluate({
        editor,
        model,
        cases,
        mode,
        batchSize,
        evalAfter,
        curveEvery,
        trainRetain,
        suites,
        generation: args.flag('generation'),
        snippets,
        keepEditedFacts: args.flag('keep-edited-facts'),
        load: load?.cases,
        signal: io.signal,
        modelName: path.basename(resolvePath(io, modelDir)) + (deltaFile ? ` + ${path.basename(deltaFile)}` : ''),
        onProgress: evalProgress(bar),
      });
    } finally {
      bar.end();
    }
    const ms = Date.now() - started;
    const tuned = tunedOn(ctx);
    if (tuned !== undefined && report.methods[1]) report.methods[1].hparams.tuned = tuned;
    if (load) report.dataset.load = { ...(report.dataset.load as Record<string, JsonValue>), ...loadRecord(load) };
    writeFileAtomic(paths.json, JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(paths.html, renderHtmlReport(report));
    for (const l of summaryTable(report)) out.line(l);
    for (const l of TABLE_LEGEND) out.line(l);
    if (args.flag('explain')) {
      out.line('Metrics:');
      for (const l of metricDefinitionsFor(report)) out.line(l);
    } else out.line('Run with --explain for what each metric measures (also in the HTML report).');
    const zLine = zCacheLine(ctx, editor);
    if (zLine) out.line(zLine);
    out.line(`done in ${formatDuration(ms)}; wrote ${shortPath(io, paths.json)} and ${shortPath(io, paths.html)}`);
    const summary = Object.fromEntries(report.methods.map((m) => [m.name, Object.fromEntries(Object.entries(m.aggregates).map(([k, a]) => [k, a.mean]))]));
    out.result({ model: modelDir, dataset: datasetFile, cases: cases.length, mode, load: load ? { file: load.file, cases: load.cases.length } : null, method, covariance, ...zCacheResult(editor), delta: deltaFile ?? null, ms, report: paths.json, html: paths.html, summary });
    return 0;
  } finally {
    editor?.dispose();
    saved?.release();
    model.dispose();
  }
}
