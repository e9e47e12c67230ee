// Cross-checks between the rendered manifests and the code, so neither can drift from the other.
// Each check returns a list of problems (empty when all is well), so the tests can also show that a
// deliberately broken manifest is caught.
import { KNOWN_ENV, SETTINGS, type Role } from '../../src/config.js';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { ICronJob } from 'kubernetes-models/batch/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IConfigMap, IContainer, IPersistentVolumeClaim, IProbe, IService } from 'kubernetes-models/v1';
import {
  byKind,
  containers,
  find,
  resolvePort,
  schemaProblems,
  selects,
  workloads,
  type K8sObject,
  type Overlay,
  type PrintedConfig,
  type Workload,
  type WorkloadContainer,
} from './k8s.js';

/**
 * Routes the servers serve, as DESIGN.md's HTTP API and the role briefs define them. The backend and
 * gateway do not export their route paths yet; when they do, import them here so that renaming a
 * route in the code fails these checks.
 */
export const HEALTH = { live: '/v2/health/live', ready: '/v2/health/ready' } as const;
export const METRICS_PATH = '/metrics';
export const SERVED_ROUTES: Readonly<Record<'serve' | 'gateway', readonly string[]>> = {
  serve: [HEALTH.live, HEALTH.ready, '/predict', '/model-info', METRICS_PATH],
  gateway: [HEALTH.live, HEALTH.ready, '/predict', '/model-info', METRICS_PATH, '/status'],
};

/** Which CLI command each pod component runs. */
export const ROLE_OF_COMPONENT: Readonly<Record<string, Role>> = {
  trainer: 'train',
  backend: 'serve',
  gateway: 'gateway',
};

export const NODE_PORT = 30080;
export const TRAINER_SCHEDULE = '*/2 * * * *';

const envOfRole = (role: Role): Set<string> =>
  new Set((Object.values(SETTINGS[role]) as { env: string }[]).map((s) => s.env));

type Deployed = WorkloadContainer & { printed: PrintedConfig };

/** Containers whose command line parsed; the others are reported by checkCommandLines. */
function parsed(o: Overlay): Deployed[] {
  return containers(o.objects).flatMap((c) => {
    const printed = o.configs.get(c.key);
    return printed && !(printed instanceof Error) ? [{ ...c, printed }] : [];
  });
}

function workloadOf(o: Overlay, component: string): Workload | undefined {
  return workloads(o.objects).find((w) => w.component === component);
}

function only(o: Overlay, component: string): Deployed | undefined {
  return parsed(o).find((c) => c.workload.component === component);
}

export function checkSchemas(o: Overlay): string[] {
  return o.objects.flatMap(schemaProblems);
}

export function checkCommandLines(o: Overlay): string[] {
  const problems: string[] = [];
  for (const { workload, container, key } of containers(o.objects)) {
    const expected = ROLE_OF_COMPONENT[workload.component];
    if (!expected) problems.push(`${key}: unknown component label "${workload.component}"`);
    if (container.command)
      problems.push(`${key}: sets command, which replaces the image's flywheel ENTRYPOINT`);
    const printed = o.configs.get(key);
    if (printed === undefined) problems.push(`${key}: was not run through the CLI`);
    else if (printed instanceof Error) problems.push(`${key}: ${printed.message}`);
    else if (printed.role !== expected) problems.push(`${key}: runs ${printed.role}, expected ${expected}`);
  }
  return problems;
}

/**
 * Every FLYWHEEL_* variable is one the config reads: a shared ConfigMap's variables are read by at
 * least one role that loads the ConfigMap, a container's own `env` only holds its role's settings.
 * (That the values are valid is checked by running the CLI: checkCommandLines.)
 */
