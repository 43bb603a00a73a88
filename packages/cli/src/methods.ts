/**
 * The editing methods `medit edit`, `medit eval` and `medit serve` run: the table of
 * `@medit/methods`, with its inputs answered from the command's flags — `--hparams`,
 * `--editor` (defaulting to the editors the repository ships for fact-small), `--pool`, `--k`,
 * `--memory`, the covariance flags and `--z-cache`. The `--help` method lists and the `--method` choices
 * come from the table.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, ArgumentError, fillTemplate, readHparamsMapping } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { type EvalProgress } from '@medit/metrics';
import { type MethodEditor, type MethodInput, type MethodInputs, type MethodSpec, type TrainedMethod, FACT_SMALL, METHODS, SHIPPED } from '@medit/methods';

import { UsageError } from './args';
import { type CommandContext, FILLER_CORPUS, repoFile, requireFile, resolvePath, shortPath, statsForLayers } from './common';
import { formatInt, type Progress } from './output';

export type { MethodEditor } from '@medit/methods';

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
async function unrelatedTexts(ctx: CommandContext, method: string, evaluated: readonly EditCase[] | undefined): Promise<{ texts: string[]; given: boolean }> {
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
  if (evaluated) refuseEvaluatedSubjects(texts, evaluated, `${method}'s memory ${shortPath(ctx.io, file)}`);
  return { texts, given: given !== undefined };
}

/** SHA-256 of a file's bytes. */
function fileHash(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Whether the `--model` directory holds fact-small's weights (the same model.safetensors bytes). */
function isFactSmall(ctx: CommandContext): boolean {
  const fixture = repoFile(ctx.io, FACT_SMALL);
  if (!fixture) return false;
  const given = path.join(resolvePath(ctx.io, ctx.args.required('model')), 'model.safetensors');
  const shipped = path.join(fixture, 'model.safetensors');
  try {
    return fs.statSync(given).size === fs.statSync(shipped).size && fileHash(given) === fileHash(shipped);
  } catch {
    return false;
  }
}

/**
 * `flag`'s value when given; else, on fact-small, the shipped `file` (said on stdout); else a
 * usage error that names the shipped file, so a user can find it.
 */
function shippedFor(ctx: CommandContext, method: string, flag: string, what: string, file: string): string {
  const given = ctx.args.string(flag.slice(2));
  if (given) return resolvePath(ctx.io, given);
  const shipped = repoFile(ctx.io, file);
  if (shipped && isFactSmall(ctx)) {
    ctx.out.line(`${flag.slice(2).padEnd(7)} ${file} (shipped for fact-small)`);
    return shipped;
  }
  throw new UsageError(`--method ${method} needs ${flag} (${what}); the repository ships ${file}, trained for ${FACT_SMALL}`, ctx.out.command);
}

/** What `--editor` is for each method that takes one. */
const EDITOR_WHAT: Record<TrainedMethod, string> = {
  mend: 'the trained mend editor, best.safetensors of medit train mend',
  ke: 'the trained ke editor, best.safetensors of medit train ke',
  serac: 'the SERAC directory written by medit train serac',
  ike: 'the retrieval encoder, a BERT directory or .onnx',
};

/**
 * The inputs of a method factory from the command's flags: `--hparams` (JSON/YAML), the
 * covariance flags ({@link statsForLayers}), `--editor`
 * and `--pool` (defaulting to the shipped editors on fact-small), `--k`, `--memory`, `--z-cache`. With
 * `evaluated` (the cases about to be measured), texts an editor stores or trains on (memory,
 * KL prompts, IKE's pool) must not name their subjects ({@link refuseEvaluatedSubjects}).
 */
export function flagInputs(ctx: CommandContext, evaluated?: readonly EditCase[]): MethodInputs {
  const { io, args } = ctx;
  return {
    hparams() {
      const file = args.string('hparams');
      if (!file) return undefined;
      const resolved = requireFile(resolvePath(io, file), 'hyperparameter file');
      return { values: readHparamsMapping(resolved), source: resolved };
    },
    noCovariance: () => args.flag('no-covariance'),
    covariance: (model, layers, maxDocs) => statsForLayers(ctx, model, layers, maxDocs),
    trainedEditor(method) {
      const p = shippedFor(ctx, method, '--editor', EDITOR_WHAT[method], SHIPPED[method].editor);
      return method === 'mend' || method === 'ke' ? requireFile(p, 'editor file') : p;
    },
    demonstrationPool() {
      const poolArg = args.string('pool');
      const file = poolArg ? requireFile(resolvePath(io, poolArg), 'pool file') : shippedFor(ctx, 'ike', '--pool', 'CounterFact-format training records to draw demonstrations from', SHIPPED.ike.pool);
      const pool = readDataset(file).cases;
      if (evaluated) {
        const texts = pool.flatMap((c) => [fillTemplate(c.request.prompt, c.request.subject), ...c.rephrasePrompts, ...c.localityPrompts.map((l) => l.prompt)]);
        refuseEvaluatedSubjects(texts, evaluated, `IKE's demonstration pool ${shortPath(io, file)}`);
      }
      return pool;
    },
    demonstrationCount: () => args.int('k', { min: 0 }),
    unrelatedTexts: (method) => unrelatedTexts(ctx, method, evaluated),
    zCacheDir() {
      const dir = args.string('z-cache');
      return dir === undefined ? undefined : resolvePath(io, dir);
    },
  };
}

/**
 * Builds the editor of `method` for `model` from the command's flags; with `evaluated` (medit
 * eval, medit tune), what it stores or trains on must not name the evaluated cases' subjects.
 * `load`: cases edited beside `cases` but not evaluated (medit eval --load): the method is told
 * of them as cases about to be edited; they are no evaluated subjects.
 */
export function createEditor(ctx: CommandContext, method: MethodSpec, model: CausalLM, cases: readonly EditCase[], opts: { evaluated?: boolean; load?: readonly EditCase[] } = {}): Promise<MethodEditor> {
  return method.create(model, opts.load ? [...cases, ...opts.load] : cases, flagInputs(ctx, opts.evaluated ? cases : undefined));
}

/** The `--method` choices: every registered method, then `none`. */
export const METHOD_NAMES: readonly string[] = [...Object.keys(METHODS), 'none'];

/** Every method-specific flag, with the methods that take it. */
function flagOwners(): Map<MethodInput, string[]> {
  const owners = new Map<MethodInput, string[]>();
  for (const [name, m] of Object.entries(METHODS)) for (const f of m.inputs) owners.set(f, [...(owners.get(f) ?? []), name]);
  return owners;
}

/** The `--method` choices of `medit edit`: every registered method. */
export const EDIT_METHOD_NAMES: readonly string[] = Object.keys(METHODS);

/**
 * The method `--method` names (default rome), after checking that every method-specific flag
 * given is one this method reads; undefined for `none` (only where `allowNone`: `medit eval`).
 * @throws UsageError for an unknown method (listing the known ones) or a flag of another method
 */
export function selectMethod(ctx: CommandContext, opts: { allowNone: boolean }): { name: string; method: MethodSpec | undefined } {
  const command = ctx.out.command;
  const known = opts.allowNone ? METHOD_NAMES : EDIT_METHOD_NAMES;
  const name = ctx.args.string('method') ?? 'rome';
  if (!known.includes(name)) throw new UsageError(`unknown method ${JSON.stringify(name)} for --method (known: ${known.join(', ')})`, command);
  const method = name === 'none' ? undefined : METHODS[name];
  for (const [flag, owners] of flagOwners()) {
    if (ctx.args.has(flag) && !method?.inputs.includes(flag)) throw new UsageError(`--${flag} applies to --method ${owners.join(', ')}`, command);
  }
  return { name, method };
}

/** The methods section of `medit edit --help` and `medit eval --help` (`none` only for eval). */
export function methodsHelp(opts: { withNone: boolean }): string {
  const names = Object.keys(METHODS);
  const width = Math.max(...names.map((n) => n.length), 4) + 2;
  return [
    'Methods (--method):',
    ...names.map((n) => `  ${n.padEnd(width)}${METHODS[n].description}`),
    ...(opts.withNone ? [`  ${'none'.padEnd(width)}the unedited model only`] : []),
  ].join('\n');
}

/**
 * "z cache DIR: 998 of 1,000 target vectors read, 2 computed": what a MEMIT-family editor's
 * `--z-cache` did over the run; undefined without one.
 */
export function zCacheLine(ctx: CommandContext, editor: MethodEditor | undefined): string | undefined {
  const z = editor?.zCache;
  if (!z) return undefined;
  return `z cache ${shortPath(ctx.io, z.dir)}: ${formatInt(z.hits)} of ${formatInt(z.hits + z.misses)} target vectors read, ${formatInt(z.misses)} computed`;
}

/** The progress detail of an edit's z stage with a z cache ("z cache: 3 read, 1 to compute"); '' otherwise. */
export function zCacheProgress(info: Record<string, number> | undefined): string {
  if (info?.zCacheHits === undefined) return '';
  return `z cache: ${formatInt(info.zCacheHits)} read, ${formatInt(info.zCacheMisses ?? 0)} to compute`;
}

/** An evaluation's progress shown on `bar`: its stage and, for a MEMIT-family editor with a z cache, the cache's reads. */
export function evalProgress(bar: Progress): (p: EvalProgress) => void {
  return (p) => bar.update(p.done, p.total, [p.stage, zCacheProgress(p.detail?.info)].filter(Boolean).join(' · '), { stage: p.stage });
}

/** `{ zCache: { dir, hits, misses } }` for a command's JSON result when the editor has a z cache; `{}` otherwise. */
export function zCacheResult(editor: MethodEditor | undefined): { zCache?: { dir: string; hits: number; misses: number } } {
  const z = editor?.zCache;
  return z ? { zCache: { dir: z.dir, hits: z.hits, misses: z.misses } } : {};
}
