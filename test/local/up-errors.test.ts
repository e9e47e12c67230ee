// `flywheel up` refuses to start, with a clear message and a non-zero exit, when it cannot work:
// a port in use, a bad cron expression, an unwritable registry, bad trainer arguments. Nothing is
// spawned in those cases (the checks run before any child starts).
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, freePortRange } from '../helpers/ports.js';
import { runCli } from '../helpers/stack.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-up-errors-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function upArgs(overrides: Record<string, string> = {}): Promise<string[]> {
  const settings: Record<string, string> = {
    '--registry': path.join(dir, 'registry'),
    '--host': '127.0.0.1',
    '--port': String(await freePort()),
    '--backend-port': String(await freePortRange(2)),
    '--schedule': '0 0 1 1 *',
    ...overrides,
  };
  return ['up', ...Object.entries(settings).flat()];
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('flywheel up refuses to start', () => {
  it('when the gateway port is in use, naming the port (FLY_ERR_PORT_IN_USE)', async () => {
    const port = await freePort();
    const server = await listen(port);
    try {
      const res = await runCli(await upArgs({ '--port': String(port) }));
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(`port ${port} on 127.0.0.1 for gateway (--port): already in use`);
      expect(res.stderr).toContain('[FLY_ERR_PORT_IN_USE]');
      // Checked before spawning: no training ran, so the registry has no version.
      expect(res.stderr).not.toContain('"component":"trainer"');
      expect(await readdir(path.join(dir, 'registry', 'versions'))).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('when a backend port is in use, naming the replica', async () => {
    const base = await freePortRange(2);
    const server = await listen(base + 1);
    try {
      const res = await runCli(await upArgs({ '--backend-port': String(base) }));
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(
        `port ${base + 1} on 127.0.0.1 for backend-1 (--backend-port + 1): already in use`,
      );
      expect(res.stderr).toContain('[FLY_ERR_PORT_IN_USE]');
    } finally {
      server.close();
    }
  });

  it.each([
    ['bogus', 'exactly five, six, or seven space separated parts are required'],
    ['61 * * * *', 'Invalid value for minute: 61'],
  ])('with a bad cron expression %j (FLY_ERR_SCHEDULE)', async (cron, reason) => {
    const res = await runCli(await upArgs({ '--schedule': cron }));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`invalid --schedule ${JSON.stringify(cron)}: `);
    expect(res.stderr).toContain(reason);
    expect(res.stderr).toContain('[FLY_ERR_SCHEDULE]');
  });

  it('when the registry folder cannot be written (FLY_ERR_REGISTRY_UNWRITABLE)', async () => {
    // A path below a regular file: no permission trick (which root would ignore) needed.
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'not a folder');
    const res = await runCli(await upArgs({ '--registry': path.join(file, 'registry') }));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('[FLY_ERR_REGISTRY_UNWRITABLE]');
    expect(res.stderr).toContain(path.join(file, 'registry'));
  });

  it('when the gateway port is one of the backend ports (FLY_ERR_CONFIG, exit 2)', async () => {
    const base = await freePortRange(2);
    const res = await runCli(await upArgs({ '--backend-port': String(base), '--port': String(base + 1) }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `--port: the gateway port ${base + 1} is one of the backend ports ${base}-${base + 1}`,
    );
  });

  it('when --train-args would make every training run fail, checked with the trainer itself', async () => {
    const res = await runCli(await upArgs({ '--train-args': '--trees many' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--train-args "--trees many"');
    expect(res.stderr).toContain('--trees: expects a number');
  });
});
