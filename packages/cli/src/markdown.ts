/**
 * An evaluation report's summary as a Markdown table for docs: one row per method with the four
 * headline properties of knowledge editing (reliability, generalisation, locality, portability;
 * the seed survey's comparison) and the time per edit.
 */
import type { EvalReport, MethodReport } from '@medit/metrics';

/** A table column: the first metric key, in order, that some method of the report has. */
interface Column {
  title: string;
  keys: readonly string[];
}

/**
 * The columns: CounterFact's scores when the report has them, else zsRE's, else EasyEdit's
 * token accuracies (`medit eval --suites` decides which a report holds).
 */
export const SUMMARY_COLUMNS: readonly Column[] = [
  { title: 'reliability', keys: ['efficacyScore', 'efficacy', 'rewriteAcc'] },
  { title: 'generalisation', keys: ['paraphraseScore', 'paraphrase', 'rephraseAcc'] },
  { title: 'locality', keys: ['neighborhoodScore', 'specificity', 'locality'] },
  { title: 'portability', keys: ['portability'] },
];

const cell = (m: MethodReport, key: string | undefined): string => {
  const a = key ? m.aggregates[key] : undefined;
  if (!a || a.mean === null) return '–';
  return a.ci95 ? `${a.mean.toFixed(3)} ± ${((a.ci95[1] - a.ci95[0]) / 2).toFixed(3)}` : a.mean.toFixed(3);
};

/** How a method was run: "single", "batch of 10", "sequential, 200 × 1". */
function protocol(m: MethodReport, cases: number): string {
  const p = m.hparams.protocol as { mode?: string; batchSize?: number } | undefined;
  if (!p?.mode || p.mode === 'single') return 'single';
  if (p.mode === 'batch') return `batch of ${p.batchSize ?? 1}`;
  return `sequential, ${Math.ceil(cases / (p.batchSize ?? 1))} × ${p.batchSize ?? 1}`;
}

const msPerEdit = (m: MethodReport): string => {
  const t = m.efficiency?.msPerEdit.mean;
  if (typeof t !== 'number') return '–';
  return t >= 100 ? Math.round(t).toLocaleString('en-US') : t.toFixed(1);
};

/**
 * The Markdown summary of `report`: a heading line naming model, dataset and cases, the table
 * (mean ± half-width of the 95 % interval; ms per edit from the report's efficiency), and a
 * legend naming the metric behind each column.
 */
export function markdownSummary(report: EvalReport): string {
  const cases = typeof report.dataset.cases === 'number' ? report.dataset.cases : (report.methods[0]?.rows?.length ?? 0);
  const keys = SUMMARY_COLUMNS.map((c) => c.keys.find((k) => report.methods.some((m) => m.aggregates[k] !== undefined)));
  const lines = [
    `${report.model.name} on ${report.dataset.name} (${cases} cases)`,
    '',
    `| method | ${SUMMARY_COLUMNS.map((c) => c.title).join(' | ')} | ms per edit | protocol |`,
    `|---|${SUMMARY_COLUMNS.map(() => '---:').join('|')}|---:|---|`,
    ...report.methods.map((m) => `| ${m.name} | ${keys.map((k) => cell(m, k)).join(' | ')} | ${msPerEdit(m)} | ${m.efficiency ? protocol(m, cases) : ''} |`),
    '',
    `Columns: ${SUMMARY_COLUMNS.map((c, i) => `${c.title} = \`${keys[i] ?? c.keys.join('/')}\``).join(', ')}; mean ± half-width of the 95 % interval; ms per edit = the editor's time per edit (metric passes excluded).`,
  ];
  return lines.join('\n') + '\n';
}
