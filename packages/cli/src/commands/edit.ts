/**
 * `medit edit`: edit facts with any method of the method table (packages/cli/src/methods.ts),
 * show per prompt (the edit prompt, its paraphrases, its neighbours) the answer before and
 * after and whether the new target is now the top answer, and save the edit (any method) or
 * write the edited model (methods that change weights).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type EditDelta, ArgumentError, fillTemplate, targetIds } from '@medit/core';
import type { EditCase } from '@medit/data';
import { scoreTargets } from '@medit/metrics';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, answer, checkCancelled, loadModelDir, resolvePath, shortPath } from '../common';
import { type MethodEditor, EDIT_METHOD_NAMES, createEditor, selectMethod, zCacheLine, zCacheProgress, zCacheResult } from '../methods';
import { formatDuration, formatInt } from '../output';
import { caseRequest, editCasesFromArgs } from '../requests';

export const EDIT_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory (config.json, model.safetensors, tokenizer.json)' },
  prompt: { type: 'string', value: 'TEXT', description: 'prompt template with {} for the subject, or the full prompt containing the subject' },
  subject: { type: 'string', value: 'S', description: 'the subject the fact is about' },
  target: { type: 'string', value: 'T', description: 'the new answer' },
  'target-true': { type: 'string', value: 'T', description: 'the answer the model gives now (kn needs it: it moves the neurons of that answer)' },
  paraphrase: { type: 'string', value: 'TEXT', multiple: true, description: 'another phrasing of the prompt (full text) that should now answer the target too; shown before/after' },
  neighbour: { type: 'string', value: 'TEXT', multiple: true, description: 'an unrelated prompt (full text) whose answer must not change; shown before/after' },
  requests: {
    type: 'string',
    value: 'FILE',
    description: "edit requests: .jsonl/.json of {prompt, subject, target_new}, or a CounterFact/zsRE/KnowEdit file (its paraphrase and neighbourhood prompts are checked too)",
  },
  method: { type: 'string', value: 'NAME', description: `editing method: ${EDIT_METHOD_NAMES.join(', ')} (default rome; see Methods below)` },
  hparams: { type: 'string', value: 'FILE', description: "the method's hyperparameters (.json or .yaml, EasyEdit field names)" },
  editor: { type: 'string', value: 'PATH', description: 'mend/ke: the trained editor; serac: the directory of medit train serac; ike: the retrieval encoder (defaults for fact-small: the shipped ones)' },
  memory: { type: 'string', value: 'FILE', description: "tpatcher, ft+kl: unrelated texts, one per line, or an edit dataset .json (default: the fact world's filler text)" },
  pool: { type: 'string', value: 'FILE', description: 'ike: CounterFact-format training records to draw demonstrations from' },
  k: { type: 'string', value: 'N', description: 'ike: demonstrations per edit (default 32)' },
  'stats-corpus': { type: 'string', value: 'FILE', description: `rome, memit, emmet, alphaedit: corpus (.txt/.jsonl) for the covariance (default: the fact world's filler text)` },
  'stats-cache': { type: 'string', value: 'DIR', description: 'rome, memit, emmet, alphaedit: covariance cache directory (default: $MEDIT_CACHE_DIR/stats or ~/.cache/medit/stats)' },
  'stats-file': { type: 'string', value: 'FILE', description: 'rome: precomputed statistics of the edited layer (a file written by medit stats)' },
  'no-covariance': { type: 'boolean', description: 'rome: use C = I instead of covariance statistics (mom2_adjustment: false)' },
  'z-cache': { type: 'string', value: 'DIR', description: 'memit, emmet, alphaedit: cache of the target vectors z, one file per request (or per subject sharing one z); reused when the weights, z layer, z settings, templates and request are the same (sweeps over λ, the solver or the earlier layers)' },
  'save-delta': { type: 'string', value: 'FILE', description: 'save the edit (weights, patch neurons, or a SERAC / IKE memory) for medit generate/eval/revert --delta' },
  out: { type: 'string', value: 'DIR', description: 'write the edited model as a new directory (atomic; the source is never modified; methods that change weights)' },
  'max-new-tokens': { type: 'string', value: 'N', description: 'tokens of each answer shown before/after (default 5, at least the target length)' },
  'require-success': { type: 'boolean', description: 'exit 1 and save nothing unless the new target is the top answer to every edit prompt' },
};

/** The edit did not take (with `--require-success`). */
export class EditFailedError extends Error {
  override name = 'EditFailedError';
}

/** A prompt checked before and after the edit. */
interface Probe {
  kind: 'prompt' | 'paraphrase' | 'neighbour';
  text: string;
}

/** What one probe answered before and after, and whether that is what the edit wants. */
interface ProbeResult extends Probe {
  before: string;
  after: string;
  /** prompt / paraphrase: the new target is the top answer (every target token is the argmax) */
  targetTop?: { before: boolean; after: boolean };
  /** neighbour: the answer is the same as before */
  unchanged?: boolean;
  ok: boolean;
}

