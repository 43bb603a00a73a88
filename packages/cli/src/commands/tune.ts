/**
 * `medit tune`: chooses a method's hyperparameters on a validation split. It sweeps a grid (every
 * combination of the values listed per field) with `medit eval`'s machinery — the same method
 * table and metrics harness — and writes the best point as a hyperparameter file whose `tuned`
 * block records what it was chosen on: split, dataset file and hash, case ids, protocol, grid,
 * metric and every point's value. The eval split is refused: settings are chosen on validation
 * and reported on eval once.
 *
 * Resumable: each finished point is a JSON file in the state directory (`--state`, default
 * `<out>.tune/`); a rerun skips them. With `--load` (load edits filling each batch, as in medit
 * eval) a point's file is keyed by the load too (its file's sha256 and how many records), so a
 * point measured under another load is measured again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readHparamsMapping, writeFileAtomic } from '@medit/core';
import { readDataset } from '@medit/data';
import { type EvalMode, type EvalSuite, EVAL_SUITES, evaluate, harmonicMean } from '@medit/metrics';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath, shortPath } from '../common';
import { createEditor, selectMethod, evalProgress, zCacheLine } from '../methods';
import { dataUse } from '../provenance';
import { EVAL_OPTIONS, type LoadEdits, loadEditsFor, loadRecord } from './eval';

/** `medit eval`'s options that a sweep passes through unchanged. */
const PASSED = ['model', 'dataset', 'format', 'method', 'editor', 'memory', 'pool', 'k', 'mode', 'batch-size', 'eval-after', 'keep-edited-facts', 'load', 'load-limit', 'limit', 'suites', 'stats-corpus', 'stats-cache', 'no-covariance', 'z-cache'] as const;

export const TUNE_OPTIONS: OptionSpecs = {
  ...Object.fromEntries(PASSED.map((k) => [k, EVAL_OPTIONS[k]])),
  dataset: { type: 'string', value: 'FILE', description: 'the validation split to tune on (a file named like an eval split is refused)' },
  hparams: { type: 'string', value: 'FILE', description: 'base hyperparameters every grid point starts from (default: the method\'s defaults)' },
  grid: { type: 'string', value: 'FILE', description: 'JSON {"field": [value, ...], ...}: every combination is one point (fields starting with "_" are notes: why this grid)' },
  metric: { type: 'string', value: 'KEY[,KEY...]', description: 'aggregate to maximise (default score: the harmonic mean of efficacy, paraphrase and neighbourhood scores), or the harmonic mean of several (e.g. efficacyScore,paraphraseScore,neighborhoodScore,locality)' },
  state: { type: 'string', value: 'DIR', description: 'one result file per finished point, for resuming (default <out>.tune/)' },
  out: { type: 'string', value: 'FILE', description: 'the hyperparameter file to write (base + best point + the tuned block)' },
};

/** A grid: field → the values to try. */
export type Grid = Record<string, unknown[]>;

/** Every combination of a grid's values, fields in the grid's order (the last field varies fastest). */
export function gridPoints(grid: Grid): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>((points, [k, values]) => points.flatMap((p) => values.map((v) => ({ ...p, [k]: v }))), [{}]);
}

