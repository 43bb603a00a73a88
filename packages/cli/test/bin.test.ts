/**
 * The `medit` bin as npm links it: npm links bins right after unpacking, before the root
 * postinstall builds dist/, so a bin inside dist/ is never linked after a fresh `npm ci`. The bin
 * must be a file committed to git; it runs the built CLI, or says how to build it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT } from './helpers/run';

const PKG = path.join(ROOT, 'packages/cli');
const bin = (): string => JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8')).bin.medit;

test('the medit bin is a file tracked by git (it exists before any build)', () => {
  const rel = path.join('packages/cli', bin());
  expect(execFileSync('git', ['ls-files', '--error-unmatch', rel], { cwd: ROOT, encoding: 'utf8' }).trim()).toBe(rel);
  expect(fs.readFileSync(path.join(ROOT, rel), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  // the lockfile npm ci reads names the same bin
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  expect(lock.packages['packages/cli'].bin).toEqual({ medit: bin() });
});

test('the bin runs the built CLI: --help', () => {
  const r = spawnSync(process.execPath, [path.join(PKG, bin()), '--help'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^Usage: medit <command> \[options\]$/m);
});

test('without a build the bin says how to build instead of a stack trace', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-bin-'));
  try {
    const copy = path.join(tmp, bin());
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(path.join(PKG, bin()), copy);
    const r = spawnSync(process.execPath, [copy, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`medit: the CLI is not built (${path.join(tmp, 'dist', 'bin.js')} is missing); run "npm run build" in the repository root\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
