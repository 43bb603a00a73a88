/** AdamW state export/import: an optimiser resumed from a saved state continues bit-identically. */
import { AdamW, clone, tensor, tidy } from '../src';

test('a resumed AdamW takes the same steps as an uninterrupted one', () => {
  tidy(() => {
    const grads = [0.3, -1.2, 0.7, 2.0].map((g) => tensor([g, -g / 2, g * g]));
    const a = tensor([1, 2, 3]);
    const optA = new AdamW([a], { lr: 0.1 });
    for (const g of grads) optA.update([g]);

    const b = tensor([1, 2, 3]);
    const optB = new AdamW([b], { lr: 0.1 });
    optB.update([grads[0]]);
    optB.update([grads[1]]);
    const saved = optB.exportState();
    const copy = { step: saved.step, moments: saved.moments.map((s) => s && { m: clone(s.m), v: clone(s.v) }) };
    optB.dispose();
    const resumed = new AdamW([b], { lr: 0.1 });
    resumed.importState(copy);
    resumed.update([grads[2]]);
    resumed.update([grads[3]]);
    expect(b.data()).toEqual(a.data());
    expect(resumed.exportState().step).toBe(4);
    expect(() => resumed.importState({ step: 1, moments: [] })).toThrow(/state for 0 parameters/);
    optA.dispose();
    resumed.dispose();
  });
});
