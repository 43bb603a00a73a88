/**
 * The engine's global state: the native binding, the scope stack behind `tidy`, and the
 * grad-mode flag. Follows tfjs's engine: every tensor made inside a scope is tracked and
 * freed when the scope ends unless returned or kept.
 */
import { loadBinding, type NativeBinding } from '@medit/native';

import { ArgumentError, fromNative } from './errors';
import type { Tensor } from './tensor';

let bindingCache: NativeBinding | undefined;

/** The native addon. @internal */
export function native(): NativeBinding {
  return (bindingCache ??= loadBinding());
}

/**
 * Runs a native call, turning native errors into typed errors with the caller's stack.
 * @internal
 */
export function call<T>(fn: (b: NativeBinding) => T): T {
  try {
    return fn(native());
  } catch (err) {
    const e = fromNative(err);
    Error.captureStackTrace?.(e, call);
    throw e;
  }
}

interface Scope {
  name: string;
  tracked: Set<Tensor>;
}

const scopes: Scope[] = [];
let liveTensors = 0;
let gradEnabled = true;

/** @internal called by the Tensor constructor */
export function trackTensor(t: Tensor): void {
  liveTensors++;
  scopes[scopes.length - 1]?.tracked.add(t);
}

/** @internal called by Tensor.dispose */
export function untrackTensor(t: Tensor): void {
  liveTensors--;
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].tracked.delete(t)) break;
}

function collectTensors(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ((value as { __isMeditTensor?: boolean }).__isMeditTensor) {
    out.add(value as Tensor);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, seen);
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  for (const v of Object.values(value as object)) collectTensors(v, out, seen);
}

/**
 * Runs `fn` and frees every tensor created inside it, except the tensors it returns
 * (directly, or inside arrays, maps and plain objects) and those passed to {@link keep}.
 * Frees them on throw too. Synchronous only: returning a Promise throws.
 *
 * @example
 * const y = tidy(() => relu(matmul(x, w)));   // the matmul result is freed
 */
export function tidy<T>(fn: () => T, name = 'tidy'): T {
  const scope: Scope = { name, tracked: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope.tracked) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope.tracked) t.dispose();
    throw new Error(`${name}: tidy() takes a synchronous function; use explicit dispose() around async work`);
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  // Tensors that a returned tensor's autograd graph still needs survive with it.
  const stack = [...returned];
  while (stack.length) {
    const node = stack.pop()!.node;
    if (!node) continue;
    for (const t of [...node.inputs, ...node.saved]) {
      if (!returned.has(t)) {
        returned.add(t);
        stack.push(t);
      }
    }
  }
  const parent = scopes[scopes.length - 1];
  for (const t of scope.tracked) {
    if (returned.has(t)) parent?.tracked.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempts a tensor from the enclosing `tidy` scopes (the caller now owns it). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.tracked.delete(t);
  return t;
}

/** Live tensors and native memory (the native counter includes every buffer, views share one). */
export interface MemoryInfo {
  /** JS tensor handles not yet disposed */
  numTensors: number;
  /** bytes held by the native allocator */
  numBytes: number;
  /** native buffers alive */
  numBuffers: number;
  /** high-water mark of native bytes since the last `resetPeakMemory()` */
  peakBytes: number;
  /** bytes of freed buffers the native allocator keeps for reuse (not in `numBytes`) */
  cachedBytes: number;
  /**
   * Buffer requests since start that the allocator's cache could not serve (malloc calls). A
   * loop that makes the same shapes every step stops adding to it after its first step.
   */
  systemAllocations: number;
}

/** Current memory use; tests assert it is unchanged around their work. */
export function memory(): MemoryInfo {
  const m = native().memory();
  return {
    numTensors: liveTensors,
    numBytes: m.liveBytes,
    numBuffers: m.liveBuffers,
    peakBytes: m.peakBytes,
    cachedBytes: m.cachedBytes,
    systemAllocations: m.systemAllocations,
  };
}

/**
 * Returns the native allocator's cached buffers to the system (they are otherwise kept for
 * reuse, up to MEDIT_CACHE_MB; by default while cached plus in-use memory stays within the
 * larger of 2 GiB and the most memory the process has had in use at once).
 */
export function releaseCachedMemory(): void {
  native().releaseCachedMemory();
}

/**
 * Lets the event loop run one turn. Node-API runs the finalizers of garbage-collected tensor
 * handles from the event loop, so a loop that never leaves its promise chain keeps every handle
 * it made (~200 bytes each, disposed or not) until it does: an AlphaEdit stream on fact-small
 * grew by 0.7 MB per edit. Editors call this at the start of every edit; long loops of other
 * work should await it now and then.
 * @example for (const r of requests) { await yieldToEventLoop(); ... }
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resets the native high-water mark to the current use. */
export function resetPeakMemory(): void {
  native().resetPeakMemory();
}

/** Whether ops currently record the autograd graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (inference, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Sets the number of threads CPU kernels use (the engine's pool; OpenBLAS too when linked).
 * The initial count is `MEDIT_NUM_THREADS`, else the CPUs the process may run on.
 * @example setNumThreads(1)  // single-threaded, e.g. beside other jobs
 */
export function setNumThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError(`Expected a positive integer for threads but received ${threads}`);
  native().setNumThreads(threads);
}

/** Compiled features of the native addon (BLAS, threads, SIMD level, CUDA and why not). */
export function buildInfo() {
  return native().buildInfo();
}

/**
 * Chooses the CPU GEMM implementation for products of more than 48 rows: the built-in kernel
 * ('fallback', the default) or the system BLAS (when compiled in). Skinny products always run
 * the built-in small-GEMM path. `MEDIT_GEMM=blas` sets the initial choice.
 */
export function setGemmBackend(backend: 'blas' | 'fallback'): void {
  native().setGemmFallback(backend === 'fallback');
}

/** Devices usable now. Only the CPU until the CUDA backend lands. */
export function devices(): { kind: 'cpu' | 'cuda'; index: number; name: string }[] {
  return [{ kind: 'cpu', index: 0, name: 'cpu' }];
}
