// The experiment layer's CPU per proxied /predict, in isolation: the /predict plan's observer as the
// gateway calls it when an exchange ends (per-version stats, drift accounting from the backend's
// x-flywheel-features header, the prediction log line, its join index and its batched writes), on a
// registry trained like `flywheel up`'s (250 synthetic rows). CPU is the whole process's (user +
// system, every thread), taken over chunks of calls with the event loop let run between them, so the
// log's timer-driven writes on the threadpool are counted too. Prints figures; never fails on a time.
//
//   npm run bench:observer         (builds, then: node bench/observer.mjs [--calls 20000] [--rounds 20])
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, URL } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry as Metrics } from 'prom-client';
import { loadConfig } from '../dist/config.js';
import { DriftMonitor } from '../dist/gateway/drift/monitor.js';
import { predictWiring } from '../dist/gateway/experiments/wire.js';
import { Experiments } from '../dist/gateway/experiments/experiments.js';
import { newRequestId } from '../dist/gateway/headers.js';
import { createLogger } from '../dist/log.js';
import { Registry } from '../dist/registry/registry.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '20' },
  },
});
const calls = Number(values.calls);
const rounds = Number(values.rounds);
/** Calls between two turns of the event loop: about 10 ms of traffic at 10k req/s takes 100. */
const CHUNK = 100;

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-observer-'));
try {
  execFileSync(process.execPath, [cli, 'train', '--registry', dir, '--rows', '250', '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const config = loadConfig('gateway', { registry: dir, gatewayId: 'bench', analysisInterval: '0' }, {});
  const log = createLogger({ role: 'bench', level: 'silent', pretty: false });
  const experiments = await Experiments.start({ config, log, metrics: new Metrics() });
  const registry = new Registry(dir);
  experiments.drift = new DriftMonitor({
    thresholds: { window: config.driftWindow, minRequests: 100, warn: 0.1, alert: 0.25 },
    manifests: (v) => registry.readManifest(v),
    log,
  });
  // The plan every /predict gets when no experiment runs, as the gateway wires it.
  const { plan } = predictWiring({ experiments, balancer: null, attemptTimeoutMs: 5000, log });
  const version = experiments.aliases.production;
  const features = '30,14,4,6';
  const raw = ['x-model-version', version, 'x-flywheel-prediction', '41.52', 'x-flywheel-features', features];
  const attempt = {
    replica: { url: 'http://127.0.0.1:1' },
    rawHeaders: raw,
    answeredBy: version,
    prediction: '41.52',
    features,
  };
  // What Exchange.end hands the observer: the exchange itself, its answering attempt in `answer`.
  const exchange = {
    requestId: '',
    route: { name: 'predict' },
    req: { method: 'POST', url: '/predict', rawHeaders: [] },
    body: Buffer.from(
      '{"avg_session_duration":30,"visits_per_week":14,"response_rate":4,"feature_usage_depth":6}',
    ),
    tries: 1,
    status: 200,
    durationMs: 1.2,
    answer: attempt,
  };
  // Drift's window is made on first sight of the version (its manifest read off the request path).
  plan.observer({ ...exchange, requestId: newRequestId() });
  await sleep(100);

  async function round(observer) {
    const ids = Array.from({ length: calls }, () => newRequestId());
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i += CHUNK) {
      for (let j = i; j < i + CHUNK && j < calls; j++) {
        exchange.requestId = ids[j];
        observer(exchange);
      }
      await sleep(1);
    }
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / calls;
  }

  // The same loop with an observer that does nothing: what the loop and its event-loop turns cost.
  const cases = {
    'empty observer (the loop itself)': () => {},
    'plan.observer (stats, drift, log line, index, writes)': plan.observer,
  };
  const loadBefore = os.loadavg();
  const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let r = 0; r < rounds + 1; r++) {
    // Alternated within each round; the first round warms the JIT up.
    for (const [name, observer] of Object.entries(cases)) {
      const ns = await round(observer);
      if (r > 0) results[name].push(ns);
    }
  }
  const loadAfter = os.loadavg();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log('experiment layer CPU per /predict observed (process CPU, user + system, all threads)');
  console.log(`date:     ${new Date().toISOString()}`);
  console.log(`machine:  ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, node ${process.version}`);
  console.log(
    `load:     ${loadBefore.map((x) => x.toFixed(2)).join(' ')} → ${loadAfter.map((x) => x.toFixed(2)).join(' ')} (1/5/15 min)`,
  );
  console.log(`command:  node bench/observer.mjs --calls ${calls} --rounds ${rounds}`);
  console.log(
    `counted:  ${experiments.feedback.counts.predictions} lines logged, ${experiments.featureNames.unnamed} unnamed, drift skipped ${experiments.drift.skipped}`,
  );
  console.log('');
  console.log('| case | median ns/call | min | max |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, xs] of Object.entries(results)) {
    console.log(
      `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`,
    );
  }
  await experiments.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
