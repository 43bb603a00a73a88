/**
 * What a fresh `npm ci` does for a new user. The `medit` bin: npm links bins right after
 * unpacking, before the root postinstall builds dist/, so a bin inside dist/ is never linked; the
 * bin must be a file committed to git, which runs the built CLI or says how to build it. The
 * install policy: onnxruntime-node's install script (it downloads CUDA libraries) is denied in
 * package.json's allowScripts, and npm reads no configuration it does not know (an unknown
 * .npmrc key makes every npm command print "Unknown project config" warnings).
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

test("onnxruntime-node's install script is denied, and npm finds no configuration it does not know", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.allowScripts).toMatchObject({ 'onnxruntime-node': false });
  // npm (run from jest, possibly under npm test) prints its config warnings on stderr
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_config_')));
  const r = spawnSync('npm', ['config', 'list'], { cwd: ROOT, encoding: 'utf8', env });
  expect(r.status).toBe(0);
  expect(r.stderr).not.toMatch(/Unknown (project|env|user) config/);
});
