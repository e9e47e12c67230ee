// Runs once before the image tests: finds out whether podman can run containers here and, if so,
// builds the image under test with deploy/podman/build.sh (cached layers make a rebuild quick). The
// outcome reaches the test files through vitest's provide/inject.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { randomBytes } from 'node:crypto';
import { BASE_IMAGE, IMAGE, podmanProblem, REQUIRED, sweepRun } from './podman.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** null when the image is built and podman runs containers; else why the image tests cannot run. */
    imageUnavailable: string | null;
    /** Labels everything the run creates (PodmanScope), so that teardown can sweep it. */
    imageTestRun: string;
  }
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_TIMEOUT_MS = 10 * 60_000;

function build(): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const proc = spawn('bash', ['deploy/podman/build.sh', IMAGE], {
      cwd: REPO,
      env: { ...process.env, NODE_IMAGE: BASE_IMAGE },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        console.log(`image tests: ${IMAGE} ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        resolve();
      } else reject(new Error(`deploy/podman/build.sh failed (${signal ?? `exit ${code}`})`));
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const run = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  project.provide('imageTestRun', run);
  // Each test file removes what it created; this catches what a crashed or interrupted file left.
  const problem = await podmanProblem();
  const teardown = async () => {
    if (problem !== null) return;
    const left = await sweepRun(run);
    if (left.length > 0)
      throw new Error(`image tests left containers, volumes or networks:\n${left.join('\n')}`);
  };
  if (problem !== null) {
    if (!REQUIRED) console.warn(`image tests skipped: ${problem}`);
    project.provide('imageUnavailable', problem);
    return teardown;
  }
  // A build failure is a failure, not a skip: podman works, so the image must build.
  await build();
  project.provide('imageUnavailable', null);
  return teardown;
}
