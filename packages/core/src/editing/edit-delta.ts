/**
 * `EditDelta`: the weight changes an editor produced, as data. Apply it to a model,
 * revert it (bit-exact: the original weights are snapshotted on apply and copied back),
 * save/load it (one safetensors file whose header holds the description), or write an
 * edited checkpoint. A delta records sha256 fingerprints of the weights it changes, before
 * and after the change, and refuses to apply to or revert from weights that do not match.
 */
import * as path from 'node:path';

import { keep } from '../engine';
import { ArgumentError, FingerprintMismatchError, IOError, NonFiniteError, ShapeError } from '../errors';
import { readTensorDocument, writeTensorDocument } from '../io/tensor-document';
import { addInplace, clone, copyInplace, gemmInplace, vectorNorm } from '../linalg';
import { weightsFingerprint } from '../models/fingerprint';
import type { CausalLM } from '../models/model';
import { saveModel } from '../models/registry';
import { assertFinite } from '../ops/finite';
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

/** sha256 fingerprints ({@link weightsFingerprint}) of the weights a delta changes. */
export interface WeightFingerprints {
  /** the weights the delta was computed on: what `apply` expects to find */
  before: string;
  /** the same weights with the delta applied: what `revert` expects to find */
  after: string;
}

/** What produced a delta (kept in its file's header). */
export interface EditDeltaInfo {
  method: string;
  /** fingerprint of the whole model the delta was computed on */
  modelFingerprint?: string;
  /** fingerprints of the changed weights before and after the change (recorded by the first `apply`) */
  weights?: WeightFingerprints;
  hparams?: object;
  requests?: object[];
  /** method-specific numbers (norms, division factors, timings) */
  stats?: Record<string, unknown>;
}

/** Options of {@link EditDelta.apply} and {@link EditDelta.revert}. */
export interface ApplyOptions {
  /** Apply (revert) even when the weights' fingerprint is not the one the delta expects. */
  force?: boolean;
}

/** `__metadata__.format` of a delta file. */
const FORMAT = 'medit-edit-delta';
/** 2: one file, the description in `__metadata__`; 1: safetensors + `<file>.json` sidecar. */
const FORMAT_VERSION = 2;

const short = (fp: string): string => `${fp.slice(0, 12)}…`;

export class EditDelta {
  private originals: Map<string, Tensor> | null = null;
  private appliedTo: CausalLM | null = null;
  /** fingerprint of the changed weights right after `apply`, checked by `revert` */
  private appliedFingerprint: string | null = null;

  /**
   * @throws ArgumentError for an update with neither a dense nor a low-rank change
   * @throws NonFiniteError naming the update when a change holds NaN or ±Inf
   */
  constructor(
    readonly updates: WeightUpdate[],
    readonly info: EditDeltaInfo,
  ) {
    for (const u of updates) {
      if (!u.delta === !(u.left && u.right)) throw new ArgumentError(`EditDelta: update of ${u.name} needs either delta or left+right`);
      for (const [part, t] of [['delta', u.delta], ['left', u.left], ['right', u.right]] as const) {
        if (t) assertFinite(t, `the ${info.method} update of ${u.name} (${part})`);
      }
    }
    for (const u of updates) for (const t of [u.delta, u.left, u.right]) if (t) keep(t);
  }

  /** Whether the delta is currently applied to a model. */
  get applied(): boolean {
    return this.appliedTo !== null;
  }

  /** Checkpoint names of the weights this delta changes (each once). */
  get weightNames(): string[] {
    return [...new Set(this.updates.map((u) => u.name))];
  }

  /** {@link weightsFingerprint} of the weights this delta changes, as they are in `model` now. */
  fingerprintOf(model: CausalLM): string {
    this.checkFits(model);
    return weightsFingerprint(model.params, this.weightNames);
  }

  private checkFits(model: CausalLM): void {
    for (const u of this.updates) {
      const w = model.params.get(u.name);
      if (!w) throw new ArgumentError(`EditDelta: the model has no weight ${u.name}`);
      const shape = u.delta ? u.delta.shape : [u.left!.shape[0], u.right!.shape[1]];
      if (shape.join() !== w.shape.join()) throw new ShapeError(`EditDelta: update of ${u.name} has shape [${shape}] but the weight is [${w.shape}]`);
    }
  }

