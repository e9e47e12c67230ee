// Another gateway's drift snapshot as read from its figures file (experiments/peers.ts): untrusted text
// that anyone with write access to the registry folder could have written. Checked against the
// references this gateway loaded itself before a single count is added to its own, so a forged or
// stale-format file can neither skew the verdicts nor make the merge throw.
import { isRecord } from '../../registry/feedback-body.js';
import { isVersionId } from '../../registry/index.js';
import { nameMap, type DriftCounts, type VersionCounts } from './report.js';

/** What a version's counts must look like: series lengths (bins + below + above) from its reference. */
export interface CountsShape {
  /** Feature name → series length; empty when the version has no reference. */
  readonly features: ReadonlyMap<string, number>;
  readonly prediction: number | null;
}

/**
 * The shape of a version this gateway has measured, `'loading'` while its manifest is being read (the
 * version is left out of the merge until then), undefined when it is not known here at all.
 */
export type ShapeOf = (version: string) => CountsShape | 'loading' | undefined;

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new Error(`${what} is not a non-negative integer`);
  }
  return v;
}

function series(v: unknown, length: number, window: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== length) {
    throw new Error(`${what} must be a list of ${length} counts (the reference's bins, below, above)`);
  }
  let sum = 0;
  const out = v.map((c, i) => {
    const n = count(c, `${what}[${i}]`);
    sum += n;
    return n;
  });
  // A window holds `window` rows; not-a-number values are left out, so a series never holds more.
  if (sum > window) throw new Error(`${what} counts ${sum} values in a window of ${window}`);
  return out;
}

function versionCounts(v: unknown, shape: CountsShape, version: string): VersionCounts {
  if (!isRecord(v)) throw new Error(`version ${version} is not an object`);
  const requests = count(v.requests, `${version}.requests`);
  const window = count(v.window, `${version}.window`);
  if (window > requests) throw new Error(`${version}.window ${window} is above its requests ${requests}`);
  if (!isRecord(v.features)) throw new Error(`${version}.features is not an object`);
  const names = Object.keys(v.features);
  if (names.length !== shape.features.size || names.some((n) => !shape.features.has(n))) {
    throw new Error(`${version}.features are not the features of the version's reference`);
  }
  const features = nameMap<number[]>();
  for (const [name, length] of shape.features) {
    features[name] = series(v.features[name], length, window, `${version}.features.${name}`);
  }
  let prediction: number[] | null = null;
  if (shape.prediction === null) {
    if (v.prediction !== null && v.prediction !== undefined)
      throw new Error(`${version}.prediction is given but the version's reference has none`);
  } else {
    prediction = series(v.prediction, shape.prediction, window, `${version}.prediction`);
  }
  return { requests, window, features, prediction };
}

/**
 * A peer's snapshot as counts that merge with this gateway's (`gateways: 1`), its versions still
 * loading here left out; throws an Error saying what is wrong, and then nothing of it is used.
 * `maxVersions` bounds the work one file can cause (a gateway measures at most that many).
 */
export function peerDriftCounts(raw: unknown, shapeOf: ShapeOf, maxVersions: number): DriftCounts {
  if (!isRecord(raw) || !isRecord(raw.versions)) throw new Error('not a drift snapshot (no versions)');
  const entries = Object.entries(raw.versions);
  if (entries.length > maxVersions) {
    throw new Error(`${entries.length} versions; a gateway measures at most ${maxVersions}`);
  }
  const versions = nameMap<VersionCounts>();
  for (const [version, v] of entries) {
    if (!isVersionId(version)) throw new Error(`${JSON.stringify(version.slice(0, 80))} is not a version id`);
    const shape = shapeOf(version);
    if (shape === 'loading' || shape === undefined) continue;
    versions[version] = versionCounts(v, shape, version);
  }
  return { gateways: 1, versions };
}
