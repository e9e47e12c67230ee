// Renders the kustomize overlays with the real kubectl, validates every object against the
// Kubernetes API schema (kubernetes-models) and runs each container's command line through the real
// CLI's --print-config. The checks in checks.ts work on what this module loads.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { CronJob, type ICronJob } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  PersistentVolumeClaim,
  Secret,
  Service,
  type IConfigMap,
  type IContainer,
  type IPodTemplateSpec,
} from 'kubernetes-models/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';

const run = promisify(execFile);

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const OVERLAYS = ['minikube', 'production'] as const;
export type OverlayName = (typeof OVERLAYS)[number] | 'base';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** What `flywheel <role> --print-config` prints. */
export interface PrintedConfig {
  command: string;
  role: string;
  config: Record<string, unknown>;
}

export interface Overlay {
  name: OverlayName;
  objects: K8sObject[];
  /** Keyed by containerKey(); an Error when the command line or its environment did not parse. */
  configs: Map<string, PrintedConfig | Error>;
}

/** A pod template and where it comes from: the backend and gateway Deployments, the trainer CronJob. */
export interface Workload {
  kind: 'Deployment' | 'CronJob';
  name: string;
  /** app.kubernetes.io/component of the pod template: backend, gateway or trainer. */
  component: string;
  template: IPodTemplateSpec;
}

export interface WorkloadContainer {
  workload: Workload;
  container: IContainer;
  key: string;
}

export function kustomizeDir(name: OverlayName): string {
  return name === 'base' ? `${REPO}deploy/k8s/base` : `${REPO}deploy/k8s/overlays/${name}`;
}

export async function render(name: OverlayName): Promise<K8sObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', kustomizeDir(name)], {
      timeout: 15_000,
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('kubectl is not on PATH: the manifest tests need it', { cause: err });
    throw new Error(`kubectl kustomize ${name} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`${name}: YAML error: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

// ---- schema validation --------------------------------------------------------------------------

interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(this: unknown): void };
}

/** Every kind the manifests may contain; a new kind must be added here to be validated. */
const MODELS: readonly ModelClass[] = [
  ConfigMap,
  Secret,
  Service,
  PersistentVolumeClaim,
  Deployment,
  CronJob,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  NetworkPolicy,
];

/**
 * Validates one object against its Kubernetes OpenAPI schema, as `kubectl apply --validate=strict`
 * would: wrong types, missing required fields and enum values from kubernetes-models' validator,
 * and unknown fields from watching which fields that validator reads. kubernetes-models' schemas do
 * not forbid additional properties, so an unknown field (a typo such as `readinessProbes`) passes
 * its validate() alone. Its compiled validator reads every property its schema declares and
 * enumerates the keys of map-typed objects (labels, resources, ConfigMap data); any field of a
 * typed object that it never read is therefore one the schema does not have.
 */
