/**
 * The native allocator's buffer cache: one step of an editing loop (a ROME-style v* step —
 * forward with a trainable vector added at one layer's MLP output, loss, gradient of that
 * vector, AdamW update — on a small GPT-2, two threads) makes the same shapes every step, so
 * after the first steps it takes every buffer from the cache: `memory().systemAllocations`
 * stops growing. The live-tensor and live-byte accounting stays exact meanwhile.
 */
import * as m from '../src';

test('an editing step stops calling malloc after warm-up, and memory() stays exact', () => {
  const model = m.createModel({ model_type: 'gpt2', vocab_size: 97, n_embd: 32, n_layer: 3, n_head: 4, n_positions: 32 }, { seed: 3 });
  const ids = [
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
    [9, 10, 11, 12, 13, 14, 15, 16, 17],
  ];
  const targets = ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1] : -100)));
  const before = m.memory();
  const delta = m.zeros([32]);
  delta.requiresGrad = true;
  const opt = new m.AdamW([delta], { lr: 0.1 });
  const step = () =>
    m.tidy(() => {
      const { logits } = model.forward(ids, {
        hooks: { 'h.1.mlp_out': (out) => m.add(out, m.reshape(delta, [1, 1, 32])) },
      });
      const loss = m.crossEntropy(logits, targets);
      const [g] = m.grad(loss, [delta]);
      opt.update([g]);
      return loss.item();
    });
  const allocations: number[] = [];
  const losses: number[] = [];
  for (let s = 0; s < 6; s++) {
    losses.push(step());
    allocations.push(m.memory().systemAllocations);
  }
  expect(losses[5]).toBeLessThan(losses[0]); // the steps really train δ
  expect(allocations[5]).toBe(allocations[1]); // steps 3..6 reuse cached buffers only
  expect(m.memory().cachedBytes).toBeGreaterThan(0);

  opt.dispose();
  delta.dispose();
  const after = m.memory();
  expect(after.numTensors).toBe(before.numTensors);
  expect(after.numBytes).toBe(before.numBytes);
  model.dispose();
  m.releaseCachedMemory();
  expect(m.memory().cachedBytes).toBe(0);
});