export function checkEnv(o: Overlay): string[] {
  const problems: string[] = [];
  const consumers = new Map<string, Set<Role>>();
  for (const { workload, container, key } of containers(o.objects)) {
    const role = ROLE_OF_COMPONENT[workload.component];
    if (!role) continue;
    for (const source of container.envFrom ?? []) {
      const name = source.configMapRef?.name ?? '';
      consumers.set(name, (consumers.get(name) ?? new Set()).add(role));
    }
    const own = envOfRole(role);
    if (role === 'gateway' && !container.env?.some((e) => e.name === 'FLYWHEEL_ADMIN_TOKEN')) {
      problems.push(`${key}: FLYWHEEL_ADMIN_TOKEN is not taken from the admin Secret`);
    }
    for (const e of container.env ?? []) {
      if (e.name === 'FLYWHEEL_ADMIN_TOKEN' && !e.valueFrom?.secretKeyRef) {
        problems.push(`${key}: FLYWHEEL_ADMIN_TOKEN must come from a Secret, not the manifest`);
      }
      if (!e.name.startsWith('FLYWHEEL_')) continue;
      if (!KNOWN_ENV.has(e.name)) problems.push(`${key}: ${e.name} is not a Flywheel setting`);
      else if (!own.has(e.name)) problems.push(`${key}: ${e.name} is not read by flywheel ${role}`);
    }
  }
  for (const [name, roles] of consumers) {
    const cm = find<IConfigMap & K8sObject>(o.objects, 'ConfigMap', name);
    for (const variable of Object.keys(cm?.data ?? {})) {
      if (variable === 'FLYWHEEL_ADMIN_TOKEN') {
        problems.push(`ConfigMap/${name}: FLYWHEEL_ADMIN_TOKEN must come from a Secret, not a ConfigMap`);
      } else if (!variable.startsWith('FLYWHEEL_') || !KNOWN_ENV.has(variable)) {
        problems.push(`ConfigMap/${name}: ${variable} is not a Flywheel setting`);
      } else if (![...roles].some((role) => envOfRole(role).has(variable))) {
        problems.push(`ConfigMap/${name}: ${variable} is read by none of ${[...roles].join(', ')}`);
      }
    }
  }
  return problems;
}

/** Probes and scrape annotations name routes the server serves, on the port it listens on. */
export function checkProbesAndScraping(o: Overlay): string[] {
  const problems: string[] = [];
  for (const { workload, container, key, printed } of parsed(o)) {
    if (workload.kind !== 'Deployment') continue;
    const role = printed.role as 'serve' | 'gateway';
    const port = printed.config.port;
    if (!container.ports?.some((p) => p.containerPort === port)) {
      problems.push(
        `${key}: listens on ${String(port)} but declares ports ${JSON.stringify(container.ports)}`,
      );
    }
    const probes: [string, IProbe | undefined, string][] = [
      ['startupProbe', container.startupProbe, HEALTH.live],
      ['readinessProbe', container.readinessProbe, HEALTH.ready],
      ['livenessProbe', container.livenessProbe, HEALTH.live],
    ];
    for (const [name, probe, path] of probes) {
      const get = probe?.httpGet;
      if (!get) {
        problems.push(`${key}: ${name} must be an httpGet probe`);
        continue;
      }
      if (get.path !== path) problems.push(`${key}: ${name} checks ${get.path}, expected ${path}`);
      if (!SERVED_ROUTES[role].includes(get.path ?? ''))
        problems.push(`${key}: ${name} path ${get.path} is not served`);
      const probed = resolvePort(get.port, container);
      if (probed !== port)
        problems.push(`${key}: ${name} port ${String(get.port)} is not the listening port ${String(port)}`);
    }
    const a = workload.template.metadata?.annotations ?? {};
    if (a['prometheus.io/scrape'] !== 'true') problems.push(`${key}: pods lack prometheus.io/scrape: "true"`);
    if (a['prometheus.io/port'] !== String(port)) {
      problems.push(
        `${key}: prometheus.io/port ${a['prometheus.io/port']} is not the listening port ${String(port)}`,
      );
    }
    if (a['prometheus.io/path'] !== METRICS_PATH || !SERVED_ROUTES[role].includes(a['prometheus.io/path'])) {
      problems.push(`${key}: prometheus.io/path ${a['prometheus.io/path']} is not ${METRICS_PATH}`);
    }
  }
  return problems;
}

