/**
 * `trainSerac`: trains SERAC's learned parts on training edit cases and writes them as one
 * artefact directory (see {@link SERAC_LAYOUT}). The scope classifier and the counterfactual model
 * share no parameters, so training them one after the other (or in separate processes, one
 * component each) is the original joint objective c_edit·ℓ_cntr + c_loc·ℓ_cls with each term on its
 * own optimiser (specs/meta-and-memory.md §2.3).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, type Bert, type CausalLM, cast, keep, loadEncoder, loadModel, type RgbImage, saveModel, type Tensor, type Tokenizer, VisionLanguageModel, writeFileAtomic } from '@medit/core';

type DType = Parameters<typeof cast>[1];
import type { EditCase, MmeditCase } from '@medit/data';

import { calibrateThreshold, splitBySubject } from './calibrate';
import { trainCounterfactual, type CounterfactualTrainOptions } from './counterfactual';
import { EngineEncoder, type TextEncoder } from './encoder';
import { buildScopeTrainingSet, contextPrefixes, type ScopeTrainingEdit } from './examples';
import { LmEncoder } from './lm-encoder';
import { mmeditCalibrationCase, multimodalScopeSet, trainMultimodalCounterfactual, type MultimodalCounterfactualOptions } from './multimodal';
import { ScopeClassifier, type ScopeConfig } from './scope';
import { saveLmScopeClassifier, trainLmScopeClassifier, type TrainedLmScope } from './scope-lm';
import { classifierTokenizer, saveScopeClassifier, trainScopeClassifier, type ScopeTrainOptions } from './scope-train';
import type { TrainProgress } from './train-progress';

/** Sub-directories of a SERAC artefact directory. */
export const SERAC_LAYOUT = {
  config: 'serac.json',
  'scope-embedding': 'scope-embedding',
  'scope-cross': 'scope-cross',
  counterfactual: 'counterfactual',
} as const;

/** A trainable SERAC component. */
export type SeracComponent = 'scope-embedding' | 'scope-cross' | 'counterfactual';

/** `serac.json`: which classifier routes by default, and optionally the routing threshold. */
export interface SeracConfig {
  format: 'medit-serac/1';
  classifier: 'scope-embedding' | 'scope-cross';
  /** hard routing threshold on the best g; absent: the classifier's calibrated one (scope.json), else SERAC's 0.5 */
  threshold?: number;
}

export const DEFAULT_SERAC_CONFIG: SeracConfig = { format: 'medit-serac/1', classifier: 'scope-embedding' };

