// JSON Lines in: one JSON object per line, streamed. Without a feature list, the features are the
// keys of the first object other than the target.
import { FlywheelError } from '../../errors.js';
import type { Dataset } from '../../model/types.js';
import { ColumnBuilder, checkTrainable, selectColumns, valueError } from './columns.js';
import type { ReadResult } from './csv.js';
import { MAX_RECORD_CHARS, streamText } from './stream.js';

export async function readJsonl(
  path: string,
  options: { source?: string; target: string; features?: readonly string[] },
): Promise<ReadResult> {
  const source = options.source ?? `jsonl:${path}`;
  let names: string[] | null = null;
  let selected: { featureNames: string[]; targetName: string } | null = null;
  let builders: ColumnBuilder[] = [];
  let rows = 0;
  let line = 0;
  let carry = '';

  const onLine = (raw: string) => {
    line++;
    const text = raw.trim();
    if (text === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${source} line ${line}: not valid JSON (${(err as Error).message})`,
        {
          source,
          line,
        },
      );
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${source} line ${line}: each line must be a JSON object`,
        {
          source,
          line,
        },
      );
    }
    const record = obj as Record<string, unknown>;
    if (names === null) {
      selected = selectColumns(source, Object.keys(record), options.target, options.features);
      names = [...selected.featureNames, selected.targetName];
      builders = names.map(() => new ColumnBuilder());
    }
    rows++;
    for (let c = 0; c < names.length; c++) {
      const column = names[c];
      const v = Object.prototype.hasOwnProperty.call(record, column) ? record[column] : undefined;
      if (v === undefined) {
        throw new FlywheelError(
          'FLY_ERR_DATA_COLUMN',
          `${source} line ${line} (row ${rows}): no "${column}" field`,
          {
            source,
            line,
            row: rows,
            column,
          },
        );
      }
      if (typeof v !== 'number') {
        const shown = JSON.stringify(v);
        throw valueError(
          { source, line, row: rows, column },
          shown.length > 40 ? `${shown.slice(0, 40)}…` : shown,
          'is not a number',
        );
      }
      if (!Number.isFinite(v))
        throw valueError({ source, line, row: rows, column }, String(v), 'is not finite');
      builders[c].push(v);
    }
  };

  const sha256 = await streamText(path, source, (text) => {
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0 && carry.length > 0) {
      onLine(carry + text.slice(0, nl));
      carry = '';
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    while (nl >= 0) {
      onLine(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    carry += text.slice(start);
    if (carry.length > MAX_RECORD_CHARS) {
      throw new FlywheelError(
        'FLY_ERR_DATA_PARSE',
        `${source} line ${line + 1}: a line runs over ${MAX_RECORD_CHARS} characters`,
        {
          source,
          line: line + 1,
        },
      );
    }
  });
  if (carry.length > 0) onLine(carry);
  if (selected === null)
    throw new FlywheelError('FLY_ERR_DATA_EMPTY', `${source} has no data rows`, { source });
  const { featureNames, targetName } = selected;
  const columns = builders.map((b) => b.finish());
  const target = columns.pop() as Float64Array;
  const dataset: Dataset = { featureNames, targetName, rows, columns, target };
  checkTrainable(dataset, source);
  return { dataset, sha256 };
}