/** Selectors select the intended pods only, and every target port is a port the container has. */
export function checkServices(o: Overlay): string[] {
  const problems: string[] = [];
  const all = workloads(o.objects);
  for (const d of byKind<IDeployment & K8sObject>(o.objects, 'Deployment')) {
    const w = all.find((x) => x.kind === 'Deployment' && x.name === d.metadata.name);
    if (!w || !selects(d.spec?.selector.matchLabels, w)) {
      problems.push(`Deployment/${d.metadata.name}: selector does not match its own pod template`);
    }
  }
  for (const svc of byKind<IService & K8sObject>(o.objects, 'Service')) {
    const where = `Service/${svc.metadata.name}`;
    const selected = all.filter((w) => selects(svc.spec?.selector, w));
    if (selected.length !== 1 || selected[0].kind !== 'Deployment') {
      problems.push(
        `${where}: selects ${selected.map((w) => w.name).join(', ') || 'no pods'}, expected one Deployment`,
      );
      continue;
    }
    const podContainers = selected[0].template.spec?.containers ?? [];
    for (const port of svc.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port;
      if (!podContainers.some((c) => resolvePort(target, c) !== undefined)) {
        problems.push(`${where}: targetPort ${String(target)} is no container port of ${selected[0].name}`);
      }
    }
  }
  const backend = workloadOf(o, 'backend');
  const gateway = only(o, 'gateway');
  const serve = only(o, 'backend');
  const services = byKind<IService & K8sObject>(o.objects, 'Service');
  const nodePort = services.find((s) => s.spec?.type === 'NodePort');
  const np = nodePort?.spec?.ports?.[0];
  if (!nodePort || !gateway || !selects(nodePort.spec?.selector, gateway.workload)) {
    problems.push('no NodePort Service selects the gateway');
  } else if (
    np?.nodePort !== NODE_PORT ||
    resolvePort(np.targetPort, gateway.container) !== gateway.printed.config.port
  ) {
    problems.push(
      `Service/${nodePort.metadata.name}: must forward node port ${NODE_PORT} to the gateway's port ${String(gateway.printed.config.port)}`,
    );
  }
  const clusterIp = services.find(
    (s) =>
      (s.spec?.type ?? 'ClusterIP') === 'ClusterIP' &&
      s.spec?.clusterIP !== 'None' &&
      backend &&
      selects(s.spec?.selector, backend),
  );
  if (!clusterIp) problems.push('no ClusterIP Service selects the backends');
  else if (serve && clusterIp.spec?.ports?.[0]?.port !== serve.printed.config.port) {
    problems.push(
      `Service/${clusterIp.metadata.name}: must expose the backends on ${String(serve.printed.config.port)}`,
    );
  }
  return problems;
}

/** The gateway discovers backends through a headless Service that selects them, on their port. */
export function checkGatewayDiscovery(o: Overlay): string[] {
  const gateway = only(o, 'gateway');
  const serve = only(o, 'backend');
  if (!gateway || !serve) return ['gateway or backend container did not parse'];
  const problems: string[] = [];
  const backends = gateway.printed.config.backends as string[];
  if (backends.length === 0) problems.push('the gateway has no --backends / FLYWHEEL_BACKENDS');
  for (const url of backends) {
    const m = /^dns\+http:\/\/([a-z0-9.-]+):(\d+)$/.exec(url);
    if (!m) {
      problems.push(`gateway backend ${url} is not dns+http://<headless service>:<port>`);
      continue;
    }
    const svc = find<IService & K8sObject>(o.objects, 'Service', m[1]);
    if (!svc) problems.push(`gateway backend ${url}: no Service named ${m[1]}`);
    else if (svc.spec?.clusterIP !== 'None')
      problems.push(`gateway backend ${url}: Service ${m[1]} is not headless`);
    else if (!selects(svc.spec?.selector, serve.workload))
      problems.push(`gateway backend ${url}: ${m[1]} does not select the backends`);
    // A headless Service's DNS answers are pod addresses: the URL's port must be the pods' port.
    if (Number(m[2]) !== serve.printed.config.port) {
      problems.push(
        `gateway backend ${url}: port ${m[2]} is not the backends' port ${String(serve.printed.config.port)}`,
      );
    }
  }
  return problems;
}