function probesOf(c: EditCase): Probe[] {
  return [
    { kind: 'prompt', text: fillTemplate(c.request.prompt, c.request.subject) },
    ...c.rephrasePrompts.map((text) => ({ kind: 'paraphrase' as const, text })),
    ...c.localityPrompts.map((l) => ({ kind: 'neighbour' as const, text: l.prompt })),
  ];
}

/** Greedy answers (long enough to hold the target) and, for prompts and paraphrases, whether the target is the top answer. */
function observe(model: CausalLM, cases: EditCase[], probes: Probe[][], maxNew: number): { answers: string[][]; top: boolean[][] } {
  const answers = probes.map((ps, i) => {
    const k = Math.max(maxNew, targetIds(model.tokenizer!, cases[i].request.targetNew).length);
    return ps.map((p) => answer(model, p.text, k));
  });
  const queries = probes.flatMap((ps, i) => ps.filter((p) => p.kind !== 'neighbour').map((p) => ({ prompt: p.text, target: cases[i].request.targetNew })));
  const scored = scoreTargets(model, queries);
  let q = 0;
  const top = probes.map((ps) =>
    ps.map((p) => {
      if (p.kind === 'neighbour') return false;
      const s = scored[q++];
      return s.predicted.every((id, j) => id === s.targetIds[j]);
    }),
  );
  return { answers, top };
}

/** "method  ROME, layer 5, covariance over 12,345 tokens (cached)": what the edit runs. */
function methodLine(editor: MethodEditor, covarianceFlag: boolean): string {
  const hp = editor.hparams as { layers?: unknown; layer?: unknown };
  const layers = Array.isArray(hp.layers) && hp.layers.length > 0 ? (hp.layers as number[]) : typeof hp.layer === 'number' ? [hp.layer] : undefined;
  const cov = editor.statsSummary;
  const parts = [editor.name];
  if (layers) parts.push(`layer${layers.length > 1 ? 's' : ''} ${layers.join(',')}`);
  if (cov) parts.push(`covariance over ${formatInt(cov.tokens as number)} tokens${cov.cached ? ' (cached)' : ''}`);
  else if (covarianceFlag) parts.push('no covariance (C = I)');
  return parts.join(', ');
}

const mark = (ok: boolean) => (ok ? '✓' : '✗');

