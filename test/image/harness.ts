// A harness, not a scheduler: it runs the pod templates of rendered manifests as podman containers,
// so that a test can prove the image and the manifests agree at run time. For each container it takes
// the spec's own command and args, env and envFrom (ConfigMaps; Secrets the test hands in, optional
// ones may be absent), volume mounts (a PVC is a named volume, an emptyDir a tmpfs of its sizeLimit),
// security context (user, group, fsGroup, runAsNonRoot, read-only root, capabilities, privilege
// escalation), CPU and memory limits and terminationGracePeriodSeconds. One podman network stands for
// the cluster network; each Service's name is a network alias of the containers its selector selects.
// Container ports are published on free ports of 127.0.0.1, where the test polls the probes at the
// spec's paths and ports and sends its requests.
//
// What it leaves to a real cluster: scheduling and placement, restarts, rollouts, Jobs' retries,
// HPA, PDB and NetworkPolicy (not enforced), Service virtual IPs and NodePorts (a Service name
// resolves to every selected container, ready or not — tests start the gateway's backends first),
// probes acting on a container (here they are only polled), $(VAR) expansion, and any volume kind,
// env source or probe kind the manifests do not use (refused with an error, not ignored).
import type { IContainer, IPodTemplateSpec, IProbe, IService, IVolume } from 'kubernetes-models/v1';
import type { IConfigMap, IPersistentVolumeClaim } from 'kubernetes-models/v1';
import type { ICronJob } from 'kubernetes-models/batch/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import { request } from 'undici';
import {
  byKind,
  find,
  resolvePort,
  selects,
  workloads,
  type K8sObject,
  type Workload,
} from '../deploy/k8s.js';
import { waitFor } from '../helpers/wait.js';
import { hostPort, podman, PodmanScope, type ContainerSpec, type Mount } from './podman.js';

/** Secret data the test provides, by Secret name and key (the manifests only reference Secrets). */
export type Secrets = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** One started container of a pod (the manifests' pods have one container each). */
export interface PodContainer {
  readonly pod: string;
  /** The podman container's name. */
  readonly name: string;
  readonly container: IContainer;
  readonly spec: ContainerSpec;
}

const QUANTITY = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const FACTOR: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A Kubernetes resource quantity ("500m", "1", "256Mi") as a number. */
export function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = QUANTITY.exec(value);
  if (!m) throw new Error(`resource quantity ${value} is not understood by this harness`);
  return Number(m[1]) * FACTOR[m[2] ?? ''];
}

export class ManifestHarness {
  #network = '';
  readonly #claims = new Map<string, string>();

  constructor(
    readonly scope: PodmanScope,
    readonly image: string,
    readonly objects: readonly K8sObject[],
    readonly secrets: Secrets = {},
  ) {}

  /** The cluster network and one named volume per PersistentVolumeClaim. */
  async prepare(): Promise<void> {
    this.#network = await this.scope.network('cluster');
    for (const pvc of byKind<IPersistentVolumeClaim & K8sObject>(this.objects, 'PersistentVolumeClaim'))
      this.#claims.set(pvc.metadata.name, await this.scope.volume(`pvc-${pvc.metadata.name}`));
  }

  workload(kind: Workload['kind'], name: string): Workload {
    const w = workloads(this.objects).find((x) => x.kind === kind && x.name === name);
    if (!w) throw new Error(`${kind}/${name} is not in the rendered manifests`);
    return w;
  }

  /** Runs the CronJob's job template once: one pod, started now. */
  async runJob(cronJob: string): Promise<PodContainer[]> {
    return this.startPod(this.workload('CronJob', cronJob), `${cronJob}-run`);
  }

  /** The job template's activeDeadlineSeconds, in ms: how long one run may take. */
  jobDeadlineMs(cronJob: string): number {
    const c = find<ICronJob & K8sObject>(this.objects, 'CronJob', cronJob);
    const seconds = c?.spec?.jobTemplate.spec?.activeDeadlineSeconds;
    if (seconds === undefined) throw new Error(`CronJob/${cronJob} sets no activeDeadlineSeconds`);
    return seconds * 1000;
  }

