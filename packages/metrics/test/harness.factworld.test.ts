/**
 * The harness's unedited baseline on a fact-world model (issue 4, "Must show"): on the fact-world
 * CounterFact eval records, a model that knows its facts prefers the true object on the rewrite
 * prompts (efficacy of the counterfactual target near 0), and with no edit applied locality is
 * exactly 1.
 *
 * Model: `fact-small` when present, else `fact-tiny`. Records: the model's real eval split
 * (`factworld/edits/` for fact-small, `factworld/edits-tiny/` for fact-tiny: built from the facts
 * the trained model answers) when present, else the schema preview
 * `factworld/preview/counterfact-eval.json` (built as if every fact were answered), restricted for
 * fact-tiny to the subjects (and neighbours) it was trained on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, loadModel, memory, modelFingerprint } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { evaluate, UNEDITED } from '@medit/metrics';

const ROOT = path.resolve(__dirname, '../../../test-fixtures');
const MODEL = ['fact-small', 'fact-tiny'].map((m) => path.join(ROOT, 'models', m)).find((d) => fs.existsSync(path.join(d, 'config.json')));
/** The real eval split of the model (built from the facts it answers): `edits/` for fact-small, `edits-tiny/` for fact-tiny. */
const REAL = MODEL && path.join(ROOT, path.basename(MODEL) === 'fact-tiny' ? 'factworld/edits-tiny' : 'factworld/edits', 'counterfact-eval.json');
const DATA = REAL && fs.existsSync(REAL) ? REAL : path.join(ROOT, 'factworld/preview/counterfact-eval.json');
/** Cases evaluated (enough for a mean, few enough for a fast test). */
const MAX_CASES = 24;

/** Preview records with fact-tiny: it is trained on subjects 0–99 only (factworld README). */
function trainedSubjects(modelDir: string): ReadonlySet<string> | null {
  if (path.basename(modelDir) !== 'fact-tiny' || DATA === REAL) return null;
  const world = JSON.parse(fs.readFileSync(path.join(ROOT, 'factworld/world.json'), 'utf8')) as { entities: { id: number; name: string }[] };
  return new Set(world.entities.filter((e) => e.id < 100).map((e) => e.name));
}

const describeIfModel = MODEL ? describe : describe.skip;
if (!MODEL) console.warn('harness.factworld.test: no fact-world model under test-fixtures/models (fact-small or fact-tiny); skipped');

describeIfModel(`unedited baseline on ${MODEL ? path.basename(MODEL) : 'a fact-world model'} (${path.relative(ROOT, DATA)})`, () => {
  let model: CausalLM;
  let cases: EditCase[];
  beforeAll(async () => {
    model = await loadModel(MODEL!);
    const known = trainedSubjects(MODEL!);
    cases = readDataset(DATA).cases.filter((c) => known === null || known.has(c.request.subject)).slice(0, MAX_CASES);
    if (known !== null) {
      // fact-tiny knows nothing about the other subjects: keep only neighbours it was trained on.
      const names = [...known];
      for (const c of cases) c.localityPrompts = c.localityPrompts.filter((p) => names.some((nm) => p.prompt.includes(nm)));
    }
  });
  afterAll(() => model?.dispose());

  test('efficacy of the counterfactual targets is near 0 and locality is exactly 1', async () => {
    expect(cases.length).toBeGreaterThan(0);
    const fp = modelFingerprint(model);
    const before = memory().numTensors;
    const report = await evaluate({ model, cases, mode: 'single' });
    expect(modelFingerprint(model)).toBe(fp);
    expect(memory().numTensors).toBe(before);
    expect(report.methods).toHaveLength(1);
    const base = report.methods[0];
    expect(base.name).toBe(UNEDITED);
    expect(base.rows!.map((r) => r.id)).toEqual(cases.map((c) => c.id));
    const agg = base.aggregates;
    expect(agg.efficacyScore.n).toBe(cases.length);
    // The model answers the true object on the rewrite prompts it was trained on.
    expect(agg.efficacyScore.mean!).toBeLessThanOrEqual(0.1);
    expect(agg.efficacyMagnitude.mean!).toBeLessThan(-0.2);
    // No edit: post-edit argmax == pre-edit argmax on every locality prompt.
    expect(agg.locality.mean).toBe(1);
    for (const r of base.rows!) expect(r.metrics.locality === null || r.metrics.locality === 1).toBe(true);
    // The true object also wins on the neighbours (other subjects with the same true object).
    expect(agg.neighborhoodScore.mean!).toBeGreaterThanOrEqual(0.8);
    // ES, PS, NS present, so the CounterFact Score is reported (low: ES and PS near 0).
    expect(agg.score.mean!).toBeLessThan(0.3);
  });
});
