/**
 * Progress of long jobs wherever the output goes: a bar on a terminal (whose label is never cut,
 * even when the terminal reports 0 columns), periodic lines on stderr when it is redirected
 * (MEDIT_PROGRESS_SECONDS apart; quiet for quick jobs), JSON events with --json. ROME reports its
 * optimisation steps, so a single edit's bar moves; covariance statistics report too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Output, PROGRESS_LINE_SECONDS } from '../src/output';
import { FIX, PARITY_MODEL, ROOT, runCli } from './helpers/run';

function output(opts: { tty: boolean; columns?: number; json?: boolean; env?: Record<string, string> }): { out: Output; stderr: () => string; stdout: () => string } {
  let stderr = '';
  let stdout = '';
  const io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty, columns: opts.columns },
    env: opts.env ?? {},
    cwd: ROOT,
  };
  return { out: new Output(io, opts.json ?? false, 'stats'), stderr: () => stderr, stdout: () => stdout };
}

describe('the progress bar on a terminal', () => {
  const LABEL = 'covariance (layers 1,2)';

  test.each([0, 10, undefined])('a terminal reporting %s columns gets the whole line, label included', (columns) => {
    const o = output({ tty: true, columns });
    o.out.progress(LABEL).update(1, 4, '1,234 tokens');
    expect(o.stderr()).toMatch(new RegExp(`^\\r\\x1b\\[2K${LABEL.replace(/[()]/g, '\\$&')} █+░+  25% 1/4 · \\d+ ms · 1,234 tokens$`));
  });

  test('a narrow terminal cuts the detail, then the bar, never the label', () => {
    const narrow = output({ tty: true, columns: 40 });
    narrow.out.progress(LABEL).update(1, 4, 'a long detail that does not fit');
    const text = narrow.stderr().replace('\r\x1b[2K', '');
    expect(text).toBe(`${LABEL} 25%`);
    const wider = output({ tty: true, columns: 80 });
    wider.out.progress(LABEL).update(1, 4, 'a long detail that does not fit in eighty columns at all');
    const line = wider.stderr().replace('\r\x1b[2K', '');
    expect(line.length).toBe(79);
    expect(line.startsWith(`${LABEL} █`)).toBe(true);
  });
});

describe('progress when stderr is not a terminal', () => {
  test(`quick jobs stay quiet (lines come every ${PROGRESS_LINE_SECONDS} s by default)`, () => {
    const o = output({ tty: false });
    const p = o.out.progress('eval');
    for (let i = 0; i <= 10; i++) p.update(i, 10);
    p.end();
    expect(o.stderr()).toBe('');
  });

  test('lines at the MEDIT_PROGRESS_SECONDS interval, then one final line', () => {
    const o = output({ tty: false, env: { MEDIT_PROGRESS_SECONDS: '0' } });
    const p = o.out.progress('eval');
    for (let i = 0; i <= 4; i++) p.update(i, 4, 'edit');
    p.update(4, 4, 'edit'); // a repeated final report is not printed twice
    p.end();
    expect(o.stderr().replace(/ · \d+ ms/g, '')).toBe(['eval: 0% (0/4) · edit', 'eval: 25% (1/4) · edit', 'eval: 50% (2/4) · edit', 'eval: 75% (3/4) · edit', 'eval: 100% (4/4) · edit', ''].join('\n'));
  });

  test('--json: progress events on stdout, nothing on stderr', () => {
    const o = output({ tty: false, json: true });
    const p = o.out.progress('eval');
    p.update(0, 2);
    p.update(2, 2);
    expect(o.stderr()).toBe('');
    expect(o.stdout().trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { type: 'progress', command: 'stats', stage: 'eval', done: 0, total: 2 },
      { type: 'progress', command: 'stats', stage: 'eval', done: 2, total: 2 },
    ]);
  });
});

describe('long jobs report progress', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-progress-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const EVERY = { MEDIT_PROGRESS_SECONDS: '0' };

  test('a single ROME edit moves through its optimisation steps (the bar does not sit at 0/1)', async () => {
    const r = await runCli(['edit', '--model', PARITY_MODEL, '--prompt', 'The {} is located in', '--subject', 'Eiffel Tower', '--target', 'Tokyo', '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')], { env: EVERY });
    expect(r.code).toBe(0);
    const steps = [...r.stderr.matchAll(/^ROME: \d+% \((\d+)\/(\d+)\)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(steps.some(([done, total]) => done > 0 && done < total)).toBe(true);
    expect(steps[steps.length - 1][0]).toBe(steps[steps.length - 1][1]);
  });

  test('tune shows each point\'s progress, named by the point', async () => {
    const grid = path.join(tmp, 'grid.json');
    fs.writeFileSync(grid, JSON.stringify({ v_num_grad_steps: [1, 2] }));
    const r = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', path.join(FIX, 'counterfact-parity.json'), '--limit', '1', '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json'), '--grid', grid, '--out', path.join(tmp, 'tuned.json'), '--state', path.join(tmp, 'tune-state')], { env: EVERY });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^point 1\/2: \d+% \(\d+\/1\)/m);
    expect(r.stderr).toMatch(/^point 2\/2: 100% \(1\/1\)/m);
  });

  test('eval --method memit reports its covariance statistics, as lines and as JSON events', async () => {
    const hp = path.join(tmp, 'memit.json');
    fs.writeFileSync(hp, JSON.stringify({ v_num_grad_steps: 2, context_template_length_params: [[5, 1]], mom2_n_samples: 200 }));
    const args = ['eval', '--model', PARITY_MODEL, '--dataset', path.join(FIX, 'counterfact-parity.json'), '--method', 'memit', '--hparams', hp, '--limit', '1'];
    const lines = await runCli([...args, '--stats-cache', path.join(tmp, 'a'), '--out', path.join(tmp, 'a')], { env: EVERY });
    expect(lines.code).toBe(0);
    expect(lines.stderr).toMatch(/^covariance \(layer 0\): \d+% \(\d+\/200\) · [\d,]+ tokens · [\d,]+ tok\/s · \d/m);
    expect(lines.stderr).toMatch(/^eval: \d+% \(\d\/1\)/m);
    const json = await runCli([...args, '--stats-cache', path.join(tmp, 'b'), '--out', path.join(tmp, 'b'), '--json']);
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(json.lines.filter((l) => l.type === 'progress').map((l) => l.stage)).toEqual(expect.arrayContaining(['covariance (layer 0)', 'measure']));
  });
});
