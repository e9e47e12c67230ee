// The kinds of setting a role's table is made of: each parses one raw flag or FLYWHEEL_* value and
// says what it expects when the value is wrong. src/config.ts turns the tables into commander options
// and one validated, frozen config object.

export type Raw = string | boolean;

export interface Setting<T> {
  /** commander flag spec, e.g. `--port <n>` or `--json` */
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly default: T;
  /** Parses a raw flag or variable value; throws an Error with a short reason when invalid. */
  readonly parse: (raw: Raw) => T;
  /** Shown in --help instead of the default value when the default is computed. */
  readonly defaultLabel?: string;
  /** Never printed (tokens). */
  readonly secret?: boolean;
}

export function str(flag: string, env: string, description: string, def: string): Setting<string> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      if (typeof raw !== 'string') throw new Error('expects a value');
      return raw;
    },
  };
}

export function optStr(flag: string, env: string, description: string): Setting<string | undefined> {
  return {
    flag,
    env,
    description,
    default: undefined,
    parse: (raw) => {
      if (typeof raw !== 'string' || raw === '') throw new Error('expects a non-empty value');
      return raw;
    },
  };
}

export function num(
  flag: string,
  env: string,
  description: string,
  def: number,
  bounds: { min?: number; max?: number; integer?: boolean } = {},
): Setting<number> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new Error(`expects a number, got ${JSON.stringify(raw)}`);
      if (bounds.integer && !Number.isInteger(n)) throw new Error(`expects a whole number, got ${raw}`);
      if (bounds.min !== undefined && n < bounds.min) throw new Error(`must be >= ${bounds.min}, got ${raw}`);
      if (bounds.max !== undefined && n > bounds.max) throw new Error(`must be <= ${bounds.max}, got ${raw}`);
      return n;
    },
  };
}

export function int(
  flag: string,
  env: string,
  description: string,
  def: number,
  bounds: { min?: number; max?: number } = {},
): Setting<number> {
  return num(flag, env, description, def, { ...bounds, integer: true });
}

export function bool(flag: string, env: string, description: string, def = false): Setting<boolean> {
  return {
    flag,
    env,
    description,
    default: def,
    parse: (raw) => {
      if (raw === true || raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === false || raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new Error(`expects true or false, got ${JSON.stringify(raw)}`);
    },
  };
}

export function oneOf<const T extends string>(
  flag: string,
  env: string,
  description: string,
  choices: readonly T[],
  def: T,
): Setting<T> {
  return {
    flag,
    env,
    description: `${description} (${choices.join(' | ')})`,
    default: def,
    parse: (raw) => {
      if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as T;
      throw new Error(`expects one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
    },
  };
}

export function list(flag: string, env: string, description: string): Setting<string[]> {
  return {
    flag,
    env,
    description,
    default: [],
    parse: (raw) => {
      if (typeof raw !== 'string') throw new Error('expects a comma-separated list');
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    },
  };
}

/** Durations are written in milliseconds or with a unit: `500ms`, `2s`, `1m`. */
export function duration(flag: string, env: string, description: string, defMs: number): Setting<number> {
  return {
    flag,
    env,
    description: `${description}, e.g. 500ms, 2s, 1m, 7d`,
    default: defMs,
    parse: (raw) => {
      const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw) : null;
      if (!m) throw new Error(`expects a duration such as 500ms or 2s, got ${JSON.stringify(raw)}`);
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
        (m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h' | 'd'
      ];
      return Math.round(Number(m[1]) * unit);
    },
  };
}

/** Sizes in bytes or with a unit: `1mb`, `512kb`. */
export function bytes(flag: string, env: string, description: string, def: number): Setting<number> {
  return {
    flag,
    env,
    description: `${description}, e.g. 1mb, 512kb`,
    default: def,
    parse: (raw) => {
      const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(raw) : null;
      if (!m) throw new Error(`expects a size such as 1mb, got ${JSON.stringify(raw)}`);
      const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[
        (m[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'
      ];
      return Math.round(Number(m[1]) * unit);
    },
  };
}
