/**
 * fact-base's tuning command end to end on the tiny fact-base, 2-point grids: a single-edit
 * method (ROME, over two layers: one covariance per layer), MEMIT on one batch of the validation
 * records and AlphaEdit in sequential batches (the bars' protocols), each file rewritten with
 * the best point and a `tuned` block on the validation file; a rerun skips every method; a
 * changed validation file is tuned again, in a fresh state directory. The command lines of the
 * real plan: every method on fact-base's files, at the protocol the header describes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { WORLDS } from '../../compare/worlds';
import { TUNED_METHODS, type TuneOptions, defaultTuneOptions, isTuned, runTuning, tuneArgv } from '../tune';
import { makeTinyFactbase } from './tiny';

const ROOT = path.join(__dirname, '../../..');
let tmp: string;
let opts: TuneOptions;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-tune-'));
  const tiny = await makeTinyFactbase(tmp);
  const work = path.join(tmp, 'work');
  const world = {
    ...WORLDS['fact-base'],
    model: tiny.model, edits: tiny.edits, hparams: path.join(tmp, 'hparams/fact-base-'), derivedFrom: tiny.factbase,
    statsCorpus: path.join(work, 'stats.jsonl'), statsCache: path.join(work, 'cache'), klTexts: path.join(work, 'kl.txt'), snippets: path.join(work, 'snippets.json'),
  };
  const grids = path.join(tmp, 'grids/fact-base-');
  fs.mkdirSync(path.dirname(grids));
  const mass = { layers: [0], v_num_grad_steps: 4, mom2_n_samples: 200, context_template_length_params: [[5, 5]] };
  const files: Record<string, [object, object]> = {
    rome: [{ layers: [1], v_num_grad_steps: 4, mom2_n_samples: 200, tuned: { split: 'untuned' } }, { _why: 'two layers', layers: [[0], [1]] }],
    memit: [{ ...mass, mom2_update_weight: 10, tuned: { split: 'untuned' } }, { mom2_update_weight: [1, 10] }],
    alphaedit: [{ ...mass, nullspace_threshold: 0.2, L2: 1 }, { L2: [1, 10] }],
  };
  for (const [key, [hp, grid]] of Object.entries(files)) {
    fs.writeFileSync(`${world.hparams}${key}.json`, JSON.stringify(hp));
    fs.writeFileSync(`${grids}${key}.json`, JSON.stringify(grid));
  }
  opts = { ...defaultTuneOptions(ROOT), world, grids, state: path.join(tmp, 'state'), methods: ['rome', 'memit', 'alphaedit'], single: 3, massN: 4, seqBatch: 2, log: () => undefined };
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read = (key: string) => JSON.parse(fs.readFileSync(`${opts.world.hparams}${key}.json`, 'utf8'));

test('each method is tuned on validation at its protocol; a rerun skips them; a changed validation file is tuned again', async () => {
  const validation = path.join(opts.world.edits, 'counterfact-validation.json');
  const sha = () => createHash('sha256').update(fs.readFileSync(validation)).digest('hex');
  const first = await runTuning(opts);
  expect(first).toEqual({ tuned: ['rome', 'memit', 'alphaedit'], skipped: [] });
  expect(fs.existsSync(opts.world.statsCorpus)).toBe(true);

  const rome = read('rome');
  expect(rome.tuned).toMatchObject({ split: 'validation', method: 'rome', sha256: sha(), protocol: { mode: 'single' }, metric: 'score', grid: { layers: [[0], [1]] } });
  expect(rome.tuned.caseIds).toHaveLength(3);
  expect(rome.tuned.results.map((r: { point: unknown }) => r.point)).toEqual([{ layers: [0] }, { layers: [1] }]);
  expect(rome.layers).toEqual(rome.tuned.chosen.layers);
  expect(rome.v_num_grad_steps).toBe(4);
  const memit = read('memit');
  expect(memit.tuned).toMatchObject({ split: 'validation', method: 'memit', protocol: { mode: 'batch', batchSize: 4 } });
  expect(memit.tuned.caseIds).toHaveLength(4);
  const alpha = read('alphaedit');
  expect(alpha.tuned).toMatchObject({ split: 'validation', method: 'alphaedit', protocol: { mode: 'sequential', batchSize: 2, evalAfter: 'all' } });
  for (const t of [rome.tuned, memit.tuned, alpha.tuned]) for (const r of t.results) expect(typeof r.value).toBe('number');

  const mtime = fs.statSync(`${opts.world.hparams}memit.json`).mtimeMs;
  expect(await runTuning(opts)).toEqual({ tuned: [], skipped: ['rome', 'memit', 'alphaedit'] });
  expect(fs.statSync(`${opts.world.hparams}memit.json`).mtimeMs).toBe(mtime);

  // rebuilt edit sets (other bytes): tuned again, from points measured on the new file
  fs.appendFileSync(validation, '\n');
  const again = await runTuning({ ...opts, methods: ['memit'] });
  expect(again.tuned).toEqual(['memit']);
  expect(read('memit').tuned.sha256).toBe(sha());
  expect(fs.readdirSync(opts.state).filter((d) => d.startsWith('memit-'))).toHaveLength(2);
}, 300_000);

test('missing inputs are named', async () => {
  await expect(runTuning({ ...opts, methods: ['kn'] })).rejects.toThrow(/kn: .*fact-base-kn\.json does not exist/);
  await expect(runTuning({ ...opts, methods: ['nonsense'] })).rejects.toThrow('unknown method "nonsense" to tune');
  await expect(runTuning({ ...opts, world: { ...opts.world, edits: path.join(tmp, 'none') } })).rejects.toThrow(/counterfact-validation\.json does not exist: build fact-base's edit sets first/);
});

test('the real plan: fact-base files, 32 single edits, the mass editors at the bars\' protocols', () => {
  const o = defaultTuneOptions(ROOT);
  const line = (m: string) => tuneArgv(o, m, 'abcdef0123456789', 399).join(' ');
  for (const m of TUNED_METHODS) {
    const argv = tuneArgv(o, m, 'abcdef0123456789', 399);
    for (const f of argv.filter((a) => a.includes('/'))) expect([m, f]).toEqual([m, expect.stringMatching(/fact-?base/)]);
    const key = m === 'ft+kl' ? 'ft-kl' : m;
    expect(line(m)).toContain(`--grid bench/grids/fact-base-${key}.json --hparams bench/hparams/fact-base-${key}.json --out bench/hparams/fact-base-${key}.json --state bench/tune-state/fact-base/${key}-abcdef012345`);
    expect(line(m)).toContain('--dataset test-fixtures/factbase/edits/counterfact-validation.json');
    expect(fs.existsSync(path.join(ROOT, `bench/grids/fact-base-${key}.json`))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, `bench/hparams/fact-base-${key}.json`))).toBe(true);
  }
  for (const m of ['ft-m', 'ft+kl', 'rome', 'ft-l', 'kn', 'tpatcher']) expect(line(m)).toContain('--limit 32 ');
  expect(line('rome')).toContain('--stats-corpus reports/fact-base/stats-corpus.jsonl --stats-cache reports/fact-base/stats-cache');
  expect(line('ft+kl')).toMatch(/--memory reports\/fact-base\/kl-texts\.txt$/);
  expect(line('tpatcher')).toMatch(/--mode sequential --memory test-fixtures\/factbase\/edits\/counterfact-train\.json$/);
  expect(line('memit')).toContain('--limit 1000 --suites counterfact');
  // 399 validation records: the batch filled up to 1,000 with 601 train-split load edits; the stream's 50 calls hold 8 of them each
  const load = '--load test-fixtures/factbase/edits/counterfact-train.json --load-limit 601';
  expect(line('memit')).toContain(`--mode batch --batch-size 1000 ${load} --stats-corpus`);
  expect(line('emmet')).toContain(`--mode batch --batch-size 1000 ${load} --stats-corpus`);
  expect(line('alphaedit')).toContain('--limit 1000 ');
  expect(line('alphaedit')).toContain(`--mode sequential --batch-size 8 ${load} --eval-after all --stats-corpus`);
  for (const m of ['rome', 'tpatcher', 'ft-m']) expect(line(m)).not.toContain('--load');
  // a split as large as the bars' batch needs no load
  expect(tuneArgv(o, 'memit', 'abcdef0123456789', 1200).join(' ')).toContain('--mode batch --batch-size 1000 --stats-corpus');
  expect(tuneArgv(o, 'alphaedit', 'abcdef0123456789', 1200).join(' ')).toContain('--mode sequential --batch-size 20 --eval-after all');
});

test('mass editors on a validation split smaller than the bars\' batch: tuned with load edits; settings tuned without them are tuned again', async () => {
  const validation = path.join(opts.world.edits, 'counterfact-validation.json');
  const cases = (JSON.parse(fs.readFileSync(validation, 'utf8')) as unknown[]).length;
  const sha = createHash('sha256').update(fs.readFileSync(validation)).digest('hex');
  const o = { ...opts, methods: ['memit'], massN: cases + 3 };
  // the first test left memit tuned without load: the protocol with load tunes it again
  expect(isTuned(`${opts.world.hparams}memit.json`, sha, 'memit', 0)).toBe(true);
  expect(await runTuning(o)).toEqual({ tuned: ['memit'], skipped: [] });
  const memit = read('memit');
  expect(memit.tuned.protocol).toMatchObject({ mode: 'batch', batchSize: cases + 3, load: { cases: 3, limit: 3 } });
  expect(memit.tuned.caseIds).toHaveLength(cases);
  expect(isTuned(`${opts.world.hparams}memit.json`, sha, 'memit', 3)).toBe(true);
  expect(await runTuning(o)).toEqual({ tuned: [], skipped: ['memit'] });
}, 300_000);
