/**
 * `EditDelta`: the weight changes an editor produced, as data. Apply it to a model,
 * revert it (bit-exact: the original weights are snapshotted on apply and copied back),
 * save/load it (safetensors + a JSON sidecar), or write an edited checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { keep } from '../engine';
import { ArgumentError, IOError, ShapeError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { readCheckpoint, writeCheckpointFile } from '../io/checkpoint';
import { addInplace, clone, copyInplace, gemmInplace, vectorNorm } from '../linalg';
import type { CausalLM } from '../models/model';
import { saveModel } from '../models/registry';
import { Tensor, wrapHandle } from '../tensor';

/** One weight's change, in the weight's own storage layout. */
export interface WeightUpdate {
  /** checkpoint name of the weight */
  name: string;
  /** dense change (same shape as the weight) */
  delta?: Tensor;
  /** low-rank change `left @ right`: left [rows, k], right [k, cols] */
  left?: Tensor;
  right?: Tensor;
}

/** What produced a delta (kept in its JSON sidecar). */
export interface EditDeltaInfo {
  method: string;
  /** fingerprint of the model the delta was computed on */
  modelFingerprint?: string;
  hparams?: object;
  requests?: object[];
  /** method-specific numbers (norms, division factors, timings) */
  stats?: Record<string, unknown>;
}

const FORMAT_VERSION = 1;

export class EditDelta {
  private originals: Map<string, Tensor> | null = null;
  private appliedTo: CausalLM | null = null;

  constructor(
    readonly updates: WeightUpdate[],
    readonly info: EditDeltaInfo,
  ) {
    for (const u of updates) {
      if (!u.delta === !(u.left && u.right)) throw new ArgumentError(`EditDelta: update of ${u.name} needs either delta or left+right`);
      for (const t of [u.delta, u.left, u.right]) if (t) keep(t);
    }
  }

  /** Whether the delta is currently applied to a model. */
  get applied(): boolean {
    return this.appliedTo !== null;
  }

  private checkFits(model: CausalLM): void {
    for (const u of this.updates) {
      const w = model.params.get(u.name);
      if (!w) throw new ArgumentError(`EditDelta: the model has no weight ${u.name}`);
      const shape = u.delta ? u.delta.shape : [u.left!.shape[0], u.right!.shape[1]];
      if (shape.join() !== w.shape.join()) throw new ShapeError(`EditDelta: update of ${u.name} has shape [${shape}] but the weight is [${w.shape}]`);
    }
  }

  /** Adds the changes to the model's weights in place (snapshotting them for revert). */
  apply(model: CausalLM): void {
    if (this.appliedTo) throw new ArgumentError('EditDelta: already applied; revert it first');
    this.checkFits(model);
    const originals = new Map<string, Tensor>();
    for (const u of this.updates) if (!originals.has(u.name)) originals.set(u.name, keep(clone(model.param(u.name))));
    for (const u of this.updates) {
      const w = model.param(u.name);
      if (u.delta) addInplace(w, u.delta);
      else gemmInplace(w, u.left!, u.right!);
    }
    this.originals = originals;
    this.appliedTo = model;
  }

  /** Restores the weights exactly as they were before `apply`. */
  revert(model: CausalLM = this.appliedTo!): void {
    if (!this.appliedTo || !this.originals) throw new ArgumentError('EditDelta: not applied');
    if (model !== this.appliedTo) throw new ArgumentError('EditDelta: revert on a different model than it was applied to');
    for (const [name, orig] of this.originals) {
      copyInplace(model.param(name), orig);
      orig.dispose();
    }
    this.originals = null;
    this.appliedTo = null;
  }

  /** Frobenius norm of each update (for logs and reports). */
  norms(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const u of this.updates) {
      if (u.delta) {
        out[u.name] = vectorNorm(u.delta.data() as Float32Array);
      } else {
        // ‖L R‖_F² = trace(Rᵀ Lᵀ L R): compute densely for the small factors used here.
        const rows = u.left!.shape[0];
        const cols = u.right!.shape[1];
        const k = u.left!.shape[1];
        const L = u.left!.data() as Float32Array;
        const R = u.right!.data() as Float32Array;
        let s = 0;
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            let v = 0;
            for (let r = 0; r < k; r++) v += L[i * k + r] * R[r * cols + j];
            s += v * v;
          }
        out[u.name] = Math.sqrt(s);
      }
    }
    return out;
  }

  /**
   * Writes `<file>` (safetensors: `<weight>::delta` or `<weight>::left`/`::right`) and
   * `<file>.json` (method, model fingerprint, hparams, requests, stats).
   */
  async save(file: string): Promise<void> {
    const tensors = new Map<string, ReturnType<Tensor['handle']>>();
    this.updates.forEach((u, i) => {
      const key = `${i}:${u.name}`;
      if (u.delta) tensors.set(`${key}::delta`, u.delta.handle('save'));
      else {
        tensors.set(`${key}::left`, u.left!.handle('save'));
        tensors.set(`${key}::right`, u.right!.handle('save'));
      }
    });
    await writeCheckpointFile(file, tensors, { format: 'medit-edit-delta', version: String(FORMAT_VERSION) });
    writeFileAtomic(`${file}.json`, JSON.stringify({ formatVersion: FORMAT_VERSION, ...this.info, updates: this.updates.map((u) => u.name) }, null, 2) + '\n');
  }

  /** Reads a delta written by {@link save}. */
  static async load(file: string): Promise<EditDelta> {
    const sidecar = `${file}.json`;
    let info: EditDeltaInfo & { formatVersion?: number };
    try {
      info = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
    } catch (err) {
      throw new IOError(`${sidecar}: cannot read the edit's JSON sidecar (${(err as Error).message})`);
    }
    if (info.formatVersion !== FORMAT_VERSION) throw new IOError(`${sidecar}: unsupported edit format version ${info.formatVersion}`);
    const ckpt = await readCheckpoint(path.dirname(file), { file: path.basename(file) });
    const byIndex = new Map<number, WeightUpdate>();
    for (const [key, handle] of ckpt.tensors) {
      const m = /^(\d+):(.+)::(delta|left|right)$/.exec(key);
      if (!m) throw new IOError(`${file}: unexpected tensor ${key} in an edit delta`);
      const i = Number(m[1]);
      const u = byIndex.get(i) ?? { name: m[2] };
      (u as unknown as Record<string, Tensor>)[m[3]] = wrapHandle(handle);
      byIndex.set(i, u);
    }
    const updates = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, u]) => u);
    const { formatVersion: _v, ...rest } = info;
    return new EditDelta(updates, rest as EditDeltaInfo);
  }

  /**
   * Writes the model with this delta applied as a new Hugging Face directory (atomic;
   * the source directory is never modified). The in-memory model is left as it was.
   */
  async writeEditedCheckpoint(model: CausalLM, dir: string): Promise<void> {
    const wasApplied = this.applied;
    if (!wasApplied) this.apply(model);
    try {
      await saveModel(model, dir, { metadata: { medit_edit: this.info.method } });
    } finally {
      if (!wasApplied) this.revert(model);
    }
  }

  /** Frees the delta's tensors (reverting first if applied). */
  dispose(): void {
    if (this.appliedTo) this.revert();
    for (const u of this.updates) for (const t of [u.delta, u.left, u.right]) t?.dispose();
  }
}
