/**
 * Issue 26's bar measurements on a trained fact-base model, one resumable command:
 *
 *   npx tsc -b && npx tsc -p scripts
 *   node scripts/dist/factbase/bars.js --list                        # the steps, each as its own command line
 *   node scripts/dist/factbase/bars.js --split validation            # the bars on validation edits (bench/reports/fact-base-validation/)
 *   node scripts/dist/factbase/bars.js --split eval                  # the reported runs, once (bench/reports/fact-base-eval/)
 *   node scripts/dist/factbase/bars.js --split eval --only memit-batch,summary
 *
 * A step whose output exists is skipped, so re-running the command continues after the last
 * finished step (a step killed midway starts over; every output is written atomically). Steps:
 *
 * - `stats-corpus`: the covariance text of MEMIT / EMMET / AlphaEdit — facts of train-split
 *   subjects and background entities in training phrasings, train-split chains and the filler
 *   (no validation or eval subject: nothing the editors calibrate with names one;
 *   `derived-inputs.ts`), in `--work` (default `reports/fact-base`, gitignored, shared by both
 *   splits, the tuning and the comparison) beside the statistics cache;
 * - `recall`: every fact in training and held-out phrasings, chains, in-context copy / update /
 *   retain about subjects of `--split` (`recall.ts`);
 * - `memit-batch`, `emmet-batch`: one batch of `--n` CounterFact edits on distinct subjects
 *   (`medit eval --mode batch`; CounterFact ES / PS / NS and EasyEdit locality and portability;
 *   the neighbourhood locality also split by whether the batch edits the neighbour's subject);
 * - `alphaedit-seq`, `memit-seq`: `--n` edits as 50 × 20 sequential batches, the retention curve
 *   every 5 batches; `sequential-plot`: both in one report (`medit report`: one HTML plot);
 * - on a split with fewer than `--n` records (validation: 399), the batch and the stream are
 *   filled up to `--n` edits with train-split load edits, edited and not scored
 *   (`mass-protocol.ts`);
 * - `ike`: IKE with k = 8 demonstrations drawn from the train split's CounterFact records,
 *   retrieved by fact-base's SERAC scope encoder (`packages/serac/scripts/train-fact-base.sh`);
 * - `cost`: MEMIT's cost for one batch of 100 / 1,000 / 10,000 edits (z vs keys vs solve, peak
 *   native memory; the benchmark section `scripts/bench/sections/memit.js` on this model), its
 *   z's through the same z cache, so an interrupted run goes on where it stopped and its z time
 *   adds what the cached z's took when computed (`zComputeSecondsAllRuns`);
 * - `summary`: `bars.json` and `bars.md`, each bar of issue 26 beside its measured value.
 *
 * Portability comes with every method's report (the EasyEdit suite, on the records'
 * `portability` prompts); the unedited model is the first row of each report. Settings are the
 * hyperparameter files `--hparams-dir/fact-base-<method>.json`, chosen on validation edits at
 * these runs' batch sizes by `tune.ts` (this runner tunes nothing); `--split validation` shows
 * the bars on validation edits with them, `--split eval` reports once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadModel, writeFileAtomic } from '@medit/core';

import { WORLDS } from '../compare/worlds';
import { FACTBASE_DERIVED, ensureDerivedInputs } from './derived-inputs';
import { massProtocol } from './mass-protocol';
import { measureFactbaseRecall } from './recall';
import { runMedit } from './run-medit';
import { type SplitName, type World } from './world';

/** What {@link runBars} measures and where. Paths are relative to `root`. */
export interface BarsOptions {
  /** Repository root (relative paths resolve against it). */
  root: string;
  /** The trained model directory. */
  model: string;
  /** The fact-base fixture directory (world.json, relations.json, filler.txt). */
  factbase: string;
  /** The edit sets (`build-edits.js --out`). */
  edits: string;
  /** Split the edits come from: `validation` for tuning, `eval` for the reported runs. */
  split: Exclude<SplitName, 'train'>;
  /** Output directory of the reports. */
  out: string;
  /** Directory of the covariance text and its statistics cache (gitignored: `reports/`; the same text for both splits). */
  work: string;
  /** Hyperparameter files `fact-base-{memit,emmet,alphaedit}.json` live here. */
  hparamsDir: string;
  /** Edits of the batch and sequential runs (default 1,000). */
  n: number;
  /** Edits per sequential batch (default 20). */
  seqBatch: number;
  /** Sequential curve every this many batches (default 5). */
  curveEvery: number;
  /** IKE demonstrations (default 8). */
  ikeK: number;
  /** IKE's retrieval encoder (default fact-base's SERAC embedding encoder, trained by packages/serac/scripts/train-fact-base.sh). */
  ikeEncoder: string;
  /** Batch sizes of the cost measurement (default 100, 1,000, 10,000). */
  costSizes: number[];
  /** Covariance documents (default 20,000). */
  statsDocs: number;
  /** Recall probe sizes (default: chains of 200 subjects per split, 300 in-context edits). */
  recall: { chainSubjects?: number; inContextFacts?: number };
  /** Only these steps (default all). */
  only?: string[];
  /** Progress lines (default: stdout). */
  log?: (line: string) => void;
}

