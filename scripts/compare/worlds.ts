/**
 * The fact worlds the method comparison (and fact-base's tuning) runs on: where each world's
 * model, edit sets, settings, trained editors and derived inputs live. Paths are relative to the
 * repository root. Everything an editor trains on, stores or calibrates with comes from the
 * world's train split (T-Patcher's memory, IKE's pool, the TrainR queries) or from the trained
 * editors, which record their own data.
 */
import { FACTBASE_DERIVED } from '../factbase/derived-inputs';

/** One world of the comparison. */
export interface WorldDescription {
  name: string;
  /** the model directory */
  model: string;
  /** edit-set directory: `<format>-<split>.json` (counterfact, zsre, ...) */
  edits: string;
  /** hyperparameter files `<hparams><method>.json` (e.g. `bench/hparams/fact-base-rome.json`) */
  hparams: string;
  /** covariance text of ROME / MEMIT / EMMET / AlphaEdit (`--stats-corpus`) */
  statsCorpus: string;
  /** `--stats-cache` (absent: the CLI's default cache) */
  statsCache?: string;
  /** MEMIT / EMMET / AlphaEdit's `--z-cache` (absent: none; target vectors shared by runs with the same z settings) */
  zCache?: string;
  /** FT+KL's KL texts (`--memory`; absent: the CLI's default, the first 100 lines of fact-world's filler) */
  klTexts?: string;
  /** the Reference Score's references (`--snippets`; absent: the CLI's default, fact-world's) */
  snippets?: string;
  /** the fixture directory the derived inputs (stats corpus, KL texts, snippets) are built from, when they are derived */
  derivedFrom?: string;
  /** which hyperparameter file EMMET reads (fact-small: MEMIT's) */
  emmetHparams: 'memit' | 'emmet';
  /** the trained editors (`--editor`) */
  editors: { mend: string; ke: string; serac: string; ikeEncoder: string };
  /** default output directory of the comparison */
  out: string;
  /**
   * The old-vs-new table (fact-small only): format-1 reports in `reportsDir` by method, and the
   * case map joining their case ids to the current edit sets'.
   */
  oldVsNew?: { caseMap: string; reportsDir: string; reports: Record<string, string> };
}

/** The worlds by name. */
export const WORLDS: Readonly<Record<'fact-small' | 'fact-base', WorldDescription>> = {
  'fact-small': {
    name: 'fact-small',
    model: 'test-fixtures/models/fact-small',
    edits: 'test-fixtures/factworld/edits',
    hparams: 'bench/hparams/fact-small-',
    statsCorpus: 'test-fixtures/factworld/corpus/train-full.txt',
    emmetHparams: 'memit',
    editors: {
      mend: 'test-fixtures/editors/mend-fact-small.safetensors',
      ke: 'test-fixtures/editors/ke-fact-small.safetensors',
      serac: 'test-fixtures/serac/fact-small',
      ikeEncoder: 'test-fixtures/serac/fact-small/scope-embedding',
    },
    out: 'bench/reports/v2',
    oldVsNew: {
      caseMap: 'test-fixtures/factworld/edits/case-map.json',
      reportsDir: 'bench/reports',
      reports: {
        'ft-m': 'ft-m-fact-small-200',
        'ft+kl': 'ft-kl-fact-small-200',
        rome: 'rome-fact-small-covariance',
        'ft-l': 'ft-l-tuned-fact-small-200',
        kn: 'kn-tuned-fact-small-200',
        calinet: 'calinet-fact-small-200',
        mend: 'mend-fact-small-200',
        ke: 'ke-fact-small-200',
        serac: 'serac-embedding-fact-small-200',
        ike: 'ike-k8-fact-small-200',
        memit: 'memit-batch200-fact-small-200',
        emmet: 'emmet-batch200-fact-small-200',
        alphaedit: 'alphaedit-batch200-fact-small-200',
        tpatcher: 'tpatcher-seq-tuned-fact-small-200',
      },
    },
  },
  'fact-base': {
    name: 'fact-base',
    model: 'test-fixtures/models/fact-base',
    edits: 'test-fixtures/factbase/edits',
    hparams: 'bench/hparams/fact-base-',
    statsCorpus: FACTBASE_DERIVED.statsCorpus,
    statsCache: 'reports/fact-base/stats-cache',
    zCache: 'reports/fact-base/z-cache',
    klTexts: FACTBASE_DERIVED.klTexts,
    snippets: FACTBASE_DERIVED.snippets,
    derivedFrom: 'test-fixtures/factbase',
    emmetHparams: 'emmet',
    editors: {
      mend: 'test-fixtures/editors/mend-fact-base.safetensors',
      ke: 'test-fixtures/editors/ke-fact-base.safetensors',
      serac: 'test-fixtures/serac/fact-base',
      ikeEncoder: 'test-fixtures/serac/fact-base/scope-embedding',
    },
    out: 'bench/reports/fact-base-comparison',
  },
};

/** A world by name, or an error listing the known ones. */
export function worldByName(name: string): WorldDescription {
  if (!Object.prototype.hasOwnProperty.call(WORLDS, name)) throw new Error(`unknown world ${JSON.stringify(name)} (known: ${Object.keys(WORLDS).join(', ')})`);
  return WORLDS[name as keyof typeof WORLDS];
}

/** The edit-set file of a format and split. */
export function editFile(world: WorldDescription, format: string, split: string): string {
  return `${world.edits}/${format}-${split}.json`;
}

/** The hyperparameter file of a method (its file key: `ft-kl` for FT+KL). */
export function hparamsFile(world: WorldDescription, key: string): string {
  return `${world.hparams}${key}.json`;
}
