/**
 * Pieces several commands share: resolving paths (the fact-world fixtures ship inside the
 * repository), loading a model directory with errors that say what is wrong, greedy
 * answers, and the covariance statistics ROME needs (computed with a progress bar, cached,
 * resumable).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  type CausalLM,
  type Corpus,
  type LayerStats,
  ArgumentError,
  CancelledError,
  IOError,
  NonFiniteError,
  computeLayerStats,
  type GenerateOptions,
  generate,
  loadModel,
  loadStatsFile,
  modelFingerprint,
  readCorpus,
} from '@medit/core';
import { type RomeHyperParams, readRomeHparams, resolveRomeHparams } from '@medit/rome';

import type { Args, OptionSpecs } from './args';
import { type CliIO, type Output, formatDuration, formatInt } from './output';

/** The repository root (this file is packages/cli/{src,dist}/common.*). */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** The fact world's filler text: the default corpus for covariance statistics. */
export const FILLER_CORPUS = 'test-fixtures/factworld/filler.txt';

/** The fact world's attribute snippets: the default references of the Reference Score. */
export const FACTWORLD_SNIPPETS = 'test-fixtures/factworld/attribute_snippets.json';

/** State a command leaves for the error handler (what to say when Ctrl-C stops it). */
export interface RunState {
  /** printed after "cancelled" */
  resumeHint?: string;
}

/** What every command's `run` receives. */
export interface CommandContext {
  io: CliIO;
  out: Output;
  args: Args;
  state: RunState;
  /** the subcommand of commands that take one (`medit train <sub>`) */
  sub?: string;
  /** the arguments after the command's name, as given (what a trained artefact records as its command) */
  argv?: readonly string[];
}

/**
 * Throws CancelledError when Ctrl-C was pressed. Between phases: a synchronous step (one
 * ROME edit) cannot see the signal until it returns, so the command stops right after it.
 */
export async function checkCancelled(io: CliIO): Promise<void> {
  // Let a pending SIGINT reach its handler: signals are read in the event loop's poll phase,
  // so wait through one whole loop iteration (two check phases), not just the current one.
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  if (io.signal?.aborted) throw new CancelledError();
}

/** `p` resolved against the caller's working directory. */
export function resolvePath(io: CliIO, p: string): string {
  return path.resolve(io.cwd, p);
}

