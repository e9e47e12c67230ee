// Podman for the image tests, in the manner of testcontainers: every call has a deadline, every name
// is unique to the run, and a PodmanScope records each container, volume and network it creates and
// removes them all at the end, also when a test failed. Nothing outlives the scope: a container's
// processes (and its conmon) end with `podman rm -f`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { describe, inject, it } from 'vitest';
import { LAB_PREDICT_BODY } from '../helpers/load.js';

/** The image the tests run; global-setup.ts builds it with deploy/podman/build.sh. */
export const IMAGE = 'localhost/flywheel:test';
/** The local Node base (deploy/podman/base-image.sh), for machines that reach no image registry. */
export const BASE_IMAGE = 'localhost/node:20-bookworm';
/**
 * Under .ci/run (CI=true, or CI_REQUIRE_PODMAN=1) the image tests must run: a podman that cannot
 * run containers fails them there and skips them elsewhere, with the reason.
 */
export const REQUIRED = process.env.CI === 'true' || process.env.CI_REQUIRE_PODMAN === '1';

/**
 * True when the image is built and podman runs containers (global-setup.ts). Otherwise registers, for
 * the file's suite `title`, a skip with the reason — or, where the image tests are required, a failing
 * test with it — and returns false.
 */
export function imageAvailable(title: string): boolean {
  const unavailable = inject('imageUnavailable');
  if (unavailable === null) return true;
  describe(title, () => {
    if (REQUIRED)
      it('runs wherever CI=true or CI_REQUIRE_PODMAN=1 (as in .ci/run)', () => {
        throw new Error(unavailable);
      });
    else it.skip(`skipped: ${unavailable}`, () => undefined);
  });
  return false;
}

