/** HF activation names (config `activation_function` / `hidden_act`) → ops. */
import { ArgumentError } from '../errors';
import type { LinearActivation } from '../ops/linalg';
import { gelu, geluTanh, relu, sigmoid, silu, tanh } from '../ops/elementwise';
import type { Tensor } from '../tensor';

const ACTIVATIONS: Record<string, LinearActivation> = {
  gelu_new: 'geluTanh',
  gelu_pytorch_tanh: 'geluTanh',
  gelu_fast: 'geluTanh',
  gelu: 'gelu',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
  tanh: 'tanh',
};

const OPS: Record<LinearActivation, (x: Tensor) => Tensor> = { geluTanh, gelu, relu, silu, tanh, sigmoid };

/** The op name of an HF activation (what `linearAct` fuses); throws ArgumentError naming the known ones otherwise. */
export function activationName(name: string): LinearActivation {
  const op = ACTIVATIONS[name];
  if (!op) throw new ArgumentError(`unsupported activation "${name}" (known: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return op;
}

/** The op for an HF activation name; throws ArgumentError naming the known ones otherwise. */
export function activationFn(name: string): (x: Tensor) => Tensor {
  return OPS[activationName(name)];
}
