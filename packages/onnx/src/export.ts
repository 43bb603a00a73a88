/**
 * ONNX model directories: a decoder as Optimum lays it out (`decoder_model.onnx`,
 * `decoder_with_past_model.onnx`), a BERT encoder as the usual sentence-encoder exports
 * (`model.onnx`), each with the source's config.json and tokenizer files; written atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type Bert, type CausalLM, copySideFiles, writeDirAtomic } from '@medit/core';

import { bertToOnnx } from './bert';
import { decoderToOnnx } from './decoder';

/** File names of a decoder export (Hugging Face Optimum's). */
export const DECODER_FILES = { noPast: 'decoder_model.onnx', withPast: 'decoder_with_past_model.onnx' } as const;
/** File name of an encoder export. */
export const ENCODER_FILE = 'model.onnx';

/**
 * Writes `model` (its weights as they are now: apply an edit first to export the edited model)
 * as a new directory `dir` with both decoder graphs, config.json and the source's tokenizer files.
 * @throws ArgumentError when `dir` exists or the model is not exported (named)
 * @example delta.apply(model); await exportDecoderOnnx(model, 'out/edited-onnx');
 */
export async function exportDecoderOnnx(model: CausalLM, dir: string): Promise<string[]> {
  const noPast = decoderToOnnx(model, { past: false });
  const withPast = decoderToOnnx(model, { past: true });
  await writeDirAtomic(
    dir,
    (tmp) => {
      fs.writeFileSync(path.join(tmp, DECODER_FILES.noPast), noPast);
      fs.writeFileSync(path.join(tmp, DECODER_FILES.withPast), withPast);
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(model.config.raw, null, 2) + '\n');
      if (model.source) copySideFiles(model.source, tmp);
    },
    'exportDecoderOnnx',
  );
  return [DECODER_FILES.noPast, DECODER_FILES.withPast];
}

/**
 * Writes a BERT encoder loaded from `sourceDir` as a new directory `dir`: model.onnx, config.json
 * and the tokenizer files (the layout SERAC's `loadTextEncoder` reads).
 * @throws ArgumentError when `dir` exists or the activation is not exported
 */
export async function exportEncoderOnnx(bert: Bert, sourceDir: string, dir: string): Promise<string[]> {
  const bytes = bertToOnnx(bert);
  await writeDirAtomic(
    dir,
    (tmp) => {
      fs.writeFileSync(path.join(tmp, ENCODER_FILE), bytes);
      fs.copyFileSync(path.join(sourceDir, 'config.json'), path.join(tmp, 'config.json'));
      copySideFiles(sourceDir, tmp);
    },
    'exportEncoderOnnx',
  );
  return [ENCODER_FILE];
}
