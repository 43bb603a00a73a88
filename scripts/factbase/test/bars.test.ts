/**
 * The bar runner end to end on a tiny model trained for a few seconds on the small fact-base
 * build: every step writes its output (valid reports with ES / PS / NS, locality and
 * portability; one sequential plot with both methods; the cost runs; recall; the summary), a
 * second run skips every finished step, a removed output is remade alone, and the IKE step
 * names its missing encoder. The bars themselves are not met by a model this small;
 * the full runs go to bench/reports. The cost step loads the memit benchmark section, which uses
 * the built packages (`npx tsc -b` first, as the CLI tests need).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type EvalReport, validateEvalReport } from '@medit/metrics';

import { BARS, type BarsOptions, barSteps, defaultBarsOptions, runBars } from '../bars';
import { makeTinyFactbase } from './tiny';

const ROOT = path.join(__dirname, '../../..');
let tmp: string;
let opts: BarsOptions;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-bars-'));
  const tiny = await makeTinyFactbase(tmp);
  const mass = { layers: [0], clamp_norm_factor: 8, v_lr: 2, v_num_grad_steps: 20, mom2_update_weight: 1, mom2_n_samples: 200, context_template_length_params: [[5, 5]] };
  for (const [m, hp] of Object.entries({ memit: mass, emmet: mass, alphaedit: { ...mass, nullspace_threshold: 0.2, L2: 1 } })) fs.writeFileSync(path.join(tmp, 'hparams', `fact-base-${m}.json`), JSON.stringify(hp));
  opts = {
    ...defaultBarsOptions(ROOT, 'eval'),
    model: tiny.model, factbase: tiny.factbase, edits: tiny.edits, out: path.join(tmp, 'reports'), work: path.join(tmp, 'work'), hparamsDir: path.join(tmp, 'hparams'),
    // fact-base's own encoder exists once its SERAC is trained; any BERT retrieves here
    ikeEncoder: 'test-fixtures/serac/fact-small/scope-embedding',
    n: 4, seqBatch: 2, curveEvery: 1, ikeK: 2, costSizes: [2, 4], statsDocs: 200, recall: { chainSubjects: 3, inContextFacts: 4 },
    log: () => undefined,
  };
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('every step writes its output; a second run skips them all; a removed output is remade alone', async () => {
  const first = await runBars(opts);
  expect(first.ran).toEqual(barSteps(opts).map((s) => s.name));
  const out = (f: string) => path.join(opts.out, f);

  const memit = validateEvalReport(JSON.parse(fs.readFileSync(out('memit-batch4.json'), 'utf8')));
  expect(memit.methods.map((m) => m.name)).toEqual(['unedited', 'MEMIT']);
  expect(memit.dataset.cases).toBe(4);
  for (const k of ['efficacyScore', 'paraphraseScore', 'neighborhoodScore', 'locality', 'portability']) expect(memit.methods[1].aggregates[k].n).toBeGreaterThan(0);
  // The edits move the model towards the new objects: P(new) − P(true) grows (−0.059 → −0.043 on
  // this 2-layer model; the bars need the trained fact-base model).
  expect(memit.methods[1].aggregates.efficacyMagnitude.mean!).toBeGreaterThan(memit.methods[0].aggregates.efficacyMagnitude.mean! + 0.005);
  const emmet = validateEvalReport(JSON.parse(fs.readFileSync(out('emmet-batch4.json'), 'utf8')));
  expect(emmet.methods[1].name).toBe('EMMET');
  expect(validateEvalReport(JSON.parse(fs.readFileSync(out('ike-k2.json'), 'utf8'))).methods[1].name).toBe('IKE');

  const plot = validateEvalReport(JSON.parse(fs.readFileSync(out('memit-alphaedit-seq2x2.json'), 'utf8')));
  expect(plot.methods.map((m) => m.name)).toEqual(expect.arrayContaining(['AlphaEdit', 'MEMIT']));
  for (const name of ['AlphaEdit', 'MEMIT']) expect(plot.methods.find((m) => m.name === name)!.sequentialCurve!.map((p) => p.step)).toEqual([2, 4]); // edits so far, after each batch of 2
  expect(fs.readFileSync(out('memit-alphaedit-seq2x2.html'), 'utf8')).toContain('AlphaEdit');

  const cost = JSON.parse(fs.readFileSync(out('memit-cost-vs-n.json'), 'utf8'));
  expect(cost.runs.map((r: { edits: number }) => r.edits)).toEqual([2, 4]);
  for (const r of cost.runs) {
    expect(r.stageSeconds.z).toBeGreaterThan(0);
    expect(r.stageSeconds.solve).toBeGreaterThanOrEqual(0);
    expect(r.peakNativeMiB).toBeGreaterThan(0);
  }
  // through the z cache the 4-edit batch reads the 2-edit batch's z's and adds what they took
  expect(cost.runs.map((r: { zCache: object }) => r.zCache)).toEqual([
    { dir: path.join(opts.work, 'z-cache'), hits: 0, misses: 2, untimedHits: 0 },
    { dir: path.join(opts.work, 'z-cache'), hits: 2, misses: 2, untimedHits: 0 },
  ]);
  expect(cost.runs[0].zComputeSecondsAllRuns).toBe(cost.runs[0].stageSeconds.z);
  expect(cost.runs[1].zComputeSecondsAllRuns).toBeGreaterThan(cost.runs[1].stageSeconds.z);

  const recall = JSON.parse(fs.readFileSync(out('recall.json'), 'utf8'));
  for (const r of [recall.train, recall.heldout, recall.inContext.copy, recall.inContext.update]) {
    expect(r.probes).toBeGreaterThan(0);
    expect(r.firstToken).toBeGreaterThanOrEqual(0);
    expect(r.firstToken).toBeLessThanOrEqual(1);
  }
  const bars = JSON.parse(fs.readFileSync(out('bars.json'), 'utf8')) as { bar: string; value: number | null; met: boolean | null }[];
  expect(bars.map((b) => b.bar)).toEqual(BARS.map((b) => b.bar));
  // Every bar has its value, but the 4 edits' neighbourhood prompts name none of the other edited
  // subjects: that side of the locality split is defined for no case, and the summary shows the
  // report's null.
  const batchReports: Record<string, EvalReport> = { 'memit-batch': memit, 'emmet-batch': emmet };
  for (const [i, b] of BARS.entries()) {
    if (b.metric === 'locality/neighborhood-subject-edited') {
      expect(batchReports[b.step].methods[1].aggregates[b.metric]).toMatchObject({ mean: null, n: 0 });
      expect(bars[i].value).toBeNull();
    } else expect([b.bar, bars[i].value]).toEqual([b.bar, expect.any(Number)]);
  }
  expect(fs.readFileSync(out('bars.md'), 'utf8')).toContain('| MEMIT batch: Efficacy |');

  const mtime = fs.statSync(out('memit-batch4.json')).mtimeMs;
  const second = await runBars(opts);
  expect(second.ran).toEqual(['summary']);
  expect(fs.statSync(out('memit-batch4.json')).mtimeMs).toBe(mtime);

  fs.rmSync(out('emmet-batch4.json'));
  const third = await runBars(opts);
  expect(third.ran).toEqual(['emmet-batch', 'summary']);
  await expect(runBars({ ...opts, only: ['nonsense'] })).rejects.toThrow('unknown step "nonsense"');
}, 300_000);

test('the IKE step names the missing retrieval encoder (fact-base\'s own, until its SERAC is trained)', async () => {
  expect(defaultBarsOptions(ROOT).ikeEncoder).toBe('test-fixtures/serac/fact-base/scope-embedding');
  const missing = { ...opts, ikeEncoder: path.join(tmp, 'no-encoder'), out: path.join(tmp, 'reports-ike'), only: ['ike'] };
  await expect(runBars(missing)).rejects.toThrow(`IKE's retrieval encoder ${missing.ikeEncoder} does not exist: train fact-base's SERAC first (packages/serac/scripts/train-fact-base.sh`);
});
