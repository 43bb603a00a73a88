/**
 * `medit eval --suites mmedit`: an editing method on MMEdit records (E-VQA / E-IC, read with
 * `@medit/data`'s `readMmedit`, images from the paths in the records) and a vision-language
 * model, through `@medit/metrics`' `evaluateMmedit`. Writes the EvalReport (`<out>.json`) and its
 * HTML view (`<out>.html`) with thumbnails of each case's edited, rephrased and locality images.
 * Methods are `medit eval`'s own (FT on any module via --hparams, MEND, KE, SERAC, IKE, none);
 * IKE's --pool is an MMEdit train file here.
 */
import * as path from 'node:path';

import { type CausalLM, readPng, writeFileAtomic } from '@medit/core';
import { readMmedit, withCaseImages } from '@medit/data';
import type { MethodSpec } from '@medit/methods';
import { evaluateMmedit, mmeditGallery, renderHtmlReport } from '@medit/metrics';
import { IkeEditor, ikeTemplateFor, loadTextEncoder, mmeditIkePool } from '@medit/serac';

import { UsageError } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath, shortPath } from '../common';
import { type MethodEditor, createEditor, selectMethod } from '../methods';
import { formatDuration } from '../output';
import { reportPaths, summaryTable } from './eval';

/** Cases shown with thumbnails in the HTML report. */
const GALLERY_CASES = 24;

/** The editor of `name` for an MMEdit run (IKE draws its demonstrations from MMEdit records). */
async function mmeditEditor(ctx: CommandContext, name: string, spec: MethodSpec | undefined, model: CausalLM): Promise<MethodEditor | undefined> {
  if (!spec) return undefined;
  if (name !== 'ike') return createEditor(ctx, spec, model, []);
  const { io, args } = ctx;
  const encoder = await loadTextEncoder(resolvePath(io, args.required('editor', 'the retrieval encoder')));
  const pool = mmeditIkePool(readMmedit(requireFile(resolvePath(io, args.required('pool', 'the demonstration pool (an MMEdit train file)')), 'pool file')).cases);
  const editor = new IkeEditor({ pool, encoder, k: args.int('k', { min: 0 }) ?? 32, template: ikeTemplateFor(model.tokenizer!) });
  return Object.assign(editor, { dispose: () => encoder.dispose() });
}

export async function runMmeditEval(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  if (args.string('suites')!.split(',').some((s) => s.trim() !== 'mmedit')) throw new UsageError('--suites mmedit cannot be combined with other suites', 'eval');
  for (const flag of ['mode', 'batch-size', 'eval-after', 'train-retain', 'keep-edited-facts', 'load', 'load-limit', 'generation', 'format']) {
    if (args.has(flag)) throw new UsageError(`--${flag} does not apply to --suites mmedit (single edits, teacher-forced)`, 'eval');
  }
  const datasetFile = requireFile(resolvePath(io, args.required('dataset')), 'dataset file');
  const { name: method, method: spec } = selectMethod(ctx, { allowNone: true });
  const offset = args.int('offset', { min: 0 }) ?? 0;
  const limit = args.int('limit', { min: 1 });
  const outArg = args.string('out') ?? 'report';
  const paths = reportPaths(outArg, resolvePath(io, outArg));
  const dataset = readMmedit(datasetFile);
  const cases = dataset.cases.slice(offset, limit ? offset + limit : undefined).map((c) => withCaseImages(c, readPng));
  if (cases.length === 0) throw new UsageError(`${shortPath(io, datasetFile)} has no usable MMEdit cases after --offset ${offset}${dataset.skipped.length ? ` (${dataset.skipped.length} skipped: ${dataset.skipped[0].reason})` : ''}`, 'eval');
  const model = await loadModelDir(io, args.required('model'));
  let editor: MethodEditor | undefined;
  try {
    editor = await mmeditEditor(ctx, method, spec, model);
    out.line(`evaluating ${editor ? editor.name : 'the unedited model'} on ${cases.length} MMEdit case${cases.length === 1 ? '' : 's'} of ${shortPath(io, datasetFile)}`);
    const bar = out.progress('eval');
    const started = Date.now();
    let report: Awaited<ReturnType<typeof evaluateMmedit>>;
    try {
      report = await evaluateMmedit({
        editor,
        model,
        cases,
        signal: io.signal,
        modelName: path.basename(resolvePath(io, args.required('model'))),
        onProgress: (p) => bar.update(p.done, p.total, p.stage, { stage: p.stage }),
      });
    } finally {
      bar.end();
    }
    writeFileAtomic(paths.json, JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(paths.html, renderHtmlReport(report, { title: `MMEdit: ${editor?.name ?? 'unedited'} on ${path.basename(datasetFile)}`, gallery: mmeditGallery(cases, GALLERY_CASES) }));
    for (const l of summaryTable(report)) out.line(l);
    out.line(`done in ${formatDuration(Date.now() - started)}; wrote ${shortPath(io, paths.json)} and ${shortPath(io, paths.html)}`);
    const summary = Object.fromEntries(report.methods.map((m) => [m.name, Object.fromEntries(Object.entries(m.aggregates).map(([k, a]) => [k, a.mean]))]));
    out.result({ model: args.required('model'), dataset: datasetFile, cases: cases.length, suite: 'mmedit', method, report: paths.json, html: paths.html, summary });
    return 0;
  } finally {
    editor?.dispose();
    model.dispose();
  }
}
