/**
 * The typed ABI of the addon. Nothing outside this package requires the `.node` file;
 * `@medit/core` builds its Tensor API on these functions.
 * @internal
 */

/** An opaque handle to a native tensor. */
export interface NativeHandle {
  readonly __nativeTensor: unique symbol;
}

/** An opaque cancellation flag shared with running native jobs. */
export interface NativeCancelToken {
  readonly __cancelToken: unique symbol;
}

export type NativeTypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array;

export interface BuildInfo {
  blas: boolean;
  blasActive: boolean;
  /** threads of the engine's pool (MEDIT_NUM_THREADS, default: the CPUs this process may use) */
  threads: number;
  /** instruction set of the float32 vector kernels (scalar, avx2, avx512) */
  simd: string;
  cuda: boolean;
  cudaReason: string;
}

export interface NativeMemory {
  liveBytes: number;
  liveBuffers: number;
  peakBytes: number;
  /** bytes of freed buffers the allocator keeps for reuse (not counted in liveBytes) */
  cachedBytes: number;
  cachedBuffers: number;
  /** buffer requests since start that the cache could not serve (malloc calls) */
  systemAllocations: number;
  /** buffer requests since start served from the cache */
  reuses: number;
}

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntryInfo {
  name: string;
  /** dtype as written in the file (F32, F16, BF16, F64, I64, ...) */
  dtype: string;
  shape: number[];
  /** byte offsets relative to the data section */
  begin: number;
  end: number;
}

export interface SafetensorsHeaderInfo {
  tensors: SafetensorsEntryInfo[];
  metadata: Record<string, string>;
}

type H = NativeHandle;
type Maybe<T> = T | null;

export interface NativeBinding {
  dtypeCodes: Record<string, number>;

  // tensors
  fromTypedArray(data: ArrayBufferView, shape: number[], dtype: number): H;
  fill(shape: number[], dtype: number, value: number): H;
  read(x: H): NativeTypedArray;
  shape(x: H): number[];
  dtype(x: H): number;
  reshape(x: H, shape: number[]): H;
  clone(x: H): H;
  sameStorage(a: H, b: H): boolean;
  dispose(x: H): void;
  memory(): NativeMemory;
  resetPeakMemory(): void;
  /** Returns every cached (freed) buffer to the system. */
  releaseCachedMemory(): void;
  buildInfo(): BuildInfo;
  setGemmFallback(force: boolean): void;
  /** Sets the pool's thread count (and OpenBLAS's when linked). */
  setNumThreads(threads: number): void;
  /**
   * Uses of the pool since start: jobs split over threads, calls run inline, of those the ones
   * made while another thread's job held the pool, and the times the pool found its workers
   * not running beside the caller and went inline for a while.
   */
  poolStats(): { jobs: number; inlineCalls: number; busyFallbacks: number; soloPeriods: number };
  /** Instruction set of the float32 vector kernels: in use, best available, all available. */
  simdInfo(): { level: string; best: string; supported: string[] };
  /** Pins the vector kernels to one instruction set (tests compare the paths). */
  setSimdLevel(level: string): void;
  /** Test entry: fn ∈ exp/log/tanh/erf on one instruction set, and std::fn in double. */
  vecMathCheck(fn: string, level: string, x: Float32Array): [Float32Array, Float64Array];
  newCancelToken(): NativeCancelToken;
  cancel(token: NativeCancelToken): void;

  // kernels (see include/medit/ops.h)
  cast(x: H, dtype: number): H;
  addInplace(dst: H, src: H, alpha: number): void;
  copyInplace(dst: H, src: H): void;
  matmul(a: H, b: H, transA: boolean, transB: boolean): H;
  matmulAsync(a: H, b: H, transA: boolean, transB: boolean): Promise<H>;
  linearForward(x: H, w: H, bias: Maybe<H>, inOut: boolean): H;
  linearBackward(dy: H, x: H, w: H, inOut: boolean, needDx: boolean, needDw: boolean, needDb: boolean): [Maybe<H>, Maybe<H>, Maybe<H>];
  linearActForward(x: H, w: H, bias: Maybe<H>, inOut: boolean, act: number): [H, H];
  linearActBackward(
    dy: H, x: H, w: H, pre: H, y: H, inOut: boolean, act: number, needDx: boolean, needDw: boolean, needDb: boolean,
  ): [Maybe<H>, Maybe<H>, Maybe<H>];
  binary(op: number, a: H, b: H): H;
  sumTo(x: H, shape: number[]): H;
  unary(op: number, x: H, alpha: number): H;
  unaryBackward(op: number, x: H, y: H, dy: H, alpha: number): H;
  sumAxis(x: H, axis: number, keepdim: boolean): H;
  maxLast(x: H): [H, H];
  topkLast(x: H, k: number): [H, H];
  layerNormForward(x: H, w: H, b: Maybe<H>, eps: number): [H, H, H];
  layerNormBackward(dy: H, x: H, w: H, mean: H, rstd: H): [H, H, H];
  rmsNormForward(x: H, w: H, eps: number): [H, H];
  rmsNormBackward(dy: H, x: H, w: H, rstd: H): [H, H];
  softmaxForward(x: H): H;
  softmaxBackward(y: H, dy: H): H;
  logSoftmaxForward(x: H): H;
  logSoftmaxBackward(y: H, dy: H): H;
  attentionForward(q: H, k: H, v: H, keyMask: Maybe<H>, causal: boolean, scale: number): [H, H];
  attentionBackward(dout: H, q: H, k: H, v: H, probs: H, scale: number): [H, H, H];
  embeddingForward(ids: H, table: H): H;
  embeddingBackward(ids: H, dy: H, vocab: number): H;
  crossEntropyForward(logits: H, targets: H, ignoreIndex: number): H;
  crossEntropyBackward(logits: H, targets: H, dloss: H, ignoreIndex: number): H;
  klDivForward(logp: H, logq: H): H;
  klDivBackward(logp: H, logq: H, dkl: H): [H, H];
  permute(x: H, perm: number[]): H;
  slice(x: H, axis: number, start: number, length: number): H;
  sliceBackward(src: H, shape: number[], axis: number, start: number): H;
  concat(xs: H[], axis: number): H;
  indexSelect(x: H, axis: number, index: H): H;
  indexAdd(base: H, axis: number, index: H, src: H): H;
  /** [count, first flat index or −1] of the NaN/±Inf elements of x (src/cpu/finite.cpp) */
  nonFinite(x: H): [number, number];
  adamwStepInplace(p: H, g: H, m: H, v: H, lr: number, beta1: number, beta2: number, eps: number, wd: number, step: number): void;

  // linear algebra (include/medit/linalg.h)
  secondMomentAccumulateInplace(acc: H, x: H): void;
  gemmInplace(c: H, a: H, b: H, transA: boolean, transB: boolean, alpha: number, beta: number): void;
  cholesky(a: H): H;
  choleskySolve(l: H, b: H): H;
  eigh(a: H): [H, H];

  // safetensors (src/io): load converts f16/bf16 to float32 unless keepDtype
  safetensorsReadHeader(path: string): SafetensorsHeaderInfo;
  safetensorsLoad(path: string, names: string[] | null, keepDtype: boolean): Promise<{ tensors: Record<string, H>; metadata: Record<string, string> }>;
  safetensorsSave(path: string, tensors: Record<string, H>, metadata: Record<string, string>): Promise<void>;
}
