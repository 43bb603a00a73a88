/** Runs the CLI in-process (captured output) or as a child process (for signals and the real binary). */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { main } from '../../src';

export const ROOT = path.resolve(__dirname, '../../../..');
export const PARITY_MODEL = path.join(ROOT, 'test-fixtures/parity/gpt2-trained-wordlevel');
export const FIX = path.join(ROOT, 'test-fixtures/cli');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (only for --json runs) */
  lines: Record<string, unknown>[];
  /** the `type: "result"` line, if any */
  result?: Record<string, any>;
}

function parseLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

function finish(code: number, stdout: string, stderr: string): CliResult {
  const lines = stdout.trimStart().startsWith('{') ? parseLines(stdout) : [];
  return { code, stdout, stderr, lines, result: lines.find((l) => l.type === 'result') };
}

/** `medit <argv>` in this process, with MEDIT_CACHE_DIR pointing at `cacheDir`. */
export async function runCli(
  argv: string[],
  opts: { cacheDir?: string; env?: Record<string, string>; signal?: AbortSignal; tty?: boolean; columns?: number; cwd?: string } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false, columns: opts.columns ?? 120 },
    env: { HOME: '/nonexistent-home', ...(opts.cacheDir ? { MEDIT_CACHE_DIR: opts.cacheDir } : {}), ...opts.env },
    cwd: opts.cwd ?? ROOT,
    signal: opts.signal,
  });
  return finish(code, stdout, stderr);
}

/**
 * `medit <argv>` as a child process running the TypeScript entry (transpiled on load by
 * ts-register.js, so no build is needed). `onStdout` sees output as it arrives and may
 * signal the child.
 */
export function spawnCli(
  argv: string[],
  opts: { env?: Record<string, string>; onStdout?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['-r', path.join(__dirname, 'ts-register.js'), path.join(ROOT, 'packages/cli/src/bin.ts'), ...argv], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent-home', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onStdout?.(d.toString(), child);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ ...finish(code ?? -1, stdout, stderr), signal }));
  });
}
