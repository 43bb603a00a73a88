/**
 * @medit/cli — the `medit` command (edit, stats, generate, apply, revert, eval, demo) and its
 * programmatic entry point.
 * @example
 * import { main } from '@medit/cli';
 * process.exitCode = await main(['edit', '--model', 'test-fixtures/models/fact-tiny', '--prompt', '{} is a citizen of', '--subject', 'Rakem Boskre', '--target', 'Lasktra']);
 */
export { main, EXIT } from './cli';
export type { CliIO } from './output';
export { UsageError } from './args';
