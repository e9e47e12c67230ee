// The gateway's pure parts: deadline lists, header scans, the balancing policies and the health state
// rules, replica URLs and the replica file format. No sockets: the pools made here never connect.
import { LearnedTimeouts } from '../../src/gateway/latency.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { loadConfig } from '../../src/config.js';
import { createBalancer, type Balancer, type BalancePolicy } from '../../src/gateway/balancer.js';
import { DeadlineList, Timed } from '../../src/gateway/deadlines.js';
import { normalizeReplicaUrl, parseReplicaFile } from '../../src/gateway/discovery.js';
import {
  isUsableRequestId,
  newRequestId,
  type AnswerHead,
  responseHeaderLines,
  scanRequestHeaders,
  type RequestHead,
} from '../../src/gateway/headers.js';
import type { Replica } from '../../src/gateway/replica.js';
import { quiet } from './helpers.js';

class Entry extends Timed {
  expired = 0;
  constructor(readonly name: string) {
    super();
  }
  expire(): void {
    this.expired++;
  }
}

describe('DeadlineList', () => {
  it('expires entries in insertion order, only once their time has come', () => {
    const list = new DeadlineList(100);
    const a = new Entry('a');
    const b = new Entry('b');
    const c = new Entry('c');
    list.add(a, 0);
    list.add(b, 10);
    list.add(c, 20);
    list.sweep(99);
    expect([a.expired, b.expired, c.expired]).toEqual([0, 0, 0]);
    list.sweep(110);
    expect([a.expired, b.expired, c.expired]).toEqual([1, 1, 0]);
    expect(list.size).toBe(1);
    list.sweep(1000);
    list.sweep(2000);
    expect([a.expired, b.expired, c.expired]).toEqual([1, 1, 1]);
    expect(list.size).toBe(0);
  });

  it('a removed entry never expires, from the head, the middle or the tail', () => {
    const list = new DeadlineList(10);
    const entries = ['a', 'b', 'c', 'd'].map((n) => new Entry(n));
    entries.forEach((e, i) => list.add(e, i));
    list.remove(entries[1]);
    list.remove(entries[0]);
    list.remove(entries[3]);
    list.remove(entries[3]); // twice is harmless
    list.sweep(1000);
    expect(entries.map((e) => e.expired)).toEqual([0, 0, 1, 0]);
    expect(list.size).toBe(0);
  });

  it('an entry added while sweeping (a retry) waits for its own deadline', () => {
    const list = new DeadlineList(50);
    const late = new Entry('late');
    const first = new (class extends Entry {
      override expire(): void {
        super.expire();
        list.add(late, 60);
      }
    })('first');
    list.add(first, 0);
    list.sweep(60);
    expect(first.expired).toBe(1);
    expect(late.expired).toBe(0);
    list.sweep(110);
    expect(late.expired).toBe(1);
  });
});

function head(): RequestHead {
  return { requestId: '', correlationId: '', contentLength: -1 };
}

/** Header lines ("name: value\r\n" each) back as a flat [name, value, ...] list. */
function pairsOf(lines: string): string[] {
  expect(lines === '' || lines.endsWith('\r\n')).toBe(true);
  return lines
    .split('\r\n')
    .filter((l) => l !== '')
    .flatMap((l) => {
      const i = l.indexOf(': ');
      return [l.slice(0, i), l.slice(i + 2)];
    });
}

