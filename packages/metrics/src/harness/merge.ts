/**
 * Combining reports into one: several {@link evaluate} runs of different editors on the same
 * cases, or shards of one run over disjoint slices of a dataset.
 */
import { ArgumentError } from '@medit/core';

import type { EfficiencySummary } from '../efficiency';
import { buildMethodReport, createEvalReport, type CaseRow, type EvalReport, type MethodReport } from '../report/schema';
import { type Aggregate, Z_975 } from '../stats';
import { UNEDITED } from './evaluate';

/**
 * One report from several runs on the same model and dataset (e.g. one `evaluate` call per
 * editor): the first run's `unedited` baseline row is kept, and every other method is added in
 * order. The pre-edit predictions are deterministic, so the baselines of the runs are equal.
 *
 * @throws {ArgumentError} for an empty list, runs on different models or datasets (by name), or
 *   two runs with the same method name.
 * @example mergeEvalReports([await evaluate({ editor: rome, ...o }), await evaluate({ editor: ft, ...o })])
 */
export function mergeEvalReports(reports: readonly EvalReport[]): EvalReport {
  if (reports.length === 0) throw new ArgumentError('Expected at least one report for reports but received []');
  const [first] = reports;
  const methods: MethodReport[] = [];
  const seen = new Set<string>();
  reports.forEach((r, i) => {
    if (r.model.name !== first.model.name || r.dataset.name !== first.dataset.name) {
      throw new ArgumentError(
        `reports[${i}] is for model "${r.model.name}" on "${r.dataset.name}" but reports[0] for "${first.model.name}" on "${first.dataset.name}"`,
      );
    }
    for (const m of r.methods) {
      if (seen.has(m.name)) {
        if (m.name === UNEDITED) continue;
        throw new ArgumentError(`reports[${i}]: method "${m.name}" appears in two reports; give the editors distinct names`);
      }
      seen.add(m.name);
      methods.push(m);
    }
  });
  // Baseline first, as evaluate() orders it.
  methods.sort((a, b) => Number(b.name === UNEDITED) - Number(a.name === UNEDITED));
  return createEvalReport({ model: first.model, dataset: first.dataset, methods });
}

/**
 * One report from shards of one run: the same editors evaluated on disjoint slices of a dataset
 * (e.g. `medit eval --offset 0 --limit 50`, `--offset 50 --limit 50`, ... in parallel processes).
 * Per-case rows are concatenated in shard order and every aggregate is recomputed from them, so
 * the result equals one run over all the cases; efficiency is pooled (sums, and the per-edit
 * time's mean and spread combined exactly from each shard's n, mean and standard deviation).
 *
 * @throws {ArgumentError} for an empty list, shards of different models, datasets or methods,
 *   shards without rows (run with rows kept), a case id in two shards, or sequential runs (their
 *   curves depend on every earlier edit, so they cannot be split).
 */
export function concatEvalReports(shards: readonly EvalReport[]): EvalReport {
  if (shards.length === 0) throw new ArgumentError('Expected at least one shard but received []');
  const [first] = shards;
  const names = first.methods.map((m) => m.name);
  shards.forEach((r, i) => {
    if (r.model.name !== first.model.name || r.dataset.name !== first.dataset.name) {
      throw new ArgumentError(`shards[${i}] is for model "${r.model.name}" on "${r.dataset.name}" but shards[0] for "${first.model.name}" on "${first.dataset.name}"`);
    }
    const these = r.methods.map((m) => m.name);
    if (these.join('\n') !== names.join('\n')) throw new ArgumentError(`shards[${i}] has methods ${JSON.stringify(these)} but shards[0] has ${JSON.stringify(names)}`);
    for (const m of r.methods) {
      if (!m.rows) throw new ArgumentError(`shards[${i}]: method "${m.name}" has no per-case rows; evaluate with includeRows: true`);
      if (m.sequentialCurve) throw new ArgumentError(`shards[${i}]: method "${m.name}" is a sequential run, which cannot be split into shards`);
    }
  });
  const seen = new Set<string | number>();
  for (const [i, r] of shards.entries()) {
    for (const row of r.methods[0].rows!) {
      if (seen.has(row.id)) throw new ArgumentError(`shards[${i}]: case ${JSON.stringify(row.id)} is also in an earlier shard`);
      seen.add(row.id);
    }
  }
  const methods = names.map((name, k) => {
    const parts = shards.map((r) => r.methods[k]);
    const rows: CaseRow[] = parts.flatMap((m) => m.rows!);
    const efficiencies = parts.map((m) => m.efficiency).filter((e): e is EfficiencySummary => e !== undefined);
    return buildMethodReport({
      name,
      hparams: parts[0].hparams,
      rows,
      efficiency: efficiencies.length === parts.length && parts.length > 0 ? poolEfficiency(efficiencies) : undefined,
    });
  });
  const dataset = typeof first.dataset.cases === 'number' ? { ...first.dataset, cases: seen.size } : first.dataset;
  return createEvalReport({ model: first.model, dataset, methods });
}

function poolEfficiency(parts: readonly EfficiencySummary[]): EfficiencySummary {
  const edits = parts.reduce((s, e) => s + e.edits, 0);
  const totalMs = parts.reduce((s, e) => s + e.totalMs, 0);
  const peaks = parts.map((e) => e.peakNativeBytes).filter((b): b is number => b !== null);
  return {
    batches: parts.reduce((s, e) => s + e.batches, 0),
    edits,
    totalMs,
    msPerEdit: poolAggregates(parts.map((e) => e.msPerEdit)),
    msPerBatch: poolAggregates(parts.map((e) => e.msPerBatch)),
    editsPerSecond: totalMs > 0 ? edits / (totalMs / 1000) : null,
    peakNativeBytes: peaks.length ? Math.max(...peaks) : null,
  };
}

/** Mean, sample standard deviation and normal 95% interval of the union of the groups. */
function poolAggregates(groups: readonly Aggregate[]): Aggregate {
  const used = groups.filter((g) => g.n > 0 && g.mean !== null);
  const n = used.reduce((s, g) => s + g.n, 0);
  if (n === 0) return { mean: null, ci95: null, n: 0, std: null };
  const mean = used.reduce((s, g) => s + g.n * g.mean!, 0) / n;
  if (n < 2) return { mean, ci95: null, n, std: null };
  // Σ (n_i − 1) s_i² + n_i (m_i − m)²: the pooled sum of squared deviations.
  const ss = used.reduce((s, g) => s + (g.n - 1) * (g.std ?? 0) ** 2 + g.n * (g.mean! - mean) ** 2, 0);
  const std = Math.sqrt(ss / (n - 1));
  const half = (Z_975 * std) / Math.sqrt(n);
  return { mean, ci95: [mean - half, mean + half], n, std };
}
