import {
  buildMethodReport,
  createEvalReport,
  EVAL_REPORT_SCHEMA_VERSION,
  isEvalReport,
  isProportionMetric,
  metricDefinition,
  renderHtmlReport,
  ReportValidationError,
  validateEvalReport,
} from '@medit/metrics';
import { sampleReport } from './sample-report';

function issuesOf(v: unknown): string[] {
  try {
    validateEvalReport(v);
  } catch (e) {
    expect(e).toBeInstanceOf(ReportValidationError);
    return (e as ReportValidationError).issues;
  }
  throw new Error('expected validation to fail');
}

describe('EvalReport schema', () => {
  const report = sampleReport();
  it('builds aggregates from rows, with the CounterFact score as the harmonic mean', () => {
    const m = report.methods[0];
    expect(report.schemaVersion).toBe(EVAL_REPORT_SCHEMA_VERSION);
    expect(m.rows).toHaveLength(30);
    const es = m.aggregates.efficacyScore.mean!;
    const ps = m.aggregates.paraphraseScore.mean!;
    const ns = m.aggregates.neighborhoodScore.mean!;
    expect(m.aggregates.score.mean).toBeCloseTo(3 / (1 / es + 1 / ps + 1 / ns), 12);
    expect(m.aggregates.efficacyScore.n).toBe(30);
    expect(m.aggregates.efficacyScore.ci95).not.toBeNull();
  });
  it('survives a JSON round trip', () => {
    const back = JSON.parse(JSON.stringify(report)) as unknown;
    expect(validateEvalReport(back)).toEqual(report);
    expect(isEvalReport(back)).toBe(true);
  });
  it('missing metrics in some rows are left out of n', () => {
    const m = buildMethodReport({
      name: 'x',
      rows: [
        { id: 'a', metrics: { rewriteAcc: 1, locality: null } },
        { id: 'b', metrics: { rewriteAcc: 0.5 } },
      ],
    });
    expect(m.aggregates.rewriteAcc).toMatchObject({ mean: 0.75, n: 2 });
    // a proportion: the Wilson interval of 0.75 over 2 cases, inside [0, 1] (mean ± 1.96·s/√n would reach 1.24)
    expect(m.aggregates.rewriteAcc.ci95![0]).toBeCloseTo(0.19786745576231107, 12);
    expect(m.aggregates.rewriteAcc.ci95![1]).toBeLessThan(1);
    expect(m.aggregates.locality).toEqual({ mean: null, ci95: null, n: 0, std: null });
    expect(m.aggregates.score).toBeUndefined();
  });
  it('rejects NaN, bad versions, bad timestamps, duplicate names and inverted intervals, naming each path', () => {
    const bad = JSON.parse(JSON.stringify(report)) as Record<string, any>;
    bad.schemaVersion = 2;
    bad.createdAt = 'yesterday';
    bad.methods[0].aggregates.efficacyScore.mean = 'high';
    bad.methods[0].aggregates.efficacyScore.ci95 = [0.9, 0.1];
    bad.methods[1].name = bad.methods[0].name;
    bad.methods[1].rows[3].metrics.efficacyScore = 'x';
    const issues = issuesOf(bad);
    expect(issues).toEqual(
      expect.arrayContaining([
        '$.schemaVersion: unsupported 2 (this reader understands 1)',
        '$.createdAt: expected an ISO-8601 timestamp but received "yesterday"',
        '$.methods[0].aggregates.efficacyScore.mean: expected a finite number or null but received "high"',
        '$.methods[0].aggregates.efficacyScore.ci95: low 0.9 exceeds high 0.1',
        '$.methods[1].name: duplicate method name "ROME"',
        '$.methods[1].rows[3].metrics.efficacyScore: expected a finite number or null but received "x"',
      ]),
    );
    expect(issuesOf(null)).toEqual(['$: expected an EvalReport object but received null']);
  });
  it('locality kinds take locality\'s definition; the neighbourhood split by edited subject has its own; all are proportions', () => {
    expect(metricDefinition('locality/neighborhood')).toBe(metricDefinition('locality'));
    const edited = metricDefinition('locality/neighborhood-subject-edited');
    const unedited = metricDefinition('locality/neighborhood-subject-unedited');
    expect(edited).toMatch(/relation specificity/);
    expect(unedited).toEqual(expect.any(String));
    expect(new Set([edited, unedited, metricDefinition('locality')]).size).toBe(3);
    for (const k of ['locality/neighborhood', 'locality/neighborhood-subject-edited', 'locality/neighborhood-subject-unedited']) expect(isProportionMetric(k)).toBe(true);
  });
  it('createEvalReport refuses NaN metrics (they would not survive JSON)', () => {
    expect(() =>
      createEvalReport({
        model: { name: 'm' },
        dataset: { name: 'd' },
        methods: [{ name: 'a', hparams: { lr: NaN }, aggregates: {} }],
        createdAt: '2026-01-01T00:00:00Z',
      }),
    ).toThrow(/\$\.methods\[0\]\.hparams\.lr: expected a finite number but received NaN/);
  });
});

describe('renderHtmlReport (static checks)', () => {
  const report = sampleReport(['ROME', '<script>alert(1)</script>']);
  const html = renderHtmlReport(report);
  it('is self-contained: no external URLs, stylesheets, images or scripts', () => {
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\ssrc\s*=/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });
  it('escapes user strings', () => {
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
  it('draws one bar chart per metric, histograms for magnitudes, one curve per sequential metric', () => {
    const nMetrics = Object.keys(report.methods[0].aggregates).length;
    expect((html.match(/data-plot="bar"/g) ?? []).length).toBe(nMetrics);
    expect((html.match(/data-plot="hist"/g) ?? []).length).toBe(3 * 2); // EM/PM/NM x 2 methods
    expect((html.match(/data-plot="line"/g) ?? []).length).toBe(3); // SR, GR, ER
    expect(html).toContain('<h2>Efficiency</h2>');
  });
  it('renders an empty report without plots', () => {
    const empty = createEvalReport({ model: { name: 'm' }, dataset: { name: 'd' }, methods: [], createdAt: '2026-01-01T00:00:00Z' });
    const h = renderHtmlReport(empty);
    expect(h).toContain('No methods in this report.');
    expect(h).not.toContain('data-plot=');
  });
});
