/** Invalid input to a metric function (wrong lengths, NaN, negative NLL, ...). */
export class MetricInputError extends Error {
  override name = 'MetricInputError';
}

/** @internal sharp-style message: "Expected <what> for <param> but received <value>". */
export function expected(what: string, param: string, value: unknown): MetricInputError {
  let shown: string;
  if (Array.isArray(value)) shown = `array of length ${value.length}`;
  else if (typeof value === 'number') shown = String(value);
  else if (typeof value === 'string') shown = `"${value}"`;
  else shown = value === null ? 'null' : typeof value;
  return new MetricInputError(`Expected ${what} for ${param} but received ${shown}`);
}
