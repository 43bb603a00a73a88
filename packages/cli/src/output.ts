/**
 * Where the CLI's words go. Human mode: results on stdout, notes and progress on stderr (a bar
 * on a terminal, periodic lines otherwise). `--json` mode: one JSON object per line on
 * stdout, each with a `type` ("progress", "result", "error"), so a machine can stream it.
 */

/** The process surface a command runs against (injectable for tests). */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  env: Record<string, string | undefined>;
  /** directory relative paths are resolved against */
  cwd: string;
  /** fires on Ctrl-C (the binary wires SIGINT to it) */
  signal?: AbortSignal;
}

export class Output {
  constructor(
    readonly io: CliIO,
    readonly json: boolean,
    readonly command: string,
  ) {}

  /** A line of human output on stdout (nothing in JSON mode). */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(text + '\n');
  }

  /** A note for the person at the terminal (stderr, both modes). */
  note(text: string): void {
    this.io.stderr.write(text + '\n');
  }

  /** One JSON line (JSON mode only). */
  event(type: string, data: Record<string, unknown>): void {
    if (this.json) this.io.stdout.write(JSON.stringify({ type, command: this.command, ...data }) + '\n');
  }

  /** The command's machine-readable result (JSON mode only). */
  result(data: Record<string, unknown>): void {
    this.event('result', data);
  }

  /** A progress reporter for one long job. */
  progress(label: string): Progress {
    return new Progress(this, label);
  }
}

const BAR_WIDTH = 24;

/** Seconds between progress lines when stderr is not a terminal (override: MEDIT_PROGRESS_SECONDS). */
export const PROGRESS_LINE_SECONDS = 3;

/** Terminals narrower than this (or reporting 0 columns) are treated as of unknown width: nothing is cut. */
const MIN_COLUMNS = 20;

/**
 * Progress of one long job: a bar redrawn in place when stderr is a terminal; otherwise (output
 * redirected, CI logs) a plain line on stderr every few seconds, so a long silent phase is never
 * mistaken for a hang, and nothing for jobs shorter than that; `--json`: progress events on stdout.
 */
export class Progress {
  private lastDraw = 0;
  private drawn = false;
  private readonly tty: boolean;
  private readonly started = Date.now();
  private lastLine: number;
  private linesWritten = 0;
  private lastText = '';
  private readonly lineMs: number;

  constructor(
    private readonly out: Output,
    private readonly label: string,
  ) {
    this.tty = !out.json && out.io.stderr.isTTY === true;
    this.lastLine = this.started;
    const seconds = Number(out.io.env.MEDIT_PROGRESS_SECONDS);
    this.lineMs = out.io.env.MEDIT_PROGRESS_SECONDS !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : PROGRESS_LINE_SECONDS * 1000;
  }

  /** Reports `done` of `total` units; `detail` is shown after the bar, `data` goes into JSON. */
  update(done: number, total: number, detail = '', data: Record<string, unknown> = {}): void {
    const now = Date.now();
    const final = done >= total;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const percent = `${(frac * 100).toFixed(0)}%`;
    if (this.out.json) {
      if (!final && now - this.lastDraw < 500) return;
      this.lastDraw = now;
      this.out.event('progress', { stage: this.label, done, total, ...data });
      return;
    }
    if (!this.tty) {
      // A line when the interval has passed; a final one only after earlier lines (quick jobs stay quiet).
      const text = `${this.label}: ${percent} (${done}/${total})${detail ? ` · ${detail}` : ''}`;
      if (final ? this.linesWritten === 0 || text === this.lastText : now - this.lastLine < this.lineMs) return;
      this.lastLine = now;
      this.lastText = text;
      this.linesWritten++;
      this.out.io.stderr.write(`${text} · ${formatDuration(now - this.started)}\n`);
      return;
    }
    if (!final && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    const head = `${this.label} ${bar} ${percent.padStart(4)} ${done}/${total} · ${formatDuration(now - this.started)}`;
    let text = detail ? `${head} · ${detail}` : head;
    const cols = this.out.io.stderr.columns;
    // Cut the detail first, then the bar; the label is never cut.
    if (cols !== undefined && cols >= MIN_COLUMNS && text.length > cols - 1) {
      text = head.length <= cols - 1 ? text.slice(0, cols - 1) : `${this.label} ${percent}`;
    }
    this.out.io.stderr.write(`\r\x1b[2K${text}`);
    this.drawn = true;
  }

  /** Clears the bar (so the next output starts on a clean line). */
  end(): void {
    if (this.drawn) this.out.io.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/** `12345.6` → `"12,346"`. */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Milliseconds as "850 ms" / "12.3 s" / "4 min 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
