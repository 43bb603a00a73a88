/**
 * Finds and loads the addon (sharp-style): `MEDIT_NATIVE_PATH` first, then the local
 * cmake-js build. If nothing loads, throws one error listing every attempt and the fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeBinding } from './binding';
import { DTYPE_CODES } from './kernel-names';

function candidates(): string[] {
  const root = path.resolve(__dirname, '..');
  const list = [path.join(root, 'build', 'Release', 'medit_native.node'), path.join(root, 'build', 'Debug', 'medit_native.node')];
  const override = process.env.MEDIT_NATIVE_PATH;
  return override ? [override, ...list] : list;
}

function checkCodes(binding: NativeBinding): void {
  for (const [name, code] of Object.entries(DTYPE_CODES)) {
    if (binding.dtypeCodes[name] !== code) {
      throw new Error(`medit native addon ABI mismatch: dtype ${name} is ${binding.dtypeCodes[name]} in the addon but ${code} in kernel-names.ts; rebuild with \`npm run build:native\``);
    }
  }
}

let cached: NativeBinding | undefined;

/** The loaded addon (loaded once per process). */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  // OpenBLAS's idle workers busy-wait ~0.1 s after each call and steal the cores from the
  // OpenMP kernels that follow (attention, norms); a short timeout parks them (read by
  // OpenBLAS when the addon loads it, so it is set before the require below).
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
  const attempts: string[] = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      attempts.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const binding = require(file) as NativeBinding;
      checkCodes(binding);
      cached = binding;
      return binding;
    } catch (err) {
      attempts.push(`${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    [
      'Could not load the medit native addon.',
      ...attempts.map((a) => `  - ${a}`),
      `Fix: run \`npm run build:native\` (needs cmake, a C++17 compiler; Node ${process.version}).`,
      'Set MEDIT_NATIVE_PATH to use a prebuilt medit_native.node.',
    ].join('\n'),
  );
}
