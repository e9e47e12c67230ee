// The cost of sharing figures between gateways: the size of one gateway's published file, the time of
// one publish-and-read tick against a registry folder holding N other gateways' files, and the time
// to merge N gateways' figures and compute the comparison and verdict (what every GET /experiments and
// every analysis run does). Figures for two versions with latencies, predictions and feedback.
//
//   npm run build && node bench/peers.mjs [--gateways 3,10,30] [--rounds 5]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Registry as Metrics } from 'prom-client';
import { analyse } from '../dist/gateway/experiments/analysis.js';
import { Peers } from '../dist/gateway/experiments/peers.js';
import { compareVersions, ExperimentStats, mergeStats } from '../dist/gateway/experiments/stats.js';
import { createLogger } from '../dist/log.js';
import { Registry } from '../dist/registry/registry.js';

const { values } = parseArgs({
  options: { gateways: { type: 'string', default: '3,10,30' }, rounds: { type: 'string', default: '5' } },
});
const counts = values.gateways.split(',').map(Number);
const rounds = Number(values.rounds);

function gatewayStats(seed) {
  const stats = new ExperimentStats({ registry: new Metrics() });
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const v of ['v-production', 'v-candidate']) {
    for (let i = 0; i < 20_000; i++) {
      stats.observe(v, {
        latencyMs: 0.5 + 30 * rand() ** 3,
        error: rand() < 0.001,
        prediction: 50 + 10 * rand(),
      });
      if (i % 10 === 0) stats.observeFeedback(v, 50, 50 + 5 * rand());
    }
  }
  return stats;
}

const log = createLogger({ role: 'bench', level: 'silent' });
const thresholds = {
  minRequests: 200,
  minDurationMs: 0,
  minFeedback: 30,
  maxErrorRateIncrease: 0.01,
  maxP99Ratio: 1.5,
  maxMaeRatio: 1.1,
  alpha: 0.05,
};

console.log(`# flywheel shared-figures benchmark, ${new Date().toISOString()}`);
console.log(
  `# machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.availableParallelism()}, node ${process.version}`,
);
console.log(`# command: node bench/peers.mjs --gateways ${values.gateways} --rounds ${rounds}`);
console.log(
  `# load average at start: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

const own = gatewayStats(1);
const text = JSON.stringify({ format: 1, gateway: 'g', versions: own.toWire() });
console.log(`published file for 2 versions: ${text.length} bytes`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map(counts.map((n) => [n, { tick: [], merge: [] }]));
const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-peers-'));
try {
  const registry = new Registry(dir);
  await registry.init();
  // Other gateways' files: one per gateway id, written the way gateways write them.
  const others = Array.from({ length: Math.max(...counts) }, (_, i) => gatewayStats(i + 2));
  const wires = others.map((s) => s.toWire());
  for (let round = 0; round < rounds; round++) {
    // Alternate the order of sizes between rounds: noise from other work on the machine spreads evenly.
    for (const n of round % 2 === 0 ? counts : [...counts].reverse()) {
      const sub = path.join(dir, `n${n}`);
      const reg = new Registry(sub);
      await reg.init();
      for (let i = 0; i < n - 1; i++) {
        const peer = new Peers({
          registry: reg,
          gatewayId: `peer-${i}`,
          intervalMs: 1000,
          expiryMs: 60_000,
          log,
          figures: () => wires[i],
          describe: () => ({ replicas: [] }),
        });
        await peer.tick();
      }
      const me = new Peers({
        registry: reg,
        gatewayId: 'me',
        intervalMs: 1000,
        expiryMs: 60_000,
        log,
        figures: () => own.toWire(),
        describe: () => ({ replicas: [] }),
      });
      let t = performance.now();
      await me.tick();
      results.get(n).tick.push(performance.now() - t);
      if (me.peers.length !== n - 1) throw new Error(`read ${me.peers.length} peers, expected ${n - 1}`);
      t = performance.now();
      const merged = mergeStats([own.all(), ...me.peers.map((p) => p.versions)]);
      compareVersions(merged.get('v-candidate'), merged.get('v-production'));
      analyse(merged, { candidate: 'v-candidate', production: 'v-production' }, thresholds, Date.now());
      results.get(n).merge.push(performance.now() - t);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log('gateways | publish+read tick, ms (median) | merge+compare+verdict, ms (median)');
for (const [n, r] of results) {
  console.log(
    `${String(n).padStart(8)} | ${median(r.tick).toFixed(2).padStart(30)} | ${median(r.merge).toFixed(3).padStart(33)}`,
  );
}
console.log(
  `# load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
