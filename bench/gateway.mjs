// The gateway beside HAProxy (one thread, `http-reuse always`, bench/haproxy.cfg) and nginx (one worker,
// bench/nginx.conf), all three in front of the same two real `flywheel serve` processes (the default
// model: a 100-tree forest on 250 synthetic rows), in the same run. The gateway runs exactly as
// `flywheel up` starts it: same argv (registry, so the experiment layer and the prediction log are on;
// replicas from `file:<registry>/local/replicas.json`; log level info) and request ids on. For each
// balancer process: requests/s and p50/p99 of the lab's POST /predict with wrk (autocannon if wrk is
// missing) at 16 and 64 connections, and its CPU time per request (utime + stime from /proc/<pid>/stat).
// Rounds alternate the order of the targets. Then an optional fault run. Prints figures; never fails on
// a time.
//
//   npm run bench:gateway          (builds, then: node bench/gateway.mjs [--duration 10] [--rounds 3])
//     --gateway-args="<flags>"     extra flags for the gateway (e.g. to compare a feature on and off)
//     --gateway-node-args="<args>" node flags for the gateway process (e.g. --cpu-prof --cpu-prof-dir=X)
//     --direct                     also load one backend directly
//     --reference name=script.mjs  also measure `node script.mjs` as a balancer (repeatable); it gets
//                                  FLYWHEEL_BENCH_PORT and FLYWHEEL_BENCH_BACKENDS in its environment
//     --fault                      the fault runs: SIGSTOP one backend for 5 s under load, then kill -9
//     --stack                      also measure a whole `flywheel up` (its own two backends and gateway,
//                                  trainer schedule out of the way); its CPU is that of all its processes
//   needs haproxy, nginx and wrk: apt-get install -y haproxy nginx wrk
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { request } from 'undici';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16,64' },
    fault: { type: 'boolean', default: false },
    direct: { type: 'boolean', default: false },
    'gateway-args': { type: 'string', default: '' },
    'gateway-node-args': { type: 'string', default: '' },
    // name=script.mjs: another balancer to measure beside them (a floor, a prototype); it gets
    // FLYWHEEL_BENCH_PORT and FLYWHEEL_BENCH_BACKENDS (comma-separated URLs) in its environment.
    reference: { type: 'string', multiple: true, default: [] },
    stack: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
const connectionCounts = values.connections.split(',').map(Number);
const words = (text) => text.split(/\s+/).filter((w) => w !== '');
const gatewayArgs = words(values['gateway-args']);
const gatewayNodeArgs = words(values['gateway-node-args']);

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'dist', 'cli.js');
const LAB_BODY =
  '{"avg_session_duration":30,"visits_per_week":14,"response_rate":4,"feature_usage_depth":6,"user_id":34}';

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** First line a tool prints about its version (nginx -v writes to stderr, wrk --version exits 1). */
function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (
    `${r.stdout ?? ''}\n${r.stderr ?? ''}`
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'unknown'
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await sleep(100);
  }
}

const children = new Set();
function launch(file, args, env = {}) {
  // stdout is read and dropped, as `flywheel up` reads its children's log lines.
  const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  proc.stdout.resume();
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c) => (err = (err + c).slice(-4000)));
  proc.stderrTail = () => err;
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

function killAll() {
  for (const p of children) {
    // nginx's master must stop its worker itself: a SIGKILLed master leaves the worker running.
    if (p.isNginx) {
      for (const pid of childPids(p.pid)) process.kill(pid, 'SIGKILL');
      p.kill('SIGTERM');
    } else {
      p.kill('SIGKILL');
    }
  }
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

class Backend {
  constructor(registry, port) {
    this.registry = registry;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
  }
  async start() {
    this.proc = launch(process.execPath, [
      cli,
      'serve',
      '--registry',
      this.registry,
      '--host',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--log-level',
      'warn',
    ]);
    await waitReady(`${this.url}/v2/health/ready`);
  }
  kill() {
    this.proc.kill('SIGKILL');
  }
  signal(name) {
    this.proc.kill(name);
  }
}

/** utime + stime of a process, in clock ticks (Linux); null elsewhere. */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
  } catch {
    return 100;
  }
})();

