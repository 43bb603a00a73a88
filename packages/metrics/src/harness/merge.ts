/** Combining the reports of several {@link evaluate} runs (one per editor) into one. */
import { ArgumentError } from '@medit/core';

import { createEvalReport, type EvalReport, type MethodReport } from '../report/schema';
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
