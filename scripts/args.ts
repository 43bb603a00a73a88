/** Command-line flags of the scripts: `--name value`. */

/** The value after `--name`, else `fallback`; without a fallback a missing flag is an error. */
export function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`missing --${name}`);
  return fallback;
}