function childPids(parent) {
  try {
    return execFileSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function toMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

const WRK = which('wrk');
let luaFile = null;

/** One load run; returns requests/s, p50/p99 (ms), request and failure counts. */
async function load(url, connections, seconds) {
  if (WRK) {
    const out = await new Promise((resolve, reject) => {
      const p = spawn(WRK, ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', luaFile, url], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      p.stdout.setEncoding('utf8').on('data', (c) => (text += c));
      p.stderr.setEncoding('utf8').on('data', (c) => (text += c));
      p.once('error', reject);
      p.once('exit', () => resolve(text));
    });
    const num = (re) => Number(re.exec(out)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    return {
      rps: num(/Requests\/sec:\s+([\d.]+)/),
      p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
      p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
      max: toMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? ''),
      requests: num(/(\d+) requests in/),
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      socketErrors,
      socketDetail: socket ? socket[0] : 'Socket errors: none',
    };
  }
  const r = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: LAB_BODY,
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    requests: r.requests.total,
    non2xx: r.non2xx,
    socketErrors: r.errors + r.timeouts,
    socketDetail: `errors ${r.errors}, timeouts ${r.timeouts}`,
  };
}

/** CPU ticks of a target: its process, or the sum over its processes (`pid()` may give a list). */
function targetTicks(target) {
  const pid = target.pid();
  if (pid === null) return null;
  let sum = 0;
  for (const p of Array.isArray(pid) ? pid : [pid]) {
    const t = cpuTicks(p);
    if (t === null) return null;
    sum += t;
  }
  return sum;
}

async function measured(target, connections, seconds) {
  const before = targetTicks(target);
  const r = await load(target.url, connections, seconds);
  const after = targetTicks(target);
  const cpuUsPerReq =
    before === null || after === null || r.requests === 0
      ? null
      : (((after - before) / CLK_TCK) * 1e6) / r.requests;
  return { ...r, cpuUsPerReq };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const fmt = (n, d = 0) => (n === null || Number.isNaN(n) ? '—' : n.toFixed(d));

async function main() {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const nginx = which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : null);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-bench-gateway-'));
  try {
    luaFile = path.join(dir, 'predict.lua');
    await writeFile(
      luaFile,
      `wrk.method = "POST"\nwrk.body = '${LAB_BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`,
    );
    const registry = path.join(dir, 'registry');
    execFileSync(
      process.execPath,
      [cli, 'train', '--registry', registry, '--rows', '250', '--log-level', 'warn'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );

    const backends = [new Backend(registry, await freePort()), new Backend(registry, await freePort())];
    await Promise.all(backends.map((b) => b.start()));

    // What `flywheel up` writes and the gateway it starts follows.
    await mkdir(path.join(registry, 'local'), { recursive: true });
    const replicasFile = path.join(registry, 'local', 'replicas.json');
    await writeFile(replicasFile, `${JSON.stringify({ replicas: backends.map((b) => b.url) }, null, 2)}\n`);
    const gatewayPort = await freePort();
    // The argv of src/local/supervisor.ts #startGateway, plus --gateway-args.
    const gatewayArgv = [
      ...gatewayNodeArgs,
      cli,
      'gateway',
      // The registry: the experiment layer, the prediction log and drift monitoring read it.
      '--registry',
      registry,
      '--host',
      '127.0.0.1',
      '--port',
      String(gatewayPort),
      '--backends',
      `file:${replicasFile}`,
      '--log-level',
      'info',
      ...gatewayArgs,
    ];
    const gateway = launch(process.execPath, gatewayArgv);
    // Stopped with SIGTERM at the end, so that a --cpu-prof profile gets written.
    gateway.graceful = true;
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await waitReady(`${gatewayUrl}/v2/health/ready`);

    const haproxy = which('haproxy') ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : null);
    let haproxyProc = null;
    let haproxyUrl = null;
    if (haproxy) {
      const port = await freePort();
      const hdir = path.join(dir, 'haproxy');
      await mkdir(hdir, { recursive: true });
      const conf = (await readFile(path.join(here, 'haproxy.cfg'), 'utf8'))
        .replaceAll('__DIR__', hdir)
        .replaceAll('__PORT__', String(port))
        .replaceAll('__BACKEND1__', String(backends[0].port))
        .replaceAll('__BACKEND2__', String(backends[1].port));
      await writeFile(path.join(hdir, 'haproxy.cfg'), conf);
      // -db: stay in the foreground, one process (its pid is the one measured).
      haproxyProc = launch(haproxy, ['-db', '-f', path.join(hdir, 'haproxy.cfg')]);
      haproxyUrl = `http://127.0.0.1:${port}`;
      await waitReady(`${haproxyUrl}/v2/health/ready`);
    }

    let nginxProc = null;
    let nginxUrl = null;
    if (nginx) {
      const nginxPort = await freePort();
      const ndir = path.join(dir, 'nginx');
      await mkdir(ndir, { recursive: true });
      const conf = (await readFile(path.join(here, 'nginx.conf'), 'utf8'))
        .replaceAll('__DIR__', ndir)
        .replaceAll('__PORT__', String(nginxPort))
        .replaceAll('__BACKEND1__', String(backends[0].port))
        .replaceAll('__BACKEND2__', String(backends[1].port));
      await writeFile(path.join(ndir, 'nginx.conf'), conf);
      nginxProc = launch(nginx, ['-c', path.join(ndir, 'nginx.conf'), '-p', ndir]);
      nginxProc.isNginx = true;
      nginxUrl = `http://127.0.0.1:${nginxPort}`;
      await waitReady(`${nginxUrl}/v2/health/ready`);
    }
    const references = [];
    for (const spec of values.reference) {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new Error(`--reference ${spec}: expected name=script.mjs`);
      const port = await freePort();
      const proc = launch(process.execPath, [path.resolve(spec.slice(eq + 1))], {
        FLYWHEEL_BENCH_PORT: String(port),
        FLYWHEEL_BENCH_BACKENDS: backends.map((b) => b.url).join(','),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitReady(`${url}/v2/health/ready`);
      references.push({ name: spec.slice(0, eq), url: `${url}/predict`, pid: () => proc.pid });
    }
    let stackUrl = null;
    let stackProc = null;
    if (values.stack) {
      const port = await freePort();
      // Replica i listens on --backend-port + i: two ports below Linux's ephemeral range (32768 up),
      // from which freePort() and outgoing connections take theirs. \`up\` checks both before starting.
      const backendPort = 20000 + Math.floor(Math.random() * 12000);
      stackProc = launch(process.execPath, [
        cli,
        'up',
        '--registry',
        path.join(dir, 'up-registry'),
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--backend-port',
        String(backendPort),
        // No training run starts during the measurements (the first one runs at start).
        '--schedule',
        '0 0 1 1 *',
      ]);
      stackProc.graceful = true;
      stackUrl = `http://127.0.0.1:${port}`;
      await waitReady(`${stackUrl}/v2/health/ready`, 120_000);
    }
    const nginxWorker = () => (nginxProc ? (childPids(nginxProc.pid)[0] ?? null) : null);

    const targets = [
      { name: 'gateway', url: `${gatewayUrl}/predict`, pid: () => gateway.pid },
      ...(haproxyUrl
        ? [{ name: 'haproxy (1 thread)', url: `${haproxyUrl}/predict`, pid: () => haproxyProc.pid }]
        : []),
      ...(nginxUrl ? [{ name: 'nginx (1 worker)', url: `${nginxUrl}/predict`, pid: nginxWorker }] : []),
      ...references,
      ...(stackUrl
        ? [
            {
              name: 'flywheel up (stack)',
              url: `${stackUrl}/predict`,
              // The supervisor and its children: the gateway and both backends.
              pid: () => [stackProc.pid, ...childPids(stackProc.pid)],
            },
          ]
        : []),
      ...(values.direct
        ? [
            {
              name: 'direct (one backend)',
              url: `${backends[0].url}/predict`,
              pid: () => backends[0].proc.pid,
            },
          ]
        : []),
    ];

    const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`;
    console.log('# Gateway benchmark');
    console.log(`date:     ${new Date().toISOString()}`);
    console.log(`machine:  ${machine}`);
    console.log(`node:     ${process.version}`);
    // Every process here competes for the same cores: other work on the machine moves the figures.
    console.log(
      `loadavg:  ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (1/5/15 min, at start)`,
    );
    console.log(
      `load:     ${WRK ? versionOf(WRK, ['--version']) : 'autocannon (wrk not found)'}, lab POST /predict`,
    );
    console.log(
      `haproxy:  ${haproxy ? versionOf(haproxy, ['-v']) : 'not installed (apt-get install -y haproxy): skipped'}`,
    );
    console.log(
      `nginx:    ${nginx ? versionOf(nginx, ['-v']) : 'not installed (apt-get install -y nginx): skipped'}`,
    );
    console.log(
      `command:  node ${process.argv
        .slice(1)
        .map((a) => path.relative(process.cwd(), a) || a)
        .join(' ')}`,
    );
    console.log(`gateway:  node ${gatewayArgv.map((a) => a.replace(dir, '$TMP')).join(' ')}`);
    console.log(
      `backends: 2 × flywheel serve (100-tree forest, 250 rows) on ${backends.map((b) => b.port).join(', ')}`,
    );
    console.log('');

    for (const t of targets) await load(t.url, 16, warmup);

    const results = new Map();
    for (let round = 0; round < rounds; round++) {
      for (const c of connectionCounts) {
        // Rotate the order each round so that drift on a shared machine does not favour one target.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]);
        for (const t of order) {
          const r = await measured(t, c, duration);
          const key = `${t.name}@${c}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          console.log(
            `round ${round + 1} c=${c} ${t.name.padEnd(20)} ${fmt(r.rps).padStart(7)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 1)} µs/req  non-2xx ${r.non2xx}  ${r.socketDetail}  load ${os.loadavg()[0].toFixed(2)}`,
          );
        }
      }
    }

    console.log('\n## Medians over the rounds\n');
    console.log('| connections | target | req/s | p50 ms | p99 ms | CPU µs/req of its process(es) |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: |');
    const med = (key, f) => median(results.get(key).map(f));
    for (const c of connectionCounts) {
      for (const t of targets) {
        const key = `${t.name}@${c}`;
        console.log(
          `| ${c} | ${t.name} | ${fmt(med(key, (r) => r.rps))} | ${fmt(
            med(key, (r) => r.p50),
            2,
          )} | ${fmt(
            med(key, (r) => r.p99),
            2,
          )} | ${fmt(
            med(key, (r) => r.cpuUsPerReq ?? NaN),
            1,
          )} |`,
        );
      }
    }
    const against = (name, label) => {
      console.log(`\nGateway against ${label} (targets: req/s ≥ 0.9×, CPU/request ≤ 1.5×, p99 ≤ 1.5×):`);
      for (const c of connectionCounts) {
        const g = `gateway@${c}`;
        const o = `${name}@${c}`;
        const ratio = (f) => fmt(med(g, f) / med(o, f), 2);
        console.log(
          `  c=${c}: req/s ${ratio((r) => r.rps)}×, CPU/request ${ratio((r) => r.cpuUsPerReq ?? NaN)}×, p99 ${ratio((r) => r.p99)}×`,
        );
      }
    };
    if (haproxyUrl) against('haproxy (1 thread)', 'HAProxy');
    if (nginxUrl) against('nginx (1 worker)', 'nginx');
    if (stackUrl) {
      console.log('\nThrough `flywheel up` (target at 64 connections: ≥ 16,000 req/s on a 2-core machine):');
      for (const c of connectionCounts) {
        const key = `flywheel up (stack)@${c}`;
        console.log(
          `  c=${c}: ${fmt(med(key, (r) => r.rps))} req/s, p99 ${fmt(
            med(key, (r) => r.p99),
            2,
          )} ms, ${fmt(
            med(key, (r) => r.cpuUsPerReq ?? NaN),
            1,
          )} µs of CPU per request over the gateway and both backends`,
        );
      }
    }

    console.log(
      `\nloadavg at the end of the load runs: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );

    if (values.fault) {
      // The victim is one of the shared backends: the direct target and the stack (its own) are left out.
      const faultTargets = targets.filter(
        (t) => t.name !== 'direct (one backend)' && t.name !== 'flywheel up (stack)',
      );
      const victim = backends[1];
      console.log('\n## Fault runs (16 connections, 20 s of load)\n');
      for (const fault of ['SIGSTOP for 5 s, 5 s in', 'kill -9, 5 s in']) {
        for (const t of faultTargets) {
          const running = load(t.url, 16, 20);
          await sleep(5000);
          if (fault.startsWith('kill')) victim.kill();
          else {
            victim.signal('SIGSTOP');
            await sleep(5000);
            victim.signal('SIGCONT');
          }
          const r = await running;
          const failed = r.non2xx + r.socketErrors;
          console.log(
            `${fault.padEnd(24)} ${t.name.padEnd(20)} ${r.requests} requests, ${fmt(r.rps)} req/s, failed ${failed} (non-2xx ${r.non2xx}, ${r.socketDetail}), p99 ${fmt(r.p99, 2)} ms, max ${fmt(r.max, 2)} ms`,
          );
          if (fault.startsWith('kill')) await victim.start();
          // Let every balancer take the replica back before the next run.
          await sleep(6000);
        }
      }
    }
  } finally {
    for (const p of children) {
      if (!p.graceful) continue;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    }
    killAll();
    await sleep(200);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
