/**
 * The editing methods `medit eval` can run, by name: a short description, the method's own
 * flags, and an async factory building its editor for a model and the cases to be edited.
 * `medit eval --help` and the `--method` choices come from this table.
 */
import * as fs from 'node:fs';

import { type CausalLM, type Editor, type LayerStats, ArgumentError, fillTemplate } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { type FtVariant, FtEditor, readFtHparams, resolveFtHparams } from '@medit/ft';
import { KnEditor, readKnHparams, resolveKnHparams } from '@medit/kn';
import { type MassEditAlgorithm, createMassEditor, readMemitHparams, resolveMemitHparams } from '@medit/memit';
import { KeEditor, MendEditor } from '@medit/mend';
import { IkeEditor, ikePool, ikeTemplateFor, loadTextEncoder, Serac, SeracEditor } from '@medit/serac';
import { CaliNetEditor, TPatcherEditor, readCaliNetHparams, readTPatcherHparams, resolveTPatcherHparams } from '@medit/tpatcher';

import { UsageError } from './args';
import {
  type CommandContext,
  FILLER_CORPUS,
  covarianceStats,
  defaultCacheDir,
  repoFile,
  requireFile,
  resolvePath,
  romeHparams,
  shortPath,
  statsCorpus,
} from './common';
import { romeEditorFor, statsForEdit } from './commands/edit';

/** An editor built for one `medit eval` run; `dispose` frees what the factory allocated. */
export interface MethodEditor extends Editor {
  dispose(): void;
  /** where the covariance statistics came from (reported by medit eval), when the method uses them */
  statsSummary?: Record<string, unknown> | null;
}

/** Method-specific flags of `medit eval` (each method lists those it reads). */
export type MethodFlag = 'hparams' | 'editor' | 'pool' | 'k' | 'memory' | 'stats-corpus' | 'stats-cache' | 'stats-file' | 'no-covariance';

export interface EvalMethod {
  /** one line for `medit eval --help` */
  description: string;
  /** the method-specific flags it accepts; any other one is a usage error */
  flags: readonly MethodFlag[];
  /** Builds the editor for `model`; `cases` are the cases about to be edited. */
  create(ctx: CommandContext, model: CausalLM, cases: EditCase[]): Promise<MethodEditor>;
}

/** `editor` with `cleanups` run after its own `dispose` (if it has one). */
function disposing<E extends Editor>(editor: E, ...cleanups: (() => void)[]): E & MethodEditor {
  const own = (editor as Partial<{ dispose(): void }>).dispose?.bind(editor);
  return Object.assign(editor, {
    dispose: () => {
      own?.();
      for (const c of cleanups) c();
    },
  });
}

const freeStats = (stats: Map<number, LayerStats> | undefined) => () => {
  for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
};

/** `--hparams FILE` resolved against the working directory, if given. */
function hparamsFile(ctx: CommandContext): string | undefined {
  const file = ctx.args.string('hparams');
  return file ? requireFile(resolvePath(ctx.io, file), 'hyperparameter file') : undefined;
}

/**
 * Refuses texts an editor would store or train on (T-Patcher's memory, FT+KL's KL prompts, IKE's
 * demonstrations) that name a subject of the evaluated cases as a whole word: those are the eval
 * split's own texts (its neighbourhood prompts, its edits), which would make the locality and
 * generalisation numbers a measure of memorisation.
 * @throws ArgumentError naming how many subjects occur, with the first text that names one
 */