export async function runEdit(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const cases = editCasesFromArgs(io, args);
  const requests = cases.map(caseRequest);
  const { name, method } = selectMethod(ctx, { allowNone: false });
  const spec = method!;
  const maxNew = args.int('max-new-tokens', { min: 1, max: 256 }) ?? 5;
  const modelDir = args.required('model');
  const outArg = args.string('out');
  const requireSuccess = args.flag('require-success');
  // Fail before the (long) edit rather than at the save.
  if (outArg && spec.kind !== 'weights') {
    const why = spec.kind === 'patch' ? 'adds patch neurons to one MLP, which a Hugging Face checkpoint cannot express' : 'keeps its edits in a memory beside the unchanged model';
    throw new UsageError(`--out writes an edited model, but ${name} ${why}; save the edit with --save-delta FILE (medit generate --delta and medit eval --delta apply it)`, 'edit');
  }
  if (outArg && fs.existsSync(resolvePath(io, outArg))) throw new ArgumentError(`--out ${outArg} already exists; the edited model is written as a new directory`);
  const model = await loadModelDir(io, modelDir);
  let editor: MethodEditor | undefined;
  let delta: EditDelta | undefined;
  try {
    const missing = spec.needsTargetTrue ? requests.findIndex((r) => !r.targetTrue?.trim()) : -1;
    if (missing >= 0) {
      const prompt = fillTemplate(requests[missing].prompt, requests[missing].subject);
      const where = args.has('requests') ? `target_true in record ${missing} of --requests` : '--target-true';
      throw new UsageError(`--method ${name} changes the answer the model gives now: give it with ${where} (the model answers ${JSON.stringify(answer(model, prompt, maxNew))} to ${JSON.stringify(prompt)})`, 'edit');
    }
    out.line(`model   ${modelDir} (${model.config.modelType}, ${model.config.numLayers} layers)`);
    editor = await createEditor(ctx, spec, model, cases);
    out.line(`method  ${methodLine(editor, spec.inputs.includes('no-covariance'))}`);

    const probes = cases.map(probesOf);
    const before = observe(model, cases, probes, maxNew);
    const bar = out.progress(editor.name);
    const started = Date.now();
    try {
      delta = await editor.edit(model, requests, {
        signal: io.signal,
        onProgress: (p) => {
          const loss = p.info?.loss;
          const detail = [p.stage !== editor!.name ? p.stage : '', typeof loss === 'number' ? `loss ${loss.toFixed(3)}` : '', zCacheProgress(p.info)].filter(Boolean).join(' · ');
          bar.update(p.done, p.total, detail, { stage: p.stage, ...p.info });
        },
      });
    } finally {
      bar.end();
    }
    const editMs = Date.now() - started;
    const zLine = zCacheLine(ctx, editor);
    if (zLine) out.line(zLine);
    await checkCancelled(io); // nothing is saved after Ctrl-C
    delta.apply(model);
    const after = observe(model, cases, probes, maxNew);
    const editStats = ((delta.info.stats as { edits?: { updateNorm?: number }[] } | undefined)?.edits ?? []) as { updateNorm?: number }[];
    const edits = cases.map((c, i) => {
      const results: ProbeResult[] = probes[i].map((p, j) => {
        const b = before.answers[i][j];
        const a = after.answers[i][j];
        if (p.kind === 'neighbour') return { ...p, before: b, after: a, unchanged: a === b, ok: a === b };
        const targetTop = { before: before.top[i][j], after: after.top[i][j] };
        return { ...p, before: b, after: a, targetTop, ok: targetTop.after };
      });
      return {
        prompt: results[0].text,
        subject: c.request.subject,
        targetNew: c.request.targetNew,
        before: results[0].before,
        after: results[0].after,
        success: results[0].ok,
        updateNorm: editStats[i]?.updateNorm ?? null,
        probes: results,
      };
    });
    edits.forEach((e, i) => {
      out.line(`edit ${i + 1}: ${e.prompt} → ${e.targetNew}`);
      const w = (f: (p: ProbeResult) => string) => Math.max(...e.probes.map((p) => f(p).length));
      const [tw, bw, aw] = [w((p) => p.text), w((p) => p.before), w((p) => p.after)];
      for (const p of e.probes) {
        const verdict = p.kind === 'neighbour' ? `${mark(p.ok)} ${p.unchanged ? 'unchanged' : 'changed'}` : `${mark(p.ok)} ${JSON.stringify(e.targetNew)} is ${p.ok ? 'now' : 'not'} the top answer`;
        out.line(`  ${p.kind.padEnd(11)}${p.text.padEnd(tw)}   ${p.before.padEnd(bw)} → ${p.after.padEnd(aw)}   ${verdict}`);
      }
    });
    const succeeded = edits.filter((e) => e.success).length;
    const target = edits.length === 1 ? JSON.stringify(edits[0].targetNew) : 'the new target';
    out.line(`edited in ${formatDuration(editMs)}; ${target} is the top answer to ${succeeded} of ${edits.length} edit prompt${edits.length === 1 ? '' : 's'}`);
    const failed = edits.filter((e) => !e.success);
    if (requireSuccess && failed.length > 0) {
      out.result({ model: modelDir, method: editor.name, hparams: editor.hparams, covariance: editor.statsSummary ?? null, ...zCacheResult(editor), edits, editMs, success: false, delta: null, out: null });
      const e = failed[0];
      throw new EditFailedError(
        `the edit did not take: ${JSON.stringify(e.targetNew)} is not the top answer to ${JSON.stringify(e.prompt)} (it answers ${JSON.stringify(e.after)})${failed.length > 1 ? ` nor for ${failed.length - 1} more edit${failed.length > 2 ? 's' : ''}` : ''}; nothing was saved (--require-success)`,
      );
    }

    let deltaFile: string | null = null;
    const saveDelta = args.string('save-delta');
    if (saveDelta) {
      deltaFile = resolvePath(io, saveDelta);
      fs.mkdirSync(path.dirname(deltaFile), { recursive: true });
      await delta.save(deltaFile);
      out.line(`saved the edit to ${shortPath(io, deltaFile)}`);
    }
    let outDir: string | null = null;
    if (outArg) {
      outDir = resolvePath(io, outArg);
      await delta.writeEditedCheckpoint(model, outDir);
      out.line(`wrote the edited model to ${outArg}`);
    }
    const hp = editor.hparams as { layers?: number[] };
    out.result({
      model: modelDir,
      method: editor.name,
      ...(Array.isArray(hp.layers) && hp.layers.length > 0 ? { layer: hp.layers[0], layers: hp.layers } : {}),
      hparams: editor.hparams,
      covariance: editor.statsSummary ?? null,
      ...zCacheResult(editor),
      edits,
      editMs,
      success: failed.length === 0,
      delta: deltaFile,
      out: outDir,
    });
    return 0;
  } finally {
    delta?.dispose();
    editor?.dispose();
    model.dispose();
  }
}

/** Whether `text` begins with the words of `target` (the model answered it). */
export function startsWithWords(text: string, target: string): boolean {
  const a = text.trim().split(/\s+/);
  const b = target.trim().split(/\s+/);
  return b.every((w, i) => a[i] === w || (i === b.length - 1 && a[i]?.replace(/[.,;:!?]+$/, '') === w));
}
