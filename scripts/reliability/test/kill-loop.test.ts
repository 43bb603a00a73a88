/**
 * A slice of the crash-safety loop (scripts/reliability/kill-loop.ts, whose ≥ 50-iteration run is
 * reported in bench/RESULTS.md): delta overwrites and edited-checkpoint writes killed with SIGKILL
 * at random moments leave a whole file or none, the source untouched, and no temporary after the
 * next run.
 */
import { runKillLoop } from '../kill-loop';

test('kill -9 during delta overwrites and checkpoint writes: never a mix, never a stale temporary', async () => {
  const s = await runKillLoop({ iterations: 4, kinds: ['delta-save', 'checkpoint'], seed: 7 });
  expect(s.results.map((r) => r.failure ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'ok']);
  expect(s.results.every((r) => r.staleTemps === 0)).toBe(true);
  expect(s.results.filter((r) => r.kind === 'checkpoint').every((r) => r.sourceIntact)).toBe(true);
});
