/** `medit generate`: continue a prompt; with `--delta`, before and after applying a saved edit. */
import type { GenerateOptions } from '@medit/core';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, continuation, loadModelDir, requireFile, resolvePath } from '../common';
import { applyProblem } from '../delta-checks';
import { type SavedEdit, loadSavedEdit } from '../saved-edit';

export const GENERATE_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory' },
  prompt: { type: 'string', value: 'TEXT', description: 'text to continue' },
  delta: { type: 'string', value: 'FILE', description: 'a saved edit of any method (medit edit --save-delta: weights, patch neurons, or a SERAC / IKE memory): show the answer before and after it' },
  'max-new-tokens': { type: 'string', value: 'N', description: 'tokens to generate (default 10)' },
  sample: { type: 'boolean', description: 'sample instead of greedy decoding' },
  seed: { type: 'string', value: 'N', description: 'seed of the sampler (default 0; with --sample)' },
  temperature: { type: 'string', value: 'T', description: 'sampling temperature (default 1; with --sample)' },
  'top-k': { type: 'string', value: 'K', description: 'sample from the K most likely tokens (with --sample)' },
  'top-p': { type: 'string', value: 'P', description: 'nucleus sampling mass (with --sample)' },
};

export async function runGenerate(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const modelDir = args.required('model');
  const prompt = args.required('prompt');
  const sample = args.flag('sample');
  for (const f of ['seed', 'temperature', 'top-k', 'top-p']) if (args.has(f) && !sample) throw new UsageError(`--${f} only applies with --sample`, 'generate');
  const topP = args.number('top-p', { positive: true });
  if (topP !== undefined && topP > 1) throw new UsageError(`Expected a number in (0, 1] for --top-p but received ${topP}`, 'generate');
  const opts: GenerateOptions = {
    maxNewTokens: args.int('max-new-tokens', { min: 1, max: 4096 }) ?? 10,
    doSample: sample,
    seed: args.int('seed', { min: 0 }) ?? 0,
    temperature: args.number('temperature', { positive: true }),
    topK: args.int('top-k', { min: 1 }),
    topP,
  };
  const deltaArg = args.string('delta');
  const deltaFile = deltaArg ? requireFile(resolvePath(io, deltaArg), 'delta file') : undefined;
  const model = await loadModelDir(io, modelDir);
  let saved: SavedEdit | undefined;
  try {
    const before = continuation(model, prompt, opts);
    if (!deltaFile) {
      out.line(prompt + before);
      out.result({ model: modelDir, prompt, text: before });
      return 0;
    }
    saved = await loadSavedEdit(deltaFile);
    const delta = saved.delta;
    // a preview: a delta that does not fit the model is shown anyway, with the reason
    const problem = applyProblem(delta, model, modelDir);
    if (problem) out.note(`medit generate: warning: ${problem}; applying it anyway`);
    delta.apply(model, { force: true });
    const after = continuation(model, prompt, opts);
    out.line(`before: ${prompt}${before}`);
    out.line(`after:  ${prompt}${after}`);
    out.result({ model: modelDir, prompt, delta: deltaFile, method: delta.info.method, sameModel: problem === null, before, after });
    return 0;
  } finally {
    saved?.release();
    model.dispose();
  }
}