describe('request header scan', () => {
  it('drops hop-by-hop headers, Host, Content-Length and Expect; keeps end-to-end ones', () => {
    const h = head();
    const lines = scanRequestHeaders(
      [
        'Host',
        'gw:8080',
        'Content-Type',
        'application/json',
        'Content-Length',
        '17',
        'Connection',
        'keep-alive, X-Private',
        'Keep-Alive',
        'timeout=5',
        'TE',
        'trailers',
        'Trailer',
        'x',
        'Upgrade',
        'h2c',
        'Proxy-Connection',
        'close',
        'Expect',
        '100-continue',
        'Accept',
        '*/*',
        'User-Agent',
        'curl/8',
      ],
      '10.0.0.9',
      h,
    );
    const out = pairsOf(lines);
    const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).toEqual(['content-type', 'accept', 'user-agent', 'x-request-id', 'x-forwarded-for']);
    expect(h.contentLength).toBe(17);
  });

  it('mints every x-request-id; a usable client id goes upstream as x-correlation-id, an unusable one is dropped', () => {
    const h = head();
    const out = pairsOf(
      scanRequestHeaders(['X-Request-Id', 'abc-123', 'X-Forwarded-For', '1.2.3.4'], '127.0.0.1', h),
    );
    expect(h.requestId).not.toBe('abc-123');
    expect(h.requestId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(h.correlationId).toBe('abc-123');
    expect(out).toEqual([
      'x-request-id',
      h.requestId,
      'x-correlation-id',
      'abc-123',
      'x-forwarded-for',
      '1.2.3.4, 127.0.0.1',
    ]);

    const h2 = head();
    const out2 = pairsOf(
      scanRequestHeaders(['x-request-id', 'has space', 'transfer-encoding', 'chunked'], '::1', h2),
    );
    expect(h2.requestId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(h2.correlationId).toBe('');
    expect(out2).toEqual(['x-request-id', h2.requestId, 'x-forwarded-for', '::1']);
  });

  it('generates distinct, JSON-safe ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newRequestId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isUsableRequestId(id)).toBe(true);
    expect(isUsableRequestId('x'.repeat(201))).toBe(false);
    expect(isUsableRequestId('"quoted"')).toBe(false);
  });

  // Regression: ids were 64 random bits per process plus a counter, so a client could predict the
  // ids of other clients' requests and post feedback for them first.
  it('200 consecutive ids share no prefix beyond chance and no counter', () => {
    const ids = Array.from({ length: 200 }, () => newRequestId());
    let longest = 0;
    for (let i = 1; i < ids.length; i++) {
      let n = 0;
      while (n < ids[i].length && ids[i][n] === ids[i - 1][n]) n++;
      longest = Math.max(longest, n);
    }
    // 6 bits per character: sharing 4 leading characters by chance is a 1 in 16 million event.
    expect(longest).toBeLessThan(4);
    for (const id of ids) expect(Buffer.from(id, 'base64url').length).toBe(18);
    // No counter anywhere: the last 8 bytes of consecutive ids do not differ by a small step.
    const tail = (id: string) => Buffer.from(id, 'base64url').readBigUInt64BE(10);
    for (let i = 1; i < ids.length; i++) {
      const d = tail(ids[i]) - tail(ids[i - 1]);
      expect(d > 1_000_000n || d < -1_000_000n).toBe(true);
    }
    // About half of the 144 bits differ between neighbours, as between independent draws.
    let differing = 0;
    for (let i = 1; i < ids.length; i++) {
      const a = Buffer.from(ids[i - 1], 'base64url');
      const b = Buffer.from(ids[i], 'base64url');
      for (let j = 0; j < 18; j++) {
        let x = a[j] ^ b[j];
        while (x) {
          differing += x & 1;
          x >>= 1;
        }
      }
    }
    const mean = differing / (ids.length - 1);
    expect(mean).toBeGreaterThan(64);
    expect(mean).toBeLessThan(80);
  });
});

describe('response headers', () => {
  const headOf = (requestId: string): RequestHead => ({ ...head(), requestId });

  it('passes end-to-end headers byte for byte, drops hop-by-hop and x-flywheel-*, adds x-request-id', () => {
    const head: AnswerHead = { answeredBy: null, prediction: null, features: null, hasLength: false };
    const out = pairsOf(
      responseHeaderLines(
        [
          'Content-Type',
          'application/json; charset=utf-8',
          'X-Model-Version',
          'v1',
          'Connection',
          'keep-alive',
          'Keep-Alive',
          'timeout=72',
          'Transfer-Encoding',
          'chunked',
          'X-Odd',
          'caf\xe9',
          'X-Flywheel-Prediction',
          '41.5',
          'x-flywheel-features',
          '1,2',
          'x-flywheel-other',
          'x',
        ],
        { ...headOf('rid-1'), correlationId: 'mine' },
        head,
      ),
    );
    expect(out).toEqual([
      'Content-Type',
      'application/json; charset=utf-8',
      'X-Model-Version',
      'v1',
      'X-Odd',
      'caf\xe9',
      'x-request-id',
      'rid-1',
      'x-correlation-id',
      'mine',
    ]);
    // x-flywheel-* never reaches the client; the gateway keeps what it reads.
    expect(head).toEqual({ answeredBy: 'v1', prediction: '41.5', features: '1,2', hasLength: false });
  });

  it('keeps the replica’s own x-request-id and says whether the answer has a Content-Length', () => {
    const head: AnswerHead = { answeredBy: null, prediction: null, features: null, hasLength: false };
    const out = pairsOf(
      responseHeaderLines(['X-Request-Id', 'from-replica', 'Content-Length', '10'], headOf('rid-2'), head),
    );
    expect(out).toEqual(['X-Request-Id', 'from-replica', 'Content-Length', '10']);
    expect(head.hasLength).toBe(true);
  });
});

