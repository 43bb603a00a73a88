/** Small helpers shared by the editors. @internal */

/** Pads rows on the right; returns ids and mask (ROME's right-padding convention, spec §1.3). */
export function rightPad(rows: number[][], pad: number): { ids: number[][]; mask: number[][] } {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...Array(width - r.length).fill(pad)]),
    mask: rows.map((r) => Array.from({ length: width }, (_, t) => (t < r.length ? 1 : 0))),
  };
}

/** Thrown by a hook to end a forward pass once the activations it needs are read. */
export class StopForward extends Error {}
