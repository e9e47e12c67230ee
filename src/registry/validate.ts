// Files read back from the registry are input like any other: shared storage can be edited by hand,
// damaged, or written by another version of Flywheel. These checks turn them into typed values or a
// short reason, which the registry wraps in an error naming the file or version.
import { referenceProblem } from '../drift/reference.js';
import { ALIASES, type AliasChange, type AliasState, type Manifest } from './types.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ORIGIN_KINDS: readonly unknown[] = ['flywheel', 'xgboost', 'scikit-learn', 'interchange'];
const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isHex64 = (v: unknown): v is string => isStr(v) && /^[0-9a-f]{64}$/.test(v);
const isStrOrNull = (v: unknown): v is string | null => v === null || isStr(v);

/** Returns the reason a manifest is unusable, or undefined when it is well formed. */
export function manifestProblem(m: unknown, version: string): string | undefined {
  if (!isObj(m)) return 'manifest is not a JSON object';
  if (m.format !== 1) return `unsupported manifest format ${JSON.stringify(m.format)}`;
  if (m.version !== version) return `manifest names version ${JSON.stringify(m.version)}`;
  for (const key of ['created_at', 'trainer_host', 'package_version', 'algorithm', 'target'] as const) {
    if (!isStr(m[key])) return `manifest field ${key} is missing or not a string`;
  }
  if (!isFiniteNum(m.fit_seconds)) return 'manifest field fit_seconds is not a number';
  if (!isObj(m.parameters)) return 'manifest field parameters is not an object';
  const data = m.data;
  if (!isObj(data) || !isStr(data.source) || !isFiniteNum(data.rows) || !isStr(data.sha256)) {
    return 'manifest field data is malformed';
  }
  const metrics = m.metrics;
  if (
    metrics !== null &&
    (!isObj(metrics) || !(['r2', 'mae', 'rmse'] as const).every((k) => isFiniteNum(metrics[k])))
  ) {
    return 'manifest field metrics is malformed';
  }
  if (m.origin !== undefined) {
    const o = m.origin;
    if (!isObj(o) || !ORIGIN_KINDS.includes(o.kind as string)) return 'manifest field origin is malformed';
    for (const key of ['library_version', 'estimator', 'objective', 'file', 'file_sha256', 'command']) {
      if (o[key] !== undefined && !isStr(o[key])) return `manifest field origin.${key} is not a string`;
    }
  }
  const art = m.artifact;
  // The file name is joined to the version folder, so it must be a plain name (no path traversal).
  if (!isObj(art) || !isStr(art.file) || !/^[A-Za-z0-9._-]+$/.test(art.file) || art.file.startsWith('.')) {
    return 'manifest field artifact.file is malformed';
  }
  if (!isHex64(art.sha256) || !isFiniteNum(art.bytes)) return 'manifest field artifact is malformed';
  if (!Array.isArray(m.features) || m.features.length === 0) return 'manifest has no features';
  for (const f of m.features) {
    if (!isObj(f) || !isStr(f.name) || f.type !== 'number' || !isFiniteNum(f.min) || !isFiniteNum(f.max)) {
      return 'manifest field features is malformed';
    }
  }
  if (m.reference !== undefined) {
    const problem = referenceProblem(
      m.reference,
      (m.features as { name: string }[]).map((f) => f.name),
    );
    if (problem) return `manifest field reference ${problem}`;
  }
  return undefined;
}

export function parseManifest(text: string, version: string): Manifest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `manifest.json does not parse: ${(err as Error).message}`;
  }
  return manifestProblem(value, version) ?? (value as Manifest);
}

export const EMPTY_ALIASES: AliasState = Object.freeze({
  production: null,
  candidate: null,
  generation: 0,
  updated_at: null,
});

export function parseAliases(text: string): AliasState | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `does not parse: ${(err as Error).message}`;
  }
  if (!isObj(v)) return 'is not a JSON object';
  if (!isStrOrNull(v.production) || !isStrOrNull(v.candidate)) return 'aliases must be a version or null';
  if (!Number.isInteger(v.generation) || (v.generation as number) < 0) return 'generation is malformed';
  if (!isStrOrNull(v.updated_at)) return 'updated_at is malformed';
  return {
    production: v.production,
    candidate: v.candidate,
    generation: v.generation as number,
    updated_at: v.updated_at,
  };
}

/** One history line; undefined for a line that is not an alias change (e.g. torn by a crash). */
export function parseHistoryLine(line: string): AliasChange | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObj(v) || !isStr(v.at) || !isStr(v.by) || !isStr(v.reason)) return undefined;
  if (!(ALIASES as readonly unknown[]).includes(v.alias) || !isStrOrNull(v.from) || !isStrOrNull(v.to)) {
    return undefined;
  }
  return v as unknown as AliasChange;
}
