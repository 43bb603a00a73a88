/** `medit edit`: one or more ROME edits, with the answers before and after, optionally saved. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type EditDelta, type EditRequest, type LayerStats, ArgumentError, fillTemplate, loadStatsFile, modelFingerprint } from '@medit/core';
import { type RomeEditStats, type RomeHyperParams, RomeEditor } from '@medit/rome';

import type { OptionSpecs } from '../args';
import {
  type CommandContext,
  answer,
  checkCancelled,
  covarianceStats,
  defaultCacheDir,
  loadModelDir,
  requireFile,
  resolvePath,
  romeHparams,
  shortPath,
  statsCorpus,
} from '../common';
import { formatDuration, formatInt } from '../output';
import { requestsFromArgs } from '../requests';

export const EDIT_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory (config.json, model.safetensors, tokenizer.json)' },
  prompt: { type: 'string', value: 'TEXT', description: 'prompt template with {} for the subject, or the full prompt containing the subject' },
  subject: { type: 'string', value: 'S', description: 'the subject the fact is about' },
  target: { type: 'string', value: 'T', description: 'the new answer' },
  requests: { type: 'string', value: 'FILE', description: 'edit requests: .jsonl/.json of {prompt, subject, target_new}, or a CounterFact/zsRE/KnowEdit file' },
  method: { type: 'string', value: 'NAME', description: 'editing method (rome)' },
  hparams: { type: 'string', value: 'FILE', description: 'ROME hyperparameters (.json or .yaml, EasyEdit field names)' },
  'stats-corpus': { type: 'string', value: 'FILE', description: `corpus (.txt/.jsonl) for the covariance (default: the fact world's filler text)` },
  'stats-cache': { type: 'string', value: 'DIR', description: 'covariance cache directory (default: $MEDIT_CACHE_DIR/stats or ~/.cache/medit/stats)' },
  'stats-file': { type: 'string', value: 'FILE', description: 'precomputed statistics of the edited layer (a file written by medit stats)' },
  'no-covariance': { type: 'boolean', description: 'use C = I instead of covariance statistics (mom2_adjustment: false)' },
  'save-delta': { type: 'string', value: 'FILE', description: 'save the edit as safetensors (+ FILE.json) for generate/revert' },
  out: { type: 'string', value: 'DIR', description: 'write the edited model as a new directory (atomic; the source is never modified)' },
  'max-new-tokens': { type: 'string', value: 'N', description: 'tokens of each answer shown before/after (default 5)' },
};

/** The editor for a method name (only ROME so far). */
export function romeEditorFor(hp: RomeHyperParams, stats: Map<number, LayerStats> | undefined): RomeEditor {
  return new RomeEditor(hp, { stats });
}

/** Covariance statistics for the edited layer per the command's flags (undefined when C = I). */
export async function statsForEdit(ctx: CommandContext, model: CausalLM, hp: RomeHyperParams): Promise<{ stats?: Map<number, LayerStats>; summary: Record<string, unknown> | null }> {
  if (!hp.mom2_adjustment) return { summary: null };
  const { io, args } = ctx;
  const statsFile = args.string('stats-file');
  if (statsFile) {
    const file = requireFile(resolvePath(io, statsFile), 'statistics file');
    const stats = await loadStatsFile(file, modelFingerprint(model));
    const layer = hp.layers[0];
    if (stats.layer !== layer) {
      stats.mom2Sum.dispose();
      throw new ArgumentError(`covariance statistics are missing for layer ${layer}, the layer ROME edits: ${statsFile} holds layer ${stats.layer} (run "medit stats --layers ${layer}" or set layers: [${stats.layer}] in --hparams)`);
    }
    return { stats: new Map([[layer, stats]]), summary: { file: shortPath(io, file), tokens: stats.count, tokensPerSecond: null, cached: true } };
  }
  const corpus = statsCorpus(io, args.string('stats-corpus'));
  const cacheDir = resolvePath(io, args.string('stats-cache') ?? defaultCacheDir(io));
  const r = await covarianceStats(ctx, model, hp.layers, { corpus, cacheDir, maxDocs: hp.mom2_n_samples });
  return {
    stats: r.stats,
    summary: { corpus: corpus ? shortPath(io, corpus.source) : null, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, cached: r.cached, cacheDir: shortPath(io, cacheDir) },
  };
}