function readGrid(ctx: CommandContext, file: string): Grid {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--grid: ${shortPath(ctx.io, file)} is not JSON (${(err as Error).message})`, 'tune');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UsageError(`--grid: expected {"field": [value, ...]} in ${shortPath(ctx.io, file)}`, 'tune');
  }
  const grid: Grid = {};
  for (const [k, v] of Object.entries(raw)) {
    // "_why": a note saying why the grid is what it is, not a field
    if (k.startsWith('_')) {
      if (typeof v !== 'string') throw new UsageError(`--grid: "${k}" in ${shortPath(ctx.io, file)} is a note (fields starting with "_" are notes) and must be a string but received ${JSON.stringify(v)}`, 'tune');
      continue;
    }
    if (!Array.isArray(v) || v.length === 0) throw new UsageError(`--grid: expected a non-empty list of values for "${k}" in ${shortPath(ctx.io, file)} but received ${JSON.stringify(v)}`, 'tune');
    grid[k] = v;
  }
  if (Object.keys(grid).length === 0) throw new UsageError(`--grid: expected {"field": [value, ...]} in ${shortPath(ctx.io, file)}`, 'tune');
  return grid;
}

/** One finished point, as stored in the state directory. */
interface PointResult {
  point: Record<string, unknown>;
  value: number | null;
  means: Record<string, number | null>;
}

/**
 * The value `--metric` maximises: one aggregate's mean, or the harmonic mean of several
 * (comma-separated keys; null when one of them is null or absent).
 * @example objective({ efficacyScore: 0.9, locality: 0.6 }, 'efficacyScore,locality') // 0.72
 */
export function objective(means: Record<string, number | null>, metric: string): number | null {
  const values = metric.split(',').map((k) => means[k]);
  if (values.some((v) => v === null || v === undefined)) return null;
  return values.length === 1 ? values[0]! : harmonicMean(values as number[]);
}

/**
 * The point with the highest value (undefined values never win). Among tied points the one that
 * keeps most of the base file's values wins (a tie is no evidence to change a setting), then the
 * earlier point.
 */
export function bestPoint<R extends { point: Record<string, unknown>; value: number | null }>(results: readonly R[], base: Record<string, unknown>): R {
  const top = Math.max(...results.map((r) => r.value ?? -Infinity));
  const kept = (r: R) => Object.entries(r.point).filter(([k, v]) => JSON.stringify(base[k]) === JSON.stringify(v)).length;
  return results.filter((r) => (r.value ?? -Infinity) === top).reduce((a, b) => (kept(b) > kept(a) ? b : a));
}

/**
 * The state file key of a point: a hash of the point and, with load edits, of the load file's
 * sha256 and record count (without load the key is the point's alone, as before `--load` existed).
 */
export function pointKey(point: Record<string, unknown>, load?: { sha256: string; cases: number }): string {
  return createHash('sha256')
    .update(JSON.stringify(load ? { point, load } : point))
    .digest('hex')
    .slice(0, 16);
}

/** A file named like an eval split (counterfact-eval.json, eval.jsonl, ...). */
const isEvalSplit = (file: string): boolean => /(^|[-_.])eval([-_.]|$)/.test(path.basename(file));

export async function runTune(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const outFile = resolvePath(io, args.required('out', 'the hyperparameter file to write'));
  const datasetFile = requireFile(resolvePath(io, args.required('dataset', 'the validation split')), 'dataset file');
  if (isEvalSplit(datasetFile)) {
    throw new UsageError(`--dataset ${shortPath(io, datasetFile)} is an eval split: settings are chosen on the validation split (e.g. counterfact-validation.json) and reported on eval once`, 'tune');
  }
  const { name: methodName, method } = selectMethod(ctx, { allowNone: true });
  if (!method) throw new UsageError('--method none has nothing to tune', 'tune');
  const grid = readGrid(ctx, requireFile(resolvePath(io, args.required('grid')), 'grid file'));
  const points = gridPoints(grid);
  const baseFile = args.string('hparams');
  // the base file's own provenance is not the new file's
  const { tuned: _, ...base } = baseFile ? readHparamsMapping(requireFile(resolvePath(io, baseFile), 'hyperparameter file')) : {};
  const metric = args.string('metric') ?? 'score';
  const mode = args.choice('mode', ['single', 'batch', 'sequential'] as const, 'single') as EvalMode;
  const batchSize = args.int('batch-size', { min: 1 });
  const evalAfter = args.has('eval-after') ? args.choice('eval-after', ['each', 'all'] as const, 'each') : undefined;
  const suites = args.string('suites')?.split(',').map((s) => s.trim()) as EvalSuite[] | undefined;
  for (const s of suites ?? []) if (!EVAL_SUITES.includes(s)) throw new UsageError(`Expected ${EVAL_SUITES.join(', ')} in --suites but received ${JSON.stringify(s)}`, 'tune');
  const limit = args.int('limit', { min: 1 });
  const cases = readDataset(datasetFile).cases.slice(0, limit);
  if (cases.length === 0) throw new UsageError(`${shortPath(io, datasetFile)} has no usable cases`, 'tune');
  const load: LoadEdits | undefined = loadEditsFor(ctx, cases, mode);
  if (load && isEvalSplit(load.file)) {
    throw new UsageError(`--load ${shortPath(io, load.file)} is an eval split: settings chosen with eval-split edits in the batch would have seen them (load the train split, e.g. counterfact-train.json)`, 'tune');
  }
  const loaded = load ? { ...loadRecord(load), cases: load.cases.length } : undefined;
  const stateDir = resolvePath(io, args.string('state') ?? `${outFile.replace(/\.json$/, '')}.tune`);
  fs.mkdirSync(stateDir, { recursive: true });

  out.line(`tuning ${methodName} on ${cases.length} validation cases of ${shortPath(io, datasetFile)} (${mode}): ${points.length} point${points.length === 1 ? '' : 's'}, maximising ${metric}; state in ${shortPath(io, stateDir)}`);
  if (load) out.line(`with ${load.cases.length} load edit${load.cases.length === 1 ? '' : 's'} of ${shortPath(io, load.file)} in the batches: edited, not scored`);
  const model = await loadModelDir(io, args.required('model'));
  const results: PointResult[] = [];
  try {
    for (const [i, point] of points.entries()) {
      const key = pointKey(point, loaded && { sha256: loaded.sha256, cases: loaded.cases });
      const resultFile = path.join(stateDir, `point-${key}.json`);
      if (fs.existsSync(resultFile)) {
        const stored = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as PointResult;
        // the point's aggregates are stored: a run with another --metric reuses it
        const done = { ...stored, value: objective(stored.means, metric) };
        results.push(done);
        out.line(`point ${i + 1}/${points.length} ${JSON.stringify(point)}: ${metric} ${done.value?.toFixed(4) ?? '–'} (done before)`);
        continue;
      }
      const hpFile = path.join(stateDir, `hparams-${key}.json`);
      writeFileAtomic(hpFile, JSON.stringify({ ...base, ...point }, null, 2) + '\n');
      const pointCtx = { ...ctx, args: args.with({ hparams: hpFile }) };
      const editor = await createEditor(pointCtx, method, model, cases, { evaluated: true, load: load?.cases });
      let means: Record<string, number | null>;
      let zLine: string | undefined;
      // a point can run for an hour (a sequential stream, a 1,000-edit batch): its progress, as `medit eval` shows it
      const bar = out.progress(`point ${i + 1}/${points.length}`);
      try {
        const report = await evaluate({
          editor,
          model,
          cases,
          mode,
          batchSize,
          evalAfter,
          suites,
          keepEditedFacts: args.flag('keep-edited-facts'),
          load: load?.cases,
          signal: io.signal,
          includeRows: false,
          onProgress: evalProgress(bar),
        });
        means = Object.fromEntries(Object.entries(report.methods[1].aggregates).map(([k, a]) => [k, a.mean]));
        zLine = zCacheLine(ctx, editor);
      } finally {
        bar.end();
        editor.dispose();
      }
      for (const key of metric.split(',')) if (!(key in means)) throw new UsageError(`--metric ${metric}: the run has no aggregate ${key} (it has ${Object.keys(means).join(', ')})`, 'tune');
      const result: PointResult = { point, value: objective(means, metric), means };
      writeFileAtomic(resultFile, JSON.stringify(result, null, 2) + '\n');
      results.push(result);
      out.line(`point ${i + 1}/${points.length} ${JSON.stringify(point)}: ${metric} ${result.value?.toFixed(4) ?? '–'}${zLine ? ` (${zLine})` : ''}`);
    }
  } finally {
    model.dispose();
  }
  const best = bestPoint(results, base);
  const use = dataUse('validation', datasetFile, cases);
  const tuned = {
    split: 'validation',
    model: path.basename(resolvePath(io, args.required('model'))),
    dataset: use.file,
    sha256: use.sha256,
    caseIds: use.caseIds,
    method: methodName,
    protocol: { mode, ...(batchSize !== undefined ? { batchSize } : {}), ...(evalAfter !== undefined ? { evalAfter } : {}), ...(loaded ? { load: loaded } : {}) },
    metric,
    grid,
    results: results.map((r) => ({ point: r.point, value: r.value })),
    chosen: best.point,
    value: best.value,
    date: new Date().toISOString(),
  };
  writeFileAtomic(outFile, JSON.stringify({ ...base, ...best.point, tuned }, null, 2) + '\n');
  out.line(`best ${JSON.stringify(best.point)}: ${metric} ${best.value?.toFixed(4) ?? '–'}; wrote ${shortPath(io, outFile)}`);
  out.result({ method: methodName, out: outFile, metric, best: best.point, value: best.value, points: results.length });
  return 0;
}