export interface PodmanResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class PodmanError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly result: PodmanResult,
  ) {
    super(`podman ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'PodmanError';
  }
}

/** Runs `podman <args>`; throws PodmanError on a non-zero exit unless `allowFail`. */
export function podman(
  args: readonly string[],
  options: { timeoutMs?: number; allowFail?: boolean } = {},
): Promise<PodmanResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'podman',
      args,
      { timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
        if (e?.code === 'ENOENT') return reject(new Error('podman is not on PATH'));
        const code = e === null ? 0 : typeof e.code === 'number' ? e.code : -1;
        const result = {
          code,
          stdout,
          stderr: e?.killed ? `${stderr}\n(killed after the deadline)` : stderr,
        };
        if (code !== 0 && !options.allowFail) reject(new PodmanError(args, result));
        else resolve(result);
      },
    );
  });
}

export interface Mount {
  /** A named volume (created by the scope), mounted at `path`. */
  readonly volume: string;
  readonly path: string;
  readonly readOnly?: boolean;
}

/** What `podman run` is told; the image tests and the manifest harness both describe containers so. */
export interface ContainerSpec {
  readonly name: string;
  readonly image?: string;
  /** Replaces the image's ENTRYPOINT (a Kubernetes container's `command`). */
  readonly command?: readonly string[];
  /** The image's CMD replaced (a Kubernetes container's `args`). */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly groupAdd?: readonly number[];
  readonly readOnlyRoot?: boolean;
  readonly capDrop?: readonly string[];
  readonly capAdd?: readonly string[];
  readonly noNewPrivileges?: boolean;
  readonly mounts?: readonly Mount[];
  /** tmpfs mounts (emptyDir), with their size in bytes when limited. */
  readonly tmpfs?: readonly { path: string; sizeBytes?: number }[];
  readonly network?: string;
  /** DNS names on `network` besides the container's own name (Kubernetes Service names). */
  readonly aliases?: readonly string[];
  readonly hostname?: string;
  /** Container ports published on a free port of 127.0.0.1 (look it up with hostPort()). */
  readonly publish?: readonly number[];
  readonly cpus?: number;
  readonly memoryBytes?: number;
  /** Seconds `podman stop` waits before SIGKILL (a pod's terminationGracePeriodSeconds). */
  readonly stopTimeout?: number;
}

/** The hardening every Flywheel pod declares: uid 1000, read-only root, no capabilities. */
export const HARDENED = {
  user: '1000:1000',
  readOnlyRoot: true,
  capDrop: ['ALL'],
  noNewPrivileges: true,
  tmpfs: [{ path: '/tmp', sizeBytes: 64 * 1024 * 1024 }],
} as const satisfies Partial<ContainerSpec>;

export function runArgs(spec: ContainerSpec): string[] {
  const a = ['run', '--detach', '--name', spec.name, '--hostname', spec.hostname ?? spec.name];
  a.push('--network', spec.network ?? 'none');
  for (const alias of spec.aliases ?? []) a.push('--network-alias', alias);
  if (spec.command) a.push('--entrypoint', JSON.stringify(spec.command));
  if (spec.user) a.push('--user', spec.user);
  for (const g of spec.groupAdd ?? []) a.push('--group-add', String(g));
  // --read-only-tmpfs=false: podman would otherwise add writable /run, /tmp and /var/tmp, which a
  // pod with readOnlyRootFilesystem does not have.
  if (spec.readOnlyRoot) a.push('--read-only', '--read-only-tmpfs=false');
  for (const c of spec.capDrop ?? []) a.push('--cap-drop', c);
  for (const c of spec.capAdd ?? []) a.push('--cap-add', c);
  if (spec.noNewPrivileges) a.push('--security-opt', 'no-new-privileges');
  for (const m of spec.mounts ?? []) a.push('--volume', `${m.volume}:${m.path}${m.readOnly ? ':ro' : ''}`);
  for (const t of spec.tmpfs ?? [])
    a.push('--tmpfs', `${t.path}:rw,mode=1777${t.sizeBytes === undefined ? '' : `,size=${t.sizeBytes}`}`);
  for (const p of spec.publish ?? []) a.push('--publish', `127.0.0.1::${p}`);
  if (spec.cpus !== undefined) a.push('--cpus', String(spec.cpus));
  if (spec.memoryBytes !== undefined) a.push('--memory', String(spec.memoryBytes));
  if (spec.stopTimeout !== undefined) a.push('--stop-timeout', String(spec.stopTimeout));
  for (const [k, v] of Object.entries(spec.env ?? {})) a.push('--env', `${k}=${v}`);
  a.push(spec.image ?? IMAGE, ...(spec.args ?? []));
  return a;
}

/** What the container's main process (PID 1 inside it) runs as, read from its /proc. */
export interface ProcessState {
  readonly uid: number[];
  readonly gid: number[];
  /** Effective and bounding capability sets, as the kernel prints them (hex). */
  readonly capEff: string;
  readonly capBnd: string;
  readonly noNewPrivs: boolean;
  readonly rootReadOnly: boolean;
}

export interface Inspected {
  State: { Status: string; Running: boolean; ExitCode: number; Pid: number };
  Config: { User: string; Labels: Record<string, string> | null };
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    Memory: number;
    NanoCpus: number;
    GroupAdd: string[] | null;
  };
}

/** The label on everything the image tests create; its value names the test run (global-setup.ts). */
export const RUN_LABEL = 'org.flywheel.image-test-run';
const SCOPE_LABEL = 'org.flywheel.image-test-scope';

/** Removes every container, volume and network labelled with this run; returns what it could not. */
export async function sweepRun(run: string): Promise<string[]> {
  const filter = ['--filter', `label=${RUN_LABEL}=${run}`];
  const left: string[] = [];
  const kinds: [list: string[], remove: string[]][] = [
    [
      ['ps', '--all', '--quiet', ...filter],
      ['rm', '--force', '--time', '0'],
    ],
    [
      ['volume', 'ls', '--quiet', ...filter],
      ['volume', 'rm', '--force'],
    ],
    [
      ['network', 'ls', '--quiet', ...filter],
      ['network', 'rm', '--force'],
    ],
  ];
  for (const [list, remove] of kinds) {
    const ids = (await podman(list)).stdout.split('\n').filter((l) => l.trim() !== '');
    if (ids.length === 0) continue;
    const r = await podman([...remove, ...ids], { allowFail: true, timeoutMs: 60_000 });
    if (r.code !== 0) left.push(`${remove.join(' ')} ${ids.join(' ')}: ${r.stderr.trim()}`);
  }
  return left;
}

export class PodmanScope {
  readonly prefix: string;
  readonly #containers: string[] = [];
  readonly #volumes: string[] = [];
  readonly #networks: string[] = [];

  /** `run` labels everything, so that global teardown also sweeps what a crashed test file left. */
  constructor(
    label: string,
    readonly run: string,
  ) {
    // Unique per run: nothing a previous (or a parallel) run left behind can be mistaken for ours.
    this.prefix = `fw-${label}-${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  }

  get #label(): string[] {
    return ['--label', `${RUN_LABEL}=${this.run}`, '--label', `${SCOPE_LABEL}=${this.prefix}`];
  }

  name(part: string): string {
    return `${this.prefix}-${part}`;
  }

  async network(part = 'net'): Promise<string> {
    const name = this.name(part);
    this.#networks.push(name);
    await podman(['network', 'create', ...this.#label, name]);
    return name;
  }

  async volume(part: string): Promise<string> {
    const name = this.name(part);
    this.#volumes.push(name);
    await podman(['volume', 'create', ...this.#label, name]);
    return name;
  }

  /** Starts a container (detached); its name is recorded before it exists, so cleanup always finds it. */
  async start(spec: ContainerSpec): Promise<string> {
    this.#containers.push(spec.name);
    const [run, ...rest] = runArgs(spec);
    await podman([run, ...this.#label, ...rest], { timeoutMs: 60_000 });
    return spec.name;
  }

  /** Removes every container, volume and network of the scope; reports what could not be removed. */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const remove = async (args: string[]) => {
      const r = await podman(args, { allowFail: true, timeoutMs: 60_000 }).catch((err: Error) => ({
        code: -1,
        stdout: '',
        stderr: err.message,
      }));
      // "no such ..." is fine: a start that failed before creating it.
      if (r.code !== 0 && !/no such|not found/i.test(r.stderr))
        problems.push(`${args.join(' ')}: ${r.stderr}`);
    };
    if (this.#containers.length > 0) await remove(['rm', '--force', '--time', '0', ...this.#containers]);
    for (const v of this.#volumes) await remove(['volume', 'rm', '--force', v]);
    for (const n of this.#networks) await remove(['network', 'rm', '--force', n]);
    // Whatever carries our label but escaped the lists above (e.g. a container podman created
    // although its start reported an error).
    for (const kind of ['ps', 'volume', 'network']) {
      const args = kind === 'ps' ? ['ps', '--all'] : [kind, 'ls'];
      const { stdout } = await podman([
        ...args,
        '--quiet',
        '--filter',
        `label=${SCOPE_LABEL}=${this.prefix}`,
      ]);
      const left = stdout.split('\n').filter((l) => l.trim() !== '');
      if (left.length > 0) problems.push(`${kind}: ${left.join(' ')} still present`);
    }
    if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
  }
}

export async function inspect(container: string): Promise<Inspected> {
  const { stdout } = await podman(['container', 'inspect', container]);
  return (JSON.parse(stdout) as Inspected[])[0];
}

/** Waits for the container to exit (at most timeoutMs) and returns its exit code. */
export async function waitExit(container: string, timeoutMs: number): Promise<number> {
  const { stdout } = await podman(['wait', container], { timeoutMs });
  return Number(stdout.trim());
}

/** `127.0.0.1:<port>` where the container's port is published. */
export async function hostPort(container: string, port: number): Promise<string> {
  const { stdout } = await podman(['port', container, `${port}/tcp`]);
  const address = stdout.trim().split('\n')[0];
  if (!address.startsWith('127.0.0.1:')) throw new Error(`${container}:${port} is published on ${address}`);
  return address;
}

/** The container's pino log lines (stdout and stderr), parsed; other lines are skipped. */
export async function logLines(container: string): Promise<Record<string, unknown>[]> {
  const { stdout, stderr } = await podman(['logs', container]);
  return `${stdout}\n${stderr}`
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export async function processState(container: string): Promise<ProcessState> {
  const status = (await podman(['exec', container, 'cat', '/proc/1/status'])).stdout;
  const mountinfo = (await podman(['exec', container, 'cat', '/proc/1/mountinfo'])).stdout;
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
  // mountinfo: id parent major:minor root mount-point mount-options ...
  const root = mountinfo.split('\n').find((l) => l.split(' ')[4] === '/');
  return {
    uid: field('Uid').split(/\s+/).map(Number),
    gid: field('Gid').split(/\s+/).map(Number),
    capEff: field('CapEff'),
    capBnd: field('CapBnd'),
    noNewPrivs: field('NoNewPrivs') === '1',
    rootReadOnly: root?.split(' ')[5].split(',').includes('ro') ?? false,
  };
}

/** Whether podman can run a container here; the reason when it cannot. */
export async function podmanProblem(): Promise<string | null> {
  try {
    await podman(['info'], { timeoutMs: 30_000 });
    const base = await podman(['image', 'exists', BASE_IMAGE], { allowFail: true });
    if (base.code !== 0)
      return `the base image ${BASE_IMAGE} is missing (as root: bash deploy/podman/setup.sh builds it)`;
    await podman(['run', '--rm', '--network', 'none', BASE_IMAGE, 'true'], { timeoutMs: 60_000 });
    return null;
  } catch (err) {
    return `podman cannot run containers here (${(err as Error).message.trim()}); as root, bash deploy/podman/setup.sh sets it up`;
  }
}

/**
 * Sends the lab's prediction request through the gateway until `count` backends have answered (at
 * most 40 requests); returns the `host` and `model_version` of every answer, and any non-200 status.
 */
export async function answersThrough(
  gatewayUrl: string,
  count: number,
): Promise<{ hosts: Set<string>; versions: Set<string>; statuses: Set<number> }> {
  const hosts = new Set<string>();
  const versions = new Set<string>();
  const statuses = new Set<number>();
  for (let i = 0; i < 40 && hosts.size < count; i++) {
    const res = await request(`${gatewayUrl}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(LAB_PREDICT_BODY),
    });
    const body = (await res.body.json()) as { host: string; model_version: string };
    statuses.add(res.statusCode);
    hosts.add(body.host);
    versions.add(body.model_version);
  }
  return { hosts, versions, statuses };
}
