/**
 * A record does not match its format's schema.
 *
 * `field` is a JSON path inside the record (`requested_rewrite.target_new.str`,
 * `locality.Relation_Specificity[0].ground_truth`); `index` is the 0-based record index.
 */
export class DatasetSchemaError extends Error {
  override name = 'DatasetSchemaError';
  /** File path (or label) the record came from. */
  readonly file: string;
  /** 0-based record index. */
  readonly index: number;
  /** JSON path of the offending field inside the record. */
  readonly field: string;
  /** 1-based line number, for JSONL inputs. */
  readonly line?: number;

  constructor(file: string, index: number, field: string, problem: string, line?: number) {
    const where = line === undefined ? `record ${index}` : `record ${index} (line ${line})`;
    super(`${file}: ${where}, field "${field}": ${problem}`);
    this.file = file;
    this.index = index;
    this.field = field;
    if (line !== undefined) this.line = line;
  }
}

/** The file is not valid JSON / JSONL. `line` and `column` are 1-based when known. */
export class DatasetParseError extends Error {
  override name = 'DatasetParseError';
  readonly file: string;
  readonly line?: number;
  readonly column?: number;

  constructor(file: string, problem: string, line?: number, column?: number) {
    const where = line === undefined ? '' : column === undefined ? ` at line ${line}` : ` at line ${line}, column ${column}`;
    super(`Malformed JSON in ${file}${where}: ${problem}`);
    this.file = file;
    if (line !== undefined) this.line = line;
    if (column !== undefined) this.column = column;
  }
}

/** The format could not be determined (unknown or ambiguous), or a wrong format was forced. */
export class DatasetFormatError extends Error {
  override name = 'DatasetFormatError';
  readonly file: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}