/**
 * Every role's --registry is the mount path of the same registry PVC; the trainer and the gateway
 * mount it read-write, the backends read-only.
 */
export function checkRegistry(o: Overlay): string[] {
  const problems: string[] = [];
  const claims = new Set<string>();
  const deployed = parsed(o);
  for (const { workload, container, key, printed } of deployed) {
    const registry = printed.config.registry;
    const mount = container.volumeMounts?.find((m) => m.mountPath === registry);
    const volume = workload.template.spec?.volumes?.find((v) => v.name === mount?.name);
    const claim = volume?.persistentVolumeClaim?.claimName;
    if (!mount || !claim) {
      problems.push(`${key}: --registry ${String(registry)} is not a PersistentVolumeClaim mount`);
      continue;
    }
    claims.add(claim);
    if (!find<IPersistentVolumeClaim & K8sObject>(o.objects, 'PersistentVolumeClaim', claim)) {
      problems.push(`${key}: PersistentVolumeClaim ${claim} is not rendered`);
    }
    const readOnly = mount.readOnly === true;
    const wantReadOnly = printed.role === 'serve';
    if (readOnly !== wantReadOnly) {
      problems.push(
        `${key}: registry must be mounted ${wantReadOnly ? 'read-only' : 'read-write'} for ${printed.role}`,
      );
    }
  }
  if (claims.size > 1) problems.push(`the roles mount different registry claims: ${[...claims].join(', ')}`);
  const registries = new Set(deployed.map((c) => c.printed.config.registry));
  if (registries.size > 1)
    problems.push(`the roles use different registry paths: ${[...registries].join(', ')}`);
  return problems;
}

function preStopSeconds(container: IContainer): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const cmd = preStop?.exec?.command;
  if (cmd && cmd.length === 2 && cmd[0] === 'sleep' && /^\d+$/.test(cmd[1])) return Number(cmd[1]);
  return undefined;
}

/**
 * A stopping pod gets terminationGracePeriodSeconds in all, and it must cover the preStop pause plus
 * the time in-flight requests are given: the backend's --grace-period, the gateway's --deadline.
 */
export function checkShutdown(o: Overlay): string[] {
  const problems: string[] = [];
  for (const { workload, container, key, printed } of parsed(o)) {
    if (workload.kind !== 'Deployment') continue;
    const pause = preStopSeconds(container);
    if (pause === undefined || pause < 1) {
      problems.push(`${key}: needs a preStop pause (sleep) so endpoints are removed before SIGTERM`);
      continue;
    }
    const drainMs = printed.role === 'serve' ? printed.config.gracePeriod : printed.config.deadline;
    const grace = workload.template.spec?.terminationGracePeriodSeconds ?? 30;
    const needed = pause + Number(drainMs) / 1000;
    if (!(grace > needed)) {
      problems.push(
        `${key}: terminationGracePeriodSeconds ${grace} must exceed preStop ${pause}s + drain ${Number(drainMs) / 1000}s`,
      );
    }
  }
  return problems;
}

