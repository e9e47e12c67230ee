// The prediction/feedback log on storage that fails for real: the registry on a 256 KiB tmpfs that
// fills up, and on one mounted read-only. The gateway (in this process, so "it lives" is this test
// running on) keeps answering /predict 200, answers /feedback a 503 JSON, reports the fault on
// /metrics, and both work again within 5 s of the fault clearing.
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../../src/gateway/main.js';
import { mountTmpfs, type Tmpfs } from '../../helpers/tmpfs.js';
import { waitFor } from '../../helpers/wait.js';
import { call, FakeReplica, publishFakeModel, startTestGateway } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(fs: Tmpfs, publish = true): Promise<{ gw: Gateway; replica: FakeReplica }> {
  if (publish) await publishFakeModel(fs.dir);
  const replica = await FakeReplica.start('a');
  const gw = await startTestGateway({ backends: replica.url, registry: fs.dir, analysisInterval: '0' });
  cleanups.push(async () => {
    await gw.close();
    await replica.stop();
  });
  return { gw, replica };
}

async function predict(gw: Gateway): Promise<string> {
  const r = await call(`${gw.url}/predict`, { body: '{"a":1,"b":2}' });
  expect(r.status).toBe(200);
  return String(r.headers['x-request-id']);
}

function feedback(gw: Gateway, id: string) {
  return call(`${gw.url}/feedback`, { body: JSON.stringify({ request_id: id, actual: 40 }) });
}

/** Writes a file until the filesystem is full. */
async function fill(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    await fh.close();
  }
}

/**
 * Request ids of the logged predictions. A write cut short by ENOSPC leaves a torn last line in the file
 * it was going to (the line is written again, whole, in the next file): skipped, as readers do.
 */
async function loggedIds(dir: string): Promise<string[]> {
  const folder = path.join(dir, 'feedback');
  const ids: string[] = [];
  for (const name of await readdir(folder)) {
    for (const line of (await readFile(path.join(folder, name), 'utf8')).split('\n')) {
      if (!line.startsWith('{"type":"prediction"')) continue;
      try {
        ids.push((JSON.parse(line) as { request_id: string }).request_id);
      } catch {
        // torn by the fault
      }
    }
  }
  return ids;
}

describe('feedback log on failing storage', () => {
  it('a full filesystem: /predict 200, /feedback 503 JSON, and both work within 5 s of space freed', async (ctx) => {
    const fs = await mountTmpfs('256k');
    if (fs === null) return ctx.skip();
    cleanups.push(() => fs.unmount());
    const { gw } = await setup(fs);
    const before = await predict(gw);
    expect((await feedback(gw, before)).status).toBe(200);

    const filler = path.join(fs.dir, 'filler');
    await fill(filler);
    // The log file's last page still has room: predictions fill it, then feedback finds no space.
    let whileFull = '';
    const refused = await waitFor(
      async () => {
        whileFull = await predict(gw);
        const r = await feedback(gw, whileFull);
        return r.status === 503 ? r : null;
      },
      { timeoutMs: 5000, intervalMs: 1, what: 'feedback refused with 503' },
    );
    expect(refused.headers['content-type']).toMatch(/application\/json/);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json()).toMatchObject({
      code: 'FLY_ERR_FEEDBACK_UNAVAILABLE',
      details: { kind: 'ENOSPC' },
    });
    // Predictions keep being answered while the log cannot be written.
    const alsoWhileFull = await predict(gw);
    const metrics = (await call(`${gw.url}/metrics`)).text;
    expect(metrics).toMatch(/flywheel_feedback_log_errors_total\{kind="ENOSPC"\} [1-9]/);
    expect(metrics).toMatch(/flywheel_feedback_log_failing 1/);

    await unlink(filler);
    const freedAt = Date.now();
    await waitFor(async () => (await feedback(gw, whileFull)).status === 200, {
      timeoutMs: 5000,
      what: 'feedback accepted again after space was freed',
    });
    expect(Date.now() - freedAt).toBeLessThan(5000);
    expect((await feedback(gw, alsoWhileFull)).status).toBe(200);
    expect(await predict(gw)).toBeTruthy();
    // The predictions made while the disk was full were kept queued, not lost.
    await waitFor(async () => (await loggedIds(fs.dir)).includes(alsoWhileFull), {
      timeoutMs: 5000,
      what: 'the queued prediction line in the log',
    });
    expect(await loggedIds(fs.dir)).toContain(whileFull);
    expect((await call(`${gw.url}/metrics`)).text).toMatch(/flywheel_feedback_log_dropped_lines_total 0/);
  });

  it('a read-only filesystem: the gateway starts and serves, /feedback 503 until it is writable', async (ctx) => {
    const fs = await mountTmpfs('256k');
    if (fs === null) return ctx.skip();
    cleanups.push(() => fs.unmount());
    // The version is published first: the log names the answer's features from its manifest.
    await publishFakeModel(fs.dir);
    await fs.remount('ro');
    const { gw } = await setup(fs, false);
    const id = await predict(gw);
    const r = await feedback(gw, id);
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({ code: 'FLY_ERR_FEEDBACK_UNAVAILABLE', details: { kind: 'EROFS' } });
    expect(r.json<{ error: string }>().error).toMatch(/cannot be written now \(EROFS\)/);

    await fs.remount('rw');
    await waitFor(async () => (await feedback(gw, id)).status === 200, {
      timeoutMs: 5000,
      what: 'feedback accepted once the filesystem is writable',
    });
    expect(await loggedIds(fs.dir)).toContain(id);
  });
});
