// `flywheel train --command`: the user's own training code as the trainer's fit step, run for real.
// Its model is imported and judged on the trainer's holdout; every way the command can fail ends the
// run with its FLY_ERR_* code and leaves the registry byte-identical.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/index.js';
import { FIXTURES } from '../model/import-fixtures.js';
import { runFlywheel, tempDir, treeSnapshot } from '../registry/helpers.js';
import { HAVE_SKLEARN, PYTHON, REQUIRED, SKIP_MESSAGE } from './python.js';

const LAB_SCRIPT = fileURLToPath(new URL('./fixtures/lab_train.py', import.meta.url));

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('command'));
});
afterEach(() => cleanup());

const train = (command: string, ...args: string[]) =>
  runFlywheel(['train', '--registry', dir, '--command', command, '--rows', '300', '--json', ...args]);

interface Summary {
  version: string;
  metrics: { r2: number };
  promoted: boolean;
  production_version: string | null;
  production_metrics: { r2: number } | null;
  reason: string;
}

describe('train --command', () => {
  it('imports the one model file the command writes, scores it on the holdout and logs its output', async () => {
    const r = await train(
      `echo "rows in $(wc -l < "$FLYWHEEL_TRAIN_DATA") $FLYWHEEL_TARGET"; cp ${FIXTURES}xgboost.json "$FLYWHEEL_MODEL_DIR/"`,
    );
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.promoted).toBe(true);
    expect(Number.isFinite(s.metrics.r2)).toBe(true);
    // 300 rows, 20% held back: the command saw the header and 240 training rows.
    expect(r.stderr).toMatch(/"line":"rows in 241 engagement_score"/);
    const m = await new Registry(dir).readManifest(s.version);
    expect(m.origin).toMatchObject({ kind: 'xgboost', objective: 'reg:squarederror' });
    expect(m.origin?.command).toMatch(/^echo /);
    expect(m.parameters).toMatchObject({ format: 'xgboost-json', holdout: 0.2 });
  });

  describe('a failing command publishes nothing', () => {
    let seeded: string;
    beforeEach(async () => {
      const r = await runFlywheel(['train', '--registry', dir, '--rows', '200', '--trees', '5', '--json']);
      expect(r.code, r.stderr).toBe(0);
      seeded = (JSON.parse(r.stdout) as Summary).version;
    });

    it.each([
      [
        'exits non-zero',
        'echo broken >&2; exit 3',
        [],
        'FLY_ERR_TRAIN_COMMAND_FAILED',
        /exited with code 3: broken/,
      ],
      [
        'runs past its timeout',
        'sleep 30',
        ['--command-timeout', '300ms'],
        'FLY_ERR_TRAIN_COMMAND_TIMEOUT',
        /past --command-timeout/,
      ],
      ['writes no file', 'true', [], 'FLY_ERR_TRAIN_COMMAND_OUTPUT', /wrote no model file/],
      [
        'writes several',
        'touch "$FLYWHEEL_MODEL_DIR/a" "$FLYWHEEL_MODEL_DIR/b"',
        [],
        'FLY_ERR_TRAIN_COMMAND_OUTPUT',
        /wrote 2 entries/,
      ],
      [
        'writes a file that fails validation',
        `echo '{"weights":[1]}' > "$FLYWHEEL_MODEL_DIR/m.json"`,
        [],
        'FLY_ERR_IMPORT_FORMAT',
        /another shape/,
      ],
    ])('%s', async (_name, command, args, code, message) => {
      const before = await treeSnapshot(dir);
      const r = await train(command, ...(args as string[]));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`[${code}]`);
      expect(r.stderr).toMatch(message as RegExp);
      expect(await treeSnapshot(dir)).toEqual(before);
      expect((await new Registry(dir).readAliases()).production).toBe(seeded);
    });

    it('a timed-out command is ended with everything it started', async () => {
      const marker = `flywheel-command-test-${process.pid}-${Date.now()}`;
      const r = await train(`sleep 37 & sleep 38; echo ${marker}`, '--command-timeout', '300ms');
      expect(r.stderr).toContain('[FLY_ERR_TRAIN_COMMAND_TIMEOUT]');
      const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      expect(ps).not.toMatch(/^sleep 3[78]$/m);
    });
  });

  describe.skipIf(!HAVE_SKLEARN && !REQUIRED)(`the lab's script with ${PYTHON} and scikit-learn`, () => {
    it('is installed (required under CI)', () => {
      expect(HAVE_SKLEARN, SKIP_MESSAGE).toBe(true);
    });

    it('trains, is imported through the exporter and gated against production like any version', async () => {
      const first = await train(`${PYTHON} ${LAB_SCRIPT}`, '--python', PYTHON);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/"line":"training on 240 rows"/);
      const a = JSON.parse(first.stdout) as Summary;
      expect(a.metrics.r2).toBeGreaterThan(0.5);
      const m = await new Registry(dir).readManifest(a.version);
      expect(m.origin).toMatchObject({ kind: 'scikit-learn', estimator: 'RandomForestRegressor' });

      const second = await train(`${PYTHON} ${LAB_SCRIPT}`, '--python', PYTHON);
      const b = JSON.parse(second.stdout) as Summary;
      expect(b.production_version).toBe(a.version);
      expect(b.production_metrics?.r2).toBeCloseTo(a.metrics.r2, 10); // same data, same seed
      expect(b.reason).toMatch(/promoted: not worse than production/);
    });
  });
});
