/**
 * The `medit` command's contract: help, exit codes (0 ok, 1 failure, 2 usage error), errors
 * that name the problem without a stack trace (unless MEDIT_DEBUG=1), and --json errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FIX, PARITY_MODEL, runCli } from './helpers/run';

const EDIT = ['edit', '--model', PARITY_MODEL, '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')];

describe('help and usage', () => {
  test('no command prints the command list on stderr and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    for (const c of ['edit', 'stats', 'generate', 'revert', 'eval', 'demo']) expect(r.stderr).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  test('--help lists every command; <command> --help lists its options and exits 0', async () => {
    expect((await runCli(['--help'])).code).toBe(0);
    const r = await runCli(['edit', '--help']);
    expect(r.code).toBe(0);
    for (const f of ['--model DIR', '--prompt TEXT', '--subject S', '--target T', '--requests FILE', '--no-covariance', '--save-delta FILE', '--out DIR', '--json']) {
      expect(r.stdout).toContain(f);
    }
  });

  test.each([
    [['frobnicate'], /unknown command "frobnicate" \(commands: edit, stats/],
    [['edit', '--model', PARITY_MODEL, '--bogus'], /Unknown option '--bogus'/],
    [['edit', '--model', PARITY_MODEL, '--prompt', '{} is', '--subject', 'X'], /missing required option --target/],
    [['edit', '--model', PARITY_MODEL], /give the edit with --prompt, --subject and --target, or a file with --requests/],
    [['edit', '--model', PARITY_MODEL, '--requests', 'x.jsonl', '--subject', 'X'], /--requests cannot be combined with --subject/],
    [['edit', '--model', PARITY_MODEL, '--prompt', '{} is', '--subject', 'X', '--target', 'Y', '--method', 'none'], /unknown method "none" for --method \(known: rome, memit, emmet, alphaedit, ft, ft-l, ft-m, ft\+kl, kn, tpatcher, calinet, mend, ke, serac, ike\)/],
    [['edit', '--model', PARITY_MODEL, '--prompt', '{} is', '--subject', 'X', '--target', 'Y', '--method', 'tpatcher', '--out', 'x'], /--out writes an edited model, but tpatcher adds patch neurons .*--save-delta FILE/],
    [['edit', '--model', PARITY_MODEL, '--prompt', '{} is', '--subject', 'X', '--target', 'Y', '--method', 'ft', '--stats-file', 'x'], /--stats-file applies to --method rome/],
    [['generate', '--model', PARITY_MODEL, '--prompt', 'x', '--max-new-tokens', '0'], /Expected an integer in \[1, 4096\] for --max-new-tokens but received "0"/],
    [['generate', '--model', PARITY_MODEL, '--prompt', 'x', '--seed', '3'], /--seed only applies with --sample/],
    [['stats', '--model', PARITY_MODEL, '--layers', '0,x'], /Expected comma-separated non-negative integers for --layers but received "0,x"/],
    [['stats', '--model', PARITY_MODEL, '--layers', '7'], /layer 7 is outside the model's 2 layers/],
    [['eval', '--model', PARITY_MODEL, '--dataset', path.join(FIX, 'counterfact-parity.json'), '--mode', 'single', '--batch-size', '2'], /--batch-size applies to --mode batch or sequential/],
  ])('usage error %j exits 2 and names the problem', async (argv, message) => {
    const r = await runCli(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Run "medit( \w+)? --help" for usage/);
    expect(r.stdout).toBe('');
  });
});

describe('errors name the problem, exit 1, no stack trace', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-'));
    fs.mkdirSync(path.join(tmp, 'mamba'));
    fs.writeFileSync(path.join(tmp, 'mamba', 'config.json'), '{"model_type": "mamba"}');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each([
    ['subject not in prompt', [...EDIT, '--prompt', 'The Tower is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo'], 'subject "Eiffel Tower" does not occur in prompt "The Tower is located in"'],
    ['target empty', [...EDIT, '--prompt', '{} is located in', '--subject', 'Eiffel Tower', '--target', '  '], '--target is empty'],
    ['empty target in a requests file', [...EDIT, '--requests', path.join(FIX, 'requests.json')], 'record 1, field "target_new"'],
    ['two {} in the prompt', [...EDIT, '--prompt', '{} and {} are in', '--subject', 'Eiffel Tower', '--target', 'Tokyo'], '--prompt must contain at most one "{}"'],
    ['missing model directory', ['generate', '--model', '/nonexistent/model', '--prompt', 'x'], 'model directory not found: /nonexistent/model'],
    ['missing requests file', [...EDIT, '--requests', '/nonexistent/requests.jsonl'], 'requests file not found: /nonexistent/requests.jsonl'],
    ['missing corpus', ['stats', '--model', PARITY_MODEL, '--corpus', '/nonexistent/corpus.txt'], 'corpus file not found: /nonexistent/corpus.txt'],
    ['missing delta', ['generate', '--model', PARITY_MODEL, '--prompt', 'x', '--delta', '/nonexistent/d.safetensors'], 'delta file not found: /nonexistent/d.safetensors'],
  ])('%s', async (_what, argv, message) => {
    const r = await runCli(argv as string[]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/^medit \w+: error: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('unknown model type names the model_type and the supported ones; MEDIT_DEBUG=1 adds the stack', async () => {
    const argv = ['generate', '--model', path.join(tmp, 'mamba'), '--prompt', 'x'];
    const r = await runCli(argv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown model_type "mamba" \(supported: gpt2/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const debug = await runCli(argv, { env: { MEDIT_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at .*registry/);
  });

  test('--json reports the error as a JSON line with the exit code and error code', async () => {
    const r = await runCli(['generate', '--model', '/nonexistent/model', '--prompt', 'x', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.lines).toEqual([
      { type: 'error', command: 'generate', exitCode: 1, error: { name: 'IOError', code: 'MEDIT_E_IO', message: 'model directory not found: /nonexistent/model' } },
    ]);
    const usage = await runCli(['generate', '--json', '--nope']);
    expect(usage.code).toBe(2);
    expect(usage.lines[0]).toMatchObject({ type: 'error', exitCode: 2, error: { name: 'UsageError' } });
  });
});