  /** Starts `replicas` pods of the Deployment (its own count by default). */
  async startDeployment(name: string): Promise<PodContainer[][]> {
    const d = find<IDeployment & K8sObject>(this.objects, 'Deployment', name);
    const replicas = d?.spec?.replicas ?? 1;
    const pods: PodContainer[][] = [];
    for (let i = 0; i < replicas; i++)
      pods.push(await this.startPod(this.workload('Deployment', name), `${name}-${i}`));
    return pods;
  }

  async startPod(workload: Workload, pod: string): Promise<PodContainer[]> {
    const template = workload.template;
    const aliases = byKind<IService & K8sObject>(this.objects, 'Service')
      .filter((s) => selects(s.spec?.selector, workload))
      .map((s) => s.metadata.name);
    const started: PodContainer[] = [];
    for (const container of template.spec?.containers ?? []) {
      const spec = await this.containerSpec(template, container, pod, aliases);
      await this.scope.start(spec);
      started.push({ pod, name: spec.name, container, spec });
    }
    return started;
  }

  async containerSpec(
    template: IPodTemplateSpec,
    container: IContainer,
    pod: string,
    aliases: readonly string[],
  ): Promise<ContainerSpec> {
    const podSpec = template.spec;
    if (!podSpec) throw new Error(`${pod}: pod template without spec`);
    const psc = podSpec.securityContext ?? {};
    const csc = container.securityContext ?? {};
    const uid = csc.runAsUser ?? psc.runAsUser ?? (await this.imageUser());
    const gid = csc.runAsGroup ?? psc.runAsGroup;
    if ((csc.runAsNonRoot ?? psc.runAsNonRoot) && (uid === undefined || uid === 0))
      throw new Error(
        `${pod}/${container.name}: runAsNonRoot, but it would run as ${uid ?? 'a non-numeric user'}`,
      );
    const limits = container.resources?.limits ?? {};
    return {
      name: this.scope.name(`${pod}-${container.name}`),
      hostname: pod,
      image: this.image,
      command: container.command,
      args: container.args,
      env: this.env(container),
      user: uid === undefined ? undefined : gid === undefined ? String(uid) : `${uid}:${gid}`,
      groupAdd: psc.fsGroup === undefined ? [] : [psc.fsGroup],
      readOnlyRoot: csc.readOnlyRootFilesystem === true,
      capDrop: csc.capabilities?.drop ?? [],
      capAdd: csc.capabilities?.add ?? [],
      noNewPrivileges: csc.allowPrivilegeEscalation === false,
      ...this.volumes(container, podSpec.volumes ?? [], pod),
      network: this.#network,
      aliases,
      publish: (container.ports ?? []).map((p) => p.containerPort),
      cpus: limits.cpu === undefined ? undefined : quantity(limits.cpu),
      memoryBytes: limits.memory === undefined ? undefined : quantity(limits.memory),
      stopTimeout: podSpec.terminationGracePeriodSeconds ?? 30,
    };
  }

  /** The image's USER as a number, for runAsNonRoot without runAsUser (as the kubelet checks it). */
  async imageUser(): Promise<number | undefined> {
    const { stdout } = await podman(['image', 'inspect', '--format', '{{.Config.User}}', this.image]);
    const m = /^(\d+)(:\d+)?$/.exec(stdout.trim());
    return m ? Number(m[1]) : undefined;
  }

  /** The environment as the kubelet builds it: envFrom sources in order, then `env`. */
  env(container: IContainer): Record<string, string> {
    const env: Record<string, string> = {};
    const configMap = (name: string) => find<IConfigMap & K8sObject>(this.objects, 'ConfigMap', name)?.data;
    for (const source of container.envFrom ?? []) {
      const ref = source.configMapRef ?? source.secretRef;
      const data = source.configMapRef ? configMap(ref?.name ?? '') : this.secrets[ref?.name ?? ''];
      if (!data) {
        if (ref?.optional) continue;
        throw new Error(`${container.name}: envFrom ${ref?.name ?? '?'} does not exist`);
      }
      for (const [k, v] of Object.entries(data)) env[`${source.prefix ?? ''}${k}`] = v;
    }
    for (const e of container.env ?? []) {
      if (e.valueFrom === undefined) {
        env[e.name] = e.value ?? '';
        continue;
      }
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
      if (!ref) throw new Error(`${container.name}: ${e.name} has a value source this harness does not run`);
      const value = e.valueFrom.configMapKeyRef
        ? configMap(ref.name ?? '')?.[ref.key]
        : this.secrets[ref.name ?? '']?.[ref.key];
      if (value !== undefined) env[e.name] = value;
      else if (!ref.optional)
        throw new Error(`${container.name}: ${e.name} refers to missing ${ref.name}/${ref.key}`);
    }
    return env;
  }

