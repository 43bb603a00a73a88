/** Content hashes of weights, used to tie caches and edits to the model they came from. */
import { createHash, type Hash } from 'node:crypto';

import { ArgumentError } from '../errors';
import type { Tensor } from '../tensor';
import type { CausalLM } from './model';

function hashWeight(h: Hash, name: string, t: Tensor): void {
  h.update(`\n${name}:${t.dtype}:[${t.shape.join(',')}]\n`);
  const d = t.data() as ArrayBufferView;
  h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

/**
 * sha256 over every parameter's name, dtype, shape and bytes (in name order), plus the
 * model type. Two models with equal weights get equal fingerprints whatever their source.
 */
export function modelFingerprint(model: CausalLM): string {
  const h = createHash('sha256');
  h.update(model.config.modelType);
  for (const name of [...model.params.keys()].sort()) hashWeight(h, name, model.params.get(name)!);
  return h.digest('hex');
}

/**
 * sha256 over the named weights only (name, dtype, shape and bytes, in name order; repeats
 * count once): the fingerprint an edit records of the weights it changes, cheap even for
 * large models.
 * @throws ArgumentError naming a weight that `weights` lacks
 * @example weightsFingerprint(model.params, ['transformer.h.1.mlp.c_proj.weight'])
 */
export function weightsFingerprint(weights: ReadonlyMap<string, Tensor>, names: Iterable<string>): string {
  const h = createHash('sha256');
  for (const name of [...new Set(names)].sort()) {
    const t = weights.get(name);
    if (!t) throw new ArgumentError(`weightsFingerprint: no weight named ${name}`);
    hashWeight(h, name, t);
  }
  return h.digest('hex');
}