/** Defaults of {@link BarsOptions} for a split. */
export function defaultBarsOptions(root: string, split: BarsOptions['split'] = 'eval'): BarsOptions {
  return {
    root,
    model: 'test-fixtures/models/fact-base',
    factbase: 'test-fixtures/factbase',
    edits: 'test-fixtures/factbase/edits',
    split,
    out: `bench/reports/fact-base-${split}`,
    work: path.dirname(FACTBASE_DERIVED.statsCorpus),
    hparamsDir: 'bench/hparams',
    n: 1000,
    seqBatch: 20,
    curveEvery: 5,
    ikeK: 8,
    ikeEncoder: WORLDS['fact-base'].editors.ikeEncoder,
    costSizes: [100, 1000, 10000],
    statsDocs: 20000,
    recall: {},
  };
}

/** One measurement: its output file and how to make it. */
export interface BarStep {
  name: string;
  /** The file whose existence marks the step done. */
  output: string;
  /** The `medit` command line of the step, when it is one. */
  argv?: string[];
  run(): Promise<void>;
}

/** Issue 26's bars: metric paths into the step outputs and their thresholds. */
export const BARS: ReadonlyArray<{ bar: string; step: string; method?: string; metric: string; atLeast?: number }> = [
  { bar: 'recall, training phrasings', step: 'recall', metric: 'train.firstToken', atLeast: 0.97 },
  { bar: 'recall, held-out phrasings', step: 'recall', metric: 'heldout.firstToken', atLeast: 0.85 },
  { bar: 'in context: copy', step: 'recall', metric: 'inContext.copy.firstToken', atLeast: 0.8 },
  { bar: 'in context: update', step: 'recall', metric: 'inContext.update.firstToken', atLeast: 0.8 },
  { bar: 'in context: retain', step: 'recall', metric: 'inContext.retain.firstToken', atLeast: 0.9 },
  { bar: 'chains, derived (eval subjects)', step: 'recall', metric: 'chains.derived.firstToken' },
  { bar: 'MEMIT batch: Efficacy', step: 'memit-batch', method: 'MEMIT', metric: 'efficacyScore', atLeast: 0.9 },
  { bar: 'MEMIT batch: Paraphrase', step: 'memit-batch', method: 'MEMIT', metric: 'paraphraseScore', atLeast: 0.7 },
  { bar: 'MEMIT batch: Neighbourhood', step: 'memit-batch', method: 'MEMIT', metric: 'neighborhoodScore', atLeast: 0.8 },
  { bar: 'MEMIT batch: EasyEdit locality', step: 'memit-batch', method: 'MEMIT', metric: 'locality', atLeast: 0.8 },
  // EasyEdit neighbourhood locality split by whether the batch also edits the prompt's subject (on another relation)
  { bar: 'MEMIT batch: EasyEdit locality, neighbour subject also edited', step: 'memit-batch', method: 'MEMIT', metric: 'locality/neighborhood-subject-edited' },
  { bar: 'MEMIT batch: EasyEdit locality, neighbour subject not edited', step: 'memit-batch', method: 'MEMIT', metric: 'locality/neighborhood-subject-unedited' },
  { bar: 'MEMIT batch: portability', step: 'memit-batch', method: 'MEMIT', metric: 'portability' },
  { bar: 'unedited: portability', step: 'memit-batch', method: 'unedited', metric: 'portability' },
  { bar: 'EMMET batch: Efficacy', step: 'emmet-batch', method: 'EMMET', metric: 'efficacyScore' },
  { bar: 'EMMET batch: Paraphrase', step: 'emmet-batch', method: 'EMMET', metric: 'paraphraseScore' },
  { bar: 'EMMET batch: Neighbourhood', step: 'emmet-batch', method: 'EMMET', metric: 'neighborhoodScore' },
  { bar: 'EMMET batch: EasyEdit locality, neighbour subject also edited', step: 'emmet-batch', method: 'EMMET', metric: 'locality/neighborhood-subject-edited' },
  { bar: 'EMMET batch: EasyEdit locality, neighbour subject not edited', step: 'emmet-batch', method: 'EMMET', metric: 'locality/neighborhood-subject-unedited' },
  { bar: 'EMMET batch: portability', step: 'emmet-batch', method: 'EMMET', metric: 'portability' },
  { bar: 'AlphaEdit sequential: Efficacy', step: 'alphaedit-seq', method: 'AlphaEdit', metric: 'efficacyScore', atLeast: 0.85 },
  { bar: 'AlphaEdit sequential: Neighbourhood', step: 'alphaedit-seq', method: 'AlphaEdit', metric: 'neighborhoodScore', atLeast: 0.8 },
  { bar: 'AlphaEdit sequential: portability', step: 'alphaedit-seq', method: 'AlphaEdit', metric: 'portability' },
  { bar: 'MEMIT sequential: Efficacy', step: 'memit-seq', method: 'MEMIT', metric: 'efficacyScore' },
  { bar: 'MEMIT sequential: Neighbourhood', step: 'memit-seq', method: 'MEMIT', metric: 'neighborhoodScore' },
  { bar: 'IKE: Efficacy', step: 'ike', method: 'IKE', metric: 'efficacyScore', atLeast: 0.8 },
  { bar: 'IKE: Paraphrase', step: 'ike', method: 'IKE', metric: 'paraphraseScore', atLeast: 0.7 },
  { bar: 'IKE: portability', step: 'ike', method: 'IKE', metric: 'portability' },
];

