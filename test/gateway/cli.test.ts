// `flywheel gateway` as a real process (dist/cli.js): configuration errors stop it at start with a
// message naming the setting, and SIGTERM lets a request in flight finish before it exits 0. The
// replica is a small real node:http server standing in for a backend, slowed down on purpose.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { CLI, cleanEnv, runCli } from '../helpers/stack.js';
import { call, FakeReplica, gatewayTestRegistry, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('flywheel gateway (process)', () => {
  it('refuses to start without backends, with bad backends or bad timeouts, naming the setting', async () => {
    const none = await runCli(['gateway', '--port', '0']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no backends: pass --backends \(FLYWHEEL_BACKENDS\)/);
    expect(none.stderr).toContain('[FLY_ERR_CONFIG]');

    const bad = await runCli([
      'gateway',
      '--port',
      '0',
      '--backends',
      'http://127.0.0.1:5001,dns+http://svc',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--backends: dns\+http:\/\/svc: dns\+http:\/\/ needs an explicit port/);

    const zero = await runCli([
      'gateway',
      '--port',
      '0',
      '--backends',
      'http://127.0.0.1:1',
      '--attempt-timeout',
      '0',
    ]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--attempt-timeout: must be more than 0/);

    const keepAlive = await runCli([
      'gateway',
      '--backends',
      'http://127.0.0.1:1',
      '--keep-alive-timeout',
      '1s',
      '--deadline',
      '5s',
    ]);
    expect(keepAlive.code).toBe(2);
    expect(keepAlive.stderr).toMatch(/--keep-alive-timeout: must be longer than --deadline \(5000 ms\)/);
  });

  it('says so when its port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const res = await runCli([
      'gateway',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backends',
      'http://127.0.0.1:1',
      '--health-timeout',
      '200ms',
      '--registry',
      gatewayTestRegistry(),
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(res.stderr).toContain('[FLY_ERR_PORT_IN_USE]');
  });

  it('on SIGTERM stops listening, finishes the request in flight and exits 0', async () => {
    const replica = await FakeReplica.start('a');
    cleanups.push(() => replica.stop());
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [
        CLI,
        'gateway',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--backends',
        replica.url,
        '--registry',
        gatewayTestRegistry(),
      ],
      { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await call(`${url}/v2/health/ready`)).status === 200, {
      timeoutMs: 15_000,
      what: 'gateway ready',
    });

    replica.mode = 'slow';
    replica.slowMs = 800;
    const inFlight = call(`${url}/predict`, { body: '{"last":true}' });
    await waitFor(() => replica.traffic.length === 1, { timeoutMs: 5000, what: 'request at the replica' });
    proc.kill('SIGTERM');
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ replica: 'a', body: '{"last":true}' });
    expect(await exited).toBe(0);
    const lines = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; drained?: boolean; in_flight?: number });
    expect(lines.find((l) => l.msg === 'gateway stopping')?.in_flight).toBe(1);
    expect(lines.find((l) => l.msg === 'gateway stopped')?.drained).toBe(true);
    await expect(call(`${url}/v2/health/live`)).rejects.toThrow();
  });
});