export function refuseEvaluatedSubjects(texts: readonly string[], cases: readonly EditCase[], what: string): void {
  const subjects = [...new Set(cases.map((c) => c.request.subject).filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  if (subjects.length === 0) return;
  const escaped = subjects.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const named = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'gu');
  const found = new Set<string>();
  let example: string | undefined;
  for (const t of texts) {
    for (const m of t.matchAll(named)) {
      found.add(m[1]);
      example ??= t;
    }
  }
  if (found.size > 0) {
    throw new ArgumentError(
      `${what} names ${found.size} subject${found.size === 1 ? '' : 's'} of the evaluated cases (e.g. ${JSON.stringify([...found][0])} in ${JSON.stringify(example)}): ` +
        'an editor must not store or train on the evaluated split\'s text; use the train split (e.g. counterfact-train.json beside the eval file)',
    );
  }
}

/**
 * Unrelated texts: `--memory FILE`, one per non-empty line, or an edit dataset (.json, any
 * format `medit eval` reads), whose cases' edit prompts and locality prompts are used — the
 * T-Patcher paper's memory is the training split's own queries. Default: the fact world's
 * filler text (T-Patcher's memory, FT+KL's KL prompts), which states no fact of any subject.
 * @throws ArgumentError when the texts name a subject of the evaluated `cases` ({@link refuseEvaluatedSubjects})
 */
async function unrelatedTexts(ctx: CommandContext, method: string, cases: readonly EditCase[]): Promise<string[]> {
  const given = ctx.args.string('memory');
  const file = given ? requireFile(resolvePath(ctx.io, given), 'memory file') : repoFile(ctx.io, FILLER_CORPUS);
  if (!file) throw new ArgumentError(`${method} needs unrelated texts: pass --memory FILE (one text per line, or an edit dataset .json)`);
  const texts = file.endsWith('.json')
    ? [...new Set((await readDataset(file)).cases.flatMap((c) => [fillTemplate(c.request.prompt, c.request.subject), ...c.localityPrompts.map((l) => l.prompt)]))]
    : fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0);
  if (texts.length === 0) throw new ArgumentError(`${method}: ${shortPath(ctx.io, file)} holds no text (one unrelated text per line, or an edit dataset .json)`);
  refuseEvaluatedSubjects(texts, cases, `${method}'s memory ${shortPath(ctx.io, file)}`);
  return texts;
}

/** FT+KL's KL prompts when --memory is not given: the first lines of the filler text (KL runs over all of them at every step). */
const FT_KL_DEFAULT_PROMPTS = 100;

/** The paraphrase prompts of each case, looked up by request (KN's prompt-sharing refinement). */
function casesParaphrases(cases: EditCase[]): (r: { prompt: string; subject: string; targetNew: string }) => string[] {
  const key = (r: { prompt: string; subject: string; targetNew: string }) => `${r.subject}\u0000${r.prompt}\u0000${r.targetNew}`;
  const byRequest = new Map(cases.map((c) => [key(c.request), c.rephrasePrompts]));
  return (r) => byRequest.get(key(r)) ?? [];
}

function ftMethod(variant: FtVariant): EvalMethod {
  const what: Record<FtVariant, string> = {
    FT: 'fine-tune the last layer\'s MLP output projection on the prompt\'s last token',
    'FT-L': 'fine-tuning with an L∞ constraint (layer 0, ε = 5e-4; Zhu et al. 2020 as run by ROME)',
    'FT-M': "fine-tuning with EasyEdit's teacher-forced target loss (last layer)",
    'FT+KL': 'FT-M plus KL to the unedited model on unrelated texts (--memory, default: the first 100 filler lines)',
  };
  return {
    description: what[variant],
    flags: variant === 'FT+KL' ? ['hparams', 'memory'] : ['hparams'],
    async create(ctx, model, cases) {
      const file = hparamsFile(ctx);
      const hp = file ? readFtHparams(file, model.config.numLayers, variant) : resolveFtHparams({}, model.config.numLayers, variant);
      const klPrompts = variant === 'FT+KL' ? (await unrelatedTexts(ctx, 'FT+KL', cases)).slice(0, ctx.args.has('memory') ? undefined : FT_KL_DEFAULT_PROMPTS) : undefined;
      return disposing(new FtEditor(hp, { variant, klPrompts }));
    },
  };
}

