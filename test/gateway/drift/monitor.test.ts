// The live accounting (DriftWindow), the counts snapshot and its merge, the pure report and the
// monitor's reading of /predict bodies, on hand-made references: no processes (drift.e2e.test.ts runs
// the real trainer, backends and gateway).
import { describe, expect, it } from 'vitest';
import { buildReference } from '../../../src/drift/reference.js';
import type { DriftReference } from '../../../src/drift/types.js';
import { createLogger } from '../../../src/log.js';
import { loadConfig } from '../../../src/config.js';
import { FlywheelError } from '../../../src/errors.js';
import { DriftMonitor, driftThresholdsFromConfig } from '../../../src/gateway/drift/monitor.js';
import { readFeatureRow } from '../../../src/gateway/experiments/body.js';
import { driftReport, mergeDriftCounts, type DriftThresholds } from '../../../src/gateway/drift/report.js';
import { DriftWindow } from '../../../src/gateway/drift/window.js';
import type { Manifest } from '../../../src/registry/types.js';
import { waitFor } from '../../helpers/wait.js';

const T: DriftThresholds = { window: 100, minRequests: 20, warn: 0.1, alert: 0.25 };

/** Features a and b uniform on 0..99 (10 bins of 10), predictions 0..99 too. */
function reference(): DriftReference {
  const col = Array.from({ length: 100 }, (_, i) => i);
  return buildReference(['a', 'b'], [col, col], col, 10);
}

function row(a: number, b: number): Float64Array {
  return Float64Array.of(a, b);
}

