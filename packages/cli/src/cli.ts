/**
 * The `medit` command: dispatch, help, and one place that turns errors into messages and
 * exit codes (0 ok, 1 failure, 2 usage error, 130 cancelled). Stack traces only with
 * MEDIT_DEBUG=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { CancelledError, FingerprintMismatchError, MeditError, UnknownTokenError } from '@medit/core';

import { type OptionSpecs, UsageError, formatOptions, parseCommandArgs } from './args';
import { APPLY_OPTIONS, runApply } from './commands/apply';
import { DEMO_OPTIONS, runDemo } from './commands/demo';
import { EDIT_OPTIONS, runEdit } from './commands/edit';
import { EVAL_OPTIONS, runEval } from './commands/eval';
import { EXPORT_OPTIONS, runExport } from './commands/export';
import { GENERATE_OPTIONS, runGenerate } from './commands/generate';
import { REPORT_OPTIONS, runReport } from './commands/report';
import { REVERT_OPTIONS, runRevert } from './commands/revert';
import { SERVE_OPTIONS, runServe } from './commands/serve';
import { STATS_OPTIONS, runStats } from './commands/stats';
import { TRAIN_METHODS, runTrain, trainMethod } from './commands/train';
import { TUNE_OPTIONS, runTune } from './commands/tune';
import { type CommandContext, MODEL_CHECK_OPTIONS, type RunState, setModelChecks } from './common';
import { EDIT_METHOD_NAMES, METHOD_NAMES, methodsHelp } from './methods';
import { type CliIO, Output } from './output';

/** Exit codes of the `medit` binary. */
export const EXIT = { ok: 0, failure: 1, usage: 2, cancelled: 130 } as const;

interface Command {
  summary: string;
  usage: string;
  options: OptionSpecs;
  run(ctx: CommandContext): Promise<number>;
  /** more help after the options (e.g. eval's methods) */
  details?: () => string;
  /** `medit <command> <sub>`: the first argument picks the options (e.g. `medit train mend`) */
  sub?: (name: string | undefined) => { options: OptionSpecs; usage: string; summary: string };
}

const COMMANDS: Record<string, Command> = {
  edit: {
    summary: 'edit facts with any method and show the answers before and after',
    usage: `medit edit --model DIR (--prompt "{} is a citizen of" --subject S --target T [--paraphrase TEXT] [--neighbour TEXT] | --requests FILE) [--method ${EDIT_METHOD_NAMES.join('|')}] [options]`,
    options: { ...EDIT_OPTIONS, ...MODEL_CHECK_OPTIONS },
    run: runEdit,
    details: () => methodsHelp({ withNone: false }),
  },
  stats: {
    summary: 'compute (and cache) the covariance statistics ROME uses',
    usage: 'medit stats --model DIR [--layers 1,2] [--corpus FILE] [--max-docs N] [--cache DIR]',
    options: { ...STATS_OPTIONS, 'allow-nonfinite': MODEL_CHECK_OPTIONS['allow-nonfinite'] },
    run: runStats,
  },
  generate: {
    summary: 'continue a prompt (before and after a saved edit of any method with --delta)',
    usage: 'medit generate --model DIR --prompt TEXT [--delta FILE] [--max-new-tokens N] [--sample --seed N]',
    options: { ...GENERATE_OPTIONS, 'allow-nonfinite': MODEL_CHECK_OPTIONS['allow-nonfinite'] },
    run: runGenerate,
  },
  apply: {
    summary: 'write a model with a saved edit applied (refuses a model the edit was not computed on)',
    usage: 'medit apply --model DIR --delta FILE --out DIR [--force]',
    options: APPLY_OPTIONS,
    run: runApply,
  },
  revert: {
    summary: 'write an edited model with a saved edit taken back out (refuses a model that does not carry it)',
    usage: 'medit revert --model DIR --delta FILE --out DIR [--exact] [--force]',
    options: REVERT_OPTIONS,
    run: runRevert,
  },
  export: {
    summary: "write an edit or a model in other tools' formats: a PEFT LoRA adapter, ONNX, an edited HF checkpoint",
    usage: 'medit export --format lora|onnx|hf --model DIR [--delta FILE] --out DIR [--max-rank N] [--base-model-name NAME]',
    options: EXPORT_OPTIONS,
    run: runExport,
  },
  eval: {
    summary: 'evaluate an editing method on a dataset; writes reports/<model>-<method>.json and .html',
    usage: `medit eval --model DIR --dataset FILE [--method ${METHOD_NAMES.join('|')}] [--hparams FILE] [--editor FILE] [--delta FILE] [--mode single|batch|sequential] [--offset N] [--limit N] [--out PREFIX] [--explain]`,
    options: { ...EVAL_OPTIONS, ...MODEL_CHECK_OPTIONS },
    run: runEval,
    details: () => methodsHelp({ withNone: true }),
  },
  tune: {
    summary: 'choose hyperparameters on a validation split: sweep a grid with medit eval, write the best with its provenance',
    usage: `medit tune --method ${METHOD_NAMES.filter((m) => m !== 'none').join('|')} --model DIR --dataset VALIDATION.json --grid GRID.json --out HPARAMS.json [--hparams BASE] [--limit N] [--metric KEY]`,
    options: TUNE_OPTIONS,
    run: runTune,
    details: () => methodsHelp({ withNone: false }),
  },
  report: {
    summary: 'join medit eval reports: methods side by side, or shards of one run (--shards)',
    usage: 'medit report --reports A.json,B.json[,...] [--shards] [--out PREFIX] [--markdown FILE]',
    options: REPORT_OPTIONS,
    run: runReport,
  },
  train: {
    summary: 'train a meta-learned editor (resumable checkpoints, JSON-lines log)',
    usage: `medit train <${Object.keys(TRAIN_METHODS).join('|')}> --model DIR --dataset FILE[,FILE] --out DIR [options]`,
    options: {},
    run: runTrain,
    sub: (name) => trainMethod(name),
  },
  serve: {
    summary: 'a local web playground on 127.0.0.1: edit facts, compare answers, undo, export',
    usage: 'medit serve [--port N] [--model DIR]',
    options: SERVE_OPTIONS,
    run: runServe,
  },
  demo: {
    summary: 'edit a few facts of the fact world and show what changed',
    usage: 'medit demo [--model DIR]',
    options: DEMO_OPTIONS,
    run: runDemo,
  },
};

