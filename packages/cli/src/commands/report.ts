/**
 * `medit report`: one evaluation report from several `medit eval` reports — runs of different
 * methods on the same cases (one column per method), or, with `--shards`, slices of one run
 * (`--offset`/`--limit`) evaluated in parallel processes, joined as if run at once. `--markdown`
 * also writes the summary as a Markdown table (methods × reliability, generalisation, locality,
 * portability, ms per edit) for docs.
 */
import * as fs from 'node:fs';

import { IOError, writeFileAtomic } from '@medit/core';
import { type EvalReport, concatEvalReports, mergeEvalReports, renderHtmlReport, validateEvalReport } from '@medit/metrics';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, requireFile, resolvePath, shortPath } from '../common';
import { markdownSummary } from '../markdown';
import { reportPaths, summaryTable } from './eval';

export const REPORT_OPTIONS: OptionSpecs = {
  reports: { type: 'string', value: 'LIST', description: 'report.json files of medit eval, comma-separated' },
  shards: { type: 'boolean', description: 'the reports are slices of one run over disjoint cases (default: runs of different methods on the same cases)' },
  out: { type: 'string', value: 'PATH', description: 'report path without extension, or a directory (default: ./report)' },
  markdown: { type: 'string', value: 'FILE', description: 'also write the summary as a Markdown table (methods × reliability, generalisation, locality, portability, ms per edit)' },
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

/** The case ids a report covers (its first method's rows), or undefined without rows. */
const caseIds = (r: EvalReport) => r.methods[0]?.rows?.map((row) => String(row.id));

/**
 * Methods side by side only make sense on the same cases.
 * @throws UsageError naming the first report whose cases differ from the first one's
 */
function checkSameCases(files: string[], reports: EvalReport[]): void {
  const ids0 = caseIds(reports[0]);
  reports.forEach((r, i) => {
    const ids = caseIds(r);
    const differ = r.dataset.cases !== reports[0].dataset.cases || (ids0 && ids && ids.join('\n') !== ids0.join('\n'));
    if (differ) {
      throw new UsageError(
        `${files[i]} covers ${r.dataset.cases} cases${ids ? ` (${ids[0]} … ${ids[ids.length - 1]})` : ''} but ${files[0]} ${reports[0].dataset.cases}${ids0 ? ` (${ids0[0]} … ${ids0[ids0.length - 1]})` : ''}: ` +
          'methods are compared on the same cases (run medit eval with the same --offset/--limit; slices of one run are joined with --shards)',
        'report',
      );
    }
  });
}

export async function runReport(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const files = args.required('reports').split(',').map((f) => f.trim()).filter((f) => f.length > 0);
  if (files.length < 2) throw new UsageError('--reports needs at least two report files, comma-separated', 'report');
  const reports = files.map((f) => readReport(requireFile(resolvePath(io, f), 'report file')));
  if (!args.flag('shards')) checkSameCases(files, reports);
  const report = args.flag('shards') ? concatEvalReports(reports) : mergeEvalReports(reports);
  const outArg = args.string('out') ?? 'report';
  const paths = reportPaths(outArg, resolvePath(io, outArg));
  writeFileAtomic(paths.json, JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(paths.html, renderHtmlReport(report));
  const markdownArg = args.string('markdown');
  const markdown = markdownArg ? resolvePath(io, markdownArg) : null;
  if (markdown) writeFileAtomic(markdown, markdownSummary(report));
  for (const l of summaryTable(report)) out.line(l);
  out.line(`wrote ${shortPath(io, paths.json)}${markdown ? `, ${shortPath(io, markdown)}` : ''} and ${shortPath(io, paths.html)}`);
  out.result({ reports: files, shards: args.flag('shards'), report: paths.json, html: paths.html, markdown });
  return 0;
}
