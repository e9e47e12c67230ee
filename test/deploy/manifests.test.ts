// The kustomize base and overlays, rendered with the real kubectl, validated against the Kubernetes
// API schema and cross-checked against the code (config settings, CLI, served routes and ports).
// Needs `npm run build` first: each container's command line is run through dist/cli.js.
import { beforeAll, describe, expect, it } from 'vitest';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { ICronJob } from 'kubernetes-models/batch/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IConfigMap, IContainer, IPersistentVolumeClaim, IService } from 'kubernetes-models/v1';
import {
  ALL_CHECKS,
  checkBackendScaling,
  checkCommandLines,
  checkEnv,
  checkGatewayDiscovery,
  checkHardening,
  checkNetworkPolicy,
  checkProbesAndScraping,
  checkRegistry,
  checkRollouts,
  checkSchemas,
  checkServices,
  checkShutdown,
  checkTrainer,
} from './checks.js';
import {
  byKind,
  containers,
  find,
  loadOverlay,
  OVERLAYS,
  printConfig,
  schemaProblems,
  type K8sObject,
  type Overlay,
  type OverlayName,
} from './k8s.js';

const NAMES: readonly OverlayName[] = ['base', ...OVERLAYS];
const loaded = new Map<OverlayName, Overlay>();

beforeAll(async () => {
  const overlays = await Promise.all(NAMES.map(loadOverlay));
  for (const o of overlays) loaded.set(o.name, o);
});

function overlay(name: OverlayName): Overlay {
  const o = loaded.get(name);
  if (!o) throw new Error(`${name} was not loaded`);
  return o;
}

