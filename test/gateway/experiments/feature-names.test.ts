// The prediction log's version → feature names cache, on a map of names standing in for the registry's
// manifests (the real registry path is exercised by experiments.test.ts and the e2e test).
import { describe, expect, it } from 'vitest';
import { FeatureNames, MAX_NAMED_VERSIONS } from '../../../src/gateway/experiments/feature-names.js';
import { formatVersionId } from '../../../src/registry/version-id.js';

function cache(names: (version: string) => readonly string[]) {
  const reads: string[] = [];
  const failed: string[] = [];
  const c = new FeatureNames(
    (v) => {
      reads.push(v);
      return Promise.resolve().then(() => names(v));
    },
    (v) => failed.push(v),
  );
  return { c, reads, failed };
}

describe('FeatureNames', () => {
  const v1 = formatVersionId(Date.UTC(2026, 0, 1), 1);

  it('names a header row (as log-line members) once the version is read, and counts the rows it could not name', async () => {
    const { c, reads } = cache(() => ['a', 'b']);
    expect(c.members(c.read(v1, '1,2'))).toBeNull();
    expect(c.unnamed).toBe(1);
    await c.load(v1);
    expect(c.members(c.read(v1, '30,1e1'))).toBe('"a":30,"b":10');
    // A value that is not a finite number is left out of the log line.
    expect(c.members(c.read(v1, '30,x'))).toBe('"a":30');
    // Another version's row, or none at all.
    expect(c.members(c.read(v1, '1,2,3'))).toBeNull();
    expect(c.members(c.read(v1, undefined))).toBeNull();
    expect(c.unnamed).toBe(3);
    expect(reads).toEqual([v1]);
  });

  it('reads a broken manifest once and never a string that is not a version id', async () => {
    const { c, reads, failed } = cache(() => {
      throw new Error('gone');
    });
    await c.load(v1);
    expect(c.members(c.read(v1, '1'))).toBeNull();
    expect(c.members(c.read('../etc', '1'))).toBeNull();
    await c.load(v1);
    expect(reads).toEqual([v1]);
    expect(failed).toEqual([v1]);
  });

  it(`keeps the ${MAX_NAMED_VERSIONS} versions used last`, async () => {
    const { c, reads } = cache(() => ['x']);
    const versions = Array.from({ length: MAX_NAMED_VERSIONS + 1 }, (_, i) =>
      formatVersionId(Date.UTC(2026, 0, 1), i + 1),
    );
    await c.preload(versions.slice(0, MAX_NAMED_VERSIONS));
    expect(c.get(versions[0])).toEqual(['x']);
    await c.load(versions[MAX_NAMED_VERSIONS]);
    // versions[1] was used longest ago: it went; versions[0], used since, stayed.
    expect(c.get(versions[0])).toEqual(['x']);
    expect(c.get(versions[1])).toBeUndefined();
    expect(reads.filter((v) => v === versions[1])).toHaveLength(2);
  });
});
