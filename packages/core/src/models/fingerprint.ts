/** A content hash of a model's weights, used to tie caches and edits to the model they came from. */
import { createHash } from 'node:crypto';

import type { CausalLM } from './model';

/**
 * sha256 over every parameter's name, dtype, shape and bytes (in name order), plus the
 * model type. Two models with equal weights get equal fingerprints whatever their source.
 */
export function modelFingerprint(model: CausalLM): string {
  const h = createHash('sha256');
  h.update(model.config.modelType);
  for (const name of [...model.params.keys()].sort()) {
    const t = model.params.get(name)!;
    h.update(`\n${name}:${t.dtype}:[${t.shape.join(',')}]\n`);
    const d = t.data() as ArrayBufferView;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}