/** The steps of a run, in order. */
export function barSteps(o: BarsOptions): BarStep[] {
  const at = (p: string) => path.resolve(o.root, p);
  const out = (f: string) => path.join(at(o.out), f);
  const log = o.log ?? ((l: string) => console.log(l));
  const dataset = (kind: string, split: string = o.split) => path.join(at(o.edits), `${kind}-${split}.json`);
  const hparams = (method: string) => path.join(at(o.hparamsDir), `fact-base-${method}.json`);
  const corpus = path.join(at(o.work), 'stats-corpus.jsonl');
  const cli = (argv: string[]) => runMedit(o.root, argv, log);
  const evalStep = (name: string, stem: string, argv: string[]): BarStep => {
    const full = ['eval', '--model', at(o.model), '--dataset', dataset('counterfact'), '--limit', String(o.n), '--suites', 'counterfact,easyedit', ...argv, '--out', out(stem)];
    return { name, output: out(`${stem}.json`), argv: full, run: () => cli(full) };
  };
  const mass = (method: string) => ['--method', method, '--hparams', hparams(method), '--stats-corpus', corpus, '--stats-cache', path.join(at(o.work), 'stats-cache'), '--z-cache', path.join(at(o.work), 'z-cache')];
  // on a split with fewer than n records (validation), train-split load edits fill the batch and the stream up to n
  const cases = fs.existsSync(dataset('counterfact')) ? (JSON.parse(fs.readFileSync(dataset('counterfact'), 'utf8')) as unknown[]).length : o.n;
  const protocol = massProtocol({ n: o.n, seqBatch: o.seqBatch, cases, loadFile: dataset('counterfact', 'train') });
  const seq = [...protocol.sequential, '--eval-after', 'all', '--curve-every', String(o.curveEvery)];
  const seqName = `seq${Math.ceil(o.n / o.seqBatch)}x${o.seqBatch}`;
  const plot = ['report', '--reports', `${out(`alphaedit-${seqName}.json`)},${out(`memit-${seqName}.json`)}`, '--out', out(`memit-alphaedit-${seqName}`)];

  return [
    {
      name: 'stats-corpus',
      output: corpus,
      run: async () => {
        ensureDerivedInputs(o.root, o.factbase, { statsCorpus: corpus });
      },
    },
    {
      name: 'recall',
      output: out('recall.json'),
      run: async () => {
        const world = JSON.parse(fs.readFileSync(path.join(at(o.factbase), 'world.json'), 'utf8')) as World;
        const model = await loadModel(at(o.model));
        try {
          const r = measureFactbaseRecall(model, world, { ...o.recall, split: o.split });
          writeFileAtomic(out('recall.json'), JSON.stringify({ model: o.model, ...r.summary }, null, 1) + '\n');
        } finally {
          model.dispose();
        }
      },
    },
    evalStep('memit-batch', `memit-batch${o.n}`, [...protocol.batch, ...mass('memit')]),
    evalStep('emmet-batch', `emmet-batch${o.n}`, [...protocol.batch, ...mass('emmet')]),
    evalStep('alphaedit-seq', `alphaedit-${seqName}`, [...seq, ...mass('alphaedit')]),
    evalStep('memit-seq', `memit-${seqName}`, [...seq, ...mass('memit')]),
    { name: 'sequential-plot', output: out(`memit-alphaedit-${seqName}.json`), argv: plot, run: () => cli(plot) },
    requireEncoder(evalStep('ike', `ike-k${o.ikeK}`, ['--method', 'ike', '--k', String(o.ikeK), '--pool', dataset('counterfact', 'train'), '--editor', at(o.ikeEncoder)]), o.ikeEncoder, at(o.ikeEncoder)),
    {
      name: 'cost',
      output: out('memit-cost-vs-n.json'),
      run: async () => {
        const { tuned: _provenance, ...fileHp } = JSON.parse(fs.readFileSync(hparams('memit'), 'utf8'));
        const hp = { mom2_n_samples: o.statsDocs, ...fileHp };
        // The benchmark section's measurement (plain JS, outside the compiled scripts).
        const bench = require(path.join(o.root, 'scripts/bench/sections/memit.js')) as { measureCostVsN(a: Record<string, unknown>): Promise<unknown[]> };
        const runs = await bench.measureCostVsN({ repoRoot: o.root, modelDir: at(o.model), worldDir: at(o.factbase), corpusFile: corpus, sizes: o.costSizes, docs: o.statsDocs, hparams: hp, log, zCacheDir: path.join(at(o.work), 'z-cache') });
        writeFileAtomic(out('memit-cost-vs-n.json'), JSON.stringify({ model: o.model, hparams: hp, statisticsDocs: o.statsDocs, runs }, null, 1) + '\n');
      },
    },
    {
      name: 'summary',
      output: out('bars.json'),
      run: async () => {
        const s = summarizeBars(o);
        writeFileAtomic(out('bars.md'), s.markdown);
        writeFileAtomic(out('bars.json'), JSON.stringify(s.rows, null, 1) + '\n');
      },
    },
  ];
}

