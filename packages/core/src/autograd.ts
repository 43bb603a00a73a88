/**
 * Reverse-mode autodiff over the graph that ops record (see `record` in tensor.ts).
 * `grad(loss, wrt)` walks the nodes reachable from `loss` in reverse topological order,
 * accumulating each tensor's gradient, and returns the gradients of `wrt`.
 */
import { noGrad, tidy } from './engine';
import { ArgumentError, ShapeError } from './errors';
import { add } from './ops/elementwise';
import { Tensor, full } from './tensor';

/**
 * Gradients of a scalar `loss` with respect to each tensor in `wrt` (zeros where `loss`
 * does not depend on it). Intermediate gradients are freed; the returned ones are owned
 * by the caller (or the enclosing `tidy`).
 *
 * @param seed gradient of the output (defaults to 1 for a one-element loss)
 * @throws ArgumentError when `loss` is not scalar and no seed is given, or `wrt` is empty
 * @example
 * const [gw] = grad(crossEntropy(linear(x, w), y), [w]);
 */
export function grad(loss: Tensor, wrt: Tensor[], seed?: Tensor): Tensor[] {
  if (wrt.length === 0) throw new ArgumentError('grad: expected at least one tensor for wrt');
  if (!seed && loss.size !== 1) {
    throw new ArgumentError(`grad: expected a one-element loss but received shape [${loss.shape}]; pass a seed gradient`);
  }
  if (seed && seed.shape.join() !== loss.shape.join()) {
    throw new ShapeError(`grad: seed shape [${seed.shape}] differs from loss shape [${loss.shape}]`);
  }
  // Topological order of nodes reachable from loss.
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[loss, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (visited.has(t)) {
        stack.pop();
        continue;
      }
      visited.add(t);
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !visited.has(next)) stack.push([next, 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  // Only what leads to a wanted tensor is worth a backward: nodes off those paths are skipped,
  // and inputs off them are marked as needing no gradient while their consumer's backward
  // runs (backward closures read `requiresGrad` then, so e.g. linear skips dW of a frozen
  // weight that requires grad for another purpose).
  const wanted = new Set(wrt);
  const leads = new Set<Tensor>();
  for (const t of order) if (wanted.has(t) || t.node?.inputs.some((i) => leads.has(i))) leads.add(t);
  return noGrad(() =>
    tidy(() => {
      const grads = new Map<Tensor, Tensor>();
      grads.set(loss, seed ?? full(loss.shape, 1, loss.dtype));
      for (let k = order.length - 1; k >= 0; k--) {
        const t = order[k];
        const g = grads.get(t);
        if (!g || !t.node || !leads.has(t)) continue;
        const inputs = t.node.inputs;
        const pruned = inputs.filter((inp) => inp.requiresGrad && !leads.has(inp));
        for (const inp of pruned) inp.requiresGrad = false;
        let inGrads: (Tensor | null)[];
        try {
          inGrads = t.node.backward(g);
        } finally {
          for (const inp of pruned) inp.requiresGrad = true;
        }
        inputs.forEach((inp, j) => {
          const gi = inGrads[j];
          if (!gi || !leads.has(inp)) return;
          if (gi.shape.join() !== inp.shape.join()) {
            throw new ShapeError(`grad: backward of ${t.node!.op} gave shape [${gi.shape}] for an input of shape [${inp.shape}]`);
          }
          const prev = grads.get(inp);
          grads.set(inp, prev ? add(prev, gi) : gi);
        });
        if (!wanted.has(t)) grads.delete(t);
      }
      return wrt.map((w) => grads.get(w) ?? full(w.shape, 0, w.dtype));
    }, 'grad'),
  );
}