/** Non-root, read-only root filesystem with a /tmp emptyDir, no capabilities, requests and limits. */
export function checkHardening(o: Overlay): string[] {
  const problems: string[] = [];
  for (const { workload, container, key } of containers(o.objects)) {
    const pod = workload.template.spec;
    const sc = container.securityContext;
    if (!(sc?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot))
      problems.push(`${key}: runAsNonRoot is not set`);
    if (sc?.readOnlyRootFilesystem !== true) problems.push(`${key}: readOnlyRootFilesystem is not set`);
    if (sc?.allowPrivilegeEscalation !== false)
      problems.push(`${key}: allowPrivilegeEscalation is not false`);
    if (!sc?.capabilities?.drop?.includes('ALL')) problems.push(`${key}: does not drop ALL capabilities`);
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    if (!tmp || !pod?.volumes?.find((v) => v.name === tmp.name)?.emptyDir) {
      problems.push(`${key}: a read-only root filesystem needs an emptyDir on /tmp`);
    }
    for (const kind of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory']) {
        if (container.resources?.[kind]?.[resource] === undefined)
          problems.push(`${key}: no ${resource} ${kind}`);
      }
    }
    if (pod?.automountServiceAccountToken !== false)
      problems.push(`${key}: mounts a service account token it never uses`);
  }
  return problems;
}

/** Rolling updates never take a replica away before its replacement is ready. */
export function checkRollouts(o: Overlay): string[] {
  const problems: string[] = [];
  for (const d of byKind<IDeployment & K8sObject>(o.objects, 'Deployment')) {
    const s = d.spec?.strategy;
    const mu = s?.rollingUpdate?.maxUnavailable;
    if (s?.type !== 'RollingUpdate' || (mu !== 0 && mu !== '0%')) {
      problems.push(`Deployment/${d.metadata.name}: needs RollingUpdate with maxUnavailable 0`);
    }
  }
  const backend = byKind<IDeployment & K8sObject>(o.objects, 'Deployment').find(
    (d) => d.spec?.template.metadata?.labels?.['app.kubernetes.io/component'] === 'backend',
  );
  if ((backend?.spec?.replicas ?? 1) < 2) problems.push('the backends need at least 2 replicas');
  return problems;
}

/** The seed's schedule, never overlapping, bounded and cleaned up. */
export function checkTrainer(o: Overlay): string[] {
  const cronJobs = byKind<ICronJob & K8sObject>(o.objects, 'CronJob');
  if (cronJobs.length !== 1) return [`expected one trainer CronJob, found ${cronJobs.length}`];
  const c = cronJobs[0];
  const where = `CronJob/${c.metadata.name}`;
  const problems: string[] = [];
  const job = c.spec?.jobTemplate.spec;
  if (c.spec?.schedule !== TRAINER_SCHEDULE)
    problems.push(`${where}: schedule ${c.spec?.schedule}, expected ${TRAINER_SCHEDULE}`);
  if (c.spec?.concurrencyPolicy !== 'Forbid') problems.push(`${where}: concurrencyPolicy must be Forbid`);
  if (c.spec?.successfulJobsHistoryLimit === undefined || c.spec?.failedJobsHistoryLimit === undefined) {
    problems.push(`${where}: needs job history limits`);
  }
  if (job?.ttlSecondsAfterFinished === undefined) problems.push(`${where}: needs ttlSecondsAfterFinished`);
  if (job?.backoffLimit === undefined) problems.push(`${where}: needs a backoffLimit`);
  const periodSeconds = 2 * 60;
  // Shorter than the period: with Forbid, a hung run would otherwise hold back every later run.
  if (job?.activeDeadlineSeconds === undefined || job.activeDeadlineSeconds >= periodSeconds) {
    problems.push(`${where}: activeDeadlineSeconds must be set and below the ${periodSeconds}s period`);
  }
  const restart = job?.template.spec?.restartPolicy;
  if (restart !== 'Never' && restart !== 'OnFailure')
    problems.push(`${where}: restartPolicy must be Never or OnFailure`);
  return problems;
}

