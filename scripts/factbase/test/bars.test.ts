/**
 * The bar runner end to end on a tiny model trained for a few seconds on the small fact-base
 * build: every step writes its output (valid reports with ES / PS / NS, locality and
 * portability; one sequential plot with both methods; the cost runs; recall; the summary), a
 * second run skips every finished step, a removed output is remade alone, and the covariance
 * text names train-split subjects only. The bars themselves are not met by a model this small;
 * the full runs go to bench/reports. The cost step loads the memit benchmark section, which uses
 * the built packages (`npx tsc -b` first, as the CLI tests need).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Tokenizer, createModel, saveModel } from '@medit/core';
import { validateEvalReport } from '@medit/metrics';

import { writeFiles } from '../../factworld/generate';
import { trainLanguageModel } from '../../training/trainer';
import { BARS, type BarsOptions, barSteps, defaultBarsOptions, runBars, statsCorpus } from '../bars';
import { SMALL_BUILD, buildFactBase } from '../build';
import { epochDocuments } from '../corpus';
import { SPLITS, buildEditSets } from '../edit-sets';
import { ALL_ANSWERED, FactIndex, type World } from '../world';

const ROOT = path.join(__dirname, '../../..');
let tmp: string;
let world: World;
let opts: BarsOptions;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-bars-'));
  const fb = path.join(tmp, 'factbase');
  const files = buildFactBase(SMALL_BUILD);
  writeFiles(fb, files);
  world = JSON.parse(files.get('world.json')!) as World;
  const sets = buildEditSets(world, { answers: ALL_ANSWERED });
  writeFiles(path.join(tmp, 'edits'), new Map(SPLITS.map((s) => [`counterfact-${s}.json`, JSON.stringify(sets.counterfact[s], null, 4)])));

  // A tiny GPT-2, one short pass over epoch 0's facts and passages.
  const tokenizer = Tokenizer.fromFile(path.join(fb, 'tokenizer/tokenizer.json'));
  const eos = tokenizer.eosTokenId!;
  const model = createModel({ model_type: 'gpt2', vocab_size: tokenizer.vocabSize, n_embd: 32, n_layer: 2, n_head: 2, n_inner: 128, n_positions: 384, bos_token_id: eos, eos_token_id: eos, tie_word_embeddings: true }, { seed: 1, tokenizer });
  const filler = files.get('filler.txt')!.split('\n').filter((l) => l.length > 0);
  // Epoch 0's fact lines only (no passages: short rows train fastest), twice.
  const docs = epochDocuments(world, filler, SMALL_BUILD.corpus, 0).filter((d) => !d.startsWith('New Fact:')).map((d) => tokenizer.encode(d));
  await trainLanguageModel({ model, row: 64, eos, seed: 1, phases: [{ name: 'tiny', epochs: 2, documents: () => docs }], schedule: { batchSize: 16, lr: 1e-2, warmupSteps: 10, weightDecay: 0, totalSteps: 260 } });
  await saveModel(model, path.join(tmp, 'model'), { sideFilesFrom: path.join(fb, 'tokenizer') });
  model.dispose();

  const mass = { layers: [0], clamp_norm_factor: 8, v_lr: 2, v_num_grad_steps: 20, mom2_update_weight: 1, mom2_n_samples: 200, context_template_length_params: [[5, 1]] };
  fs.mkdirSync(path.join(tmp, 'hparams'));
  for (const [m, hp] of Object.entries({ memit: mass, emmet: mass, alphaedit: { ...mass, nullspace_threshold: 0.2, L2: 1 } })) fs.writeFileSync(path.join(tmp, 'hparams', `fact-base-${m}.json`), JSON.stringify(hp));
  opts = {
    ...defaultBarsOptions(ROOT, 'eval'),
    model: path.join(tmp, 'model'), factbase: fb, edits: path.join(tmp, 'edits'), out: path.join(tmp, 'reports'), work: path.join(tmp, 'work'), hparamsDir: path.join(tmp, 'hparams'),
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
  expect(validateEvalReport(JSON.parse(fs.readFileSync(out('emmet-batch4.json'), 'utf8'))).methods[1].name).toBe('EMMET');
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

  const recall = JSON.parse(fs.readFileSync(out('recall.json'), 'utf8'));
  for (const r of [recall.train, recall.heldout, recall.inContext.copy, recall.inContext.update]) {
    expect(r.probes).toBeGreaterThan(0);
    expect(r.firstToken).toBeGreaterThanOrEqual(0);
    expect(r.firstToken).toBeLessThanOrEqual(1);
  }
  const bars = JSON.parse(fs.readFileSync(out('bars.json'), 'utf8')) as { bar: string; value: number | null; met: boolean | null }[];
  expect(bars.map((b) => b.bar)).toEqual(BARS.map((b) => b.bar));
  expect(bars.every((b) => typeof b.value === 'number')).toBe(true);
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

test('the covariance text names train-split subjects only', () => {
  const index = new FactIndex(world);
  const owner = new Map<string, number>();
  for (const e of world.entities.slice(0, world.subjectCount)) owner.set(e.name.split(' ')[0], e.id);
  const filler = fs.readFileSync(path.join(opts.factbase, 'filler.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
  const docs = statsCorpus(world, filler).trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
  expect(docs.length).toBeGreaterThan(filler.length);
  const splits = new Set(docs.flatMap((t) => t.match(/[A-Za-z]+/g) ?? []).filter((w) => owner.has(w)).map((w) => index.split(owner.get(w)!)));
  expect([...splits]).toEqual(['train']);
});
