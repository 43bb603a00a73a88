#!/usr/bin/env node
/**
 * The `medit` binary. Ctrl-C aborts the running job through an AbortSignal, so it stops
 * between batches or steps, keeps resumable state and exits with 130; a second Ctrl-C quits at once.
 */
import { EXIT, main } from './cli';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  if (interrupts > 1) process.exit(EXIT.cancelled);
  process.stderr.write('\nmedit: stopping after the current step (Ctrl-C again to quit at once)\n');
  controller.abort();
});

main(process.argv.slice(2), { signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // main() reports every error itself; this is a last resort for a bug in the CLI.
    process.stderr.write(`medit: internal error: ${err instanceof Error ? (process.env.MEDIT_DEBUG === '1' ? err.stack : err.message) : String(err)}\n`);
    process.exitCode = EXIT.failure;
  },
);
