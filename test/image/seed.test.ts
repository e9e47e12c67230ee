// The seed's topology run from the built image with podman: the trainer into a named volume, two
// backends, the gateway on a port published on 127.0.0.1. Every container runs as the pods do (uid
// 1000, read-only root, no capabilities); backends and the gateway are stopped and killed under a
// bounded load, which must lose no request.
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LAB_PREDICT_BODY, startLoad, type LoadOptions, type LoadReport } from '../helpers/load.js';
import { waitFor } from '../helpers/wait.js';
import {
  answersThrough,
  HARDENED,
  hostPort,
  IMAGE,
  inspect,
  logLines,
  podman,
  PodmanScope,
  processState,
  imageAvailable,
  waitExit,
  type ContainerSpec,
} from './podman.js';

const TITLE = 'the seed topology from the image';
const REGISTRY = '/var/lib/flywheel/registry';
const FEATURES = ['avg_session_duration', 'visits_per_week', 'response_rate', 'feature_usage_depth'];

/** A load on the gateway bounded in requests and in time: it stops itself at either limit. */
async function underLoad(
  options: LoadOptions,
  during: (progress: () => LoadReport) => Promise<void>,
): Promise<LoadReport> {
  const load = startLoad({ concurrency: 4, pauseMs: 5, ...options });
  let stopped: Promise<LoadReport> | null = null;
  const stop = () => (stopped ??= load.stop());
  const limit = setInterval(() => {
    if (load.report().sent >= 4000) void stop();
  }, 100);
  const deadline = setTimeout(() => void stop(), 90_000);
  try {
    await waitFor(() => load.report().ok >= 40, { timeoutMs: 30_000, what: 'the load to get going' });
    await during(() => load.report());
  } finally {
    clearInterval(limit);
    clearTimeout(deadline);
  }
  return stop();
}

/** Waits until the load has had `more` further successful answers (the system carries on). */
async function carriesOn(progress: () => LoadReport, more = 40): Promise<void> {
  const from = progress().ok;
  await waitFor(() => progress().ok >= from + more, { timeoutMs: 30_000, what: `${more} more answers` });
}