describe('balancing policies', () => {
  let balancer: Balancer | null = null;
  afterEach(async () => {
    await balancer?.close(true);
    balancer = null;
  });

  function make(policy: BalancePolicy, urls: string[], ejectAfter = 3, readmitAfter = 2): Balancer {
    // Real pools to addresses nobody connects to: pick() and the state rules never use the network.
    balancer = createBalancer(policy, {
      factory: (origin) => new Pool(origin),
      upstreamConnections: 4,
      ejectAfter,
      readmitAfter,
      log: quiet,
    });
    balancer.setReplicas(urls);
    for (const r of balancer.replicas) balancer.checkPassed(r);
    return balancer;
  }

  const urls = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'];

  it('least outstanding picks the replica with the fewest requests in flight', () => {
    const b = make('least-outstanding', urls);
    const [r1, r2, r3] = b.replicas;
    b.onRequestStart(r1);
    b.onRequestStart(r1);
    b.onRequestStart(r2);
    expect(b.pick(null)).toBe(r3);
    b.onRequestStart(r3);
    b.onRequestStart(r3);
    expect(b.pick(null)).toBe(r2);
    expect(b.pick(r2)).not.toBe(r2);
  });

  it('least outstanding spreads ties evenly', () => {
    const b = make('least-outstanding', urls);
    const counts = new Map<Replica, number>();
    for (let i = 0; i < 300; i++) {
      const r = b.pick(null)!;
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
  });

  it('round robin cycles whatever the load, and skips the excluded replica', () => {
    const b = make('round-robin', urls);
    const [r1, r2, r3] = b.replicas;
    b.onRequestStart(r1);
    b.onRequestStart(r1);
    expect([b.pick(null), b.pick(null), b.pick(null), b.pick(null)]).toEqual([r1, r2, r3, r1]);
    expect(b.pick(r2)).toBe(r3);
  });

  it('ejects after consecutive failures, readmits after passing checks', () => {
    const b = make('least-outstanding', urls.slice(0, 2), 2, 2);
    const [r1, r2] = b.replicas;
    b.recordFailure(r1, 'reset', 'socket hang up');
    b.recordSuccess(r1); // a success in between resets the streak
    b.recordFailure(r1, 'reset', 'socket hang up');
    expect(r1.state).toBe('healthy');
    b.recordFailure(r1, 'connect', 'refused');
    expect(r1.state).toBe('ejected');
    expect(r1.ejections).toBe(1);
    for (let i = 0; i < 5; i++) expect(b.pick(null)).toBe(r2);
    b.checkPassed(r1);
    expect(r1.state).toBe('ejected');
    b.checkFailed(r1, 'refused', false); // a failed check restarts the count
    b.checkPassed(r1);
    expect(r1.state).toBe('ejected');
    b.checkPassed(r1);
    expect(r1.state).toBe('healthy');
    expect(b.stats().healthy).toBe(2);
  });

  it('a replica that says it is not ready leaves at once; one that cannot be reached after ejectAfter', () => {
    const b = make('round-robin', urls.slice(0, 2), 3, 1);
    const [r1, r2] = b.replicas;
    b.checkFailed(r1, 'readiness check answered 503', true);
    expect(r1.state).toBe('unhealthy');
    b.checkFailed(r2, 'refused', false);
    b.checkFailed(r2, 'refused', false);
    expect(r2.state).toBe('healthy');
    b.checkFailed(r2, 'refused', false);
    expect(r2.state).toBe('unhealthy');
    expect(b.pick(null)).toBeNull();
    b.checkPassed(r1);
    expect(b.pick(null)).toBe(r1);
  });

  it('unchecked replicas are used only when none is healthy; vanished ones drain', async () => {
    balancer = createBalancer('least-outstanding', {
      factory: (origin) => new Pool(origin),
      upstreamConnections: 4,
      ejectAfter: 3,
      readmitAfter: 1,
      log: quiet,
    });
    const b = balancer;
    b.setReplicas(urls.slice(0, 2));
    const [r1, r2] = b.replicas;
    expect(r1.state).toBe('unknown');
    expect([r1, r2]).toContain(b.pick(null));
    b.checkPassed(r2);
    for (let i = 0; i < 3; i++) expect(b.pick(null)).toBe(r2);
    b.setReplicas([urls[1], urls[2]]);
    expect(r1.state).toBe('draining');
    expect(b.replicas.map((r) => r.url)).toEqual([urls[1], urls[2]]);
    expect(b.get(urls[2])?.state).toBe('unknown');
  });
});

describe('replica URLs and the replica file', () => {
  it('normalises spelling so that sets compare', () => {
    expect(normalizeReplicaUrl('http://LOCALHOST:5001/')).toBe('http://localhost:5001');
    expect(normalizeReplicaUrl('http://[::1]:5001')).toBe('http://[::1]:5001');
    expect(() => normalizeReplicaUrl('https://a:1')).toThrow(/only http/);
    expect(() => normalizeReplicaUrl('http://a:1/path')).toThrow(/only scheme, host and port/);
    expect(() => normalizeReplicaUrl('nope')).toThrow(/not a URL/);
  });

  it('reads {"replicas": [...]} and refuses anything else with a reason', () => {
    expect(parseReplicaFile('{"replicas":["http://127.0.0.1:5002","http://127.0.0.1:5001/"]}')).toEqual([
      'http://127.0.0.1:5001',
      'http://127.0.0.1:5002',
    ]);
    expect(parseReplicaFile('{"replicas":[]}')).toEqual([]);
    expect(() => parseReplicaFile('{"replicas":')).toThrow(/not JSON/);
    expect(() => parseReplicaFile('{"backends":[]}')).toThrow(/expected \{"replicas"/);
    expect(() => parseReplicaFile('{"replicas":[5001]}')).toThrow(/expected/);
  });

  it('--backends is checked at configuration time, naming the bad entry', () => {
    const ok = loadConfig('gateway', { backends: 'http://a:1, dns+http://svc:5001,file:/tmp/r.json' }, {});
    expect(ok.backends).toEqual(['http://a:1', 'dns+http://svc:5001', 'file:/tmp/r.json']);
    expect(() => loadConfig('gateway', { backends: 'dns+http://svc' }, {})).toThrow(/needs an explicit port/);
    expect(() => loadConfig('gateway', { backends: 'ftp://a:1' }, {})).toThrow(/only http/);
    expect(() => loadConfig('gateway', {}, { FLYWHEEL_BACKENDS: 'http://a:1/x' })).toThrow(
      /FLYWHEEL_BACKENDS: .*no path/,
    );
    expect(() => loadConfig('gateway', { backends: 'file:' }, {})).toThrow(/needs a path/);
  });
});

describe('learned timeouts', () => {
  it('start at the ceiling, then follow observed latency between the floor and the ceiling', () => {
    const t = new LearnedTimeouts({ ceilingMs: 5000, floorMs: 1000, hedgeBudget: 10 });
    expect(t.attemptTimeoutMs).toBe(5000);
    for (let i = 0; i < 50; i++) t.observe(2 + (i % 3));
    t.refresh();
    expect(t.attemptTimeoutMs).toBe(1000); // 4 × (srtt + 4·rttvar) is far below the floor
    expect(t.hedgeDelayMs).toBeGreaterThanOrEqual(20);
    expect(t.hedgeDelayMs).toBeLessThan(100);
    for (let i = 0; i < 200; i++) t.observe(i % 2 === 0 ? 100 : 3000);
    t.refresh();
    expect(t.attemptTimeoutMs).toBe(5000); // never above the configured ceiling
    expect(t.hedgeDelayMs).toBeLessThanOrEqual(2500);
  });

  it('ration hedges to the budget: a burst of 10, then one per 100 requests at 1 %', () => {
    const t = new LearnedTimeouts({ ceilingMs: 5000, floorMs: 1000, hedgeBudget: 1 });
    let granted = 0;
    for (let i = 0; i < 20; i++) if (t.takeHedge()) granted++;
    expect(granted).toBe(10);
    for (let i = 0; i < 100; i++) t.credit();
    expect(t.takeHedge()).toBe(true);
    expect(t.takeHedge()).toBe(false);
    const off = new LearnedTimeouts({ ceilingMs: 5000, floorMs: 1000, hedgeBudget: 0 });
    expect(off.hedgeDelayMs).toBe(Infinity);
  });
});
