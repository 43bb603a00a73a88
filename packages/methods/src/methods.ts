/**
 * Every editing method by name: a short description, the inputs it reads, what its edit is
 * (weights, patch neurons or a memory), and an async factory building its editor for a model
 * and the cases to be edited. `medit edit|eval|serve` and the EasyEdit-shaped API build their
 * editors from this one table; how each caller answers a factory's questions is its
 * {@link MethodInputs}.
 */
import { type CausalLM, type Editor, type LayerStats, ArgumentError, checkHparamsFields } from '@medit/core';
import type { EditCase } from '@medit/data';
import { type FtVariant, FtEditor, defaultFtHparams, resolveFtHparams } from '@medit/ft';
import { KN_DEFAULTS, KnEditor, resolveKnHparams } from '@medit/kn';
import { type MassEditAlgorithm, createMassEditor, defaultMemitHparams, resolveMemitHparams } from '@medit/memit';
import { KeEditor, MendEditor } from '@medit/mend';
import { RomeEditor, defaultRomeHparams, resolveRomeHparams } from '@medit/rome';
import { IkeEditor, ikePool, ikeTemplateFor, loadTextEncoder, Serac, SeracEditor } from '@medit/serac';
import { CaliNetEditor, defaultCaliNetHparams, defaultTPatcherHparams, pickCaliNetHparams, resolveTPatcherHparams, TPatcherEditor } from '@medit/tpatcher';

import type { MethodInput, MethodInputs } from './inputs';

/** An editor built by a method's factory; `dispose` frees what the factory allocated. */
export interface MethodEditor extends Editor {
  dispose(): void;
  /** where the covariance statistics came from (reported by medit eval), when the method uses them */
  statsSummary?: Record<string, unknown> | null;
  /** MEMIT, EMMET, AlphaEdit with a z cache: its directory and, over every edit so far, the requests whose z it held (`hits`) or were computed (`misses`) */
  readonly zCache?: { dir: string; hits: number; misses: number };
}

/**
 * What an edit of the method is: `weights` changes existing weights (it can be written as an
 * edited model), `patch` adds neurons to one MLP (T-Patcher, CaliNet), `memory` keeps the edits
 * beside an unchanged model (SERAC, IKE). Patches and memories are saved as edit files only.
 */
export type EditKind = 'weights' | 'patch' | 'memory';

