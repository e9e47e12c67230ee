// What version routing costs on the gateway's /predict path: the same two backends and one gateway,
// measured with autocannon with routing off (the plain path: request_id splice, per-version stats and
// the prediction log only), a 10% canary, sticky 50% by user_id and shadow 100% (every request also
// mirrored to the candidate after the answer). Also one backend directly, for scale. Prints figures;
// never fails on a time.
//
//   npm run build && node bench/experiments.mjs [--seconds 8] [--connections 16]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const TOKEN = 'bench-token';
const BODY = JSON.stringify({
  avg_session_duration: 30,
  visits_per_week: 5,
  response_rate: 0.5,
  feature_usage_depth: 3,
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function run(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`flywheel ${args[0]} exited ${code}`)),
    );
  });
}

async function start(args) {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, ...args, '--host', '127.0.0.1', '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(`${url}/v2/health/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return { url, proc };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`flywheel ${args[0]} did not get ready`);
}

async function traffic(url, mode, weight) {
  const res = await request(`${url}/admin/traffic`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode, weight }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`PUT /admin/traffic: ${res.statusCode} ${text}`);
}

function load(url, body = BODY) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${url}/predict`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        duration: seconds,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-exp-'));
const procs = [];
try {
  await run(['train', '--registry', dir, '--seed', '1', '--log-level', 'warn']);
  await run(['train', '--registry', dir, '--seed', '2', '--promote', 'canary', '--log-level', 'warn']);
  const backends = [];
  for (let i = 0; i < 2; i++) {
    const b = await start(['serve', '--registry', dir, '--log-level', 'warn']);
    procs.push(b.proc);
    backends.push(b.url);
  }
  const gw = await start([
    'gateway',
    '--registry',
    dir,
    '--backends',
    backends.join(','),
    '--admin-token',
    TOKEN,
    '--analysis-interval',
    '0',
    '--log-level',
    'warn',
  ]);
  procs.push(gw.proc);

  console.log(`# flywheel experiments benchmark, ${new Date().toISOString()}`);
  console.log(
    `# ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ` +
      `autocannon ${connections} connections × ${seconds} s, POST /predict`,
  );
  console.log('# command: node bench/experiments.mjs ' + process.argv.slice(2).join(' '));
  console.log('| path | req/s | p50 ms | p99 ms | non-2xx |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const row = (name, r) =>
    console.log(
      `| ${name} | ${Math.round(r.requests.average)} | ${r.latency.p50} | ${r.latency.p99} | ${r.non2xx + r.errors} |`,
    );
  row('one backend directly', await load(backends[0]));
  await traffic(gw.url, 'off', 0);
  row('gateway, routing off', await load(gw.url));
  await traffic(gw.url, 'canary', 10);
  row('gateway, canary 10%', await load(gw.url));
  await traffic(gw.url, 'sticky', 50);
  row('gateway, sticky 50% (user_id in body)', await load(gw.url, BODY.replace('{', '{"user_id":"u-42",')));
  await traffic(gw.url, 'shadow', 100);
  row('gateway, shadow 100%', await load(gw.url));
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await sleep(500);
  await rm(dir, { recursive: true, force: true });
}