  /** The changed weights described for messages: "transformer.h.1.mlp.c_proj.weight" or "3 weights (a, b, …)". */
  private describeWeights(): string {
    const names = this.weightNames;
    return names.length === 1 ? names[0] : `${names.length} weights (${names.slice(0, 2).join(', ')}${names.length > 2 ? ', …' : ''})`;
  }

  /**
   * Why `found` (the changed weights' fingerprint) is not what `expected` says, in the words
   * of `action` (apply/revert); null when it matches.
   * @internal
   */
  mismatch(action: 'apply' | 'revert', found: string): string | null {
    const fp = this.info.weights;
    if (!fp) return null;
    const want = action === 'apply' ? fp.before : fp.after;
    if (found === want) return null;
    const what = `${this.info.method} edit of ${this.describeWeights()}`;
    if (action === 'apply') {
      const why = found === fp.after ? 'they already carry this edit (applied twice?)' : 'they are another model\'s, or carry another edit';
      return `cannot apply the ${what}: the weights are not those it was computed on (fingerprint ${short(found)}, expected ${short(want)}): ${why}`;
    }
    const why =
      found === fp.before
        ? 'they are the weights the edit was computed on: it was never applied'
        : 'they are not the weights this edit produced: it was applied twice, it is another edit, or the weights changed since';
    return `cannot revert the ${what}: the weights do not carry it (fingerprint ${short(found)}, expected ${short(want)}): ${why}`;
  }

  /** Adds every update to `weights` in order (the same kernels `apply` uses). */
  private addTo(weights: ReadonlyMap<string, Tensor>): void {
    for (const u of this.updates) {
      const w = weights.get(u.name)!;
      if (u.delta) addInplace(w, u.delta);
      else gemmInplace(w, u.left!, u.right!);
    }
  }

  /**
   * Adds the changes to the model's weights in place (snapshotting them for revert). The first
   * apply records the changed weights' fingerprints before and after (`info.weights`); later
   * applies (e.g. of a loaded delta) refuse weights whose fingerprint is not `before`.
   * @throws FingerprintMismatchError when the weights are not those the delta was computed on
   *   (unless `opts.force`); nothing is changed then
   * @example delta.apply(model); // ... delta.revert(model);
   */
  apply(model: CausalLM, opts: ApplyOptions = {}): void {
    if (this.appliedTo) throw new ArgumentError('EditDelta: already applied; revert it first');
    const before = this.fingerprintOf(model);
    const refused = this.mismatch('apply', before);
    if (refused && !opts.force) throw new FingerprintMismatchError(`${refused}; nothing was changed`);
    const originals = new Map<string, Tensor>();
    for (const name of this.weightNames) originals.set(name, keep(clone(model.param(name))));
    this.addTo(model.params);
    const after = weightsFingerprint(model.params, this.weightNames);
    this.info.weights ??= { before, after };
    this.originals = originals;
    this.appliedTo = model;
    this.appliedFingerprint = after;
  }

  /**
   * Records `info.weights` from `model`, which must hold the weights the delta was computed on
   * (the delta is added to copies of them; the model is not changed). Editors may call it so a
   * delta saved without ever being applied still carries its fingerprints.
   */
  recordFingerprints(model: CausalLM): void {
    const before = this.fingerprintOf(model);
    const copies = new Map(this.weightNames.map((n) => [n, clone(model.param(n))]));
    try {
      this.addTo(copies);
      this.info.weights = { before, after: weightsFingerprint(copies, this.weightNames) };
    } finally {
      for (const t of copies.values()) t.dispose();
    }
  }

  /**
   * Restores the weights exactly as they were before `apply`.
   * @throws FingerprintMismatchError when the weights changed since the apply (another delta
   *   applied after this one and not reverted first), unless `opts.force`
   */
  revert(model: CausalLM = this.appliedTo!, opts: ApplyOptions = {}): void {
    if (!this.appliedTo || !this.originals) throw new ArgumentError('EditDelta: not applied');
    if (model !== this.appliedTo) throw new ArgumentError('EditDelta: revert on a different model than it was applied to');
    const now = weightsFingerprint(model.params, this.weightNames);
    if (now !== this.appliedFingerprint && !opts.force) {
      throw new FingerprintMismatchError(
        `cannot revert the ${this.info.method} edit of ${this.describeWeights()}: the weights changed since it was applied (another edit applied after it? revert edits in reverse order); nothing was changed`,
      );
    }
    for (const [name, orig] of this.originals) {
      copyInplace(model.param(name), orig);
      orig.dispose();
    }
    this.originals = null;
    this.appliedTo = null;
    this.appliedFingerprint = null;
  }

