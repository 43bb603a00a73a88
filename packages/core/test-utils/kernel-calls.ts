/**
 * Which native kernels a piece of code runs: tests that assert work is NOT done (no weight
 * gradient in an editing loop, no backward off the paths to `wrt`).
 */
import type { NativeBinding } from '@medit/native';

import { native } from '../src/engine';

/** The calls of native kernel `kernel`, with their arguments, while `fn` runs (awaited). */
export async function kernelCalls<T>(kernel: keyof NativeBinding, fn: () => T | Promise<T>): Promise<{ result: T; calls: unknown[][] }> {
  const binding = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = binding[kernel];
  const calls: unknown[][] = [];
  binding[kernel] = (...args: unknown[]) => {
    calls.push(args);
    return original.apply(binding, args);
  };
  try {
    return { result: await fn(), calls };
  } finally {
    binding[kernel] = original;
  }
}

/** Of `linearBackward(dy, x, w, inOut, needDx, needDw, needDb)` calls, those that compute a weight or bias gradient. */
export function weightGradientCalls(calls: unknown[][]): unknown[][] {
  return calls.filter((c) => c[5] === true || c[6] === true);
}
