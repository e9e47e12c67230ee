// Shared by the file readers: growable numeric columns, strict number parsing and the checks every
// data set passes before training (not empty, target not constant).
import { FlywheelError } from '../../errors.js';
import type { Dataset } from '../../model/types.js';

/** A Float64Array that doubles as it fills: a million rows cost 8 MB per column, not a million numbers. */
export class ColumnBuilder {
  private data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  finish(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

const NUMBER = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const NON_FINITE = /^\s*[+-]?(?:nan|inf|infinity)\s*$/i;

/** Where a value came from, for error messages. */
export interface ValueSite {
  source: string;
  line: number;
  row: number;
  column: string;
}

/** Parses a decimal number as CSV writers print them; anything else is a clear error. */
export function parseNumber(raw: string, site: ValueSite): number {
  if (NUMBER.test(raw)) {
    const v = Number(raw);
    if (Number.isFinite(v)) return v;
    throw valueError(site, quote(raw), 'is not finite (out of range)');
  }
  if (raw.trim() === '') throw valueError(site, quote(raw), 'is empty (missing value)');
  if (NON_FINITE.test(raw)) throw valueError(site, quote(raw), 'is not a finite number');
  throw valueError(site, quote(raw), 'is not a number');
}

/** A value for a message: JSON-quoted, at most 40 characters of it. */
export function quote(raw: string): string {
  return JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);
}

/** `shown` is the value as the file spells it (JSON-quoted for text), cut short when long. */
export function valueError(site: ValueSite, shown: string, problem: string): FlywheelError {
  return new FlywheelError(
    'FLY_ERR_DATA_VALUE',
    `${site.source} line ${site.line} (row ${site.row}), column "${site.column}": ${shown} ${problem}`,
    { source: site.source, line: site.line, row: site.row, column: site.column },
  );
}

/** Resolves the target and feature columns against the names a file offers. */
export function selectColumns(
  source: string,
  available: readonly string[],
  target: string,
  features: readonly string[] | undefined,
): { featureNames: string[]; targetName: string } {
  const known = new Set(available);
  const missing = [target, ...(features ?? [])].filter((n) => !known.has(n));
  if (missing.length > 0) {
    throw new FlywheelError(
      'FLY_ERR_DATA_COLUMN',
      `${source}: no column ${missing.map((m) => `"${m}"`).join(', ')}; its columns are ${available.map((a) => `"${a}"`).join(', ')}`,
      { source, missing, available: [...available] },
    );
  }
  const featureNames = features ? [...features] : available.filter((n) => n !== target);
  if (featureNames.includes(target)) {
    throw new FlywheelError(
      'FLY_ERR_DATA_COLUMN',
      `${source}: "${target}" cannot be both the target and a feature`,
      {
        source,
        column: target,
      },
    );
  }
  if (new Set(featureNames).size !== featureNames.length) {
    throw new FlywheelError('FLY_ERR_DATA_COLUMN', `${source}: a feature is listed twice`, { source });
  }
  if (featureNames.length === 0) {
    throw new FlywheelError(
      'FLY_ERR_DATA_COLUMN',
      `${source}: no feature columns besides the target "${target}"`,
      {
        source,
      },
    );
  }
  return { featureNames, targetName: target };
}

/** The checks every data set passes before training. */
export function checkTrainable(ds: Dataset, source: string): void {
  if (ds.rows === 0) {
    throw new FlywheelError('FLY_ERR_DATA_EMPTY', `${source} has no data rows`, { source });
  }
  const t = ds.target;
  for (let r = 1; r < ds.rows; r++) if (t[r] !== t[0]) return;
  throw new FlywheelError(
    'FLY_ERR_DATA_CONSTANT_TARGET',
    `${source}: the target "${ds.targetName}" is ${t[0]} in all ${ds.rows} rows, so there is nothing to learn`,
    { source, column: ds.targetName },
  );
}
