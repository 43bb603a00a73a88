/**
 * `BaseEditor`, shaped like EasyEdit's (`easyeditor/editors/editor.py`): built from an EasyEdit
 * hparams file, it edits with `edit({ prompts, target_new, subject, ... })` or `batch_edit(...)`
 * and returns EasyEdit's per-case metrics with the model and the edits. The editor itself comes
 * from medit's method table (`@medit/methods`), so it is the same editor `medit edit|eval
 * --method <m> --hparams <file>` runs.
 *
 * Protocols, as EasyEdit runs them: `edit` measures every edit's `pre` on the model as given,
 * then per edit calls the editor, measures `post`, and reverts the edit (EasyEdit restores the
 * weights after each edit, `restore_after_edit`) unless `sequential_edit` keeps it in place for
 * the next. `batch_edit` does the same per chunk of `batch_size` edits (the file's `batch_size`,
 * default 1 as EasyEdit's MEMIT dataclass has), measuring each chunk's `pre` just before its edit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type EditDelta, ArgumentError, computeLayerStats, IOError, loadModel, readCorpus } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { type MethodEditor, type MethodInputs, type MethodSpec, methodSpec } from '@medit/methods';
import { editRequestOf } from '@medit/metrics';

import { type EasyEditHparams, BATCH_METHODS, methodFor, readEasyEditHparams } from './hparams';
import { type EasyEditCaseMetrics, type EasyEditScores, type CaseScores, caseFluency, postScores, preScores, scoreCase } from './metrics';
import { type PathMapping, lookupPath, readPathMapping, requirePath } from './paths';
import { type EasyEditArgs, type EasyEditRequest, prepareRequests } from './requests';

/** Options of {@link BaseEditor.fromHparams}: where the file's paths are on this machine, and what EasyEdit would download or compute. */
export interface FromHparamsOptions {
  /** the model directory (a Hugging Face directory), whatever `model_name` says */
  modelDir?: string;
  /** a model already loaded (EasyEdit accepts a (model, tokenizer) pair as `model_name`); the editor does not dispose it */
  model?: CausalLM;
  /** the file's path values → local paths, e.g. `{ "./hugging_cache/gpt2-xl": "models/fact-small" }` (relative to `cwd`) */
  paths?: Readonly<Record<string, string>>;
  /** a JSON or YAML file of such a mapping, its paths relative to itself */
  pathsFile?: string;
  /** the trained editor (MEND / KE weights, SERAC directory, IKE's retrieval encoder), whatever `archive` / `sentence_model_name` say */
  editor?: string;
  /** a text corpus (.txt or .jsonl) for covariance statistics, whatever `mom2_dataset` says */
  statsCorpus?: string;
  /** where covariance statistics are cached, whatever `stats_dir` says */
  statsCache?: string;
  /** T-Patcher's memory, FT+KL's KL prompts: texts unrelated to the edits */
  unrelatedTexts?: readonly string[];
  /** IKE's demonstration pool when `edit()` is not given `train_ds`: edit cases, or a dataset file */
  train_ds?: readonly EditCase[] | string;
  /** directory relative paths resolve against (default: the process's working directory) */
  cwd?: string;
}

/** What {@link BaseEditor.edit} and {@link BaseEditor.batch_edit} return. */
export interface EditResult {
  /** per edit, as EasyEdit's `edit()` returns them */
  metrics: EasyEditCaseMetrics[];
  /** the model: with every edit applied after `sequential_edit`, as given otherwise */
  model: CausalLM;
  /**
   * one delta per editor call (per edit for `edit`, per chunk for `batch_edit`), in order:
   * applied to `model` after `sequential_edit` (revert them in reverse order), reverted
   * otherwise (apply one to get that edit's model; save it, export it as a LoRA adapter, ...).
   * Yours to dispose.
   */
  delta: EditDelta[];
}

/** The EasyEdit-shaped editor; see the file comment. */
export class BaseEditor {
  private readonly editors: MethodEditor[] = [];

  private constructor(
    /** the hparams file as read */
    readonly hparams: EasyEditHparams,
    /** the medit method it runs (`@medit/methods`) */
    readonly method: string,
    readonly model: CausalLM,
    private readonly ownsModel: boolean,
    private readonly options: FromHparamsOptions,
    private readonly mappings: readonly PathMapping[],
    private readonly cwd: string,
  ) {}

  /** EasyEdit's `alg_name`. */
  get alg_name(): string {
    return this.hparams.algName;
  }