/** A repository file (fixture) looked up from the working directory, then from the repository root. */
export function repoFile(io: CliIO, rel: string): string | undefined {
  for (const base of [io.cwd, REPO_ROOT]) {
    const p = path.resolve(base, rel);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Throws IOError "<what> not found: <path>" unless `p` is an existing file. */
export function requireFile(p: string, what: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new IOError(`${what} not found: ${p}`);
  }
  if (!st.isFile()) throw new IOError(`${what} is not a file: ${p}`);
  return p;
}

/** Where medit caches covariance statistics: $MEDIT_CACHE_DIR, else $XDG_CACHE_HOME/medit, else ~/.cache/medit. */
export function defaultCacheDir(io: CliIO): string {
  const base = io.env.MEDIT_CACHE_DIR ?? path.join(io.env.XDG_CACHE_HOME ?? path.join(io.env.HOME ?? os.homedir(), '.cache'), 'medit');
  return path.join(base, 'stats');
}

/** A path for display: relative to the working directory when inside it. */
export function shortPath(io: CliIO, p: string): string {
  const rel = path.relative(io.cwd, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

/** Options of the commands that load a model: checks a user may relax to inspect a broken model or edit unusual words. */
export const MODEL_CHECK_OPTIONS: OptionSpecs = {
  'allow-nonfinite': { type: 'boolean', description: 'load weights holding NaN/Inf (to inspect a broken model) instead of refusing them' },
  'allow-unk': { type: 'boolean', description: 'edit subjects/targets with words the tokenizer does not know (a warning instead of an error)' },
};

/** What {@link loadModelDir} relaxes for one command run (set from {@link MODEL_CHECK_OPTIONS}). */
export interface ModelChecks {
  allowNonFinite: boolean;
  /** when set, unknown-token requests are allowed and reported here (each message once) */
  warnUnknown?: (message: string) => void;
}

const modelChecks = new WeakMap<CliIO, ModelChecks>();

/** Sets what {@link loadModelDir} relaxes for the command running on `io`. */
export function setModelChecks(io: CliIO, checks: ModelChecks): void {
  modelChecks.set(io, checks);
}

/**
 * Loads a Hugging Face model directory; the errors name the directory and what is missing.
 * Weights holding NaN/Inf are refused unless --allow-nonfinite; with --allow-unk, edit
 * requests with unknown words are warned about instead of refused.
 * @param opts.requireTokenizer - refuse a directory without tokenizer.json (default true: prompts need it)
 * @throws IOError (missing directory / config.json / weights), ArgumentError (unknown model_type, no tokenizer),
 *   NonFiniteError (a weight holding NaN/Inf), ShapeError (a weight contradicting config.json)
 */
export async function loadModelDir(io: CliIO, dir: string, opts: { requireTokenizer?: boolean } = {}): Promise<CausalLM> {
  const abs = resolvePath(io, dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new IOError(`model directory not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new IOError(`--model expects a Hugging Face model directory but ${dir} is a file`);
  const checks = modelChecks.get(io);
  let model: CausalLM;
  try {
    model = await loadModel(abs, { allowNonFinite: checks?.allowNonFinite ?? false });
  } catch (err) {
    if (err instanceof NonFiniteError) throw new NonFiniteError(`${err.message} (--allow-nonfinite loads it anyway, to inspect it)`, err.tensor, err.file);
    throw err;
  }
  if (!model.tokenizer && opts.requireTokenizer !== false) {
    model.dispose();
    throw new ArgumentError(`${dir} has no tokenizer.json; medit needs the model's tokenizer to read prompts`);
  }
  const warn = checks?.warnUnknown;
  if (warn && model.tokenizer) {
    const said = new Set<string>();
    model.tokenizer.onUnknownToken = (e) => {
      if (!said.has(e.message)) warn(e.message);
      said.add(e.message);
    };
  }
  return model;
}

/** The continuation of `prompt` as text, without special tokens such as `<|endoftext|>`. */
export function continuation(model: CausalLM, prompt: string, opts: GenerateOptions): string {
  const tok = model.tokenizer!;
  const [ids] = generate(model, [tok.encode(prompt)], opts);
  return tok.decode(ids, { skipSpecialTokens: true });
}

/** The greedy continuation of `prompt` (one line, trimmed). */
export function answer(model: CausalLM, prompt: string, maxNewTokens: number): string {
  return continuation(model, prompt, { maxNewTokens }).split('\n')[0].trim();
}

/** ROME hyperparameters from `--hparams` (JSON/YAML) or the defaults for the model, with `--no-covariance` applied. */
export function romeHparams(io: CliIO, args: Args, model: CausalLM): RomeHyperParams {
  const file = args.string('hparams');
  const numLayers = model.config.numLayers;
  const hp = file ? readRomeHparams(requireFile(resolvePath(io, file), 'hyperparameter file'), numLayers) : resolveRomeHparams({}, numLayers);
  if (args.flag('no-covariance')) hp.mom2_adjustment = false;
  return hp;
}

/**
 * Covariance statistics for the layer ROME edits, per the command's flags (see
 * {@link statsForLayers}); undefined when C = I.
 */
export async function statsForEdit(ctx: CommandContext, model: CausalLM, hp: RomeHyperParams): Promise<{ stats?: Map<number, LayerStats>; summary: Record<string, unknown> | null }> {
  if (!hp.mom2_adjustment) return { summary: null };
  return statsForLayers(ctx, model, hp.layers, hp.mom2_n_samples);
}

/**
 * Covariance statistics of `layers` per the command's flags: `--stats-file` (ROME's one layer),
 * else computed over `--stats-corpus` (cached in `--stats-cache`), and what to report about them.
 */
export async function statsForLayers(ctx: CommandContext, model: CausalLM, layers: number[], maxDocs: number): Promise<{ stats: Map<number, LayerStats>; summary: Record<string, unknown> }> {
  const { io, args } = ctx;
  const statsFile = args.string('stats-file');
  if (statsFile) {
    const file = requireFile(resolvePath(io, statsFile), 'statistics file');
    const stats = await loadStatsFile(file, modelFingerprint(model));
    const layer = layers[0];
    if (stats.layer !== layer) {
      stats.mom2Sum.dispose();
      throw new ArgumentError(`covariance statistics are missing for layer ${layer}, the layer ROME edits: ${statsFile} holds layer ${stats.layer} (run "medit stats --layers ${layer}" or set layers: [${stats.layer}] in --hparams)`);
    }
    return { stats: new Map([[layer, stats]]), summary: { file: shortPath(io, file), tokens: stats.count, tokensPerSecond: null, cached: true } };
  }
  const corpus = statsCorpus(io, args.string('stats-corpus'));
  const cacheDir = resolvePath(io, args.string('stats-cache') ?? defaultCacheDir(io));
  const r = await covarianceStats(ctx, model, layers, { corpus, cacheDir, maxDocs });
  return {
    stats: r.stats,
    summary: { corpus: corpus ? shortPath(io, corpus.source) : null, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, cached: r.cached, cacheDir: shortPath(io, cacheDir) },
  };
}

/**
 * `maxDocs` normalised so that "all of a corpus shorter than N" and "the first N" share one
 * cache entry (both read the same documents).
 */
export function normaliseMaxDocs(corpus: Corpus, maxDocs: number | undefined): number | undefined {
  return maxDocs === undefined || maxDocs >= corpus.docs.length ? undefined : maxDocs;
}

/** The corpus for statistics: `file` if given, else the fact world's filler text if present. */
export function statsCorpus(io: CliIO, file: string | undefined): Corpus | undefined {
  if (file) return readCorpus(requireFile(resolvePath(io, file), 'corpus file'));
  const filler = repoFile(io, FILLER_CORPUS);
  return filler ? readCorpus(filler) : undefined;
}

/** Cached statistics for `layer` of this model in `cacheDir`, whatever corpus they came from (newest first). */
export function findCachedStats(cacheDir: string, fingerprint: string, layer: number): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir);
  } catch {
    return undefined;
  }
  const hits = names
    .filter((n) => n.startsWith(`mom2-${fingerprint.slice(0, 16)}-`) && n.endsWith(`-layer${layer}.safetensors`))
    .map((n) => path.join(cacheDir, n))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return hits[0];
}

/**
 * Covariance statistics C = E[k kᵀ] for `layers`: computed over `corpus` (cached in
 * `cacheDir`, resumable) with a progress bar, or, without a corpus, loaded from any cached
 * file for this model and layer.
 * @throws ArgumentError naming the layer when neither is available
 */
export async function covarianceStats(
  ctx: CommandContext,
  model: CausalLM,
  layers: number[],
  opts: { corpus?: Corpus; cacheDir: string; maxDocs?: number; batchTokens?: number },
): Promise<{ stats: Map<number, LayerStats>; tokens: number; tokensPerSecond: number | null; cached: boolean }> {
  const { out, io, state } = ctx;
  if (!opts.corpus) {
    const fingerprint = modelFingerprint(model);
    const stats = new Map<number, LayerStats>();
    for (const layer of layers) {
      const file = findCachedStats(opts.cacheDir, fingerprint, layer);
      if (!file) {
        for (const s of stats.values()) s.mom2Sum.dispose();
        throw new ArgumentError(
          `covariance statistics are missing for layer ${layer} (none cached for this model in ${shortPath(io, opts.cacheDir)}): ` +
            `pass --stats-corpus FILE, run "medit stats --model DIR --layers ${layer} --corpus FILE", or use --no-covariance`,
        );
      }
      stats.set(layer, await loadStatsFile(file, fingerprint));
    }
    return { stats, tokens: [...stats.values()][0]?.count ?? 0, tokensPerSecond: null, cached: true };
  }
  const corpus = opts.corpus;
  const maxDocs = normaliseMaxDocs(corpus, opts.maxDocs);
  const bar = out.progress(`covariance (layer${layers.length > 1 ? 's' : ''} ${layers.join(',')})`);
  let last: { tokens: number; tokensPerSecond: number } | undefined;
  state.resumeHint = `partial statistics were saved in ${shortPath(io, opts.cacheDir)}; run the same command again to resume`;
  try {
    const stats = await computeLayerStats(model, {
      layers,
      corpus,
      maxDocs,
      cacheDir: opts.cacheDir,
      batchTokens: opts.batchTokens,
      signal: io.signal,
      onProgress: (p) => {
        last = p;
        bar.update(p.docs, p.totalDocs, `${formatInt(p.tokens)} tokens · ${formatInt(p.tokensPerSecond)} tok/s`, {
          docs: p.docs,
          totalDocs: p.totalDocs,
          tokens: p.tokens,
          tokensPerSecond: p.tokensPerSecond,
        });
      },
    });
    state.resumeHint = undefined;
    const tokens = [...stats.values()][0].count;
    return { stats, tokens, tokensPerSecond: last ? last.tokensPerSecond : null, cached: last === undefined };
  } finally {
    bar.end();
  }
}
