// CSV in and out. The reader streams (RFC 4180: quoted fields, doubled quotes, CRLF) and keeps only
// the selected columns, as Float64Arrays; the writer prints numbers at full precision so that another
// tool reading the file trains on exactly the same values.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { FlywheelError } from '../../errors.js';
import type { Dataset } from '../../model/types.js';
import { ColumnBuilder, checkTrainable, parseNumber, selectColumns } from './columns.js';
import { MAX_RECORD_CHARS, streamText } from './stream.js';

/** The data set as CSV text, in pieces of about 64 KB (header first, target last). */
export function* csvChunks(ds: Dataset): Generator<string> {
  yield [...ds.featureNames, ds.targetName].map(quoteField).join(',') + '\n';
  const nf = ds.featureNames.length;
  let piece = '';
  for (let r = 0; r < ds.rows; r++) {
    let line = '';
    for (let f = 0; f < nf; f++) line += String(ds.columns[f][r]) + ',';
    piece += line + String(ds.target[r]) + '\n';
    if (piece.length >= 65_536) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
}

export async function writeCsv(ds: Dataset, out: string | NodeJS.WritableStream): Promise<void> {
  const stream: NodeJS.WritableStream = typeof out === 'string' ? createWriteStream(out) : out;
  const failed = new Promise<never>((_, reject) => {
    stream.once('error', (err: Error) =>
      reject(
        new FlywheelError(
          'FLY_ERR_USAGE',
          `cannot write ${typeof out === 'string' ? out : 'the output'}: ${err.message}`,
        ),
      ),
    );
  });
  failed.catch(() => undefined); // reported through the races below
  for (const piece of csvChunks(ds)) {
    if (!stream.write(piece)) await Promise.race([once(stream, 'drain'), failed]);
  }
  if (typeof out === 'string') {
    stream.end();
    await Promise.race([once(stream, 'close'), failed]);
  }
}

function quoteField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface ReadResult {
  dataset: Dataset;
  sha256: string;
}

/** Reads `path` as CSV with a header row; `target` and `features` name its columns. */
export async function readCsv(
  path: string,
  options: { source?: string; target: string; features?: readonly string[] },
): Promise<ReadResult> {
  const source = options.source ?? `csv:${path}`;
  let header: string[] | null = null;
  let selected: { featureNames: string[]; targetName: string } | null = null;
  let indices: number[] = [];
  let builders: ColumnBuilder[] = [];
  let rows = 0;
  const parser = new CsvParser(source, (fields, line) => {
    if (header === null) {
      header = fields.map((f) => f.trim());
      const seen = new Set<string>();
      for (const name of header) {
        if (name === '')
          throw new FlywheelError('FLY_ERR_DATA_COLUMN', `${source} line 1: a column has no name`, {
            source,
          });
        if (seen.has(name)) {
          throw new FlywheelError('FLY_ERR_DATA_COLUMN', `${source} line 1: column "${name}" appears twice`, {
            source,
            column: name,
          });
        }
        seen.add(name);
      }
      selected = selectColumns(source, header, options.target, options.features);
      const all = [...selected.featureNames, selected.targetName];
      indices = all.map((n) => (header as string[]).indexOf(n));
      builders = all.map(() => new ColumnBuilder());
      return;
    }
    const names = header;
    if (fields.length !== names.length) {
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${source} line ${line}: ${fields.length} field(s) where the header has ${names.length}`,
        { source, line, row: rows + 1 },
      );
    }
    rows++;
    for (let c = 0; c < indices.length; c++) {
      const i = indices[c];
      builders[c].push(parseNumber(fields[i], { source, line, row: rows, column: names[i] }));
    }
  });
  const sha256 = await streamText(path, source, (text) => parser.push(text));
  parser.end();
  if (header === null || selected === null) {
    throw new FlywheelError('FLY_ERR_DATA_EMPTY', `${source} is empty: no header row`, { source });
  }
  const { featureNames, targetName } = selected;
  const columns = builders.map((b) => b.finish());
  const target = columns.pop() as Float64Array;
  const dataset: Dataset = { featureNames, targetName, rows, columns, target };
  checkTrainable(dataset, source);
  return { dataset, sha256 };
}

/**
 * Incremental RFC 4180 parser: feed it text pieces; it calls `onRecord` for each complete record
 * (blank lines skipped) with the line number the record starts on, and keeps the unfinished tail.
 */
export class CsvParser {
  private carry = '';
  private line = 1;
  private readonly fields: string[] = [];
  private newlines = 0;
  /** The record just parsed was an empty line. */
  private blank = false;

  constructor(
    private readonly source: string,
    private readonly onRecord: (fields: string[], line: number) => void,
  ) {}

  push(text: string): void {
    this.parse(this.carry.length > 0 ? this.carry + text : text, false);
  }

  end(): void {
    if (this.carry.length > 0) this.parse(this.carry, true);
  }

  private parse(text: string, final: boolean): void {
    let pos = 0;
    while (pos < text.length) {
      const next = this.record(text, pos, final);
      if (next < 0) break;
      const line = this.line;
      this.line += this.newlines;
      pos = next;
      const f = this.fields;
      if (f.length === 1 && f[0] === '' && this.blank) continue;
      this.onRecord(f.slice(), line);
    }
    this.carry = pos < text.length ? text.slice(pos) : '';
    if (this.carry.length > MAX_RECORD_CHARS) {
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${this.source} line ${this.line}: a record runs over ${MAX_RECORD_CHARS} characters (unterminated quote?)`,
        { source: this.source, line: this.line },
      );
    }
  }

  /** Parses one record at `pos` into this.fields; returns the position after it, or −1 if unfinished. */
  private record(text: string, pos: number, final: boolean): number {
    const fields = this.fields;
    fields.length = 0;
    this.newlines = 0;
    this.blank = true;
    const n = text.length;
    for (;;) {
      if (pos < n && text.charCodeAt(pos) === 34) {
        this.blank = false;
        let value = '';
        let p = pos + 1;
        for (;;) {
          const q = text.indexOf('"', p);
          if (q < 0) {
            if (final) {
              throw new FlywheelError(
                'FLY_ERR_DATA_PARSE',
                `${this.source} line ${this.line}: a quoted field is never closed`,
                {
                  source: this.source,
                  line: this.line,
                },
              );
            }
            return -1;
          }
          value += text.slice(p, q);
          if (q + 1 >= n && !final) return -1; // the next piece may start with a second quote
          if (text.charCodeAt(q + 1) === 34) {
            value += '"';
            p = q + 2;
            continue;
          }
          pos = q + 1;
          break;
        }
        for (let i = value.indexOf('\n'); i >= 0; i = value.indexOf('\n', i + 1)) this.newlines++;
        fields.push(value);
      } else {
        let p = pos;
        while (p < n) {
          const c = text.charCodeAt(p);
          if (c === 44 || c === 10 || c === 13) break;
          p++;
        }
        if (p >= n && !final) return -1;
        if (p > pos) this.blank = false;
        fields.push(text.slice(pos, p));
        pos = p;
      }
      if (pos >= n) {
        if (!final) return -1;
        this.newlines++;
        return pos;
      }
      const c = text.charCodeAt(pos);
      if (c === 44) {
        this.blank = false;
        pos++;
        continue;
      }
      if (c === 13) {
        if (pos + 1 >= n && !final) return -1;
        pos += text.charCodeAt(pos + 1) === 10 ? 2 : 1;
        this.newlines++;
        return pos;
      }
      if (c === 10) {
        this.newlines++;
        return pos + 1;
      }
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${this.source} line ${this.line + this.newlines}: unexpected text after a closing quote`,
        { source: this.source, line: this.line + this.newlines },
      );
    }
  }
}