  /**
   * Reads an EasyEdit hparams file (e.g. EasyEdit's `hparams/ROME/gpt2-xl.yaml`, unchanged) and
   * loads its model.
   * @throws ArgumentError naming the file and field when `alg_name` is not a medit method or a
   *   path field (`model_name`, ...) does not resolve; IOError when the file cannot be read
   * @example
   * ```ts
   * const editor = await BaseEditor.fromHparams('hparams/ROME/gpt2-xl.yaml', { modelDir: 'models/gpt2-xl' });
   * const { metrics } = await editor.edit({ prompts: ['Ray Charles, the'], target_new: ['violin'], subject: ['Ray Charles'] });
   * metrics[0].post.rewrite_acc; // [1]
   * ```
   */
  static async fromHparams(file: string, options: FromHparamsOptions = {}): Promise<BaseEditor> {
    const cwd = options.cwd ?? process.cwd();
    const hparams = readEasyEditHparams(path.resolve(cwd, file));
    const mappings: PathMapping[] = [];
    if (options.paths) mappings.push({ entries: { ...options.paths }, base: cwd, source: '{ paths }' });
    if (options.pathsFile) mappings.push(readPathMapping(path.resolve(cwd, options.pathsFile)));
    let model = options.model;
    if (!model) {
      const dir = requirePath(
        { file: hparams.file, field: 'model_name', value: hparams.values.model_name, override: options.modelDir, overrideOption: 'modelDir', mappings, cwd },
        'the model, a Hugging Face directory',
      );
      if (!fs.existsSync(path.join(dir, 'config.json'))) throw new IOError(`${hparams.file}: model_name resolves to ${dir}, which is not a Hugging Face model directory (no config.json)`);
      model = await loadModel(dir);
    }
    try {
      if (!model.tokenizer) throw new ArgumentError(`${hparams.file}: the model has no tokenizer (tokenizer.json); prompts cannot be read`);
      const method = methodFor(hparams, model.config.numLayers);
      return new BaseEditor(hparams, method, model, !options.model, options, mappings, cwd);
    } catch (err) {
      if (!options.model) model.dispose();
      throw err;
    }
  }

  /**
   * Edits per EasyEdit's `BaseEditor.edit` (see the file comment for the protocol).
   * @throws ArgumentError naming the argument that is missing or malformed; whatever the
   *   method throws (the model is left as it was)
   */
  async edit(args: EasyEditArgs): Promise<EditResult> {
    const { cases, requests } = prepareRequests(args);
    return this.run(cases, requests, 1, args, true);
  }

  /**
   * Edits in chunks of the file's `batch_size` per EasyEdit's `BaseEditor.batch_edit`; only
   * for methods EasyEdit can batch ({@link BATCH_METHODS}).
   * @throws ArgumentError for other methods, or a `batch_size` that is not a positive integer
   */
  async batch_edit(args: EasyEditArgs): Promise<EditResult> {
    if (!BATCH_METHODS.includes(this.method)) {
      throw new ArgumentError(`${this.hparams.file}: alg_name ${this.alg_name} cannot batch edit (EasyEdit's batchable methods: MEMIT, EMMET, AlphaEdit, FT, MEND, KE, SERAC, CALINET); use edit()`);
    }
    const size = this.hparams.values.batch_size ?? 1;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new ArgumentError(`${this.hparams.file}: expected a positive integer for batch_size but received ${JSON.stringify(size)}`);
    const { cases, requests } = prepareRequests(args);
    return this.run(cases, requests, size, args, false);
  }

  /** Frees the editors built so far and the model (unless it was passed in). */
  dispose(): void {
    for (const e of this.editors.splice(0)) e.dispose();
    if (this.ownsModel) this.model.dispose();
  }