/** The PDB and HPA govern the backend Deployment and leave room for a drain. */
export function checkBackendScaling(o: Overlay): string[] {
  const problems: string[] = [];
  const backend = workloadOf(o, 'backend');
  const deployment = backend && find<IDeployment & K8sObject>(o.objects, 'Deployment', backend.name);
  const replicas = deployment?.spec?.replicas ?? 1;
  for (const pdb of byKind<IPodDisruptionBudget & K8sObject>(o.objects, 'PodDisruptionBudget')) {
    const selected = workloads(o.objects).filter((w) => selects(pdb.spec?.selector?.matchLabels, w));
    const target = selected.length === 1 && selected[0].kind === 'Deployment' ? selected[0] : undefined;
    if (!target) {
      problems.push(`PodDisruptionBudget/${pdb.metadata.name}: must select exactly one Deployment`);
      continue;
    }
    const d = find<IDeployment & K8sObject>(o.objects, 'Deployment', target.name);
    const min = pdb.spec?.minAvailable;
    if (typeof min !== 'number' || min >= (d?.spec?.replicas ?? 1)) {
      problems.push(
        `PodDisruptionBudget/${pdb.metadata.name}: minAvailable ${String(min)} would block every eviction`,
      );
    }
  }
  if (
    !byKind<IPodDisruptionBudget & K8sObject>(o.objects, 'PodDisruptionBudget').some(
      (p) => backend && selects(p.spec?.selector?.matchLabels, backend),
    )
  ) {
    problems.push('no PodDisruptionBudget for the backends');
  }
  const hpas = byKind<IHorizontalPodAutoscaler & K8sObject>(o.objects, 'HorizontalPodAutoscaler');
  const hpa = hpas.find((h) => h.spec?.scaleTargetRef.name === deployment?.metadata.name);
  if (
    !hpa ||
    hpa.spec?.scaleTargetRef.kind !== 'Deployment' ||
    hpa.spec.scaleTargetRef.apiVersion !== 'apps/v1'
  ) {
    problems.push('no HorizontalPodAutoscaler targets the backend Deployment');
  } else if (hpa.spec.minReplicas !== replicas || hpa.spec.maxReplicas < replicas) {
    problems.push(
      `HorizontalPodAutoscaler/${hpa.metadata.name}: minReplicas must equal the Deployment's ${replicas} replicas`,
    );
  }
  return problems;
}

/** Only the gateway's pods may open connections to the backends, on the backends' port. */
export function checkNetworkPolicy(o: Overlay): string[] {
  const backend = only(o, 'backend');
  const all = workloads(o.objects);
  if (!backend) return ['backend container did not parse'];
  const policies = byKind<INetworkPolicy & K8sObject>(o.objects, 'NetworkPolicy').filter((p) =>
    selects(p.spec?.podSelector?.matchLabels, backend.workload),
  );
  if (policies.length !== 1) return [`expected one NetworkPolicy for the backends, found ${policies.length}`];
  const p = policies[0];
  const where = `NetworkPolicy/${p.metadata.name}`;
  const problems: string[] = [];
  if (!p.spec?.policyTypes?.includes('Ingress')) problems.push(`${where}: policyTypes must include Ingress`);
  const rules = p.spec?.ingress ?? [];
  if (rules.length === 0) problems.push(`${where}: no ingress rule lets the gateway in`);
  for (const rule of rules) {
    for (const peer of rule.from ?? [{}]) {
      const peers = all.filter((w) => selects(peer.podSelector?.matchLabels, w));
      if (peer.namespaceSelector || peer.ipBlock || peers.length !== 1 || peers[0].component !== 'gateway') {
        problems.push(`${where}: lets in ${peers.map((w) => w.name).join(', ') || 'more than the gateway'}`);
      }
    }
    for (const port of rule.ports ?? []) {
      if (resolvePort(port.port, backend.container) !== backend.printed.config.port) {
        problems.push(`${where}: port ${String(port.port)} is not the backends' port`);
      }
    }
  }
  return problems;
}

export const ALL_CHECKS = {
  checkSchemas,
  checkCommandLines,
  checkEnv,
  checkProbesAndScraping,
  checkServices,
  checkGatewayDiscovery,
  checkRegistry,
  checkShutdown,
  checkHardening,
  checkRollouts,
  checkTrainer,
  checkBackendScaling,
  checkNetworkPolicy,
} as const;