  /**
   * Keeps an applied delta for good and frees its snapshot of the original weights: the
   * change stays, `applied` becomes false and the delta can no longer revert it. Long
   * sequential streams use it to keep memory flat.
   */
  releaseSnapshot(): void {
    if (!this.originals) throw new ArgumentError('EditDelta: not applied');
    for (const t of this.originals.values()) t.dispose();
    this.originals = null;
    this.appliedTo = null;
    this.appliedFingerprint = null;
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
   * Writes the delta to one safetensors file, atomically: tensors `<i>:<weight>::delta` or
   * `::left`/`::right`, and the description (method, fingerprints, hparams, requests, stats,
   * weight names) as JSON in `__metadata__`. A save killed at any moment leaves the previous
   * file or the new one.
   * @throws IOError when the file cannot be written
   * @example await delta.save('edit.safetensors');
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
    await writeTensorDocument(file, tensors, FORMAT, { formatVersion: FORMAT_VERSION, ...this.info, updates: this.updates.map((u) => u.name) });
  }

  /**
   * Reads a delta written by {@link save} (or by medit's earlier two-file format, whose
   * `<file>.json` sidecar must list the file's updates).
   * @throws IOError naming the file when it is missing, malformed, or its parts do not match
   * @throws NonFiniteError naming the file and update when a change holds NaN or ±Inf
   */
  static async load(file: string): Promise<EditDelta> {
    const doc = await readTensorDocument(file, FORMAT, 'edit delta');
    // wrapped at once so that every path below frees them on an error
    const tensors = new Map([...doc.tensors].map(([k, h]) => [k, wrapHandle(h)]));
    try {
      const { formatVersion, updates: names, ...info } = doc.document as unknown as EditDeltaInfo & { formatVersion?: unknown; updates?: unknown };
      const where = doc.sidecar ? `${file}.json` : file;
      if (formatVersion !== (doc.sidecar ? 1 : FORMAT_VERSION)) throw new IOError(`${where}: unsupported edit format version ${JSON.stringify(formatVersion)}`);
      if (typeof info.method !== 'string') throw new IOError(`${where}: the edit's description has no method`);
      const byIndex = new Map<number, WeightUpdate>();
      for (const [key, t] of tensors) {
        const m = /^(\d+):(.+)::(delta|left|right)$/.exec(key);
        if (!m) throw new IOError(`${file}: unexpected tensor ${key} in an edit delta`);
        const i = Number(m[1]);
        const u = byIndex.get(i) ?? { name: m[2] };
        if (u.name !== m[2]) throw new IOError(`${file}: update ${i} names both ${u.name} and ${m[2]}`);
        (u as unknown as Record<string, Tensor>)[m[3]] = t;
        byIndex.set(i, u);
      }
      const updates = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, u]) => u);
      // The description lists the updates it was saved with; a pair from two saves differs here.
      const listed = Array.isArray(names) ? names : [];
      if (listed.length !== updates.length || listed.some((n, i) => n !== updates[i].name)) {
        throw new IOError(
          `${file}: the tensors (${updates.length} update(s): ${updates.map((u) => u.name).join(', ') || 'none'}) do not match the description in ${doc.sidecar ? path.basename(where) : 'its header'} ` +
            `(${listed.length} update(s)); the ${doc.sidecar ? 'pair of files comes from two different saves' : 'file is corrupt'}`,
        );
      }
      try {
        return new EditDelta(updates, info as EditDeltaInfo);
      } catch (err) {
        if (err instanceof NonFiniteError) throw new NonFiniteError(`${file}: ${err.message}`, err.tensor, file);
        if (err instanceof ArgumentError) throw new IOError(`${file}: ${err.message}`); // e.g. an update with a left factor and no right
        throw err;
      }
    } catch (err) {
      for (const t of tensors.values()) t.dispose();
      throw err;
    }
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