  private async run(cases: EditCase[], requests: EasyEditRequest[], chunk: number, args: EasyEditArgs, preFirst: boolean): Promise<EditResult> {
    const spec = methodSpec(this.method);
    if (spec.needsTargetTrue) {
      const i = cases.findIndex((c) => !c.request.targetTrue);
      if (i >= 0) throw new ArgumentError(`${this.alg_name} changes the answer the model gives now: pass ground_truth (missing for prompts[${i}])`);
    }
    const editor = await this.editorFor(spec, cases, args.train_ds);
    const model = this.model;
    const withFluency = (i: number, scores: EasyEditScores): EasyEditScores => (args.test_generation ? { ...scores, fluency: caseFluency(model, cases[i], i) } : scores);
    const pre: CaseScores[] = [];
    const preDicts: EasyEditScores[] = [];
    const measurePre = (i: number) => {
      pre[i] = scoreCase(model, cases[i]);
      preDicts[i] = withFluency(i, preScores(cases[i], pre[i]));
    };
    if (preFirst) cases.forEach((_, i) => measurePre(i));
    const metrics: EasyEditCaseMetrics[] = [];
    const deltas: EditDelta[] = [];
    try {
      for (let start = 0; start < cases.length; start += chunk) {
        const idx = cases.slice(start, start + chunk).map((_, j) => start + j);
        if (!preFirst) idx.forEach(measurePre);
        const t0 = process.hrtime.bigint();
        const delta = await editor.edit(model, idx.map((i) => editRequestOf(cases[i])));
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        deltas.push(delta);
        delta.apply(model);
        for (const i of idx) {
          const post = scoreCase(model, cases[i]);
          metrics.push({ case_id: i, requested_rewrite: requests[i], time: seconds, pre: preDicts[i], post: withFluency(i, postScores(cases[i], pre[i], post)) });
        }
        if (args.sequential_edit) editor.commit?.(delta);
        else {
          delta.revert(model);
          editor.discard?.(delta);
        }
      }
    } catch (err) {
      // Leave the model as it was given: undo what is applied, newest first.
      for (const d of deltas.reverse()) d.dispose();
      throw err;
    }
    return { metrics, model, delta: deltas };
  }

  /** The method's editor for these cases, built from the method table with this file's inputs. */
  private async editorFor(spec: MethodSpec, cases: readonly EditCase[], trainDs: EasyEditArgs['train_ds']): Promise<MethodEditor> {
    const editor = await spec.create(this.model, cases, this.inputs(trainDs));
    this.editors.push(editor);
    const wanted = this.hparams.values.inner_params;
    const trained = (editor.hparams as { inner_params?: unknown }).inner_params;
    if (Array.isArray(wanted) && wanted.length > 0 && Array.isArray(trained) && [...wanted].sort().join() !== [...trained].sort().join()) {
      throw new ArgumentError(`${this.hparams.file}: inner_params ${JSON.stringify(wanted)} are not the weights the trained editor edits (${JSON.stringify(trained)})`);
    }
    return editor;
  }

  /** The method factory's inputs, answered from the hparams file and the options. */
  private inputs(trainDs: EasyEditArgs['train_ds']): MethodInputs {
    const { hparams: h, options, mappings, cwd } = this;
    const lookup = (field: string, override: string | undefined, overrideOption: string) => ({ file: h.file, field, value: h.values[field], override, overrideOption, mappings, cwd });
    return {
      hparams: () => ({ values: h.values, source: h.file }),
      noCovariance: () => false,
      async covariance(model, layers, maxDocs) {
        const corpusFile = requirePath(lookup('mom2_dataset', options.statsCorpus, 'statsCorpus'), 'a local text corpus for the covariance statistics');
        const given = h.values.stats_dir;
        const cacheDir = lookupPath(lookup('stats_dir', options.statsCache, 'statsCache')) ?? (typeof given === 'string' && given !== '' ? path.resolve(cwd, given) : undefined);
        const corpus = readCorpus(corpusFile);
        let computed = false;
        const stats = await computeLayerStats(model, { layers, corpus, maxDocs, cacheDir, onProgress: () => (computed = true) });
        return { stats, summary: { corpus: corpusFile, tokens: [...stats.values()][0]?.count ?? 0, cached: !computed, cacheDir: cacheDir ?? null } };
      },
      trainedEditor(method) {
        const field = method === 'ike' ? 'sentence_model_name' : 'archive';
        const what = method === 'ike' ? 'the retrieval encoder, a BERT directory or .onnx' : method === 'serac' ? 'the directory of medit train serac' : `the trained ${method} editor (.safetensors of medit train ${method})`;
        return requirePath(lookup(field, options.editor, 'editor'), what);
      },
      demonstrationPool() {
        const pool = trainDs ?? options.train_ds;
        if (pool === undefined) throw new ArgumentError(`${h.file}: IKE draws its demonstrations from train_ds; pass it to edit() (as EasyEdit does) or to fromHparams`);
        return typeof pool === 'string' ? readDataset(path.resolve(cwd, pool)).cases : pool;
      },
      demonstrationCount() {
        const k = h.values.k;
        if (k === undefined || k === null) return undefined;
        if (typeof k !== 'number' || !Number.isInteger(k) || k < 0) throw new ArgumentError(`${h.file}: expected a non-negative integer for k but received ${JSON.stringify(k)}`);
        return k;
      },
      async unrelatedTexts(method) {
        if (!options.unrelatedTexts || options.unrelatedTexts.length === 0) throw new ArgumentError(`${method} needs texts unrelated to the edits: pass { unrelatedTexts } to fromHparams`);
        return { texts: [...options.unrelatedTexts], given: true };
      },
    };
  }
}
