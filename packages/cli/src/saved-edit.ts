/**
 * A saved edit (`medit edit --save-delta FILE`) read back whatever its method: a weight delta,
 * T-Patcher / CaliNet patch neurons, or a SERAC / IKE memory. `medit generate --delta` and
 * `medit eval --delta` apply it to the model they load.
 */
import { EditDelta } from '@medit/core';
import { memoryDeltaFrom } from '@medit/serac';
import { PatchDelta } from '@medit/tpatcher';

/** A loaded edit and what frees it (the delta and anything it loaded, such as SERAC's models). */
export interface SavedEdit {
  delta: EditDelta;
  release(): void;
}

/** Reads the edit saved at `file` as the delta type its method needs. */
export async function loadSavedEdit(file: string): Promise<SavedEdit> {
  const plain = await EditDelta.load(file);
  try {
    const memory = await memoryDeltaFrom(plain);
    if (memory) {
      plain.dispose();
      return memory;
    }
    if ((plain.info.stats as { patch?: unknown } | undefined)?.patch) {
      // the patch takes over the loaded tensors: freeing it frees them
      const patch = PatchDelta.from(plain);
      return { delta: patch, release: () => patch.dispose() };
    }
  } catch (err) {
    plain.dispose();
    throw err;
  }
  return { delta: plain, release: () => plain.dispose() };
}
