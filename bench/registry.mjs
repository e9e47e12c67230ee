// Registry latencies on this machine's temp folder: publish (temp + fsync + rename), verified load
// (read + sha256), an alias change (lock + atomic replace + history append), and how soon a watcher
// sees that change. Prints figures; never fails on a time.
//
//   npm run build && node bench/registry.mjs [--runs 30]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Registry, watchRegistry } from '../dist/registry/index.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const runs = Number(values.runs);

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, max ${s.at(-1).toFixed(2)} ms`;
}

function manifest(n) {
  return {
    trainer_host: os.hostname(),
    package_version: 'bench',
    algorithm: 'random-forest',
    data: { source: 'synthetic', rows: 250, sha256: '0'.repeat(64) },
    parameters: { n },
    metrics: { r2: 0.9, mae: 1, rmse: 1 },
    fit_seconds: 0.1,
    features: [{ name: 'x', type: 'number', min: 0, max: 1 }],
    target: 'y',
  };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-registry-'));
const registry = new Registry(dir);
console.log(`# flywheel registry benchmark, ${new Date().toISOString()}`);
console.log(
  `# machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.availableParallelism()}, node ${process.version}`,
);
console.log(`# command: node bench/registry.mjs --runs ${runs}; registry in ${os.tmpdir()}`);

for (const size of [10_000, 1_000_000, 10_000_000]) {
  const artifact = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
  const publish = [];
  const load = [];
  let last;
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    last = (await registry.publish({ artifact, manifest: manifest(i) })).version;
    publish.push(performance.now() - t);
    t = performance.now();
    await registry.loadArtifact(last);
    load.push(performance.now() - t);
  }
  console.log(`publish ${size.toLocaleString('en')} B: ${stats(publish)}`);
  console.log(`load + sha256 ${size.toLocaleString('en')} B: ${stats(load)}`);
  await registry.prune(2);
}

const versions = await registry.versionIds();
const promote = [];
const seen = [];
let pending;
const watcher = watchRegistry(dir, {
  pollMs: 60_000, // long: what is measured here is fs.watch
  onChange: (snap) => pending?.(snap),
});
await sleep(100);
for (let i = 0; i < runs; i++) {
  // Alternating between two versions: every call is a real change.
  const target = versions[i % 2];
  const waiting = new Promise((resolve) => (pending = resolve));
  const t = performance.now();
  await registry.setAlias('candidate', target, { reason: 'bench' });
  const t1 = performance.now();
  promote.push(t1 - t);
  await Promise.race([waiting, sleep(2000)]);
  seen.push(performance.now() - t1);
}
await watcher.close();
console.log(`alias change (lock, replace, history): ${stats(promote)}`);
console.log(`watcher sees it after the change returns (fs.watch): ${stats(seen)}`);
await rm(dir, { recursive: true, force: true });