/**
 * `step`, refusing to run while IKE's retrieval encoder is missing (the default one exists only
 * once fact-base's SERAC has been trained).
 */
function requireEncoder(step: BarStep, encoder: string, resolved: string): BarStep {
  return {
    ...step,
    run: async () => {
      if (!fs.existsSync(resolved)) {
        throw new Error(`IKE's retrieval encoder ${encoder} does not exist: train fact-base's SERAC first (packages/serac/scripts/train-fact-base.sh writes test-fixtures/serac/fact-base/scope-embedding) or pass --ike-encoder DIR`);
      }
      await step.run();
    },
  };
}

/** Each bar's measured value (null where its step has not run) and whether it is met. */
export function summarizeBars(o: BarsOptions): { rows: { bar: string; value: number | null; atLeast: number | null; met: boolean | null; source: string }[]; markdown: string } {
  const steps = new Map(barSteps(o).map((s) => [s.name, s]));
  const read = (file: string) => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined);
  const rows = BARS.map((b) => {
    const file = steps.get(b.step)!.output;
    const doc = read(file);
    let value: number | null = null;
    if (doc && b.method) {
      const m = (doc.methods as { name: string; aggregates: Record<string, { mean: number | null }> }[]).find((x) => x.name === b.method);
      value = m?.aggregates[b.metric]?.mean ?? null;
    } else if (doc) {
      const v = b.metric.split('.').reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], doc);
      value = typeof v === 'number' ? v : null;
    }
    return { bar: b.bar, value, atLeast: b.atLeast ?? null, met: value === null || b.atLeast === undefined ? null : value >= b.atLeast, source: path.relative(o.root, file) };
  });
  const fmt = (x: number | null) => (x === null ? '–' : x.toFixed(3));
  const markdown = [
    `Bars of issue 26 on ${o.model}, ${o.split} split (${o.out}):`,
    '',
    '| bar | measured | bar | met |',
    '|---|---:|---:|---|',
    ...rows.map((r) => `| ${r.bar} | ${fmt(r.value)} | ${r.atLeast === null ? 'reported' : `≥ ${r.atLeast}`} | ${r.met === null ? '' : r.met ? 'yes' : 'no'} |`),
    '',
  ].join('\n');
  return { rows, markdown };
}

