/**
 * Where the CLI's words go. Human mode: results on stdout, notes and progress bars on
 * stderr (bars only when stderr is a terminal). `--json` mode: one JSON object per line on
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

/** A throttled progress bar (TTY) or progress JSON lines (`--json`); silent otherwise. */
export class Progress {
  private lastDraw = 0;
  private drawn = false;
  private readonly tty: boolean;

  constructor(
    private readonly out: Output,
    private readonly label: string,
  ) {
    this.tty = !out.json && out.io.stderr.isTTY === true;
  }

  /** Reports `done` of `total` units; `detail` is shown after the bar, `data` goes into JSON. */
  update(done: number, total: number, detail = '', data: Record<string, unknown> = {}): void {
    const now = Date.now();
    const final = done >= total;
    if (this.out.json) {
      if (!final && now - this.lastDraw < 500) return;
      this.lastDraw = now;
      this.out.event('progress', { stage: this.label, done, total, ...data });
      return;
    }
    if (!this.tty || (!final && now - this.lastDraw < 100)) return;
    this.lastDraw = now;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
    let text = `${this.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${total}${detail ? ` · ${detail}` : ''}`;
    const cols = this.out.io.stderr.columns ?? 100;
    if (text.length > cols - 1) text = text.slice(0, cols - 1);
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