const inventory = (o: Overlay) =>
  o.objects.map((x) => `${x.kind}/${x.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();

const BASE_INVENTORY = [
  'ConfigMap/flywheel-settings-<hash>',
  'CronJob/flywheel-trainer',
  'Deployment/flywheel-backend',
  'Deployment/flywheel-gateway',
  'HorizontalPodAutoscaler/flywheel-backend',
  'NetworkPolicy/flywheel-backend',
  'PersistentVolumeClaim/flywheel-registry',
  'PodDisruptionBudget/flywheel-backend',
  'Service/flywheel-backend',
  'Service/flywheel-backend-headless',
  'Service/flywheel-gateway',
];

describe.each(NAMES)('kubectl kustomize %s', (name) => {
  it('renders the objects of the seed cluster and no others', () => {
    const expected =
      name === 'production' ? [...BASE_INVENTORY, 'PodDisruptionBudget/flywheel-gateway'] : BASE_INVENTORY;
    expect(inventory(overlay(name))).toEqual([...expected].sort());
  });

  it.each(Object.entries(ALL_CHECKS))('%s finds no problem', (_check, check) => {
    expect(check(overlay(name))).toEqual([]);
  });
});

describe('minikube overlay', () => {
  it('runs the image built inside minikube and never pulls it', () => {
    for (const { key, container } of containers(overlay('minikube').objects)) {
      expect({ key, image: container.image, pull: container.imagePullPolicy }).toEqual({
        key,
        image: 'flywheel:dev',
        pull: 'Never',
      });
    }
  });

  it('asks for ReadWriteOnce storage from the default storage class (one node)', () => {
    const pvc = find<IPersistentVolumeClaim & K8sObject>(
      overlay('minikube').objects,
      'PersistentVolumeClaim',
      'flywheel-registry',
    );
    expect(pvc?.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(pvc?.spec?.storageClassName).toBeUndefined();
  });
});

describe('production overlay', () => {
  const objects = () => overlay('production').objects;

  it('asks for ReadWriteMany storage from a named storage class', () => {
    const pvc = find<IPersistentVolumeClaim & K8sObject>(
      objects(),
      'PersistentVolumeClaim',
      'flywheel-registry',
    );
    expect(pvc?.spec?.accessModes).toEqual(['ReadWriteMany']);
    expect(pvc?.spec?.storageClassName).toMatch(/\S/);
  });

  it('runs more backends and gateways than minikube, from a registry image', () => {
    const replicas = (o: OverlayName, name: string) =>
      find<IDeployment & K8sObject>(overlay(o).objects, 'Deployment', name)?.spec?.replicas ?? 1;
    expect(replicas('production', 'flywheel-backend')).toBeGreaterThan(
      replicas('minikube', 'flywheel-backend'),
    );
    expect(replicas('production', 'flywheel-gateway')).toBeGreaterThan(
      replicas('minikube', 'flywheel-gateway'),
    );
    for (const { container } of containers(objects())) {
      expect(container.image).toMatch(/^[a-z0-9.-]+\/.+:.+$/);
      expect(container.imagePullPolicy).not.toBe('Never');
    }
  });
});

describe('the checks catch drift', () => {
  type Mutation = (objects: K8sObject[]) => void;
  const mutated = (mutate: Mutation): Overlay => {
    const o = overlay('minikube');
    const objects = structuredClone(o.objects);
    mutate(objects);
    return { ...o, objects };
  };
  const deployment = (objects: K8sObject[], name: string) => {
    const d = find<IDeployment & K8sObject>(objects, 'Deployment', name);
    if (!d?.spec) throw new Error(`Deployment ${name} not rendered`);
    return d.spec;
  };
  const container = (objects: K8sObject[], name: string): IContainer =>
    deployment(objects, name).template.spec!.containers[0];
  const trainer = (objects: K8sObject[]) => byKind<ICronJob & K8sObject>(objects, 'CronJob')[0].spec!;
  const service = (objects: K8sObject[], name: string) =>
    find<IService & K8sObject>(objects, 'Service', name)!.spec!;

  const cases: [string, (o: Overlay) => string[], Mutation, RegExp][] = [
    [
      'an unknown field (a typo)',
      checkSchemas,
      (x) => {
        (container(x, 'flywheel-backend') as unknown as Record<string, unknown>).readinessProbes = {};
      },
      /unknown field \/spec\/template\/spec\/containers\/0\/readinessProbes/,
    ],
    [
      'a wrong type',
      checkSchemas,
      (x) => {
        (deployment(x, 'flywheel-backend') as unknown as Record<string, unknown>).replicas = 'two';
      },
      /replicas must be integer/,
    ],
    [
      'a container that overrides the ENTRYPOINT',
      checkCommandLines,
      (x) => {
        container(x, 'flywheel-gateway').command = ['node'];
      },
      /replaces the image's flywheel ENTRYPOINT/,
    ],
    [
      'a setting of another role in a container',
      checkEnv,
      (x) => {
        container(x, 'flywheel-backend').env!.push({ name: 'FLYWHEEL_BACKENDS', value: 'http://a:1' });
      },
      /FLYWHEEL_BACKENDS is not read by flywheel serve/,
    ],
    [
      'a misspelt setting in the ConfigMap',
      checkEnv,
      (x) => {
        byKind<IConfigMap & K8sObject>(x, 'ConfigMap')[0].data!.FLYWHEEL_REGISTERY = '/r';
      },
      /FLYWHEEL_REGISTERY is not a Flywheel setting/,
    ],
    [
      'an admin token written into the manifest',
      checkEnv,
      (x) => {
        const env = container(x, 'flywheel-gateway').env!;
        env.splice(
          env.findIndex((e) => e.name === 'FLYWHEEL_ADMIN_TOKEN'),
          1,
          { name: 'FLYWHEEL_ADMIN_TOKEN', value: 'hunter2' },
        );
      },
      /FLYWHEEL_ADMIN_TOKEN must come from a Secret/,
    ],
    [
      'a readiness probe on a route the server does not serve',
      checkProbesAndScraping,
      (x) => {
        container(x, 'flywheel-backend').readinessProbe!.httpGet!.path = '/healthz';
      },
      /readinessProbe checks \/healthz/,
    ],
    [
      'a scrape annotation on the wrong port',
      checkProbesAndScraping,
      (x) => {
        deployment(x, 'flywheel-gateway').template.metadata!.annotations!['prometheus.io/port'] = '9090';
      },
      /prometheus.io\/port 9090 is not the listening port 8080/,
    ],
    [
      'a Service selector that matches no pod',
      checkServices,
      (x) => {
        service(x, 'flywheel-backend').selector!['app.kubernetes.io/component'] = 'backends';
      },
      /Service\/flywheel-backend: selects no pods/,
    ],
    [
      'a targetPort the container does not have',
      checkServices,
      (x) => {
        service(x, 'flywheel-gateway').ports![0].targetPort = 'web';
      },
      /targetPort web is no container port/,
    ],
    [
      'a gateway pointed at a Service that is not headless',
      checkGatewayDiscovery,
      (x) => {
        delete service(x, 'flywheel-backend-headless').clusterIP;
      },
      /flywheel-backend-headless is not headless/,
    ],
    [
      'a trainer writing where the backends do not read',
      checkRegistry,
      (x) => {
        trainer(x).jobTemplate.spec!.template.spec!.containers[0].volumeMounts![0].mountPath = '/data';
      },
      /--registry \/var\/lib\/flywheel\/registry is not a PersistentVolumeClaim mount/,
    ],
    [
      'a backend mounting the registry read-write',
      checkRegistry,
      (x) => {
        const mount = container(x, 'flywheel-backend').volumeMounts!.find((m) => m.name === 'registry')!;
        mount.readOnly = false;
      },
      /registry must be mounted read-only for serve/,
    ],
    [
      'a grace period shorter than preStop + drain',
      checkShutdown,
      (x) => {
        deployment(x, 'flywheel-backend').template.spec!.terminationGracePeriodSeconds = 15;
      },
      /terminationGracePeriodSeconds 15 must exceed preStop 5s \+ drain 10s/,
    ],
    [
      'a container that keeps its capabilities',
      checkHardening,
      (x) => {
        delete container(x, 'flywheel-gateway').securityContext!.capabilities;
      },
      /does not drop ALL capabilities/,
    ],
    [
      'a rollout that may stop a replica first',
      checkRollouts,
      (x) => {
        deployment(x, 'flywheel-backend').strategy!.rollingUpdate!.maxUnavailable = 1;
      },
      /flywheel-backend: needs RollingUpdate with maxUnavailable 0/,
    ],
    [
      'overlapping training runs',
      checkTrainer,
      (x) => {
        trainer(x).concurrencyPolicy = 'Allow';
      },
      /concurrencyPolicy must be Forbid/,
    ],
    [
      'a training run allowed to outlast its period',
      checkTrainer,
      (x) => {
        trainer(x).jobTemplate.spec!.activeDeadlineSeconds = 600;
      },
      /activeDeadlineSeconds must be set and below the 120s period/,
    ],
    [
      'an HPA whose floor differs from the Deployment',
      checkBackendScaling,
      (x) => {
        byKind<IHorizontalPodAutoscaler & K8sObject>(x, 'HorizontalPodAutoscaler')[0].spec!.minReplicas = 1;
      },
      /minReplicas must equal the Deployment's 2 replicas/,
    ],
    [
      'a NetworkPolicy that lets the trainer in',
      checkNetworkPolicy,
      (x) => {
        const rule = byKind<INetworkPolicy & K8sObject>(x, 'NetworkPolicy')[0].spec!.ingress![0];
        rule.from![0].podSelector!.matchLabels!['app.kubernetes.io/component'] = 'trainer';
      },
      /lets in flywheel-trainer/,
    ],
  ];

  it.each(cases)('reports %s', (_what, check, mutate, expected) => {
    expect(check(overlay('minikube'))).toEqual([]);
    expect(check(mutated(mutate))).toContainEqual(expect.stringMatching(expected));
  });

  it('accepts arbitrary keys in map fields (labels, annotations, ConfigMap data)', () => {
    const o = mutated((x) => {
      deployment(x, 'flywheel-backend').template.metadata!.labels!['example.com/team'] = 'ml';
      byKind<IConfigMap & K8sObject>(x, 'ConfigMap')[0].data!.ANYTHING = 'x';
    });
    expect(o.objects.flatMap(schemaProblems)).toEqual([]);
  });

  it('runs command lines through the real CLI, which refuses bad values and unknown flags', async () => {
    const ok = await printConfig(['serve', '--port', '5001'], { FLYWHEEL_GRACE_PERIOD: '3s' });
    expect(ok).toMatchObject({ role: 'serve', config: { port: 5001, gracePeriod: 3000 } });
    await expect(printConfig(['serve'], { FLYWHEEL_GRACE_PERIOD: 'soon' })).rejects.toThrow(
      /FLYWHEEL_GRACE_PERIOD: expects a duration/,
    );
    await expect(printConfig(['gateway', '--backend', 'http://a:1'], {})).rejects.toThrow(/unknown option/);
  });
});
