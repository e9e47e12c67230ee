// The CPU cost of drift accounting per /predict, in isolation: DriftWindow.add (4 features and the
// prediction, 10 bins, a 1,000-row window: a binary search and three typed-array writes per value) and
// DriftMonitor.observe as the gateway calls it (the backend's x-flywheel-features header read into the
// row, then add). Prints figures; never fails on a time.
//
//   npm run build && node bench/drift.mjs [--calls 2000000] [--rounds 5]
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { buildReference } from '../dist/drift/reference.js';
import { DriftMonitor } from '../dist/gateway/drift/monitor.js';
import { DriftWindow } from '../dist/gateway/drift/window.js';
import { createLogger } from '../dist/log.js';
import { generateSynthetic } from '../dist/trainer/data/synthetic.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000000' },
    rounds: { type: 'string', default: '5' },
  },
});
const calls = Number(values.calls);
const rounds = Number(values.rounds);

// The default model's data: 250 synthetic rows, seed 42; live rows from another seed.
const train = generateSynthetic(250, 42);
const reference = buildReference(train.featureNames, train.columns, train.target, 10);
const live = generateSynthetic(10_000, 7);
const nf = live.featureNames.length;
const rows = Array.from({ length: live.rows }, (_, i) => Float64Array.from(live.columns, (c) => c[i]));
// What the backend sends: the row the model used, comma-separated in its feature order.
const headers = rows.map((r) => Array.from(r, (v) => v.toFixed(3)).join(','));
const predictions = Array.from(live.target);

/** CPU nanoseconds (user + system) per call of `fn(i)` over `calls` calls. */
function cpuPerCall(fn) {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn(i);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const window = new DriftWindow('v', 1000, reference, live.featureNames);
const version = 'v20260101-000000-000-00';
const monitor = new DriftMonitor({
  thresholds: { window: 1000, minRequests: 200, warn: 0.1, alert: 0.25 },
  manifests: async () => ({ features: live.featureNames.map((name) => ({ name })), reference }),
  log: createLogger({ role: 'bench', level: 'silent', pretty: false }),
});
monitor.observe(version, headers[0], predictions[0]);
await sleep(50); // the manifest "read" (from memory here) resolves
if (!monitor.versions().includes(version)) throw new Error('the monitor did not take the version');

const cases = {
  'DriftWindow.add (accounting)': (i) => {
    const k = i % rows.length;
    window.add(rows[k], predictions[k]);
  },
  'DriftMonitor.observe (header read + accounting)': (i) => {
    const k = i % headers.length;
    monitor.observe(version, headers[k], predictions[k]);
  },
};
const loadBefore = os.loadavg();
const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let r = 0; r < rounds + 1; r++) {
  // Alternate the cases within each round; the first round only warms up the JIT.
  for (const [name, fn] of Object.entries(cases)) {
    const ns = cpuPerCall(fn);
    if (r > 0) results[name].push(ns);
  }
}
const loadAfter = os.loadavg();

console.log('drift accounting cost per /predict (CPU time, user + system)');
console.log(`date:     ${new Date().toISOString()}`);
console.log(`machine:  ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, node ${process.version}`);
console.log(
  `load:     ${loadBefore.map((x) => x.toFixed(2)).join(' ')} → ${loadAfter.map((x) => x.toFixed(2)).join(' ')} (1/5/15 min)`,
);
console.log(`command:  node bench/drift.mjs --calls ${calls} --rounds ${rounds}`);
console.log(
  `setup:    ${nf} features + prediction, ${reference.bins} bins, window 1000, ${calls} calls a round`,
);
console.log('');
console.log('| case | median ns/call | min | max |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, xs] of Object.entries(results)) {
  console.log(
    `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`,
  );
}
