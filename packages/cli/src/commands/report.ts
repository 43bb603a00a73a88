/**
 * `medit report`: one evaluation report from several `medit eval` reports — runs of different
 * methods on the same cases (one column per method), or, with `--shards`, slices of one run
 * (`--offset`/`--limit`) evaluated in parallel processes, joined as if run at once.
 */
import * as fs from 'node:fs';

import { IOError } from '@medit/core';
import { type EvalReport, concatEvalReports, mergeEvalReports, renderHtmlReport, validateEvalReport } from '@medit/metrics';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, requireFile, resolvePath, shortPath } from '../common';
import { reportPaths, summaryTable, writeAtomic } from './eval';

export const REPORT_OPTIONS: OptionSpecs = {
  reports: { type: 'string', value: 'LIST', description: 'report.json files of medit eval, comma-separated' },
  shards: { type: 'boolean', description: 'the reports are slices of one run over disjoint cases (default: runs of different methods on the same cases)' },
  out: { type: 'string', value: 'PATH', description: 'report path without extension, or a directory (default: ./report)' },
};

function readReport(file: string): EvalReport {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new IOError(`${file}: cannot read an evaluation report (${(err as Error).message})`);
  }
  return validateEvalReport(raw);
}

export async function runReport(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const files = args.required('reports').split(',').map((f) => f.trim()).filter((f) => f.length > 0);
  if (files.length < 2) throw new UsageError('--reports needs at least two report files, comma-separated', 'report');
  const reports = files.map((f) => readReport(requireFile(resolvePath(io, f), 'report file')));
  const report = args.flag('shards') ? concatEvalReports(reports) : mergeEvalReports(reports);
  const outArg = args.string('out') ?? 'report';
  const paths = reportPaths(outArg, resolvePath(io, outArg));
  writeAtomic(paths.json, JSON.stringify(report, null, 2) + '\n');
  writeAtomic(paths.html, renderHtmlReport(report));
  for (const l of summaryTable(report)) out.line(l);
  out.line(`wrote ${shortPath(io, paths.json)} and ${shortPath(io, paths.html)}`);
  out.result({ reports: files, shards: args.flag('shards'), report: paths.json, html: paths.html });
  return 0;
}
