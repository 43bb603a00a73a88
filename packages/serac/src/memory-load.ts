/**
 * Rebuilds a saved SERAC or IKE memory from a delta read by `EditDelta.load` (which only knows
 * weight updates), for callers that load deltas without knowing their method (`medit generate`).
 */
import type { EditDelta } from '@medit/core';

import { loadTextEncoder } from './encoder';
import { IkeDelta } from './ike';
import type { MemoryDelta } from './memory-delta';
import { Serac, SeracDelta } from './serac';

/**
 * The memory delta a loaded delta holds, or undefined for an ordinary weight delta. A SERAC
 * memory loads the artefact directory recorded in it (`stats.serac.artefact`, as the saving
 * process saw the path); an IKE memory of several facts loads its retrieval encoder
 * (`stats.ikeEncoder`); `release` frees what was loaded.
 */
export async function memoryDeltaFrom(delta: EditDelta): Promise<{ delta: MemoryDelta; release(): void } | undefined> {
  const stats = delta.info.stats as { serac?: { artefact: string; classifier: 'scope-embedding' | 'scope-cross' }; ike?: { facts: string[] }; ikeEncoder?: string } | undefined;
  if (stats?.serac) {
    const serac = await Serac.load(stats.serac.artefact, { classifier: stats.serac.classifier });
    const d = SeracDelta.from(delta, serac);
    return {
      delta: d,
      release: () => {
        d.dispose();
        serac.dispose();
      },
    };
  }
  if (stats?.ike) {
    const encoder = stats.ike.facts.length > 1 && stats.ikeEncoder !== undefined ? await loadTextEncoder(stats.ikeEncoder) : undefined;
    const d = IkeDelta.from(delta, encoder);
    return {
      delta: d,
      release: () => {
        d.dispose();
        encoder?.dispose();
      },
    };
  }
  return undefined;
}
