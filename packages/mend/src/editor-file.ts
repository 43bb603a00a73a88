/**
 * Trained-editor files: `<file>` (safetensors: the editor's tensors) and `<file>.json` (method,
 * the base model's fingerprint, hyperparameters, edited weights, method state, training summary).
 * Both are written atomically (temporary sibling + rename). An editor is tied to the base model it
 * was trained on (its networks and normalisation statistics are, spec §1.10 item 7), so loading
 * checks the fingerprint and refuses another model with an error naming both.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, type CausalLM, IOError, Tensor, modelFingerprint, readCheckpoint, writeCheckpointFile, writeFileAtomic } from '@medit/core';

/** The JSON sidecar of a trained editor. */
export interface EditorFileInfo {
  format: 'medit-trained-editor';
  version: 1;
  /** "MEND" or "KE" */
  method: string;
  /** {@link modelFingerprint} of the base model */
  modelFingerprint: string;
  hparams: object;
  /** checkpoint names of the edited weights, in the editor's order */
  innerParams: string[];
  /** method state that is not a tensor (e.g. running-statistics counts) */
  state: Record<string, unknown>;
  /** training summary (iterations, validation loss ...) */
  training?: Record<string, unknown>;
}

function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Writes `<file>` and `<file>.json` (creating the directory). */
export async function saveEditorFile(file: string, tensors: ReadonlyMap<string, Tensor>, info: EditorFileInfo): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const handles = new Map([...tensors].map(([k, t]) => [k, t.handle('saveEditorFile')]));
  await writeCheckpointFile(file, handles, { format: info.format, method: info.method });
  writeJsonAtomic(`${file}.json`, info);
}

/**
 * Reads an editor file. With `model`, checks that it is the base model the editor was trained on.
 * @throws IOError for a missing or malformed file, ArgumentError for another method or base model
 */
export async function loadEditorFile(file: string, method: string, model?: CausalLM): Promise<{ tensors: Map<string, Tensor>; info: EditorFileInfo }> {
  let info: EditorFileInfo;
  try {
    info = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'));
  } catch (err) {
    throw new IOError(`${file}.json: cannot read the trained editor's JSON sidecar (${(err as Error).message})`);
  }
  if (info.format !== 'medit-trained-editor' || info.version !== 1) throw new IOError(`${file}.json: not a medit trained-editor file (format ${JSON.stringify(info.format)}, version ${info.version})`);
  if (info.method !== method) throw new ArgumentError(`${file}: holds a ${info.method} editor, not ${method}`);
  if (model) {
    const fp = modelFingerprint(model);
    if (fp !== info.modelFingerprint) {
      throw new ArgumentError(
        `${file}: this ${method} editor was trained for the base model with fingerprint ${info.modelFingerprint.slice(0, 16)}… but the model given has ${fp.slice(0, 16)}…` +
          `${model.source ? ` (${model.source})` : ''}; an editor only works on the model it was trained on — train one for this model (medit train ${method.toLowerCase()})`,
      );
    }
  }
  const ckpt = await readCheckpoint(path.dirname(path.resolve(file)), { file: path.basename(file) });
  const tensors = new Map([...ckpt.tensors].map(([k, h]) => [k, new Tensor(h)]));
  return { tensors, info };
}
