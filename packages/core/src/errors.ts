/**
 * Typed errors. Native errors carry a `code` (MEDIT_E_*) that {@link fromNative} maps to
 * these classes, re-stacked at the TS call site so the stack points at user code.
 */

/** Base class of every error medit throws on purpose. */
export class MeditError extends Error {
  constructor(
    message: string,
    /** Stable machine-readable code (MEDIT_E_*). */
    readonly code: string = 'MEDIT_E_INTERNAL',
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that don't fit an op: the message names the op, the argument and both shapes. */
export class ShapeError extends MeditError {
  constructor(
    message: string,
    /** the checkpoint weight whose shape is wrong, when the error is about one */
    readonly tensor?: string,
  ) {
    super(message, 'MEDIT_E_SHAPE');
  }
}

/** A dtype an op does not accept. */
export class DTypeError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_DTYPE');
  }
}

/** Use of a tensor after `dispose()` (or after the `tidy` that owned it ended). */
export class DisposedTensorError extends MeditError {
  constructor(op: string) {
    super(`${op}: tensor was disposed`, 'MEDIT_E_DISPOSED');
  }
}

/** A requested device is not usable; `reason` says why. */
export class DeviceUnavailableError extends MeditError {
  constructor(device: string, readonly reason: string) {
    super(`device ${device} is unavailable: ${reason}`, 'MEDIT_E_DEVICE');
  }
}

/** A job stopped because its AbortSignal fired. */
export class CancelledError extends MeditError {
  constructor(message = 'cancelled') {
    super(message, 'MEDIT_E_CANCELLED');
  }
}

/** A file that cannot be read or written, or whose contents are malformed. */
export class IOError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_IO');
  }
}

/** An argument with the wrong value or type. Message form: "Expected <what> for <param> but received <value>". */
export class ArgumentError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_ARG');
  }
}

/** Out of native memory. */
export class OutOfMemoryError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_OOM');
  }
}

/**
 * NaN or ±Inf where medit needs finite numbers: weights at load, an editor's delta, covariance
 * statistics. The message names the tensor (and the file, when there is one).
 */
export class NonFiniteError extends MeditError {
  constructor(
    message: string,
    /** the tensor (checkpoint name, update name, statistics key) */
    readonly tensor: string,
    /** the file it came from, when it came from one */
    readonly file?: string,
  ) {
    super(message, 'MEDIT_E_NONFINITE');
  }
}

/**
 * A model that is not the one an edit expects: applying an edit to weights other than those it
 * was computed on, or reverting it from weights it did not produce (never applied, applied twice,
 * another edit's). The message says which; the CLI's `--force` overrides.
 */
export class FingerprintMismatchError extends MeditError {
  constructor(message: string) {
    super(message, 'MEDIT_E_FINGERPRINT');
  }
}

/**
 * A subject or target that the model's tokenizer maps to its unknown token: an edit would
 * rewrite what the model does for the unknown token (every unknown word) instead of the fact.
 */
export class UnknownTokenError extends MeditError {
  constructor(
    message: string,
    /** the words that tokenise to the unknown token */
    readonly words: string[],
  ) {
    super(message, 'MEDIT_E_UNK');
  }
}

/** A hyperparameter file field that no method reads (a typo such as `layerz`); names the closest known field. */
export class UnknownFieldError extends MeditError {
  constructor(
    message: string,
    readonly field: string,
    /** the closest known field by edit distance, if any is close */
    readonly suggestion?: string,
  ) {
    super(message, 'MEDIT_E_FIELD');
  }
}

/** Maps a native error (with `code`) to its typed class. */
export function fromNative(err: unknown): Error {
  if (err instanceof MeditError) return err;
  // Duck-typed: errors made by the addon may come from another realm (jest, vm).
  if (typeof err !== 'object' || err === null || typeof (err as Error).message !== 'string') return new MeditError(String(err));
  const native = err as Error & { code?: string };
  const code = native.code;
  switch (code) {
    case 'MEDIT_E_SHAPE':
      return new ShapeError(native.message);
    case 'MEDIT_E_DTYPE':
      return new DTypeError(native.message);
    case 'MEDIT_E_IO':
      return new IOError(native.message);
    case 'MEDIT_E_ARG':
      return new ArgumentError(native.message);
    case 'MEDIT_E_OOM':
      return new OutOfMemoryError(native.message);
    case 'MEDIT_E_CANCELLED':
      return new CancelledError(native.message);
    case 'MEDIT_E_DEVICE':
      return new DeviceUnavailableError('cuda', native.message);
    default:
      return native;
  }
}
