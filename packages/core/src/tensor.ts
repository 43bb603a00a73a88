/**
 * `Tensor`: a handle to native memory with a shape, a dtype and (when it takes part in
 * autograd) the node that produced it. Memory is explicit: `dispose()`, `using`, or `tidy`.
 */
import { DTYPE_BY_CODE, DTYPE_CODES, type DType, type NativeHandle } from '@medit/native';

import { call, isGradEnabled, native, trackTensor, untrackTensor } from './engine';
import { ArgumentError, DisposedTensorError, ShapeError } from './errors';

export type { DType } from '@medit/native';

/** The autograd record of an op output. @internal */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  /**
   * Gradients for each input given the output gradient (null where an input needs none). Reads
   * the inputs' `requiresGrad` when it runs: `grad` clears it on inputs that lead to no tensor
   * whose gradient is asked for, so their gradients (e.g. a weight's dW GEMM) are not computed.
   */
  backward: (dy: Tensor) => (Tensor | null)[];
  /** Other tensors the backward closure reads (kept alive by `tidy` with the output). */
  saved: Tensor[];
}

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int64'
        ? BigInt64Array
        : Uint16Array;

let nextId = 1;

export class Tensor implements Disposable {
  /** @internal */
  readonly __isMeditTensor = true;
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Whether gradients flow to/through this tensor. Set on leaves (parameters, edit vectors). */
  requiresGrad: boolean;
  /** @internal autograd node of the op that produced this tensor */
  node: GradNode | undefined;
  private handleRef: NativeHandle | null;

  /** @internal use the creation functions (`tensor`, `zeros`, ...) */
  constructor(handle: NativeHandle, shape?: readonly number[], dtype?: DType) {
    this.handleRef = handle;
    this.shape = Object.freeze(shape ? [...shape] : native().shape(handle));
    this.dtype = dtype ?? DTYPE_BY_CODE[native().dtype(handle)];
    this.requiresGrad = false;
    trackTensor(this);
  }

  /** The native handle; throws DisposedTensorError after dispose. @internal */
  handle(op = 'op'): NativeHandle {
    if (!this.handleRef) throw new DisposedTensorError(op);
    return this.handleRef;
  }

  get isDisposed(): boolean {
    return this.handleRef === null;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Frees the native memory now (views keep their shared buffer alive). Idempotent. */
  dispose(): void {
    if (!this.handleRef) return;
    native().dispose(this.handleRef);
    this.handleRef = null;
    this.node = undefined;
    untrackTensor(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** A copy of the contents as a typed array (Float32Array for float32, ...). */
  data<D extends DType = DType>(): TypedArrayFor<D> {
    return call((b) => b.read(this.handle('data'))) as TypedArrayFor<D>;
  }

  /** The contents as nested JS arrays of numbers. */
  toArray(): unknown {
    const flat = Array.from(this.data() as ArrayLike<number | bigint>, (v) => Number(v));
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return flat[offset];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item: expected a one-element tensor but received shape [${this.shape}]`);
    return Number((this.data() as ArrayLike<number | bigint>)[0]);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/** Wraps a fresh native handle. @internal */
export function wrapHandle(h: NativeHandle): Tensor {
  return new Tensor(h);
}

/**
 * Records the autograd node of `out` when grad mode is on and any input requires grad.
 * @internal
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  backward: GradNode['backward'],
  saved: Tensor[] = [],
): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward, saved };
  }
  return out;
}

/** Flat values {@link tensor} accepts: numbers, or bigints for 64-bit integer tensors. */
export type NumericArray = ArrayLike<number> | ArrayLike<bigint>;
export type NestedArray = number | NestedArray[];

function flatten(values: NestedArray, shape: number[], depth = 0, out: number[] = []): number[] {
  if (Array.isArray(values)) {
    if (shape.length <= depth) shape.push(values.length);
    else if (shape[depth] !== values.length) throw new ShapeError(`tensor: ragged nested array at depth ${depth}`);
    for (const v of values) flatten(v, shape, depth + 1, out);
  } else {
    out.push(values);
  }
  return out;
}

function typedFor(dtype: DType, values: NumericArray): ArrayBufferView {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values as ArrayLike<number>, Number);
    case 'float64':
      return Float64Array.from(values as ArrayLike<number>, Number);
    case 'int32':
      return Int32Array.from(values as ArrayLike<number>, Number);
    case 'int64':
      return BigInt64Array.from(values as ArrayLike<number>, (v) => BigInt(v));
    default:
      throw new ArgumentError(`tensor: creating ${dtype} tensors from JS values is not supported; create float32 and cast`);
  }
}

/**
 * Creates a tensor from JS data (copied).
 * @param values nested arrays, or a flat typed array / array with `shape`
 * @example tensor([[1, 2], [3, 4]])  // float32 [2, 2]
 */
export function tensor(values: NestedArray | NumericArray, shape?: readonly number[], dtype: DType = 'float32'): Tensor {
  let flat: NumericArray;
  let shp: number[];
  if (typeof values === 'number' || Array.isArray(values)) {
    shp = [];
    flat = flatten(values as NestedArray, shp);
    if (shape) {
      const n = shape.reduce((a, b) => a * b, 1);
      if (n !== flat.length) throw new ShapeError(`tensor: ${flat.length} values do not fill shape [${shape}]`);
      shp = [...shape];
    }
  } else {
    flat = values;
    shp = shape ? [...shape] : [values.length];
  }
  const n = shp.reduce((a, b) => a * b, 1);
  if (n !== flat.length) throw new ShapeError(`tensor: ${flat.length} values do not fill shape [${shp}]`);
  const data = typedFor(dtype, flat);
  return wrapHandle(call((b) => b.fromTypedArray(data, shp, DTYPE_CODES[dtype])));
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  return wrapHandle(call((b) => b.fill([...shape], DTYPE_CODES[dtype], value)));
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

/** A scalar (shape []) tensor. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return full([], value, dtype);
}

/** Samples N(mean, std²) with a seeded generator (Box–Muller over a 32-bit PRNG). */
export function randn(shape: readonly number[], opts: { seed?: number; std?: number; mean?: number; dtype?: DType } = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = mulberry32(opts.seed ?? 0);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(rng(), 1e-12);
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  const std = opts.std ?? 1;
  const mean = opts.mean ?? 0;
  for (let i = 0; i < n; i++) out[i] = mean + std * out[i];
  return tensor(out, shape, opts.dtype ?? 'float32');
}

/** A small, fast, seedable PRNG returning floats in [0, 1) (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
