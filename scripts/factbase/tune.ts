/**
 * Chooses fact-base's settings on its validation split, one `medit tune` per method, each grid
 * in `bench/grids/fact-base-<method>.json` (why a grid differs from fact-small's is its `_why`):
 *
 *   npx tsc -b && npx tsc -p scripts
 *   MEDIT_NUM_THREADS=1 node scripts/dist/factbase/tune.js [--methods rome,memit,...] [--list]
 *
 * Every method fact-small tuned (bench/RESULTS.md, "Settings chosen on validation"), as it was
 * tuned there — the CounterFact suite, metric `score` (harmonic mean of ES, PS, NS), the first 32
 * records of `counterfact-validation.json`, single edits; T-Patcher as a sequential stream of the
 * 32 with the train split's CounterFact records as memory; FT+KL with fact-base's KL texts — except
 * the mass editors, which are tuned as the bars use them (`bars.ts`): MEMIT and EMMET on one batch
 * of every validation record filled up to the bars' 1,000 edits with train-split load edits
 * (`mass-protocol.ts`: edited, not scored), AlphaEdit on the validation records spread over the
 * bars' 50 sequential calls, each filled up to ~20 edits with load. EMMET gets its own file (fact-small's
 * read MEMIT's). ROME / MEMIT / EMMET / AlphaEdit take their covariance over the train-split
 * text (`derived-inputs.ts`, shared with the bars and the comparison, one statistics cache).
 *
 * Each `bench/hparams/fact-base-<method>.json` is the base of its sweep and is overwritten with
 * the best point and its `tuned` block. Resumable: a method whose file already holds a `tuned`
 * block on validation for this validation file (same SHA-256) is skipped; within a method,
 * `medit tune` keeps each finished point in `<--state>/<method>-<the validation file's hash>`
 * (default `--state bench/tune-state/fact-base`, committed: a sweep outlives the machine it started
 * on), so rebuilt edit sets never reuse a point measured on the old ones. After changing a method's protocol here, delete its state directory.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type WorldDescription, WORLDS, editFile, hparamsFile } from '../compare/worlds';
import { defaultBarsOptions } from './bars';
import { ensureDerivedInputs } from './derived-inputs';
import { massProtocol } from './mass-protocol';
import { runMedit } from './run-medit';

/** The methods tuned, in order (fact-small's tuned methods, and EMMET). */
export const TUNED_METHODS = ['ft-m', 'ft+kl', 'rome', 'ft-l', 'kn', 'tpatcher', 'memit', 'emmet', 'alphaedit'] as const;

/** What {@link runTuning} tunes and where. Paths are relative to `root` (or absolute). */
export interface TuneOptions {
  root: string;
  world: WorldDescription;
  /** grid files `<grids><key>.json` */
  grids: string;
  /** `medit tune --state` directories `<state>/<key>` */
  state: string;
  /** methods to tune (default {@link TUNED_METHODS}) */
  methods: readonly string[];
  /** validation records of the single-edit methods and T-Patcher's stream (default 32) */
  single: number;
  /** validation records of the mass editors at most (default the bars' `n`, 1,000) */
  massN: number;
  /** AlphaEdit's sequential batch (default the bars' `seqBatch`, 20) */
  seqBatch: number;
  log?: (line: string) => void;
}

/** Defaults: fact-base, bench/grids, bench/tune-state/fact-base. */
export function defaultTuneOptions(root: string): TuneOptions {
  const bars = defaultBarsOptions(root);
  return { root, world: WORLDS['fact-base'], grids: 'bench/grids/fact-base-', state: 'bench/tune-state/fact-base', methods: TUNED_METHODS, single: 32, massN: bars.n, seqBatch: bars.seqBatch };
}

/** A method's key in bench/hparams and bench/grids (FT+KL's files are `ft-kl`). */
export function fileKey(world: WorldDescription, method: string): string {
  return method === 'ft+kl' ? 'ft-kl' : method === 'emmet' ? world.emmetHparams : method;
}

/** How a method is tuned: validation records, `medit tune` arguments beyond the common ones, load edits. */
function tuneProtocol(o: TuneOptions, method: string, validationCases: number): { limit: number; args: string[]; load: number } {
  if (!(TUNED_METHODS as readonly string[]).includes(method)) throw new Error(`unknown method ${JSON.stringify(method)} to tune (known: ${TUNED_METHODS.join(', ')})`);
  const w = o.world;
  const stats = ['--stats-corpus', w.statsCorpus, ...(w.statsCache ? ['--stats-cache', w.statsCache] : [])];
  // grid points that differ only in λ or the solver share their z (the first point computes them)
  const zCache = w.zCache ? ['--z-cache', w.zCache] : [];
  const mass = massProtocol({ n: o.massN, seqBatch: o.seqBatch, cases: validationCases, loadFile: editFile(w, 'counterfact', 'train') });
  const single = (args: string[]) => ({ limit: o.single, args, load: 0 });
  const massed = (args: string[]) => ({ limit: o.massN, args: [...args, ...stats, ...zCache], load: mass.load });
  switch (method) {
    case 'rome':
      return single(stats);
    case 'ft+kl':
      return single(w.klTexts ? ['--memory', w.klTexts] : []);
    case 'tpatcher':
      return single(['--mode', 'sequential', '--memory', editFile(w, 'counterfact', 'train')]);
    case 'memit':
    case 'emmet':
      return massed(mass.batch);
    case 'alphaedit':
      return massed([...mass.sequential, '--eval-after', 'all']);
    default:
      return single([]);
  }
}

