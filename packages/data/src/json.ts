import { DatasetParseError } from './errors';

/** @internal 1-based line/column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lastNl = -1;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lastNl = i;
    }
  }
  return { line, column: end - lastNl };
}

/**
 * @internal JSON.parse that turns V8's "at position N" into a line/column and names the file.
 * `lineOffset` shifts the reported line (JSONL lines are parsed one at a time).
 */
export function parseJson(text: string, file: string, lineOffset = 0): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(msg);
    let line: number | undefined;
    let column: number | undefined;
    if (m) {
      ({ line, column } = lineColumn(text, Number(m[1])));
    } else if (/end of JSON input/i.test(msg)) {
      ({ line, column } = lineColumn(text, text.length));
    }
    throw new DatasetParseError(file, msg, line === undefined ? undefined : line + lineOffset, column);
  }
}