/** One method of the table. */
export interface MethodSpec {
  /** one line for `--help` */
  description: string;
  /** the inputs it reads (the `medit` flags of the same names); a caller refuses any other */
  inputs: readonly MethodInput[];
  kind: EditKind;
  /** the method works on the answer the model gives now (KN locates its neurons): every request needs target_true */
  needsTargetTrue?: boolean;
  /** Builds the editor for `model`; `cases` are the cases about to be edited. */
  create(model: CausalLM, cases: readonly EditCase[], inputs: MethodInputs): Promise<MethodEditor>;
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

/**
 * The hyperparameter mapping and its source, `{}` / "hparams" when the caller has none.
 * @param known - the fields the method reads: any other one is an UnknownFieldError naming the closest
 */
function hparamsOf(inputs: MethodInputs, known: Iterable<string>): { values: Record<string, unknown>; source: string } {
  const given = inputs.hparams();
  if (!given) return { values: {}, source: 'hparams' };
  checkHparamsFields(given.values, { known }, given.source);
  return given;
}

/** FT+KL's KL prompts when the caller has no unrelated texts of its own: the first lines of the default text (KL runs over all of them at every step). */
const FT_KL_DEFAULT_PROMPTS = 100;

/** The paraphrase prompts of each case, looked up by request (KN's prompt-sharing refinement). */
function casesParaphrases(cases: readonly EditCase[]): (r: { prompt: string; subject: string; targetNew: string }) => string[] {
  const key = (r: { prompt: string; subject: string; targetNew: string }) => `${r.subject}\u0000${r.prompt}\u0000${r.targetNew}`;
  const byRequest = new Map(cases.map((c) => [key(c.request), c.rephrasePrompts]));
  return (r) => byRequest.get(key(r)) ?? [];
}

function ftMethod(variant: FtVariant): MethodSpec {
  const what: Record<FtVariant, string> = {
    FT: 'fine-tune the last layer\'s MLP output projection on the prompt\'s last token',
    'FT-L': 'fine-tuning with an L∞ constraint (layer 0, ε = 5e-4; Zhu et al. 2020 as run by ROME)',
    'FT-M': "fine-tuning with EasyEdit's teacher-forced target loss (last layer)",
    'FT+KL': 'FT-M plus KL to the unedited model on unrelated texts (--memory, default: the first 100 filler lines)',
  };
  return {
    description: what[variant],
    inputs: variant === 'FT+KL' ? ['hparams', 'memory'] : ['hparams'],
    kind: 'weights',
    async create(model, _cases, inputs) {
      const { values, source } = hparamsOf(inputs, Object.keys(defaultFtHparams(model.config.numLayers, variant)));
      const hp = resolveFtHparams(values, model.config.numLayers, variant, source);
      let klPrompts: string[] | undefined;
      if (variant === 'FT+KL') {
        const unrelated = await inputs.unrelatedTexts('FT+KL');
        klPrompts = unrelated.given ? unrelated.texts : unrelated.texts.slice(0, FT_KL_DEFAULT_PROMPTS);
      }
      return disposing(new FtEditor(hp, { variant, klPrompts }));
    },
  };
}

function massMethod(alg: MassEditAlgorithm, description: string): MethodSpec {
  return {
    description,
    inputs: ['hparams', 'stats-corpus', 'stats-cache', 'z-cache'],
    kind: 'weights',
    async create(model, _cases, inputs) {
      const { values, source } = hparamsOf(inputs, Object.keys(defaultMemitHparams(model.config.numLayers)));
      const hp = resolveMemitHparams(values, model.config.numLayers, alg, source);
      // C = E[kkᵀ] of every edited layer, in one pass over the corpus.
      const cov = await inputs.covariance(model, hp.layers, hp.mom2_n_samples);
      const editor = disposing(createMassEditor(alg, hp, { stats: cov.stats, zCacheDir: inputs.zCacheDir?.() }), freeStats(cov.stats));
      editor.statsSummary = cov.summary === null ? null : { ...cov.summary, layers: hp.layers };
      return editor;
    },
  };
}

/** The model the shipped editors were trained for. */
export const FACT_SMALL = 'test-fixtures/models/fact-small';

/** Editors the project trained for fact-small and ships in the repository (the defaults of --editor / --pool there). */
export const SHIPPED = {
  mend: { editor: 'test-fixtures/editors/mend-fact-small.safetensors' },
  ke: { editor: 'test-fixtures/editors/ke-fact-small.safetensors' },
  serac: { editor: 'test-fixtures/serac/fact-small' },
  ike: { editor: 'test-fixtures/serac/fact-small/scope-embedding', pool: 'test-fixtures/factworld/edits/counterfact-train.json' },
} as const;

/** Every method, by the name `medit edit|eval --method` takes. */
export const METHODS: Readonly<Record<string, MethodSpec>> = {
  rome: {
    description: 'ROME: rank-one update of one MLP (covariance statistics over --stats-corpus)',
    inputs: ['hparams', 'stats-corpus', 'stats-cache', 'stats-file', 'no-covariance'],
    kind: 'weights',
    async create(model, _cases, inputs) {
      const { values, source } = hparamsOf(inputs, Object.keys(defaultRomeHparams(model.config.numLayers)));
      const hp = resolveRomeHparams(values, model.config.numLayers, source);
      if (inputs.noCovariance()) hp.mom2_adjustment = false;
      const cov = hp.mom2_adjustment ? await inputs.covariance(model, hp.layers, hp.mom2_n_samples) : undefined;
      const editor = disposing(new RomeEditor(hp, { stats: cov?.stats }), freeStats(cov?.stats));
      editor.statsSummary = cov?.summary ?? null;
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
    inputs: ['hparams'],
    kind: 'weights',
    needsTargetTrue: true,
    async create(model, cases, inputs) {
      const { values, source } = hparamsOf(inputs, Object.keys(KN_DEFAULTS));
      return disposing(new KnEditor(resolveKnHparams(values, model.config.numLayers, source), { paraphrases: casesParaphrases(cases) }));
    },
  },
  tpatcher: {
    description: 'T-Patcher: one patch neuron per wrong target token in the last MLP (memory: --memory, default the filler text)',
    inputs: ['hparams', 'memory'],
    kind: 'patch',
    async create(model, _cases, inputs) {
      const { values, source } = hparamsOf(inputs, Object.keys(defaultTPatcherHparams(model.config.numLayers)));
      const hp = resolveTPatcherHparams(values, model.config.numLayers, source);
      const editor = new TPatcherEditor(hp, { memoryTexts: (await inputs.unrelatedTexts('T-Patcher')).texts });
      return disposing(editor, () => editor.resetMemory());
    },
  },
  calinet: {
    description: 'CaliNet: calibration memory slots added to the last MLP, trained on the edits',
    inputs: ['hparams'],
    kind: 'patch',
    async create(model, _cases, inputs) {
      // Resolved for the model so that the report records every value, defaults included.
      const hp = new CaliNetEditor(pickCaliNetHparams(hparamsOf(inputs, Object.keys(defaultCaliNetHparams(1))).values)).resolve(model);
      return disposing(new CaliNetEditor(hp));
    },
  },
  mend: {
    description: `MEND: a trained editor network transforms the fine-tuning gradient (--editor: best.safetensors of medit train mend; default for fact-small: ${SHIPPED.mend.editor})`,
    inputs: ['editor'],
    kind: 'weights',
    async create(model, _cases, inputs) {
      return MendEditor.load(inputs.trainedEditor('mend'), model);
    },
  },
  ke: {
    description: `KnowledgeEditor: a trained hyper-network predicts the update (--editor: best.safetensors of medit train ke; default for fact-small: ${SHIPPED.ke.editor})`,
    inputs: ['editor'],
    kind: 'weights',
    async create(model, _cases, inputs) {
      return KeEditor.load(inputs.trainedEditor('ke'), model);
    },
  },
  serac: {
    description: `SERAC: edit memory, scope classifier and counterfactual model (--editor: the directory of medit train serac; default for fact-small: ${SHIPPED.serac.editor})`,
    inputs: ['editor'],
    kind: 'memory',
    async create(_model, _cases, inputs) {
      const serac = await Serac.load(inputs.trainedEditor('serac'));
      return disposing(new SeracEditor(serac), () => serac.dispose());
    },
  },
  ike: {
    description: `IKE: in-context demonstrations retrieved from --pool (--editor: the retrieval encoder, BERT directory or .onnx; defaults for fact-small: ${SHIPPED.ike.editor}, pool ${SHIPPED.ike.pool})`,
    inputs: ['editor', 'pool', 'k'],
    kind: 'memory',
    async create(model, _cases, inputs) {
      const encoderPath = inputs.trainedEditor('ike');
      const pool = inputs.demonstrationPool();
      const k = inputs.demonstrationCount() ?? 32;
      if (!model.tokenizer) throw new ArgumentError('IKE needs the model\'s tokenizer (tokenizer.json) to build its prompts');
      const encoder = await loadTextEncoder(encoderPath);
      const template = ikeTemplateFor(model.tokenizer);
      return disposing(new IkeEditor({ pool: ikePool(pool), encoder, k, template, encoderSource: encoderPath }), () => encoder.dispose());
    },
  },
};

/** The method names, in table order. */
export const METHOD_NAMES: readonly string[] = Object.keys(METHODS);

/**
 * The method called `name`.
 * @throws ArgumentError naming the known methods when there is none of that name
 */
export function methodSpec(name: string): MethodSpec {
  const spec = Object.prototype.hasOwnProperty.call(METHODS, name) ? METHODS[name] : undefined;
  if (!spec) throw new ArgumentError(`unknown method ${JSON.stringify(name)} (known: ${METHOD_NAMES.join(', ')})`);
  return spec;
}