export async function runEdit(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const requests = requestsFromArgs(io, args);
  args.choice('method', ['rome'] as const, 'rome');
  const maxNew = args.int('max-new-tokens', { min: 1, max: 256 }) ?? 5;
  const modelDir = args.required('model');
  const outArg = args.string('out');
  // Fail before the (long) edit rather than at the save.
  if (outArg && fs.existsSync(resolvePath(io, outArg))) throw new ArgumentError(`--out ${outArg} already exists; the edited model is written as a new directory`);
  const model = await loadModelDir(io, modelDir);
  let stats: Map<number, LayerStats> | undefined;
  let editor: RomeEditor | undefined;
  let delta: EditDelta | undefined;
  try {
    const hp = romeHparams(io, args, model);
    const cov = await statsForEdit(ctx, model, hp);
    stats = cov.stats;
    out.line(`model   ${modelDir} (${model.config.modelType}, ${model.config.numLayers} layers)`);
    out.line(
      `method  ROME, layer ${hp.layers[0]}, ${
        cov.summary ? `covariance over ${formatInt(cov.summary.tokens as number)} tokens${cov.summary.cached ? ' (cached)' : ''}` : 'no covariance (C = I)'
      }`,
    );

    const prompts = requests.map((r) => fillTemplate(r.prompt, r.subject));
    const before = prompts.map((p) => answer(model, p, maxNew));
    editor = romeEditorFor(hp, stats);
    const bar = out.progress('ROME');
    const started = Date.now();
    try {
      delta = await editor.edit(model, requests, { signal: io.signal, onProgress: (p) => bar.update(p.done, p.total, p.stage, { stage: p.stage }) });
    } finally {
      bar.end();
    }
    const editMs = Date.now() - started;
    await checkCancelled(io); // nothing is saved after Ctrl-C
    delta.apply(model);
    const after = prompts.map((p) => answer(model, p, maxNew));
    const romeStats = (delta.info.stats?.edits ?? []) as RomeEditStats[];
    const edits = requests.map((r: EditRequest, i) => ({
      prompt: prompts[i],
      subject: r.subject,
      targetNew: r.targetNew,
      before: before[i],
      after: after[i],
      success: startsWithWords(after[i], r.targetNew),
      updateNorm: romeStats[i]?.updateNorm ?? null,
    }));
    edits.forEach((e, i) => {
      out.line(`edit ${i + 1}: ${e.prompt} → ${e.targetNew}`);
      out.line(`  before: ${e.before}`);
      out.line(`  after:  ${e.after}`);
    });
    out.line(`edited in ${formatDuration(editMs)}`);

    let deltaFile: string | null = null;
    const saveDelta = args.string('save-delta');
    if (saveDelta) {
      deltaFile = resolvePath(io, saveDelta);
      fs.mkdirSync(path.dirname(deltaFile), { recursive: true });
      await delta.save(deltaFile);
      out.line(`saved the edit to ${saveDelta} (+ ${path.basename(saveDelta)}.json)`);
    }
    let outDir: string | null = null;
    if (outArg) {
      outDir = resolvePath(io, outArg);
      await delta.writeEditedCheckpoint(model, outDir);
      out.line(`wrote the edited model to ${outArg}`);
    }
    out.result({
      model: modelDir,
      method: 'ROME',
      layer: hp.layers[0],
      hparams: hp,
      covariance: cov.summary,
      edits,
      editMs,
      delta: deltaFile,
      out: outDir,
    });
    return 0;
  } finally {
    delta?.dispose();
    editor?.dispose();
    for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
    model.dispose();
  }
}

/** Whether `text` begins with the words of `target` (the model answered it). */
export function startsWithWords(text: string, target: string): boolean {
  const a = text.trim().split(/\s+/);
  const b = target.trim().split(/\s+/);
  return b.every((w, i) => a[i] === w || (i === b.length - 1 && a[i]?.replace(/[.,;:!?]+$/, '') === w));
}
