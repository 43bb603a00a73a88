/**
 * `medit serve`: a local web playground on 127.0.0.1 — pick a model directory and a method,
 * type a fact, edit, and see the answers before and after for the prompt, a paraphrase and a
 * neighbour, a small evaluation, the history of edits with undo, and export (a LoRA adapter of
 * the newest edit, or the edited model). Runs until Ctrl-C.
 */
import { type OptionSpecs } from '../args';
import { type CommandContext } from '../common';
import { startPlayground } from '../serve/server';

export const SERVE_OPTIONS: OptionSpecs = {
  port: { type: 'string', value: 'N', description: 'port on 127.0.0.1 (default 7860; 0 picks a free one)' },
  model: { type: 'string', value: 'DIR', description: 'a Hugging Face model directory to load at start (the page can load another)' },
};

/** The playground's default port. */
export const SERVE_PORT = 7860;

export async function runServe(ctx: CommandContext): Promise<number> {
  const { io, out, args } = ctx;
  const port = args.int('port', { min: 0, max: 65535 }) ?? SERVE_PORT;
  const playground = await startPlayground(ctx, { port, model: args.string('model') });
  out.line(`medit playground on ${playground.url} (Ctrl-C stops it)`);
  out.event('listening', { url: playground.url });
  await new Promise<void>((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await playground.close();
  out.line('stopped');
  return 0;
}
