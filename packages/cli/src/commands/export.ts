/**
 * `medit export`: a model, or a model with a saved edit, in the formats other tools load —
 * - `lora`: the edit as a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`;
 *   low-rank updates as they are, dense ones factored exactly or refused with the rank they need);
 * - `onnx`: the (edited) decoder as Optimum-style ONNX graphs without and with past key/values,
 *   or a BERT encoder as `model.onnx`;
 * - `hf`: the edited checkpoint as a Hugging Face directory.
 * Every format is written as a new directory, atomically (a temporary sibling renamed into place).
 */
import * as fs from 'node:fs';

import { type CausalLM, ArgumentError, EditDelta, exportLoraAdapter, loadEncoder, modelFingerprint, readConfig } from '@medit/core';
import { exportDecoderOnnx, exportEncoderOnnx } from '@medit/onnx';

import { type OptionSpecs, UsageError } from '../args';
import { type CommandContext, loadModelDir, requireFile, resolvePath } from '../common';

export const EXPORT_FORMATS = ['lora', 'onnx', 'hf'] as const;

export const EXPORT_OPTIONS: OptionSpecs = {
  format: { type: 'string', value: 'FMT', description: 'lora (PEFT adapter of the edit), onnx (decoder graphs; BERT encoders too), hf (edited checkpoint)' },
  model: { type: 'string', value: 'DIR', description: 'Hugging Face model directory (the model the edit was computed on)' },
  delta: { type: 'string', value: 'FILE', description: 'a saved edit (medit edit --save-delta); required for lora and hf, applied before an onnx export' },
  out: { type: 'string', value: 'DIR', description: 'new directory to write (atomic; must not exist)' },
  'max-rank': { type: 'string', value: 'N', description: 'lora: largest adapter rank per module (default: the largest rank whose factors are smaller than the dense change)' },
  'base-model-name': { type: 'string', value: 'NAME', description: 'lora: base_model_name_or_path of the adapter (default: --model as given)' },
};

/** Why a saved edit cannot be written as weights (memory-based editors, added neurons), or undefined. */
export function notAWeightEdit(delta: EditDelta): string | undefined {
  const stats = delta.info.stats as { serac?: unknown; ike?: unknown; patch?: { layer: number; neurons: number } } | undefined;
  if (stats?.serac || stats?.ike) return `the ${delta.info.method} edit is a memory beside the frozen model, not a change of its weights`;
  if (stats?.patch) return `the ${delta.info.method} edit adds ${stats.patch.neurons} neurons to layer ${stats.patch.layer}, which changes the architecture rather than the weights`;
  return undefined;
}

export async function runExport(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  args.required('format', EXPORT_FORMATS.join(', '));
  const format = args.choice('format', EXPORT_FORMATS, 'lora');
  const modelDir = args.required('model');
  const outArg = args.required('out');
  const deltaArg = args.string('delta');
  if (!deltaArg && format !== 'onnx') throw new UsageError(`--format ${format} needs --delta (the edit to write)`, 'export');
  for (const f of ['max-rank', 'base-model-name']) if (args.has(f) && format !== 'lora') throw new UsageError(`--${f} only applies with --format lora`, 'export');
  const maxRank = args.int('max-rank', { min: 1 });
  const outDir = resolvePath(io, outArg);
  if (fs.existsSync(outDir)) throw new ArgumentError(`--out ${outArg} already exists; exports are written as a new directory`);
  const deltaFile = deltaArg ? requireFile(resolvePath(io, deltaArg), 'delta file') : undefined;

  if (format === 'onnx' && readConfig(resolvePath(io, modelDir)).model_type === 'bert') {
    if (deltaFile) throw new UsageError('--delta applies to causal LMs; a BERT encoder is exported as it is', 'export');
    const bert = await loadEncoder(resolvePath(io, modelDir));
    try {
      const files = await exportEncoderOnnx(bert, resolvePath(io, modelDir), outDir);
      out.line(`wrote ${outArg}: ${files.join(', ')} (BERT encoder, opset 17) + config and tokenizer files`);
      out.result({ format, model: modelDir, delta: null, out: outDir, files });
    } finally {
      bert.dispose();
    }
    return 0;
  }

  const model: CausalLM = await loadModelDir(io, modelDir, { requireTokenizer: false });
  let delta: EditDelta | undefined;
  try {
    if (deltaFile) {
      delta = await EditDelta.load(deltaFile);
      const why = notAWeightEdit(delta);
      if (why) throw new ArgumentError(`${deltaArg}: ${why}, so it cannot be exported as ${format}`);
      const recorded = delta.info.modelFingerprint;
      if (recorded !== undefined && recorded !== modelFingerprint(model)) {
        out.note(`medit export: warning: the delta was computed on a different model than ${modelDir} (fingerprints differ); exporting it anyway`);
      }
    }
    const what = delta ? `${modelDir} with the ${delta.info.method} edit (${delta.updates.length} update${delta.updates.length === 1 ? '' : 's'})` : modelDir;
    if (format === 'lora') {
      const summary = await exportLoraAdapter(model, delta!, outDir, { maxRank, baseModelName: args.string('base-model-name') ?? modelDir });
      out.line(`wrote ${outArg}: a PEFT LoRA adapter of ${what}`);
      for (const m of summary.modules) out.line(`  ${m.module}  rank ${m.rank}${m.from === 'dense' ? ' (factored from a dense change)' : ''}`);
      for (const w of summary.unchanged) out.line(`  ${w}  unchanged (zero change, no module)`);
      out.line(`load it with PEFT (PeftModel.from_pretrained) or medit (loadModel(dir, { adapter: '${outArg}' }))`);
      out.result({ format, model: modelDir, delta: deltaFile, out: outDir, files: ['adapter_config.json', 'adapter_model.safetensors'], r: summary.r, modules: summary.modules, unchanged: summary.unchanged });
    } else if (format === 'hf') {
      await delta!.writeEditedCheckpoint(model, outDir);
      out.line(`wrote ${outArg}: ${what}, as a Hugging Face checkpoint`);
      out.result({ format, model: modelDir, delta: deltaFile, out: outDir, files: fs.readdirSync(outDir).sort() });
    } else {
      delta?.apply(model);
      const files = await exportDecoderOnnx(model, outDir);
      out.line(`wrote ${outArg}: ${what} as ONNX (opset 17): ${files.join(', ')} + config and tokenizer files`);
      out.result({ format, model: modelDir, delta: deltaFile ?? null, out: outDir, files });
    }
    return 0;
  } finally {
    delta?.dispose();
    model.dispose();
  }
}