describe('DriftWindow', () => {
  it('counts each value in its reference bin, below min, above max, and keeps only the last `size` rows', () => {
    const w = new DriftWindow('v', 4, reference(), ['a', 'b']);
    w.add(row(5, 95), 50);
    w.add(row(-1, 1e9), 50);
    w.add(row(15, 95), 50);
    let c = w.counts();
    expect(c.window).toBe(3);
    expect(c.features.a).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(c.features.b).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    expect(c.prediction?.[5]).toBe(3);
    w.add(row(15, 95), 50);
    w.add(row(15, 95), 50); // the first row (5, 95) leaves the window
    c = w.counts();
    expect(c.requests).toBe(5);
    expect(c.window).toBe(4);
    expect(c.features.a).toEqual([0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    w.add(row(15, 15), 50);
    w.add(row(15, 15), 50); // (-1, 1e9) leaves: out-of-range counts go back to 0
    expect(w.counts().features.a).toEqual([0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(w.counts().features.b).toEqual([0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]);
  });

  it('keeps NaN out of every bin and a wild value of one feature out of the others', () => {
    const w = new DriftWindow('v', 10, reference(), ['a', 'b']);
    w.add(row(NaN, 55), NaN);
    w.add(row(-1e308, 55), 55);
    w.add(row(Infinity, 55), 55);
    const c = w.counts();
    expect(c.features.a.reduce((s, x) => s + x, 0)).toBe(2); // the NaN is in no bin
    expect(c.features.a.slice(10)).toEqual([1, 1]);
    expect(c.features.b).toEqual([0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
  });

  it('counts only requests for a version without reference', () => {
    const w = new DriftWindow('v', 3, null, ['a'], 'no reference');
    for (let i = 0; i < 5; i++) w.add(row(1, 1), 1);
    const r = driftReport(w.counts(), null, T, w.note);
    expect(r).toMatchObject({ requests: 5, window: 3, reference: 'none', note: 'no reference', drifted: [] });
    expect(Object.keys(r.features)).toEqual([]);
  });
});

describe('driftReport', () => {
  it('gives no verdict below the minimum requests, then PSI against the thresholds', () => {
    const ref = reference();
    const w = new DriftWindow('v', 100, ref, ['a', 'b']);
    for (let i = 0; i < 19; i++) w.add(row((i * 5) % 100, 95), i);
    let r = driftReport(w.counts(), ref, T);
    expect(r.features.a).toMatchObject({ psi: null, level: 'insufficient' });
    expect(r.note).toMatch(/no verdict below 20/);
    w.add(row(50, 95), 50);
    r = driftReport(w.counts(), ref, T);
    expect(r.features.a.level).toBe('ok');
    expect(r.features.a.psi).toBeLessThan(0.1);
    // b sits entirely in the top bin: a major shift, and the only feature flagged.
    expect(r.features.b.level).toBe('alert');
    expect(r.drifted).toEqual(['b']);
    expect(r.features.b.live).toHaveLength(12);
    expect(r.features.b.reference).toHaveLength(12);
    expect(r.features.b.reference.slice(10)).toEqual([0, 0]);
  });

  it('reads the same from two gateways merged as from one that saw all the traffic', () => {
    const ref = reference();
    const one = new DriftWindow('v', 100, ref, ['a', 'b']);
    const g1 = new DriftWindow('v', 100, ref, ['a', 'b']);
    const g2 = new DriftWindow('v', 100, ref, ['a', 'b']);
    for (let i = 0; i < 60; i++) {
      const r = row((i * 7) % 130, (i * 3) % 100);
      one.add(r, i);
      (i % 2 === 0 ? g1 : g2).add(r, i);
    }
    const merged = mergeDriftCounts(
      { gateways: 1, versions: { v: g1.counts() } },
      { gateways: 1, versions: { v: g2.counts() } },
    );
    expect(merged.gateways).toBe(2);
    expect(merged.versions.v).toEqual(one.counts());
    expect(driftReport(merged.versions.v, ref, T)).toEqual(driftReport(one.counts(), ref, T));
  });
});

describe('DriftMonitor', () => {
  const log = createLogger({ role: 'drift-test', level: 'silent', pretty: false });
  const version = 'v20260101-000000-000-00';
  const manifest = {
    features: [{ name: 'a' }, { name: 'b' }],
    reference: reference(),
  } as unknown as Manifest;

  it("reads a row from the backend's x-flywheel-features header and skips what holds no row", () => {
    const out = new Float64Array(2);
    expect(readFeatureRow('1.5,3', 2, out)).toBe(true);
    expect([...out]).toEqual([1.5, 3]);
    expect(readFeatureRow('1e9,-2', 2, out)).toBe(true);
    expect([...out]).toEqual([1e9, -2]);
    expect(readFeatureRow('x,', 2, out)).toBe(true);
    expect(out[0]).toBeNaN();
    expect(out[1]).toBeNaN();
    expect(readFeatureRow('1', 2, out)).toBe(false);
    expect(readFeatureRow('1,2,3', 2, out)).toBe(false);
    expect(readFeatureRow('', 1, out)).toBe(true); // one empty value: counted apart as NaN
    expect(out[0]).toBeNaN();
  });

  it('measures a version once its manifest is read, and ignores ids that are not versions', async () => {
    const monitor = new DriftMonitor({ thresholds: T, manifests: async () => manifest, log });
    monitor.observe('../../etc', '1,1', 1);
    expect(monitor.skipped).toBe(1);
    monitor.observe(version, '1,1', 1);
    await waitFor(() => monitor.versions().includes(version), { timeoutMs: 2000 });
    for (let i = 0; i < 30; i++) monitor.observe(version, `${(i * 37) % 100},99`, 50);
    monitor.observe(version, '1,2,3', 50);
    const doc = monitor.document();
    expect(doc).toMatchObject({ gateways: 1, scope: 'this gateway' });
    expect(doc.versions[version]).toMatchObject({ requests: 30, window: 30, drifted: ['b'] });
    expect(monitor.skipped).toBe(2);
  });
});

describe('drift settings', () => {
  it('default to a window of 1000, 200 requests, warn 0.1 and alert 0.25', () => {
    expect(driftThresholdsFromConfig(loadConfig('gateway', {}, {}))).toEqual({
      window: 1000,
      minRequests: 200,
      warn: 0.1,
      alert: 0.25,
    });
  });

  it('refuse a minimum the window can never hold and a warn above the alert, naming both', () => {
    const config = loadConfig('gateway', { driftWindow: '100', driftWarn: '0.3' }, {});
    let error: unknown;
    try {
      driftThresholdsFromConfig(config);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FlywheelError);
    expect((error as FlywheelError).code).toBe('FLY_ERR_CONFIG');
    expect((error as FlywheelError).message).toMatch(/--drift-min-requests: 200 can never be reached/);
    expect((error as FlywheelError).message).toMatch(/--drift-warn: 0.3 is above --drift-alert 0.25/);
    // 0 turns drift monitoring off: no minimum to reach.
    expect(driftThresholdsFromConfig(loadConfig('gateway', { driftWindow: '0' }, {})).window).toBe(0);
  });
});