/**
 * Runs the steps whose output is missing, in order.
 * @returns the names of the steps run and of those skipped (already done)
 */
export async function runBars(o: BarsOptions): Promise<{ ran: string[]; skipped: string[] }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const steps = barSteps(o);
  for (const name of o.only ?? []) if (!steps.some((s) => s.name === name)) throw new Error(`unknown step ${JSON.stringify(name)} (steps: ${steps.map((s) => s.name).join(', ')})`);
  for (const dir of [o.out, o.work]) fs.mkdirSync(path.resolve(o.root, dir), { recursive: true });
  const ran: string[] = [];
  const skipped: string[] = [];
  for (const step of steps) {
    if (o.only && !o.only.includes(step.name)) continue;
    // The summary is always rewritten: it reads whatever the other steps have written so far.
    if (step.name !== 'summary' && fs.existsSync(step.output)) {
      skipped.push(step.name);
      log(JSON.stringify({ step: step.name, skipped: 'done', output: path.relative(o.root, step.output) }));
      continue;
    }
    const t = Date.now();
    log(JSON.stringify({ step: step.name, started: new Date().toISOString() }));
    await step.run();
    ran.push(step.name);
    log(JSON.stringify({ step: step.name, done: path.relative(o.root, step.output), seconds: (Date.now() - t) / 1000 }));
  }
  return { ran, skipped };
}

async function cliMain(argv: string[]): Promise<void> {
  const get = (flag: string) => { const i = argv.indexOf(`--${flag}`); return i >= 0 ? argv[i + 1] : undefined; };
  const split = (get('split') ?? 'eval') as BarsOptions['split'];
  if (split !== 'eval' && split !== 'validation') throw new Error(`--split: expected eval or validation, got ${JSON.stringify(split)}`);
  const o = defaultBarsOptions(path.resolve(get('root') ?? process.cwd()), split);
  for (const key of ['model', 'factbase', 'edits', 'out', 'work', 'hparamsDir', 'ikeEncoder'] as const) {
    const v = get(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    if (v !== undefined) o[key] = v;
  }
  for (const key of ['n', 'seqBatch', 'curveEvery', 'ikeK', 'statsDocs'] as const) {
    const v = get(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    if (v !== undefined) o[key] = Number(v);
  }
  if (get('cost-sizes')) o.costSizes = get('cost-sizes')!.split(',').map(Number);
  if (get('only')) o.only = get('only')!.split(',');
  if (argv.includes('--list')) {
    for (const s of barSteps(o)) console.log(`${s.name}: ${path.relative(o.root, s.output)}${s.argv ? `\n  node packages/cli/dist/bin.js ${s.argv.join(' ').split(`${o.root}${path.sep}`).join('')}` : ''}`);
    return;
  }
  const r = await runBars(o);
  console.log(JSON.stringify(r));
  console.log(summarizeBars(o).markdown);
}

if (require.main === module) {
  cliMain(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