export function schemaProblems(obj: K8sObject): string[] {
  const where = `${obj.kind}/${obj.metadata?.name ?? '?'}`;
  const model = MODELS.find((m) => m.apiVersion === obj.apiVersion && m.kind === obj.kind);
  if (!model) return [`${where}: no schema registered for ${obj.apiVersion} ${obj.kind}`];
  const data = structuredClone(obj);
  const reads = new WeakMap<object, Set<PropertyKey>>();
  const enumerated = new WeakSet<object>();
  const proxies = new WeakMap<object, object>();
  const noteRead = (target: object, key: PropertyKey) => {
    let keys = reads.get(target);
    if (!keys) reads.set(target, (keys = new Set()));
    keys.add(key);
  };
  const track = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      proxy = new Proxy(value, {
        get: (target, key) => {
          noteRead(target, key);
          return track(Reflect.get(target, key));
        },
        has: (target, key) => {
          noteRead(target, key);
          return Reflect.has(target, key);
        },
        ownKeys: (target) => {
          enumerated.add(target);
          return Reflect.ownKeys(target);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  try {
    model.prototype.validate.call(track(data));
  } catch (err) {
    // The validator stops reading at its first error, so unknown fields are only judged on success.
    return [`${where}: ${(err as Error).message}`];
  }
  const unknown: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    const isMap = Array.isArray(value) || enumerated.has(value);
    const read = reads.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (!isMap && !read?.has(key)) unknown.push(`${where}: unknown field ${path}/${key}`);
      walk(child, `${path}/${key}`);
    }
  };
  walk(data, '');
  return unknown;
}

// ---- reading the rendered objects ---------------------------------------------------------------

export function byKind<T = K8sObject>(objects: readonly K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function find<T = K8sObject>(
  objects: readonly K8sObject[],
  kind: string,
  name: string,
): T | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;
}

export function workloads(objects: readonly K8sObject[]): Workload[] {
  const out: Workload[] = [];
  for (const d of byKind<IDeployment & K8sObject>(objects, 'Deployment')) {
    const template = d.spec?.template;
    if (template)
      out.push({ kind: 'Deployment', name: d.metadata.name, component: componentOf(template), template });
  }
  for (const c of byKind<ICronJob & K8sObject>(objects, 'CronJob')) {
    const template = c.spec?.jobTemplate.spec?.template;
    if (template)
      out.push({ kind: 'CronJob', name: c.metadata.name, component: componentOf(template), template });
  }
  return out;
}

function componentOf(template: IPodTemplateSpec): string {
  return template.metadata?.labels?.['app.kubernetes.io/component'] ?? '';
}

export function containers(objects: readonly K8sObject[]): WorkloadContainer[] {
  return workloads(objects).flatMap((workload) =>
    (workload.template.spec?.containers ?? []).map((container) => ({
      workload,
      container,
      key: `${workload.kind}/${workload.name}/${container.name}`,
    })),
  );
}

/** True when every label of the selector is on the pod template. */
export function selects(selector: Record<string, string> | undefined, workload: Workload): boolean {
  const labels = workload.template.metadata?.labels ?? {};
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The container port a probe, Service or policy port names, as a number (undefined when none). */
export function resolvePort(port: string | number | undefined, container: IContainer): number | undefined {
  if (typeof port === 'number')
    return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * The environment a container starts with, as the kubelet builds it: envFrom ConfigMaps first, then
 * `env`. Secret values are not in the manifests, so a placeholder stands for each referenced key.
 */
export function containerEnv(
  container: IContainer,
  objects: readonly K8sObject[],
): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef;
    if (!ref) {
      problems.push(`${container.name}: envFrom supports only configMapRef here`);
      continue;
    }
    const cm = find<IConfigMap & K8sObject>(objects, 'ConfigMap', ref.name ?? '');
    if (!cm) {
      if (!ref.optional) problems.push(`${container.name}: envFrom ConfigMap ${ref.name} is not rendered`);
      continue;
    }
    for (const [k, v] of Object.entries(cm.data ?? {})) env[`${source.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const value = find<IConfigMap & K8sObject>(objects, 'ConfigMap', name ?? '')?.data?.[key];
      if (value === undefined) problems.push(`${container.name}: ${e.name} refers to missing ${name}/${key}`);
      else env[e.name] = value;
    } else problems.push(`${container.name}: ${e.name} has a value source this test cannot resolve`);
  }
  return { env, problems };
}

/**
 * Runs the container's arguments through the real CLI with the container's environment only (no
 * FLYWHEEL_* variable of this machine leaks in). The image's ENTRYPOINT is `flywheel`, so the
 * container's args are the CLI's arguments.
 */
export async function printConfig(
  args: readonly string[],
  env: Record<string, string>,
): Promise<PrintedConfig> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the deploy tests`);
  try {
    const { stdout } = await run(process.execPath, [CLI, ...args, '--print-config'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 15_000,
    });
    return JSON.parse(stdout) as PrintedConfig;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`flywheel ${args.join(' ')} --print-config failed: ${e.stderr?.trim() || e.message}`, {
      cause: err,
    });
  }
}

export async function loadOverlay(name: OverlayName): Promise<Overlay> {
  const objects = await render(name);
  const configs = new Map<string, PrintedConfig | Error>();
  await Promise.all(
    containers(objects).map(async ({ container, key }) => {
      const { env, problems } = containerEnv(container, objects);
      if (problems.length > 0) {
        configs.set(key, new Error(problems.join('; ')));
        return;
      }
      try {
        configs.set(key, await printConfig(container.args ?? [], env));
      } catch (err) {
        configs.set(key, err as Error);
      }
    }),
  );
  return { name, objects, configs };
}