function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function generalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  return [
    'medit: edit the knowledge of language models',
    '',
    'Usage: medit <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run "medit <command> --help" for a command\'s options. Every command takes --json.',
    'Exit codes: 0 ok, 1 failure, 2 usage error, 130 cancelled (Ctrl-C).',
    '',
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  return `${c.summary}\n\nUsage: ${c.usage}\n\nOptions:\n${formatOptions(c.options)}\n${c.details ? `\n${c.details()}\n` : ''}`;
}

/** The message of an error that is not one of ours (fs errors get their path named). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT' && e.path) return `file not found: ${e.path}`;
  if (e.code === 'EACCES' && e.path) return `permission denied: ${e.path}`;
  return err.message;
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and returns the exit code.
 * @example process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[], ioIn: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = {
    stdout: ioIn.stdout ?? process.stdout,
    stderr: ioIn.stderr ?? process.stderr,
    env: ioIn.env ?? process.env,
    cwd: ioIn.cwd ?? process.cwd(),
    signal: ioIn.signal,
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(generalHelp());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const c = rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    io.stdout.write(c ? commandHelp(rest[0], c) : generalHelp());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  const json = rest.includes('--json');
  const out = new Output(io, json, name);
  const state: RunState = {};
  try {
    const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
    const sub = command.sub && rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : undefined;
    if (command.sub && sub === undefined && (rest.includes('--help') || rest.includes('-h'))) {
      io.stdout.write(commandHelp(name, command));
      return EXIT.ok;
    }
    const spec = command.sub ? command.sub(sub) : command;
    const args = parseCommandArgs(name, sub === undefined ? rest : rest.slice(1), spec.options);
    if (args.flag('help')) {
      io.stdout.write(commandHelp(name, { ...command, ...spec }));
      return EXIT.ok;
    }
    setModelChecks(io, {
      allowNonFinite: args.flag('allow-nonfinite'),
      warnUnknown: args.flag('allow-unk') ? (message) => out.note(`medit ${name}: warning: ${message}; editing anyway (--allow-unk)`) : undefined,
    });
    return await command.run({ io, out, args, state, sub, argv: rest });
  } catch (err) {
    let code: number = EXIT.failure;
    let message = describe(err);
    let hint: string | undefined;
    if (err instanceof UsageError) {
      code = EXIT.usage;
      hint = err.command && COMMANDS[err.command] ? `Run "medit ${err.command} --help" for usage.` : 'Run "medit --help" for usage.';
    } else if (err instanceof UnknownTokenError) {
      hint = 'Pass --allow-unk to edit it anyway.';
    } else if (err instanceof FingerprintMismatchError && !/--force/.test(message)) {
      hint = 'Pass --force to go on anyway.';
    } else if (err instanceof CancelledError || (err instanceof Error && err.name === 'AbortError')) {
      code = EXIT.cancelled;
      message = `cancelled${state.resumeHint ? `; ${state.resumeHint}` : ''}`;
    }
    if (json) {
      const e = err as Partial<MeditError>;
      io.stdout.write(
        JSON.stringify({
          type: 'error',
          command: name,
          exitCode: code,
          error: { name: err instanceof Error ? err.name : 'Error', code: typeof e.code === 'string' ? e.code : undefined, message },
        }) + '\n',
      );
    } else {
      io.stderr.write(`medit ${name}: ${code === EXIT.cancelled ? '' : 'error: '}${message}\n${hint ? `${hint}\n` : ''}`);
    }
    if (io.env.MEDIT_DEBUG === '1' && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return code;
  }
}
