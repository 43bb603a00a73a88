/**
 * Argument parsing over Node's own `util.parseArgs` (strict: unknown flags and missing
 * values are usage errors), plus typed accessors whose messages follow the project's
 * "Expected <what> for <param> but received <value>" form.
 */
import { parseArgs } from 'node:util';

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** the subcommand whose usage to point at */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** One `--flag`. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** placeholder shown in help, e.g. `DIR` */
  value?: string;
  /** may be given more than once (read with {@link Args.list}) */
  multiple?: boolean;
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** Options every command accepts. */
export const COMMON_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', description: 'print machine-readable JSON lines on stdout' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Parsed flags of one command with typed, validated accessors. */
export class Args {
  constructor(
    private readonly values: Record<string, string | boolean | string[] | undefined>,
    readonly positionals: string[],
    private readonly command: string,
  ) {}

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  /** The same flags with some replaced (e.g. one grid point's `--hparams` in `medit tune`). */
  with(values: Record<string, string | boolean | undefined>): Args {
    return new Args({ ...this.values, ...values }, this.positionals, this.command);
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** Every value of a flag that may be repeated (`--paraphrase A --paraphrase B`). */
  list(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** A string flag that must be present. */
  required(name: string, why = ''): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw new UsageError(`missing required option --${name}${why ? ` (${why})` : ''}`, this.command);
    return v;
  }

  /** An integer flag within [min, max]. */
  int(name: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    const { min = -Infinity, max = Infinity } = opts;
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      const range = min > -Infinity ? (max < Infinity ? ` in [${min}, ${max}]` : ` ≥ ${min}`) : '';
      throw new UsageError(`Expected an integer${range} for --${name} but received ${JSON.stringify(v)}`, this.command);
    }
    return n;
  }

  /** A finite number flag (optionally > 0). */
  number(name: string, opts: { positive?: boolean } = {}): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (opts.positive && !(n > 0))) {
      throw new UsageError(`Expected a ${opts.positive ? 'positive ' : ''}number for --${name} but received ${JSON.stringify(v)}`, this.command);
    }
    return n;
  }

  /** A comma-separated list of non-negative integers (`--layers 1,2`). */
  intList(name: string): number[] | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const parts = v.split(',').map((s) => s.trim());
    const out = parts.map(Number);
    if (parts.some((p) => p === '') || out.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new UsageError(`Expected comma-separated non-negative integers for --${name} but received ${JSON.stringify(v)}`, this.command);
    }
    return out;
  }

  /** One of a fixed set of words. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.string(name);
    if (v === undefined) return fallback;
    if (!choices.includes(v as T)) throw new UsageError(`Expected one of ${choices.join(', ')} for --${name} but received ${JSON.stringify(v)}`, this.command);
    return v as T;
  }
}

/** Parses `argv` (after the subcommand) against `specs` + the common options. */
export function parseCommandArgs(command: string, argv: string[], specs: OptionSpecs): Args {
  const all = { ...COMMON_OPTIONS, ...specs };
  const options = Object.fromEntries(Object.entries(all).map(([k, s]) => [k, { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    // parseArgs' messages are good ("Unknown option '--foo'"), minus its own advice about "--".
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg, command);
  }
  if (parsed.positionals.length > 0 && !parsed.values.help) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])} (every input is given with a --flag)`, command);
  }
  return new Args(parsed.values as Record<string, string | boolean | string[] | undefined>, parsed.positionals, command);
}

/** Help text for one command's options, aligned in two columns. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries({ ...specs, ...COMMON_OPTIONS }).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}${s.multiple ? ' ...' : ''}`;
    return [left, s.description] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, d]) => `  ${l.padEnd(width)}${d}`).join('\n');
}
