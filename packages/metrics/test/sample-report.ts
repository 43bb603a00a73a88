/** Builds a small but complete EvalReport for the report tests (two methods, rows, curve, timing). */
import {
  buildMethodReport,
  CaseRow,
  counterFactCaseMetrics,
  createEvalReport,
  EvalReport,
  sequentialCurve,
  SequentialEditRun,
  summarizeEfficiency,
} from '@medit/metrics';

function rows(seed: number, n: number): CaseRow[] {
  const out: CaseRow[] = [];
  for (let i = 0; i < n; i++) {
    // Deterministic spread of NLLs so rows differ across cases and methods.
    const a = ((i * 7 + seed * 3) % 11) / 4;
    const b = ((i * 5 + seed) % 13) / 4;
    const m = counterFactCaseMetrics({
      rewrite: [{ nllNew: a, nllTrue: b }],
      paraphrase: [
        { nllNew: a + 0.3, nllTrue: b },
        { nllNew: b, nllTrue: a + 0.1 },
      ],
      neighborhood: [{ nllNew: b + 0.5, nllTrue: a }],
    });
    out.push({ id: String(i), metrics: { ...m } as Record<string, number | null> });
  }
  return out;
}

function run(seed: number): SequentialEditRun {
  const steps = Array.from({ length: 12 }, (_, t) => ({
    editCorrect: (t + seed) % 5 !== 0,
    rephraseCorrect: [(t + seed) % 3 !== 0, t % 2 === 0],
    pastEditsCorrect: Array.from({ length: t + 1 }, (_, k) => (k + seed) % 4 !== 0),
  }));
  return { steps, finalEditsCorrect: steps.map((_, k) => (k + seed) % 4 !== 0) };
}

export function sampleReport(names: [string, string] = ['ROME', 'FT-L']): EvalReport {
  const methods = names.map((name, i) =>
    buildMethodReport({
      name,
      hparams: { layer: 5 + i, lr: 0.5 / (i + 1) },
      rows: rows(i, 30),
      sequentialCurve: sequentialCurve(run(i), 2),
      efficiency: summarizeEfficiency([
        { edits: 1, wallMs: 120 + i * 40, peakNativeBytes: 5e6 },
        { edits: 1, wallMs: 130 + i * 40, peakNativeBytes: 6e6 },
        { edits: 2, wallMs: 250 + i * 60 },
      ]),
    }),
  );
  return createEvalReport({
    model: { name: 'tiny-gpt2', layers: 4 },
    dataset: { name: 'counterfact_sample', format: 'counterfact', size: 30 },
    methods,
    createdAt: '2026-11-25T12:00:00.000Z',
  });
}