function massMethod(alg: MassEditAlgorithm, description: string): EvalMethod {
  return {
    description,
    flags: ['hparams', 'stats-corpus', 'stats-cache'],
    async create(ctx, model) {
      const { io, args } = ctx;
      const file = hparamsFile(ctx);
      const hp = file ? readMemitHparams(file, model.config.numLayers, alg) : resolveMemitHparams({}, model.config.numLayers, alg);
      // C = E[kkᵀ] of every edited layer, in one pass over the corpus (cached, resumable).
      const corpus = statsCorpus(io, args.string('stats-corpus'));
      const cacheDir = resolvePath(io, args.string('stats-cache') ?? defaultCacheDir(io));
      const cov = await covarianceStats(ctx, model, hp.layers, { corpus, cacheDir, maxDocs: hp.mom2_n_samples });
      const editor = disposing(createMassEditor(alg, hp, { stats: cov.stats }), freeStats(cov.stats));
      editor.statsSummary = { corpus: corpus ? shortPath(io, corpus.source) : null, layers: hp.layers, tokens: cov.tokens, tokensPerSecond: cov.tokensPerSecond, cached: cov.cached, cacheDir: shortPath(io, cacheDir) };
      return editor;
    },
  };
}

/** Every method `medit eval --method` runs (besides `none`, the unedited model only). */
export const EVAL_METHODS: Record<string, EvalMethod> = {
  rome: {
    description: 'ROME: rank-one update of one MLP (covariance statistics over --stats-corpus)',
    flags: ['hparams', 'stats-corpus', 'stats-cache', 'stats-file', 'no-covariance'],
    async create(ctx, model) {
      const hp = romeHparams(ctx.io, ctx.args, model);
      const cov = await statsForEdit(ctx, model, hp);
      const editor = disposing(romeEditorFor(hp, cov.stats), freeStats(cov.stats));
      editor.statsSummary = cov.summary;
      return editor;
    },
  },
  memit: massMethod('MEMIT', 'MEMIT: a batch of edits spread over several MLP layers (covariance over --stats-corpus)'),
  emmet: massMethod('EMMET', 'EMMET: equality-constrained mass editing of one layer (covariance over --stats-corpus)'),
  alphaedit: massMethod('AlphaEdit', "AlphaEdit: MEMIT's update projected onto the null space of the preserved keys"),
  ft: ftMethod('FT'),
  'ft-l': ftMethod('FT-L'),
  'ft-m': ftMethod('FT-M'),
  'ft+kl': ftMethod('FT+KL'),
  kn: {
    description: "knowledge neurons: move the true answer's neurons' value vectors to the new target (refine: true uses the cases' paraphrase prompts)",
    flags: ['hparams'],
    async create(ctx, model, cases) {
      const file = hparamsFile(ctx);
      const hp = file ? readKnHparams(file, model.config.numLayers) : resolveKnHparams({}, model.config.numLayers);
      return disposing(new KnEditor(hp, { paraphrases: casesParaphrases(cases) }));
    },
  },
  tpatcher: {
    description: 'T-Patcher: one patch neuron per wrong target token in the last MLP (memory: --memory, default the filler text)',
    flags: ['hparams', 'memory'],
    async create(ctx, model, cases) {
      const file = hparamsFile(ctx);
      const hp = file ? readTPatcherHparams(file, model.config.numLayers) : resolveTPatcherHparams({}, model.config.numLayers);
      const editor = new TPatcherEditor(hp, { memoryTexts: await unrelatedTexts(ctx, 'T-Patcher', cases) });
      return disposing(editor, () => editor.resetMemory());
    },
  },
  calinet: {
    description: 'CaliNet: calibration memory slots added to the last MLP, trained on the edits',
    flags: ['hparams'],
    async create(ctx, model) {
      const file = hparamsFile(ctx);
      // Resolved for the model so that the report records every value, defaults included.
      const hp = new CaliNetEditor(file ? readCaliNetHparams(file) : {}).resolve(model);
      return disposing(new CaliNetEditor(hp));
    },
  },
  mend: {
    description: 'MEND: a trained editor network transforms the fine-tuning gradient (--editor: best.safetensors of medit train mend)',
    flags: ['editor'],
    async create(ctx, model) {
      return MendEditor.load(requireFile(resolvePath(ctx.io, ctx.args.required('editor', 'the trained mend editor')), 'editor file'), model);
    },
  },
  ke: {
    description: 'KnowledgeEditor: a trained hyper-network predicts the update (--editor: best.safetensors of medit train ke)',
    flags: ['editor'],
    async create(ctx, model) {
      return KeEditor.load(requireFile(resolvePath(ctx.io, ctx.args.required('editor', 'the trained ke editor')), 'editor file'), model);
    },
  },
  serac: {
    description: 'SERAC: edit memory, scope classifier and counterfactual model (--editor: the directory of medit train serac)',
    flags: ['editor'],
    async create(ctx) {
      const serac = await Serac.load(resolvePath(ctx.io, ctx.args.required('editor', 'the SERAC directory')));
      return disposing(new SeracEditor(serac), () => serac.dispose());
    },
  },
  ike: {
    description: 'IKE: in-context demonstrations retrieved from --pool, a train split (--editor: the retrieval encoder, BERT directory or .onnx)',
    flags: ['editor', 'pool', 'k'],
    async create(ctx, model, cases) {
      const { io, args } = ctx;
      const encoderPath = resolvePath(io, args.required('editor', 'the retrieval encoder'));
      const poolFile = requireFile(resolvePath(io, args.required('pool', 'the demonstration pool')), 'pool file');
      const pool = readDataset(poolFile).cases;
      refuseEvaluatedSubjects(
        pool.flatMap((c) => [fillTemplate(c.request.prompt, c.request.subject), ...c.rephrasePrompts, ...c.localityPrompts.map((l) => l.prompt)]),
        cases,
        `IKE's demonstration pool ${shortPath(io, poolFile)}`,
      );
      const k = args.int('k', { min: 0 }) ?? 32;
      const encoder = await loadTextEncoder(encoderPath);
      return disposing(new IkeEditor({ pool: ikePool(pool), encoder, k, template: ikeTemplateFor(model.tokenizer!) }), () => encoder.dispose());
    },
  },
};