  volumes(
    container: IContainer,
    volumes: readonly IVolume[],
    pod: string,
  ): { mounts: Mount[]; tmpfs: { path: string; sizeBytes?: number }[] } {
    const mounts: Mount[] = [];
    const tmpfs: { path: string; sizeBytes?: number }[] = [];
    for (const m of container.volumeMounts ?? []) {
      const v = volumes.find((x) => x.name === m.name);
      if (!v) throw new Error(`${pod}/${container.name}: volumeMount ${m.name} names no volume`);
      if (m.subPath !== undefined) throw new Error(`${pod}: subPath is not run by this harness`);
      if (v.persistentVolumeClaim) {
        const volume = this.#claims.get(v.persistentVolumeClaim.claimName);
        if (!volume) throw new Error(`${pod}: claim ${v.persistentVolumeClaim.claimName} is not rendered`);
        const readOnly = m.readOnly === true || v.persistentVolumeClaim.readOnly === true;
        mounts.push({ volume, path: m.mountPath, readOnly });
      } else if (v.emptyDir) {
        const size = v.emptyDir.sizeLimit;
        tmpfs.push({ path: m.mountPath, sizeBytes: size === undefined ? undefined : quantity(size) });
      } else throw new Error(`${pod}: volume ${v.name} is of a kind this harness does not run`);
    }
    return { mounts, tmpfs };
  }

  /** The probe's URL on the loopback port where its container port is published. */
  async probeUrl(c: PodContainer, probe: IProbe): Promise<string> {
    const get = probe.httpGet;
    if (!get) throw new Error(`${c.pod}: only httpGet probes are polled by this harness`);
    const port = resolvePort(get.port, c.container);
    if (port === undefined) throw new Error(`${c.pod}: probe port ${get.port} is no container port`);
    return `http://${await hostPort(c.name, port)}${get.path ?? '/'}`;
  }

  /** One probe attempt with the probe's timeout; success is a status from 200 to 399, as the kubelet's. */
  async probeOnce(url: string, probe: IProbe): Promise<boolean> {
    try {
      const res = await request(url, { headersTimeout: (probe.timeoutSeconds ?? 1) * 1000 });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 400;
    } catch {
      return false;
    }
  }

  /**
   * Polls the container's probes as the kubelet would order them: the startup probe must pass within
   * its failureThreshold × periodSeconds, then readiness within `readyTimeoutMs`, then liveness.
   */
  async waitProbes(
    c: PodContainer,
    readyTimeoutMs: number,
  ): Promise<{ startup: boolean; ready: boolean; live: boolean }> {
    const { startupProbe, readinessProbe, livenessProbe } = c.container;
    const poll = async (probe: IProbe | undefined, timeoutMs: number, what: string) => {
      if (!probe) return false;
      const url = await this.probeUrl(c, probe);
      await waitFor(() => this.probeOnce(url, probe), {
        timeoutMs,
        intervalMs: 250,
        what: `${c.pod} ${what} ${url}`,
      });
      return true;
    };
    const budget = (p: IProbe | undefined) =>
      ((p?.initialDelaySeconds ?? 0) + (p?.failureThreshold ?? 3) * (p?.periodSeconds ?? 10)) * 1000;
    const startup = await poll(startupProbe, budget(startupProbe), 'startup probe');
    const ready = await poll(readinessProbe, readyTimeoutMs, 'readiness probe');
    const live = await poll(livenessProbe, budget(livenessProbe), 'liveness probe');
    return { startup, ready, live };
  }

  /** Deletes a pod as the kubelet does: the preStop exec hook, then SIGTERM with the grace period. */
  async stopPod(c: PodContainer): Promise<void> {
    const hook = c.container.lifecycle?.preStop;
    if (hook?.exec?.command) await podman(['exec', c.name, ...hook.exec.command], { timeoutMs: 60_000 });
    else if (hook) throw new Error(`${c.pod}: only exec preStop hooks are run by this harness`);
    await podman(['stop', '--time', String(c.spec.stopTimeout ?? 30), c.name], { timeoutMs: 90_000 });
  }
}