/**
 * The `medit tune` arguments of one method.
 * @param datasetSha - SHA-256 of the validation file (names the state directory)
 * @param validationCases - records in the validation file (the mass editors' load fills up to `massN`)
 */
export function tuneArgv(o: TuneOptions, method: string, datasetSha: string, validationCases: number): string[] {
  const p = tuneProtocol(o, method, validationCases);
  const w = o.world;
  const key = fileKey(w, method);
  const file = hparamsFile(w, key);
  return [
    'tune', '--method', method, '--model', w.model, '--dataset', editFile(w, 'counterfact', 'validation'), '--limit', String(p.limit), '--suites', 'counterfact',
    '--grid', `${o.grids}${key}.json`, '--hparams', file, '--out', file, '--state', `${o.state}/${key}-${datasetSha.slice(0, 12)}`, ...p.args,
  ];
}

/** The load edits of a method's tuning protocol (0 but for the mass editors on a split smaller than `massN`). */
export function tuneLoad(o: TuneOptions, method: string, validationCases: number): number {
  return tuneProtocol(o, method, validationCases).load;
}

const sha256File = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const recordCount = (file: string) => (JSON.parse(fs.readFileSync(file, 'utf8')) as unknown[]).length;

/**
 * Whether `file` already holds settings chosen by `medit tune` for `method` on the validation file
 * whose SHA-256 is `datasetSha`, with `load` load edits (settings tuned without the load the
 * protocol now asks for are tuned again).
 */
export function isTuned(file: string, datasetSha: string, method: string, load = 0): boolean {
  if (!fs.existsSync(file)) return false;
  const tuned = (JSON.parse(fs.readFileSync(file, 'utf8')) as { tuned?: { split?: string; sha256?: string; method?: string; protocol?: { load?: { cases?: number } } } }).tuned;
  return tuned?.split === 'validation' && tuned.method === method && tuned.sha256 === datasetSha && (tuned.protocol?.load?.cases ?? 0) === load;
}

/**
 * Tunes each method whose file is not tuned on this validation file yet, in order.
 * @returns the methods tuned now and those skipped (already tuned)
 * @throws naming the file when a base hyperparameter file, a grid or the validation split is missing, or `medit tune` fails
 */
export async function runTuning(o: TuneOptions): Promise<{ tuned: string[]; skipped: string[] }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const at = (p: string) => path.resolve(o.root, p);
  const dataset = editFile(o.world, 'counterfact', 'validation');
  if (!fs.existsSync(at(dataset))) throw new Error(`${dataset} does not exist: build fact-base's edit sets first (scripts/dist/factbase/build-edits.js)`);
  const sha = sha256File(at(dataset));
  const cases = recordCount(at(dataset));
  for (const m of o.methods) {
    tuneArgv(o, m, sha, cases);
    for (const f of [hparamsFile(o.world, fileKey(o.world, m)), `${o.grids}${fileKey(o.world, m)}.json`]) if (!fs.existsSync(at(f))) throw new Error(`${m}: ${f} does not exist`);
  }
  if (o.world.derivedFrom) {
    const made = ensureDerivedInputs(o.root, o.world.derivedFrom, { statsCorpus: o.world.statsCorpus, ...(o.world.klTexts ? { klTexts: o.world.klTexts } : {}) });
    if (made.length > 0) log(JSON.stringify({ derived: made, from: o.world.derivedFrom }));
  }
  const tuned: string[] = [];
  const skipped: string[] = [];
  for (const m of o.methods) {
    const file = hparamsFile(o.world, fileKey(o.world, m));
    if (isTuned(at(file), sha, m, tuneLoad(o, m, cases))) {
      skipped.push(m);
      log(JSON.stringify({ method: m, skipped: 'tuned on this validation file', file }));
      continue;
    }
    const argv = tuneArgv(o, m, sha, cases);
    const t = Date.now();
    log(JSON.stringify({ method: m, started: new Date().toISOString(), command: `medit ${argv.join(' ')}` }));
    await runMedit(o.root, argv, log);
    tuned.push(m);
    log(JSON.stringify({ method: m, done: file, seconds: (Date.now() - t) / 1000 }));
  }
  return { tuned, skipped };
}

async function cliMain(argv: string[]): Promise<void> {
  const get = (flag: string) => { const i = argv.indexOf(`--${flag}`); return i >= 0 ? argv[i + 1] : undefined; };
  const o = defaultTuneOptions(path.resolve(get('root') ?? process.cwd()));
  if (get('methods')) o.methods = get('methods')!.split(',').map((s) => s.trim());
  if (get('state')) o.state = get('state')!;
  if (argv.includes('--list')) {
    const dataset = path.resolve(o.root, editFile(o.world, 'counterfact', 'validation'));
    if (!fs.existsSync(dataset)) throw new Error(`${path.relative(o.root, dataset)} does not exist: build fact-base's edit sets first (scripts/dist/factbase/build-edits.js)`);
    const sha = sha256File(dataset);
    const cases = recordCount(dataset);
    for (const m of o.methods) {
      const file = hparamsFile(o.world, fileKey(o.world, m));
      console.log(`${m}: ${isTuned(path.resolve(o.root, file), sha, m, tuneLoad(o, m, cases)) ? 'tuned' : 'to tune'} (${file})\n  node packages/cli/dist/bin.js ${tuneArgv(o, m, sha, cases).join(' ')}`);
    }
    return;
  }
  console.log(JSON.stringify(await runTuning(o)));
}

if (require.main === module) {
  cliMain(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