/** The `--method` choices: every registered method, then `none`. */
export const METHOD_NAMES: readonly string[] = [...Object.keys(EVAL_METHODS), 'none'];

/** Every method-specific flag, with the methods that take it. */
function flagOwners(): Map<MethodFlag, string[]> {
  const owners = new Map<MethodFlag, string[]>();
  for (const [name, m] of Object.entries(EVAL_METHODS)) for (const f of m.flags) owners.set(f, [...(owners.get(f) ?? []), name]);
  return owners;
}

/**
 * The method `--method` names (default rome), after checking that every method-specific flag
 * given is one this method reads; undefined for `none`.
 * @throws UsageError for an unknown method (listing the known ones) or a flag of another method
 */
export function selectMethod(ctx: CommandContext): { name: string; method: EvalMethod | undefined } {
  const name = ctx.args.string('method') ?? 'rome';
  if (!METHOD_NAMES.includes(name)) throw new UsageError(`unknown method ${JSON.stringify(name)} for --method (known: ${METHOD_NAMES.join(', ')})`, 'eval');
  const method = name === 'none' ? undefined : EVAL_METHODS[name];
  for (const [flag, owners] of flagOwners()) {
    if (ctx.args.has(flag) && !method?.flags.includes(flag)) throw new UsageError(`--${flag} applies to --method ${owners.join(', ')}`, 'eval');
  }
  return { name, method };
}

/** The methods section of `medit eval --help`. */
export function methodsHelp(): string {
  const names = Object.keys(EVAL_METHODS);
  const width = Math.max(...names.map((n) => n.length), 4) + 2;
  return ['Methods (--method):', ...names.map((n) => `  ${n.padEnd(width)}${EVAL_METHODS[n].description}`), `  ${'none'.padEnd(width)}the unedited model only`].join('\n');
}