/** Options of {@link trainSerac}. */
export interface TrainSeracOptions {
  /** base model directory: its tokenizer is shared, and the counterfactual model starts as a copy of it */
  baseModel: string;
  /** training edit cases (the train split) */
  cases: readonly EditCase[];
  /** artefact directory (created; components already there are replaced) */
  out: string;
  /** default: all three */
  components?: readonly SeracComponent[];
  scope?: Omit<ScopeTrainOptions, 'kind' | 'init' | 'signal' | 'onProgress'>;
  /** start the classifiers' encoders from this BERT directory (e.g. `<out>/scope-embedding` for the cross-encoder) */
  scopeInit?: string;
  /**
   * without `scopeInit`: start the classifier's word embeddings from the base model's token
   * embeddings (the encoder's width becomes the base model's). Default false: on fact-small it did
   * not raise rephrase recall and routed more neighbours when many edits share the memory.
   */
  scopeEmbeddingsFromBase?: boolean;
  counterfactual?: Omit<CounterfactualTrainOptions, 'signal' | 'onProgress'>;
  /**
   * Share of the training subjects held out from the classifiers to choose their routing
   * threshold ({@link calibrateThreshold}, written to scope.json). Default 0: no hold-out, SERAC's 0.5.
   */
  validationShare?: number;
  /**
   * A validation split to choose the classifiers' routing threshold on (instead of
   * `validationShare`: the classifiers then train on all of `cases`).
   */
  validationCases?: readonly EditCase[];
  /** What the components were trained and calibrated on (dataset files, case ids), written to each training.json as `data`. */
  data?: readonly object[];
  /** The command that trained the components, written to each training.json as `command`. */
  command?: string;
  seed?: number;
  /** dtype of the saved weights (default float16: the artefacts are small enough to commit; loading converts to float32) */
  saveDtype?: DType;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** Converts a model's parameters in place to the saved dtype (the model is only saved afterwards). */
function castParams(params: Map<string, Tensor>, dtype: DType): void {
  for (const [name, t] of params) {
    if (t.dtype === dtype) continue;
    params.set(name, keep(cast(t, dtype)));
    t.dispose();
  }
}

/** The token-embedding table of a causal LM (GPT-2 `wte`, Llama `embed_tokens`, ...). */
function tokenEmbeddings(model: CausalLM): Tensor {
  for (const [name, t] of model.params) if (/(^|\.)(wte|embed_tokens|word_embeddings)\.weight$/.test(name) && t.shape[0] === model.config.vocabSize) return t;
  throw new ArgumentError('trainSerac: cannot find the base model\'s token embeddings (wte / embed_tokens / word_embeddings)');
}

function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** The base tokenizer's EOS (or SEP) token, which the scope encoder uses as its [CLS] and [SEP]. */
function encoderSpecials(tokenizer: Tokenizer | undefined, baseModel: string): { cls: string; sep: string } {
  const sep = tokenizer?.eosTokenId ?? tokenizer?.sepTokenId;
  const sepToken = sep === undefined ? undefined : tokenizer!.idToToken(sep);
  if (!sepToken) throw new ArgumentError(`${baseModel}: the tokenizer declares no EOS/SEP token to use as the encoder's [CLS]/[SEP]`);
  return { cls: sepToken, sep: sepToken };
}

/** Moves a freshly written component directory into place (replacing an older one). */
function replaceDir(from: string, to: string): void {
  const old = `${to}.old-${process.pid}`;
  if (fs.existsSync(to)) fs.renameSync(to, old);
  fs.renameSync(from, to);
  fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Trains the requested components and writes them under `out` (plus `serac.json` when absent).
 * Each component directory gets a `training.json` (settings, time, loss curve).
 * @throws ArgumentError for no cases; CancelledError on abort (nothing of the aborted component is written)
 */
export async function trainSerac(opts: TrainSeracOptions): Promise<void> {
  if (opts.cases.length === 0) throw new ArgumentError('trainSerac: no training cases');
  // classifiers first: they may read the base model's embeddings, which the counterfactual training changes
  const components = [...(opts.components ?? ['scope-embedding', 'scope-cross', 'counterfactual'])].sort((a, b) => Number(a === 'counterfactual') - Number(b === 'counterfactual'));
  const seed = opts.seed ?? 0;
  const edits = buildScopeTrainingSet(opts.cases, seed);
  if (opts.validationCases && opts.validationShare) throw new ArgumentError('trainSerac: give validationCases or validationShare, not both');
  if (opts.validationCases?.length === 0) throw new ArgumentError('trainSerac: the validation split is empty');
  const split = opts.validationCases
    ? { train: [...opts.cases], validation: [...opts.validationCases] }
    : opts.validationShare
      ? splitBySubject(opts.cases, opts.validationShare, seed)
      : undefined;
  const data = opts.data ? { data: opts.data } : {};
  const command = opts.command ? { command: opts.command } : {};
  const scopeCases = split?.train ?? opts.cases;
  const scopeEdits = split ? buildScopeTrainingSet(scopeCases, seed) : edits;
  fs.mkdirSync(opts.out, { recursive: true });
  const cfgFile = path.join(opts.out, SERAC_LAYOUT.config);
  if (!fs.existsSync(cfgFile)) writeJson(cfgFile, DEFAULT_SERAC_CONFIG);
  const base = await loadModel(opts.baseModel);
  const tokenizer = base.tokenizer;
  if (!tokenizer) throw new ArgumentError(`${opts.baseModel}: the base model has no tokenizer.json`);
  const specials = encoderSpecials(tokenizer, opts.baseModel);
  // read once: both classifiers train with it, and calibration encodes with it
  const clsTokenizer = classifierTokenizer(opts.baseModel, specials);
  try {
    for (const component of components) {
      const t0 = Date.now();
      const dir = path.join(opts.out, SERAC_LAYOUT[component]);
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      if (component === 'counterfactual') {
        const history = trainCounterfactual(base, edits, { ...opts.counterfactual, seed, signal: opts.signal, onProgress: opts.onProgress });
        castParams(base.params, opts.saveDtype ?? 'float16');
        await saveModel(base, tmp, { sideFilesFrom: opts.baseModel, metadata: { medit_trained: 'serac-counterfactual' } });
        // the counterfactual model trains on the training edits only (no calibration)
        const trainData = opts.data ? { data: opts.data.filter((d) => (d as { use?: string }).use !== 'validation') } : {};
        writeJson(path.join(tmp, 'training.json'), { component, baseModel: opts.baseModel, cases: opts.cases.length, seed, options: opts.counterfactual ?? {}, ...trainData, ...command, seconds: (Date.now() - t0) / 1000, history });
      } else {
        const kind = component === 'scope-embedding' ? 'embedding' : 'cross';
        let init: Bert | undefined;
        if (opts.scopeInit) init = await loadEncoder(opts.scopeInit);
        let trained: ReturnType<typeof trainScopeClassifier>;
        try {
          const wordEmbeddings = !init && opts.scopeEmbeddingsFromBase ? tokenEmbeddings(base) : undefined;
          trained = trainScopeClassifier(clsTokenizer, scopeEdits, contextPrefixes(scopeCases), { ...opts.scope, kind, init, wordEmbeddings, seed, signal: opts.signal, onProgress: opts.onProgress });
        } finally {
          init?.dispose();
        }
        let calibration: ReturnType<typeof calibrateThreshold> | undefined;
        try {
          if (split) {
            calibration = calibrateThreshold(new ScopeClassifier(new EngineEncoder(trained.bert, trained.config.pooling, clsTokenizer), trained.config), split.validation);
            trained.config.threshold = calibration.threshold;
          }
          castParams(trained.bert.params, opts.saveDtype ?? 'float16');
          await saveScopeClassifier(trained, tmp, opts.baseModel, specials);
        } finally {
          trained.bert.dispose();
        }
        const validation = split && calibration ? { ...(opts.validationCases ? { split: true } : { share: opts.validationShare }), cases: split.validation.length, threshold: calibration.threshold, table: calibration.table } : null;
        writeJson(path.join(tmp, 'training.json'), { component, cases: scopeCases.length, validation, options: opts.scope ?? {}, init: opts.scopeInit ?? null, wordEmbeddingsFromBase: !opts.scopeInit && opts.scopeEmbeddingsFromBase === true, ...data, ...command, seconds: (Date.now() - t0) / 1000, history: trained.history });
      }
      replaceDir(tmp, dir);
    }
  } finally {
    base.dispose();
  }
}

/** Options of {@link trainMultimodalSerac}. */
export interface TrainMultimodalSeracOptions {
  /** base vision-language model directory (medit-vlm): its tokenizer is shared, the counterfactual model starts as a copy */
  baseModel: string;
  /** MMEdit train records with their images */
  cases: readonly MmeditCase<RgbImage>[];
  /** artefact directory (created; components already there are replaced) */
  out: string;
  /** default: both */
  components?: readonly ('scope-embedding' | 'counterfactual')[];
  scope?: Omit<ScopeTrainOptions, 'kind' | 'init' | 'signal' | 'onProgress'>;
  /** start the classifier's word embeddings from the base language model's (see {@link TrainSeracOptions}; `bert` encoder only) */
  scopeEmbeddingsFromBase?: boolean;
  /**
   * the classifier's encoder: `bert`, a small BERT trained from scratch (default), or `base-lm`, a
   * copy of the base model's own language model ({@link VisionLanguageModel.textModel}) with all its
   * weights fine-tuned ({@link trainLmScopeClassifier}) — SERAC starts its classifier from a
   * pretrained DistilBERT, and the base LM, which has read the world's wordings, is the pretrained
   * encoder at hand. Only the init is the edited model's: the scope set still comes from `cases`.
   * With `base-lm`, `scope` takes the run settings only (no BERT shape) and `scopeEmbeddingsFromBase`
   * does not apply.
   */
  scopeEncoder?: 'bert' | 'base-lm';
  /** train the classifier on the records' multimodal-locality questions as edits too ({@link MultimodalScopeSetOptions.localityEdits}) */
  scopeLocalityEdits?: boolean;
  counterfactual?: Omit<MultimodalCounterfactualOptions, 'signal' | 'onProgress'>;
  /**
   * MMEdit validation records: the classifier's routing threshold is chosen on them
   * ({@link calibrateThreshold}: each record's rephrase in scope, its text-locality and
   * multimodal-locality questions out of scope) and written to scope.json. Default: SERAC's 0.5.
   */
  validation?: readonly MmeditCase<unknown>[];
  /**
   * what calibration reads of each validation record ({@link mmeditCalibrationCase}): its
   * `prompts` (default; what a generation is routed on) or the teacher-forced `rows` (prompt +
   * target) the MMEdit harness scores
   */
  calibrateOn?: 'prompts' | 'rows';
  seed?: number;
  saveDtype?: DType;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** `scope` options that shape the BERT encoder: they do not apply to the base LM. */
const BERT_SHAPE = ['wordEmbeddings', 'hiddenSize', 'layers', 'heads', 'intermediateSize', 'maxPositions'] as const;

/** A trained scope classifier as {@link trainMultimodalSerac} calibrates and saves it, whichever its encoder. */
interface TrainedMultimodalScope {
  config: ScopeConfig;
  history: { step: number; loss: number }[];
  /** the trained model as a text encoder (disposing it frees the model) */
  encoder: TextEncoder;
  /** its weights, cast to the saved dtype in place before saving */
  params: Map<string, Tensor>;
  save(dir: string): Promise<void>;
}

/** Trains the multimodal scope classifier with the chosen encoder (see {@link TrainMultimodalSeracOptions.scopeEncoder}). */
function trainMultimodalScope(base: VisionLanguageModel, edits: readonly ScopeTrainingEdit[], opts: TrainMultimodalSeracOptions, specials: { cls: string; sep: string }, seed: number): TrainedMultimodalScope {
  const run = { ...opts.scope, seed, signal: opts.signal, onProgress: opts.onProgress };
  if (opts.scopeEncoder === 'base-lm') {
    const init = base.textModel();
    let t: TrainedLmScope;
    try {
      t = trainLmScopeClassifier(init, edits, [], run);
    } finally {
      init.dispose();
    }
    return { ...t, encoder: new LmEncoder(t.lm, t.config.pooling), params: t.lm.params, save: (dir) => saveLmScopeClassifier(t, dir, opts.baseModel) };
  }
  const wordEmbeddings = opts.scopeEmbeddingsFromBase ? tokenEmbeddings(base) : undefined;
  const clsTokenizer = classifierTokenizer(opts.baseModel, specials);
  const t = trainScopeClassifier(clsTokenizer, edits, [], { ...run, kind: 'embedding', wordEmbeddings });
  return { ...t, encoder: new EngineEncoder(t.bert, t.config.pooling, clsTokenizer), params: t.bert.params, save: (dir) => saveScopeClassifier(t, dir, opts.baseModel, specials) };
}

/**
 * SERAC for a vision-language model (MMEdit's SERAC_MULTI): a text-only embedding scope
 * classifier and a counterfactual vision-language model with its own projection and language
 * model (see multimodal.ts), written as one artefact directory that {@link Serac.load} reads.
 * @throws ArgumentError for no cases, a base model that is not a vision-language model, or an
 *   option out of its range (named)
 */
export async function trainMultimodalSerac(opts: TrainMultimodalSeracOptions): Promise<void> {
  if (opts.cases.length === 0) throw new ArgumentError('trainMultimodalSerac: no training cases');
  const scopeEncoder = opts.scopeEncoder ?? 'bert';
  if (scopeEncoder !== 'bert' && scopeEncoder !== 'base-lm') throw new ArgumentError(`trainMultimodalSerac: scopeEncoder must be "bert" or "base-lm", not ${JSON.stringify(opts.scopeEncoder)}`);
  if (scopeEncoder === 'base-lm') {
    if (opts.scopeEmbeddingsFromBase) throw new ArgumentError('trainMultimodalSerac: scopeEmbeddingsFromBase applies to scopeEncoder "bert"; "base-lm" starts from all of the base LM');
    const shaped = BERT_SHAPE.find((k) => opts.scope?.[k] !== undefined);
    if (shaped) throw new ArgumentError(`trainMultimodalSerac: scope.${shaped} applies to scopeEncoder "bert"; "base-lm" has the base LM's shape`);
  }
  const calibrateOn = opts.calibrateOn ?? 'prompts';
  if (calibrateOn !== 'prompts' && calibrateOn !== 'rows') throw new ArgumentError(`trainMultimodalSerac: calibrateOn must be "prompts" or "rows", not ${JSON.stringify(opts.calibrateOn)}`);
  const seed = opts.seed ?? 0;
  const components = opts.components ?? ['scope-embedding', 'counterfactual'];
  fs.mkdirSync(opts.out, { recursive: true });
  const cfgFile = path.join(opts.out, SERAC_LAYOUT.config);
  if (!fs.existsSync(cfgFile)) writeJson(cfgFile, DEFAULT_SERAC_CONFIG);
  const base = await loadModel(opts.baseModel);
  try {
    if (!(base instanceof VisionLanguageModel)) throw new ArgumentError(`${opts.baseModel}: trainMultimodalSerac needs a vision-language model (model_type medit-vlm), not ${base.config.modelType}`);
    const specials = encoderSpecials(base.tokenizer, opts.baseModel);
    for (const component of components) {
      const t0 = Date.now();
      const dir = path.join(opts.out, SERAC_LAYOUT[component]);
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      if (component === 'counterfactual') {
        const history = trainMultimodalCounterfactual(base, opts.cases, { ...opts.counterfactual, seed, signal: opts.signal, onProgress: opts.onProgress });
        castParams(base.params, opts.saveDtype ?? 'float16');
        await saveModel(base, tmp, { sideFilesFrom: opts.baseModel, metadata: { medit_trained: 'serac-counterfactual-multimodal' } });
        writeJson(path.join(tmp, 'training.json'), { component, baseModel: opts.baseModel, cases: opts.cases.length, options: opts.counterfactual ?? {}, seconds: (Date.now() - t0) / 1000, history });
      } else {
        const edits: ScopeTrainingEdit[] = multimodalScopeSet(opts.cases, { seed, localityEdits: opts.scopeLocalityEdits });
        const trained = trainMultimodalScope(base, edits, opts, specials, seed);
        let calibration: ReturnType<typeof calibrateThreshold> | undefined;
        try {
          if (opts.validation?.length) {
            calibration = calibrateThreshold(new ScopeClassifier(trained.encoder, trained.config), opts.validation.map((c) => mmeditCalibrationCase(c, { withTargets: calibrateOn === 'rows' })));
            trained.config.threshold = calibration.threshold;
          }
          castParams(trained.params, opts.saveDtype ?? 'float16');
          await trained.save(tmp);
        } finally {
          trained.encoder.dispose();
        }
        const validation = calibration ? { cases: opts.validation!.length, on: calibrateOn, threshold: calibration.threshold, table: calibration.table } : null;
        writeJson(path.join(tmp, 'training.json'), { component, encoder: scopeEncoder, cases: opts.cases.length, validation, options: opts.scope ?? {}, localityEdits: opts.scopeLocalityEdits === true, wordEmbeddingsFromBase: opts.scopeEmbeddingsFromBase === true, seconds: (Date.now() - t0) / 1000, history: trained.history });
      }
      replaceDir(tmp, dir);
    }
  } finally {
    base.dispose();
  }
}
