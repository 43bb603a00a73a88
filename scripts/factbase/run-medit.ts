/**
 * One `medit` command run in this process, for the fact-base drivers (bars, tuning): its output
 * lines go to `log` as they come, indented, so a step that runs for an hour shows the command's
 * progress lines; a failure throws with the output's tail.
 */
import { main as medit } from '@medit/cli';

/** Runs `medit <argv>` in `cwd`, forwarding its stdout and stderr lines to `log`. */
export async function runMedit(cwd: string, argv: readonly string[], log: (line: string) => void): Promise<void> {
  // only the tail is kept for the error: an hour-long step writes a progress line every few seconds
  let tail = '';
  const sink = {
    write: (s: string) => {
      tail = (tail + s).slice(-2000);
      for (const l of s.split('\n')) if (l.trim()) log(`  ${l}`);
      return true;
    },
  };
  const code = await medit([...argv], { cwd, stdout: sink, stderr: sink });
  if (code !== 0) throw new Error(`medit ${argv.join(' ')} failed (exit ${code}):\n${tail}`);
}
