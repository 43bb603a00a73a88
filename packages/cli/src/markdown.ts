/**
 * An evaluation report's summary as a Markdown table for docs: one row per method with the
 * headline properties of knowledge editing (the seed survey's comparison) in both families'
 * measures — reliability and generalisation as CounterFact scores and EasyEdit token accuracies,
 * locality as the Neighbourhood Score (P(true) > P(new) still holds) and EasyEdit's locality (the
 * unedited model's answer tokens kept) — then portability, the Reference Score, generation entropy
 * and the time per edit.
 */
import type { Aggregate, EvalReport, MethodReport } from '@medit/metrics';

/** A table column: the first metric key, in order, that some method of the report has. */
interface Column {
  title: string;
  keys: readonly string[];
}

/**
 * The columns (CounterFact's scores, or zsRE's where a report holds zsRE's suite). A column no
 * method of the report has is left out and named in the legend.
 */
export const SUMMARY_COLUMNS: readonly Column[] = [
  { title: 'reliability', keys: ['efficacyScore', 'efficacy'] },
  { title: 'rewrite acc', keys: ['rewriteAcc'] },
  { title: 'generalisation', keys: ['paraphraseScore', 'paraphrase'] },
  { title: 'rephrase acc', keys: ['rephraseAcc'] },
  { title: 'NS', keys: ['neighborhoodScore', 'specificity'] },
  { title: 'locality (EasyEdit)', keys: ['locality'] },
  { title: 'portability', keys: ['portability'] },
  { title: 'RS', keys: ['referenceScore'] },
  { title: 'GE', keys: ['generationEntropy', 'fluency'] },
];

/** `mean (low–high)`, or the mean alone without an interval; `–` when undefined. */
export function formatAggregate(a: Aggregate | undefined, digits = 3): string {
  if (!a || a.mean === null) return '–';
  return a.ci95 ? `${a.mean.toFixed(digits)} (${a.ci95[0].toFixed(digits)}–${a.ci95[1].toFixed(digits)})` : a.mean.toFixed(digits);
}

/** How a method was run: "single", "batch of 10", "sequential, 200 × 1", "batch of 399 + 601 load edits". */
function protocol(m: MethodReport, cases: number): string {
  const p = m.hparams.protocol as { mode?: string; batchSize?: number; loadEdits?: number } | undefined;
  if (!p?.mode || p.mode === 'single') return 'single';
  const load = p.loadEdits ? ` + ${p.loadEdits} load edits` : '';
  if (p.mode === 'batch') return `batch of ${p.batchSize ?? 1}${load}`;
  return `sequential, ${Math.ceil(cases / (p.batchSize ?? 1))} × ${p.batchSize ?? 1}${load}`;
}

const msPerEdit = (m: MethodReport): string => {
  const t = m.efficiency?.msPerEdit.mean;
  if (typeof t !== 'number') return '–';
  return t >= 100 ? Math.round(t).toLocaleString('en-US') : t.toFixed(1);
};

/**
 * The Markdown summary of `report`: a heading line naming model, dataset and cases, the table
 * (mean and 95 % interval: Wilson for proportions, normal otherwise; ms per edit from the
 * report's efficiency), and a legend naming the metric behind each column.
 */
export function markdownSummary(report: EvalReport): string {
  const cases = typeof report.dataset.cases === 'number' ? report.dataset.cases : (report.methods[0]?.rows?.length ?? 0);
  const keyed = SUMMARY_COLUMNS.map((c) => ({ ...c, key: c.keys.find((k) => report.methods.some((m) => m.aggregates[k] !== undefined)) }));
  const shown = keyed.filter((c) => c.key !== undefined);
  const missing = keyed.filter((c) => c.key === undefined).map((c) => c.title);
  const lines = [
    `${report.model.name} on ${report.dataset.name} (${cases} cases)`,
    '',
    `| method | ${shown.map((c) => c.title).join(' | ')} | ms per edit | protocol |`,
    `|---|${shown.map(() => '---:').join('|')}|---:|---|`,
    ...report.methods.map((m) => `| ${m.name} | ${shown.map((c) => formatAggregate(m.aggregates[c.key!])).join(' | ')} | ${msPerEdit(m)} | ${m.efficiency ? protocol(m, cases) : ''} |`),
    '',
    `Columns: ${shown.map((c) => `${c.title} = \`${c.key}\``).join(', ')}; mean (95 % interval: Wilson for proportions, normal otherwise); ms per edit = the editor's time per edit (metric passes excluded).` +
      (missing.length > 0 ? ` Not measured in this report: ${missing.join(', ')}.` : ''),
  ];
  return lines.join('\n') + '\n';
}