describe.runIf(imageAvailable(TITLE))(TITLE, () => {
  const scope = new PodmanScope('seed', inject('imageTestRun'));
  let version = '';
  let gateway = '';
  let gatewayUrl = '';
  const backends: string[] = [];
  let trainer = '';

  const backendSpec = (name: string, network: string, volume: string): ContainerSpec => ({
    ...HARDENED,
    name,
    network,
    args: ['serve', '--port', '5001'],
    env: { FLYWHEEL_REGISTRY: REGISTRY, FLYWHEEL_GRACE_PERIOD: '10s' },
    mounts: [{ volume, path: REGISTRY, readOnly: true }],
    stopTimeout: 30,
  });

  const healthyBackends = async () => {
    const res = await request(`${gatewayUrl}/status`);
    return ((await res.body.json()) as { healthy: number }).healthy;
  };

  beforeAll(async () => {
    const network = await scope.network();
    const volume = await scope.volume('registry');
    trainer = await scope.start({
      ...HARDENED,
      name: scope.name('trainer'),
      network,
      args: ['train'],
      env: { FLYWHEEL_REGISTRY: REGISTRY, FLYWHEEL_THREADS: '1' },
      mounts: [{ volume, path: REGISTRY }],
    });
    const code = await waitExit(trainer, 120_000);
    const published = (await logLines(trainer)).find((l) => l.msg === 'version published');
    expect({ code, published: typeof published?.version }).toEqual({ code: 0, published: 'string' });
    version = String(published?.version);

    for (const i of [1, 2])
      backends.push(await scope.start(backendSpec(scope.name(`backend-${i}`), network, volume)));
    gateway = await scope.start({
      ...HARDENED,
      name: scope.name('gateway'),
      network,
      args: ['gateway', '--port', '8080'],
      env: {
        FLYWHEEL_REGISTRY: REGISTRY,
        FLYWHEEL_BACKENDS: backends.map((b) => `http://${b}:5001`).join(','),
      },
      mounts: [{ volume, path: REGISTRY }],
      publish: [8080],
      stopTimeout: 30,
    });
    gatewayUrl = `http://${await hostPort(gateway, 8080)}`;
    await waitFor(async () => (await healthyBackends()) === 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the gateway to see both backends healthy',
    });
  });

  afterAll(() => scope.cleanup());

  it('answers /predict, /model-info and v2 infer through the gateway with the trained version', async () => {
    const predict = await request(`${gatewayUrl}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(LAB_PREDICT_BODY),
    });
    const prediction = (await predict.body.json()) as Record<string, unknown>;
    expect(predict.statusCode).toBe(200);
    expect(prediction).toMatchObject({ model_version: version, features_used: FEATURES });
    expect(typeof prediction.engagement_score).toBe('number');

    const info = await request(`${gatewayUrl}/model-info`);
    expect(info.statusCode).toBe(200);
    expect(await info.body.json()).toMatchObject({ status: 'ok', features: FEATURES });

    const infer = await request(`${gatewayUrl}/v2/models/engagement/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          {
            name: 'x',
            shape: [1, 4],
            datatype: 'FP64',
            data: [FEATURES.map((f) => LAB_PREDICT_BODY[f as keyof typeof LAB_PREDICT_BODY])],
          },
        ],
      }),
    });
    expect(infer.statusCode).toBe(200);
    const v2 = (await infer.body.json()) as { model_version: string; outputs: { data: number[] }[] };
    expect(v2.model_version).toBe(version);
    expect(v2.outputs[0].data).toEqual([prediction.engagement_score]);
  });

  it('balances over both backends', async () => {
    const { hosts, statuses } = await answersThrough(gatewayUrl, 2);
    expect([...statuses]).toEqual([200]);
    expect([...hosts].sort()).toEqual(backends.map((b) => `${b}:5001`).sort());
  });

  it('runs every container as uid 1000 on a read-only root with no capabilities', async () => {
    for (const c of [...backends, gateway]) {
      expect({ c, ...(await processState(c)) }).toEqual({
        c,
        uid: [1000, 1000, 1000, 1000],
        gid: [1000, 1000, 1000, 1000],
        capEff: '0000000000000000',
        capBnd: '0000000000000000',
        noNewPrivs: true,
        rootReadOnly: true,
      });
      const write = await podman(['exec', c, 'touch', '/app/written'], { allowFail: true });
      expect(write.stderr).toMatch(/read-only file system/i);
    }
    // The trainer has exited: its configuration, and the owner of what it wrote, say how it ran.
    const t = await inspect(trainer);
    expect(t.Config.User).toBe('1000:1000');
    expect(t.HostConfig.ReadonlyRootfs).toBe(true);
    expect(t.HostConfig.CapAdd ?? []).toEqual([]);
    const owners = await podman(['exec', gateway, 'stat', '-c', '%u:%g', `${REGISTRY}/aliases.json`]);
    expect(owners.stdout.trim()).toBe('1000:1000');
  });

  it('carries the OCI labels and nothing of the build-time npm configuration', async () => {
    const { stdout } = await podman(['image', 'inspect', '--format', '{{json .Config.Labels}}', IMAGE]);
    const labels = JSON.parse(stdout) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(labels['org.opencontainers.image.version']).toBe(pkg.version);
    expect(labels['org.opencontainers.image.revision']).toMatch(/^([0-9a-f]{40}|unknown)$/);
    const etc = await podman([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'ls',
      IMAGE,
      '-A',
      '/usr/local/etc',
    ]);
    expect(etc.stdout.trim()).toBe('');
  });

  it('loses no request when a backend is stopped under load, and the backend exits 0', async () => {
    const [stopped] = backends;
    const report = await underLoad(
      { url: `${gatewayUrl}/predict`, body: LAB_PREDICT_BODY },
      async (progress) => {
        await podman(['stop', '--time', '30', stopped], { timeoutMs: 60_000 });
        await carriesOn(progress);
      },
    );
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect((await inspect(stopped)).State.ExitCode).toBe(0);
    const last = (await logLines(stopped)).find((l) => l.msg === 'backend stopped');
    expect(last).toMatchObject({
      signal: 'SIGTERM',
      grace_expired: false,
      served_versions: { production: version },
    });

    // Back in rotation for the next test.
    await podman(['start', stopped]);
    await waitFor(async () => (await healthyBackends()) === 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the restarted backend to be healthy again',
    });
  });

  it('loses no request when a backend is killed (SIGKILL) under load', async () => {
    const killed = backends[1];
    const report = await underLoad(
      { url: `${gatewayUrl}/predict`, body: LAB_PREDICT_BODY },
      async (progress) => {
        await podman(['kill', '--signal', 'KILL', killed]);
        await carriesOn(progress);
      },
    );
    expect(report.failed, report.failures.join('\n')).toBe(0);
    expect((await inspect(killed)).State.ExitCode).toBe(137);
  });

  it('drains and exits 0 when the gateway is stopped', async () => {
    const report = await underLoad({ url: `${gatewayUrl}/predict`, body: LAB_PREDICT_BODY }, async () => {
      await podman(['stop', '--time', '30', gateway], { timeoutMs: 60_000 });
    });
    // Once it stopped listening nothing answers (there is no second gateway): connections are then
    // refused or reset, but every answer it gave was a prediction, none a 5xx.
    expect(Object.keys(report.statuses)).toEqual(['200']);
    expect((await inspect(gateway)).State.ExitCode).toBe(0);
    expect((await logLines(gateway)).find((l) => l.msg === 'gateway stopped')).toMatchObject({
      drained: true,
    });
  });
});
