/**
 * Trained-editor files: one safetensors file holding the editor's tensors, with its description
 * (method, the base model's fingerprint, hyperparameters, edited weights, method state, training
 * summary) as JSON in the header (core's tensor documents), written by one atomic rename — a
 * save killed at any moment leaves the previous file or the new one. Files of the earlier
 * two-file format (`<file>` + `<file>.json`, e.g. the committed fixtures) are still read. An
 * editor is tied to the base model it was trained on (its networks and normalisation statistics
 * are, spec §1.10 item 7), so loading checks the fingerprint and refuses another model with an
 * error naming both.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, type CausalLM, IOError, Tensor, assertFinite, modelFingerprint, readTensorDocument, writeTensorDocument } from '@medit/core';

/** The description of a trained editor. */
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

const FORMAT = 'medit-trained-editor';

/**
 * Writes `<file>` (creating the directory). `extra` tensors (e.g. a trainer's optimiser state)
 * go into the same file, so they can never belong to another save than the editor's.
 */
export async function saveEditorFile(file: string, tensors: ReadonlyMap<string, Tensor>, info: EditorFileInfo, extra: ReadonlyMap<string, Tensor> = new Map()): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const handles = new Map([...tensors, ...extra].map(([k, t]) => [k, t.handle('saveEditorFile')]));
  await writeTensorDocument(file, handles, FORMAT, info);
}

/**
 * Reads an editor file. With `model`, checks that it is the base model the editor was trained on.
 * @returns every tensor of the file (the editor's and any `extra`), owned by the caller, and the description
 * @throws IOError for a missing or malformed file, ArgumentError for another method or base model,
 *   NonFiniteError naming the tensor when one holds NaN or ±Inf
 */
export async function loadEditorFile(file: string, method: string, model?: CausalLM): Promise<{ tensors: Map<string, Tensor>; info: EditorFileInfo }> {
  const doc = await readTensorDocument(file, FORMAT, 'trained editor');
  const tensors = new Map([...doc.tensors].map(([k, h]) => [k, new Tensor(h)]));
  try {
    const info = doc.document as unknown as EditorFileInfo;
    const where = doc.sidecar ? `${file}.json` : file;
    if (info.format !== FORMAT || info.version !== 1) throw new IOError(`${where}: not a medit trained-editor file (format ${JSON.stringify(info.format)}, version ${info.version})`);
    // The two-file format's header names its method too: a pair from two saves of different methods differs here.
    if (doc.sidecar && doc.metadata.method !== info.method) {
      throw new IOError(`${file}: the tensors are a ${doc.metadata.method} editor's but ${path.basename(where)} describes a ${info.method} editor; the pair comes from two different saves`);
    }
    if (info.method !== method) throw new ArgumentError(`${file}: holds a ${info.method} editor, not ${method}`);
    for (const [name, t] of tensors) assertFinite(t, `tensor ${name} of the ${method} editor`, file);
    if (model) {
      const fp = modelFingerprint(model);
      if (fp !== info.modelFingerprint) {
        throw new ArgumentError(
          `${file}: this ${method} editor was trained for the base model with fingerprint ${info.modelFingerprint.slice(0, 16)}… but the model given has ${fp.slice(0, 16)}…` +
            `${model.source ? ` (${model.source})` : ''}; an editor only works on the model it was trained on — train one for this model (medit train ${method.toLowerCase()})`,
        );
      }
    }
    return { tensors, info };
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
}
