// /predict throughput and latency of one `flywheel serve` process (the default model: a 100-tree
// random forest trained on 250 synthetic rows) beside a bare node:http server that parses the same JSON
// and answers a small JSON object, in the same run, with autocannon at 16 and 64 connections; then a
// 100-instance batch (predictions/s). Prints figures; never fails on a time.
//
//   npm run bench:backend    (builds, then: node bench/backend.mjs [--duration 8] [--warmup 2] [--rounds 3])
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'dist', 'cli.js');

const LAB_BODY =
  '{"avg_session_duration":30,"visits_per_week":14,"response_rate":4,"feature_usage_depth":6,"user_id":34}';
const BATCH_BODY = JSON.stringify({
  instances: Array.from({ length: 100 }, (_, i) => ({
    avg_session_duration: 5 + (i % 30),
    visits_per_week: 1 + (i % 10),
    response_rate: 40 + (i % 60),
    feature_usage_depth: 1 + (i % 9),
  })),
});

/** Starts a child and resolves with it and the port it reports (stdout line or `listening` log). */
function start(args, portFrom) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      const port = portFrom(out);
      if (port !== undefined) resolve({ proc, port });
    };
    proc.stdout.setEncoding('utf8').on('data', onData);
    proc.stderr.setEncoding('utf8').on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
  });
}

function run(title, url, connections, body, seconds) {
  return autocannon({
    title,
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body,
  });
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-backend-'));
const children = [];
try {
  // The trainer's defaults: what `flywheel up` serves.
  await new Promise((resolve, reject) => {
    const t = spawn(process.execPath, [cli, 'train', '--registry', dir, '--log-level', 'warn'], {
      stdio: 'inherit',
    });
    t.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`train exited ${code}`))));
  });
  const backend = await start(
    [cli, 'serve', '--registry', dir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'],
    (text) => {
      const m = /"msg":"listening"/.test(text) && /"port":(\d+)/.exec(text);
      return m ? Number(m[1]) : undefined;
    },
  );
  children.push(backend.proc);
  const bare = await start([path.join(here, 'backend-bare-server.mjs')], (text) => {
    const m = /^(\d+)\n/.exec(text);
    return m ? Number(m[1]) : undefined;
  });
  children.push(bare.proc);
  const backendUrl = `http://127.0.0.1:${backend.port}/predict`;
  const bareUrl = `http://127.0.0.1:${bare.port}/`;
  // Wait for the model.
  for (let i = 0; i < 200; i++) {
    const r = await request(backendUrl, {
      method: 'POST',
      body: LAB_BODY,
      headers: { 'content-type': 'application/json' },
    });
    await r.body.dump();
    if (r.statusCode === 200) break;
    await sleep(50);
  }

  const cpus = os.cpus();
  console.log(`# flywheel backend benchmark, ${new Date().toISOString()}`);
  console.log(
    `# machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
      `node ${process.version}, ${os.platform()} ${os.release()}`,
  );
  console.log(
    `# command: node bench/backend.mjs --duration ${duration} --warmup ${warmup} --rounds ${rounds}` +
      ` (autocannon; ${rounds} rounds of bare and flywheel, alternating; ratios of medians)`,
  );
  console.log(
    `# load: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (1/5/15 min) at start`,
  );
  console.log('# autocannon runs in this process, on the same cores as the servers.\n');

  // Server CPU time per request (Linux /proc): on a machine shared with other work, throughput moves
  // with everyone else's load, CPU time per request much less.
  const cpuSeconds = (pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      // utime + stime, in clock ticks of 1/100 s (USER_HZ on Linux).
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return NaN;
    }
  };
  const rows = [];
  const measure = async (name, url, pid, connections, body, perRequest = 1) => {
    if (warmup > 0) await run(name, url, connections, body, warmup);
    const cpu0 = cpuSeconds(pid);
    const r = await run(name, url, connections, body, duration);
    const cpuUs = ((cpuSeconds(pid) - cpu0) * 1e6) / r.requests.total;
    rows.push({
      name,
      connections,
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpuUs,
      bad: r.non2xx + r.errors + r.timeouts,
      perRequest,
    });
  };
  const targets = [
    ['bare node:http', bareUrl, bare.proc.pid],
    ['flywheel /predict', backendUrl, backend.proc.pid],
  ];
  for (let round = 0; round < rounds; round++) {
    for (const connections of [16, 64]) {
      // Alternate who goes first, so neither always meets the other's after-effects.
      for (const [name, url, pid] of round % 2 === 0 ? targets : [...targets].reverse()) {
        await measure(name, url, pid, connections, LAB_BODY);
      }
    }
  }
  await measure('flywheel /predict, 100-instance batch', backendUrl, backend.proc.pid, 16, BATCH_BODY, 100);

  const pad = (v, n) => String(v).padEnd(n);
  console.log(
    `${pad('target', 40)}${pad('conns', 7)}${pad('req/s', 9)}${pad('pred/s', 9)}${pad('p50 ms', 8)}` +
      `${pad('p99 ms', 8)}${pad('cpu µs/req', 12)}failed`,
  );
  for (const r of rows) {
    console.log(
      `${pad(r.name, 40)}${pad(r.connections, 7)}${pad(Math.round(r.rps), 9)}` +
        `${pad(Math.round(r.rps * r.perRequest), 9)}${pad(r.p50, 8)}${pad(r.p99, 8)}` +
        `${pad(r.cpuUs.toFixed(1), 12)}${r.bad}`,
    );
  }
  console.log('');
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const connections of [16, 64]) {
    const of = (name, key) =>
      median(rows.filter((r) => r.name === name && r.connections === connections).map((r) => r[key]));
    const rps = of('flywheel /predict', 'rps') / of('bare node:http', 'rps');
    const cpu = of('bare node:http', 'cpuUs') / of('flywheel /predict', 'cpuUs');
    console.log(
      `${connections} connections: flywheel/bare requests/s = ${rps.toFixed(2)} (target >= 0.80); ` +
        `per CPU second = ${cpu.toFixed(2)}`,
    );
  }
  // Which path the single answers took (docs/backend.md): the fast lane or the full fastify route.
  const metrics = await request(backendUrl.replace(/\/predict$/, '/metrics'));
  const text = await metrics.body.text();
  const lane = Number(/^flywheel_backend_predict_fast_lane_total (\d+)/m.exec(text)?.[1] ?? NaN);
  const predicts = [...text.matchAll(/^flywheel_backend_requests_total\{route="\/predict",[^}]*\} (\d+)/gm)]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
  console.log(`flywheel: ${lane} of ${predicts} /predict answers written by the fast lane`);
  console.log(
    `# load: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (1/5/15 min) at the end`,
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
  await rm(dir, { recursive: true, force: true });
}
