// The rendered minikube overlay run as containers from the built image (harness.ts: a harness that
// proves the manifests and the image agree at run time, not a scheduler). The CronJob's job template
// runs once and publishes a version; the backend Deployment's pods pass their probes; the gateway
// finds them through the headless Service's DNS name; a request on the gateway's port gets a
// prediction from that version.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { render, workloads } from '../deploy/k8s.js';
import { waitFor } from '../helpers/wait.js';
import { ManifestHarness, quantity, type PodContainer } from './harness.js';
import {
  hostPort,
  IMAGE,
  inspect,
  logLines,
  PodmanScope,
  processState,
  answersThrough,
  imageAvailable,
  waitExit,
} from './podman.js';

const TITLE = 'the minikube manifests as containers';

describe.runIf(imageAvailable(TITLE))(TITLE, () => {
  const scope = new PodmanScope('k8s', inject('imageTestRun'));
  const ADMIN_TOKEN = 'harness-admin-token';
  let harness: ManifestHarness;
  let job: PodContainer;
  let backends: PodContainer[];
  let gateway: PodContainer;
  let version = '';

  beforeAll(async () => {
    harness = new ManifestHarness(scope, IMAGE, await render('minikube'), {
      'flywheel-admin': { token: ADMIN_TOKEN },
    });
    await harness.prepare();
  });

  afterAll(() => scope.cleanup());

  it('covers every workload the overlay renders', () => {
    // A new Deployment or CronJob must be run here too before this passes.
    expect(workloads(harness.objects).map((w) => `${w.kind}/${w.name}`)).toEqual([
      'Deployment/flywheel-backend',
      'Deployment/flywheel-gateway',
      'CronJob/flywheel-trainer',
    ]);
  });

  it('runs the CronJob job template once, and it publishes a version', async () => {
    [job] = await harness.runJob('flywheel-trainer');
    expect(harness.workload('CronJob', 'flywheel-trainer').template.spec?.restartPolicy).toBe('Never');
    expect(await waitExit(job.name, harness.jobDeadlineMs('flywheel-trainer'))).toBe(0);
    const published = (await logLines(job.name)).find((l) => l.msg === 'version published');
    expect(typeof published?.version).toBe('string');
    version = String(published?.version);
  });

  it('starts the backend pods, which pass their startup, readiness and liveness probes', async () => {
    backends = (await harness.startDeployment('flywheel-backend')).flat();
    expect(backends).toHaveLength(2);
    for (const b of backends) {
      expect(await harness.waitProbes(b, 60_000)).toEqual({ startup: true, ready: true, live: true });
    }
  });

  it('applies the security context and resource limits of the spec', async () => {
    for (const b of backends) {
      const limits = b.container.resources?.limits ?? {};
      const state = await processState(b.name);
      expect(state).toMatchObject({
        uid: [1000, 1000, 1000, 1000],
        capEff: '0000000000000000',
        rootReadOnly: true,
      });
      const { HostConfig } = await inspect(b.name);
      expect(HostConfig.Memory).toBe(quantity(limits.memory ?? 0));
      expect(HostConfig.NanoCpus).toBe(quantity(limits.cpu ?? 0) * 1e9);
    }
  });

  it('starts the gateway, which finds both backends through the headless Service and answers on its port', async () => {
    [[gateway]] = await harness.startDeployment('flywheel-gateway');
    expect(await harness.waitProbes(gateway, 60_000)).toEqual({ startup: true, ready: true, live: true });
    const port = gateway.container.ports?.[0]?.containerPort ?? 0;
    const url = `http://${await hostPort(gateway.name, port)}`;
    const status = await waitFor(
      async () => {
        const s = (await (await request(`${url}/status`)).body.json()) as {
          discovery: string;
          healthy: number;
        };
        return s.healthy === 2 ? s : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the gateway to discover both backends' },
    );
    expect(status.discovery).toMatch(/^dns: flywheel-backend-headless:5001\b/);

    const answers = await answersThrough(url, 2);
    expect({ statuses: [...answers.statuses], versions: [...answers.versions] }).toEqual({
      statuses: [200],
      versions: [version],
    });
    expect([...answers.hosts].sort()).toEqual(backends.map((b) => `${b.pod}:5001`).sort());
    // The optional Secret reached the gateway: its admin routes are on.
    expect((await logLines(gateway.name)).find((l) => l.msg === 'experiments ready')).toMatchObject({
      admin: true,
    });
  });

  it('stops a backend pod as the kubelet would: preStop hook, SIGTERM, exit 0 within the grace period', async () => {
    const [b] = backends;
    await harness.stopPod(b);
    expect((await inspect(b.name)).State.ExitCode).toBe(0);
    expect((await logLines(b.name)).find((l) => l.msg === 'backend stopped')).toMatchObject({
      grace_expired: false,
    });
  });
});
