// The `flywheel up` lock after a crash: a stale lock (its pid gone) is taken over by exactly one of two
// stacks started at the same moment, in real processes racing on a real registry folder. Regression:
// the takeover was unlink-then-create, so the second stack could delete the first one's fresh lock and
// both would run. That window is microseconds wide: the old code did not lose it in our runs, so this
// test guards the outcome (one winner, every round) rather than replaying the old interleaving.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../registry/helpers.js';

const LOCK_MODULE = fileURLToPath(new URL('../../dist/local/lock.js', import.meta.url));
/** Above Linux's pid_max: no process has it, like a supervisor killed with -9. */
const DEAD_PID = 4_194_305;
/** Stacks started at once per round: more racers make a lost takeover race likelier to show. */
const RACERS = 4;

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  // The temp folder's name has "flywheel" in it: the racers' command lines look like a supervisor's.
  ({ dir, cleanup } = await tempDir('flywheel-uplock-'));
});
afterEach(() => cleanup());

/**
 * A process that tries to take the lock when `go` appears, prints WON or the error code, then holds
 * what it got until stdin closes.
 */
function racer(lock: string, registry: string, go: string) {
  const script = `
    import { existsSync } from 'node:fs';
    const { acquireUpLock } = await import(${JSON.stringify(LOCK_MODULE)});
    while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 1));
    try {
      await acquireUpLock(${JSON.stringify(lock)}, ${JSON.stringify(registry)});
      console.log('WON');
    } catch (err) {
      console.log(err.code ?? String(err));
    }
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', 'flywheel-racer'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const outcome = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`racer exited (${code}) before answering`)));
  });
  return { child, outcome };
}

describe('flywheel up lock', () => {
  it('stacks racing over a stale lock: exactly one takes it over, the others are told one runs', async () => {
    const local = path.join(dir, 'local');
    await mkdir(local, { recursive: true });
    const lock = path.join(local, 'up.lock');
    for (let round = 0; round < 10; round++) {
      await writeFile(lock, `${JSON.stringify({ pid: DEAD_PID, started_at: '2026-01-01T00:00:00.000Z' })}\n`);
      const go = path.join(dir, `go-${round}`);
      const racers = Array.from({ length: RACERS }, () => racer(lock, dir, go));
      try {
        await writeFile(go, '');
        const outcomes = (await Promise.all(racers.map((r) => r.outcome))).sort();
        expect(outcomes, `round ${round}`).toEqual([
          ...Array.from({ length: RACERS - 1 }, () => 'FLY_ERR_STACK_RUNNING'),
          'WON',
        ]);
        const holder = (JSON.parse(await readFile(lock, 'utf8')) as { pid: number }).pid;
        expect(racers.map((r) => r.child.pid)).toContain(holder);
      } finally {
        for (const r of racers) {
          r.child.stdin.end();
          r.child.kill();
        }
        await Promise.all(racers.map((r) => new Promise((resolve) => r.child.once('exit', resolve))));
      }
    }
  });
});
