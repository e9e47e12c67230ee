// Other gateways' drift snapshots in GET /drift: validated against this gateway's references, merged
// with its own counts, a bad one left out whole with one warning. Hand-made references and snapshots,
// no processes (drift-multi.e2e.test.ts runs two real gateways on one registry).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildReference } from '../../../src/drift/reference.js';
import { DriftMonitor, type PeerDrift } from '../../../src/gateway/drift/monitor.js';
import { peerDriftCounts, type CountsShape } from '../../../src/gateway/drift/peer-counts.js';
import type { DriftThresholds } from '../../../src/gateway/drift/report.js';
import type { Manifest } from '../../../src/registry/types.js';
import { waitFor } from '../../helpers/wait.js';

const T: DriftThresholds = { window: 100, minRequests: 20, warn: 0.1, alert: 0.25 };
const V1 = 'v20260101-000000-000-00';
const V2 = 'v20260102-000000-000-00';

function manifest(): Manifest {
  const col = Array.from({ length: 100 }, (_, i) => i);
  return {
    features: [{ name: 'a' }, { name: 'b' }],
    reference: buildReference(['a', 'b'], [col, col], col, 10),
  } as unknown as Manifest;
}

/** A monitor whose warnings are kept as parsed JSON lines. */
function monitorWithLog() {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const reads: string[] = [];
  const monitor = new DriftMonitor({
    thresholds: T,
    manifests: async (v) => {
      reads.push(v);
      return manifest();
    },
    log: pino({ level: 'warn' }, out),
  });
  return { monitor, lines, reads };
}

/** `n` rows counted by a window shaped like the manifest's: a in bin `binA`, b spread evenly. */
function counts(n: number, binA: number) {
  const series = (bin: (i: number) => number) => {
    const s = new Array<number>(12).fill(0);
    for (let i = 0; i < n; i++) s[bin(i)]++;
    return s;
  };
  return {
    requests: n,
    window: n,
    features: { a: series(() => binA), b: series((i) => i % 10) },
    prediction: series((i) => i % 10),
  };
}

const shape: CountsShape = {
  features: new Map([
    ['a', 12],
    ['b', 12],
  ]),
  prediction: 12,
};

describe('peerDriftCounts', () => {
  it('accepts counts shaped like the reference and skips versions still loading here', () => {
    const c = peerDriftCounts(
      { gateways: 1, versions: { [V1]: counts(15, 3), [V2]: counts(5, 0) } },
      (v) => (v === V1 ? shape : 'loading'),
      16,
    );
    expect(c.gateways).toBe(1);
    expect(Object.keys(c.versions)).toEqual([V1]);
    expect(c.versions[V1]).toEqual(counts(15, 3));
  });

  it.each([
    ['no versions', { gateways: 1 }, /no versions/],
    ['a path for a version', { versions: { '../x': counts(1, 0) } }, /not a version id/],
    ['a negative count', { versions: { [V1]: { ...counts(3, 0), requests: -3 } } }, /non-negative/],
    ['a fraction', { versions: { [V1]: { ...counts(3, 0), window: 1.5 } } }, /non-negative integer/],
    [
      'the wrong bin count',
      { versions: { [V1]: { ...counts(3, 0), features: { a: [3], b: counts(3, 0).features.b } } } },
      /list of 12 counts/,
    ],
    [
      'a feature the reference lacks',
      { versions: { [V1]: { ...counts(3, 0), features: { ...counts(3, 0).features, c: [] } } } },
      /not the features/,
    ],
    [
      'more values than the window',
      { versions: { [V1]: { ...counts(3, 0), prediction: [...counts(3, 0).prediction.slice(0, 11), 9] } } },
      /counts 12 values in a window of 3/,
    ],
    ['a window above its requests', { versions: { [V1]: { ...counts(3, 0), requests: 2 } } }, /above/],
    [
      'too many versions',
      {
        versions: Object.fromEntries(
          Array.from({ length: 17 }, (_, i) => [`v20260101-000000-000-${String(i).padStart(2, '0')}`, {}]),
        ),
      },
      /17 versions/,
    ],
  ])('refuses %s', (_what, raw, reason) => {
    expect(() => peerDriftCounts(raw, () => shape, 16)).toThrow(reason);
  });
});

describe('DriftMonitor.document() with peers', () => {
  it("adds each valid peer's counts to its own, judging the sum with its thresholds", async () => {
    const { monitor, reads } = monitorWithLog();
    monitor.observe(V1, '1,1', 1);
    await waitFor(() => monitor.versions().includes(V1), { timeoutMs: 2000 });
    // 15 rows here with a in bin 3: below the minimum of 20 on its own.
    for (let i = 0; i < 15; i++) monitor.observe(V1, `35,${(i % 10) * 10 + 5}`, (i % 10) * 10 + 5);
    expect(monitor.document().versions[V1]).toMatchObject({ window: 15, drifted: [] });
    expect(monitor.document().versions[V1].note).toMatch(/no verdict below 20/);

    // A peer with 15 more, and a version this gateway has not seen: its manifest gets read.
    const peers: PeerDrift[] = [
      { gateway: 'g2', drift: { gateways: 1, versions: { [V1]: counts(15, 3), [V2]: counts(5, 0) } } },
    ];
    monitor.peers = () => peers;
    await waitFor(() => monitor.document().versions[V2] !== undefined, { timeoutMs: 2000 });
    expect(reads).toEqual([V1, V2]);
    const doc = monitor.document();
    expect(doc).toMatchObject({ gateways: 2, scope: 'merged across 2 gateways' });
    expect(doc.versions[V1]).toMatchObject({ requests: 30, window: 30, note: null, drifted: ['a'] });
    expect(doc.versions[V1].features.a.live[3]).toBe(1);
    expect(doc.versions[V2]).toMatchObject({ requests: 5, window: 5 });
    // The gauges' source stays this process's own counts.
    expect(monitor.versionReport(V1)).toMatchObject({ window: 15, drifted: [] });
  });

  it('leaves a bad snapshot out whole with one warning, and never throws', async () => {
    const { monitor, lines } = monitorWithLog();
    monitor.observe(V1, '1,1', 1);
    await waitFor(() => monitor.versions().includes(V1), { timeoutMs: 2000 });
    for (let i = 0; i < 5; i++) monitor.observe(V1, `35,${i}`, 5);
    const bad = { versions: { [V1]: { ...counts(15, 3), features: { a: 'lots' } } } };
    monitor.peers = () => [
      { gateway: 'g2', drift: counts(15, 3) },
      { gateway: 'g3', drift: bad },
      { gateway: 'g4', drift: { versions: { [V1]: counts(10, 3) } } },
    ];
    for (let i = 0; i < 3; i++) {
      const doc = monitor.document();
      expect(doc.gateways).toBe(2); // itself and g4
      expect(doc.versions[V1]).toMatchObject({ requests: 15, window: 15 });
    }
    const warned = lines.filter((l) => l.msg === 'drift: peer snapshot skipped');
    expect(warned.map((l) => l.gateway)).toEqual(['g2', 'g3']);
    expect(String(warned[1].reason)).toMatch(/features are not the features/);
  });
});
