/** HF activation names (config `activation_function` / `hidden_act`) → ops. */
import { ArgumentError } from '../errors';
import { gelu, geluTanh, relu, silu, tanh } from '../ops/elementwise';
import type { Tensor } from '../tensor';

const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  gelu_fast: geluTanh,
  gelu: gelu,
  relu: relu,
  silu: silu,
  swish: silu,
  tanh: tanh,
};

/** The op for an HF activation name; throws ArgumentError naming the known ones otherwise. */
export function activationFn(name: string): (x: Tensor) => Tensor {
  const fn = ACTIVATIONS[name];
  if (!fn) throw new ArgumentError(`unsupported activation "${name}" (known: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return fn;
}
