/**
 * Files and folders written whole or not at all: everything is written under a temporary
 * sibling name `<target>.tmp-<pid>-<random>` and renamed into place. A process killed mid-save
 * leaves only such a temporary, which the next save into the same folder removes once its
 * process is gone ({@link removeStaleTemps}).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError } from '../errors';

/** `<target>.tmp-<pid>-<hex>`: unique per process and call. The native writer uses the same form. */
export function tempPathFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/** `<name>.tmp-<pid>-<hex>` (a hex or decimal suffix of 8+ digits, so ordinary names never match). */
const TEMP_NAME = /^.+\.tmp-(\d+)-[0-9a-f]{8,}$/;

/** Whether process `pid` exists on this machine (EPERM: it exists but belongs to another user). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporaries in `dir` that killed saves left behind: entries named
 * `<name>.tmp-<pid>-<hex>` whose process no longer exists. Temporaries of live processes
 * (a save in progress) are kept. A missing folder is not an error.
 * @returns the paths removed
 * @example removeStaleTemps('out'); // before writing out/edit.safetensors
 */
export function removeStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/** fsync of a folder, so a rename inside it is durable; best effort (some filesystems refuse it). */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // durability only; the rename itself already happened
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes `text` to `file` through a temporary file in the same folder (fsynced) and a rename,
 * so a reader never sees a half-written file (creating the folder if needed). Stale
 * temporaries of killed writers in that folder are removed first.
 */
export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir);
  const tmp = tempPathFor(file);
  const fd = fs.openSync(tmp, 'wx');
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

/**
 * Builds a folder at `target` atomically: `fill(tmp)` writes into a fresh temporary sibling
 * folder, which is then renamed to `target`. On any error the temporary is removed, so an
 * interrupted write never leaves a folder that looks complete.
 * @param label - names the caller in the error for an existing `target`
 * @throws ArgumentError when `target` already exists (nothing is overwritten)
 * @example await writeDirAtomic('out/adapter', (tmp) => fs.writeFileSync(path.join(tmp, 'a.json'), '{}'));
 */
export async function writeDirAtomic(target: string, fill: (tmp: string) => Promise<void> | void, label = 'writeDirAtomic'): Promise<void> {
  if (fs.existsSync(target)) throw new ArgumentError(`${label}: ${target} already exists`);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  removeStaleTemps(parent);
  const tmp = tempPathFor(target);
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  syncDir(parent);
}

