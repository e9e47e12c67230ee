// `flywheel models ...` as a person and a script use it: real processes on a temp registry.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry, type AliasChange, type AliasState } from '../../src/registry/index.js';
import { publishInput, runFlywheel, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let registry: Registry;
let v: string[]; // oldest first

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('models-cli'));
  registry = new Registry(dir);
  v = [];
  for (let i = 0; i < 4; i++) v.push((await registry.publish(publishInput(i))).version);
});
afterEach(() => cleanup());

const models = (...args: string[]) => runFlywheel(['models', ...args, '--registry', dir]);

async function flipByte(version: string): Promise<void> {
  const file = path.join(dir, 'versions', version, 'model.bin');
  const bytes = await readFile(file);
  bytes[0] ^= 0xff;
  await writeFile(file, bytes);
}

describe('flywheel models', () => {
  it('lists versions newest first as a table, marking aliases and corrupt versions', async () => {
    await registry.promote(v[1], { reason: 'test' });
    await flipByte(v[2]);
    await writeFile(path.join(dir, 'versions', v[3], 'manifest.json'), '{ not json');
    const r = await models('list');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^VERSION\s+ALIAS\s+CREATED\s+ALGORITHM\s+ROWS\s+R2\s+MAE\s+RMSE\s+FIT_S\s+ORIGIN\s+STATUS$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([v[3], v[2], v[1], v[0]]);
    expect(lines[1]).toMatch(/CORRUPT: .*manifest\.json does not parse/);
    expect(lines[2]).toMatch(/CORRUPT: .*sha256/);
    expect(lines[3]).toMatch(
      new RegExp(`^${v[1]}\\s+production\\s+\\S+\\s+random-forest\\s+101\\s+0\\.5100.*ok$`),
    );

    const json = await models('list', '--json');
    const parsed = JSON.parse(json.stdout) as {
      aliases: AliasState;
      versions: { version: string; ok: boolean; aliases: string[]; code?: string }[];
    };
    expect(parsed.aliases.production).toBe(v[1]);
    expect(parsed.versions.map((e) => [e.version, e.ok, e.code ?? null])).toEqual([
      [v[3], false, 'FLY_ERR_VERSION_CORRUPT'],
      [v[2], false, 'FLY_ERR_VERSION_CORRUPT'],
      [v[1], true, null],
      [v[0], true, null],
    ]);
    expect(parsed.versions[2].aliases).toEqual(['production']);
  });

  it('shows a verified manifest and refuses a corrupt or unknown version by name', async () => {
    const shown = await models('show', v[0], '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ version: v[0], aliases: [], target: 'y' });
    const text = await models('show', v[0]);
    expect(text.stdout).toMatch(new RegExp(`^version\\s+${v[0]}$`, 'm'));
    expect(text.stdout).toMatch(/^artifact\s+model\.bin, \d+ bytes, sha256 [0-9a-f]{64} \(verified\)$/m);
    expect(text.stdout).toMatch(/^\s+x\s+number\s+0\s+1$/m);

    await flipByte(v[0]);
    const bad = await models('show', v[0]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(v[0]);
    expect(bad.stderr).toContain('[FLY_ERR_VERSION_CORRUPT]');
    const unknown = await models('show', '../../etc');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('[FLY_ERR_VERSION_NOT_FOUND]');
  });

  it('promotes, rolls back and shows the history', async () => {
    expect((await models('promote', v[0])).stdout).toBe(`production: - -> ${v[0]}\n`);
    const p = await models('promote', v[2], '--json');
    expect(JSON.parse(p.stdout)).toMatchObject({ from: v[0], to: v[2], aliases: { production: v[2] } });
    expect((await models('rollback')).stdout).toBe(`production: ${v[2]} -> ${v[0]} (rollback)\n`);
    const nothing = await models('rollback');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/no previous production.*--to.*\[FLY_ERR_ALIAS\]/);
    const to = await models('rollback', '--to', v[3], '--json');
    expect(JSON.parse(to.stdout)).toMatchObject({ from: v[0], to: v[3] });

    const history = JSON.parse((await models('history', '--json')).stdout) as AliasChange[];
    expect(history.map((h) => [h.from, h.to, h.action])).toEqual([
      [null, v[0], 'promote'],
      [v[0], v[2], 'promote'],
      [v[2], v[0], 'rollback'],
      [v[0], v[3], 'rollback'],
    ]);
    expect(history[0].by).toMatch(/@/);
    const table = (await models('history')).stdout.trim().split('\n');
    expect(table[0]).toMatch(/^AT\s+ALIAS\s+CHANGE\s+ACTION\s+BY\s+REASON$/);
    expect(table[3]).toContain(`${v[2]} -> ${v[0]}  rollback`);
  });

  it('serialises promotions from 5 processes at once', async () => {
    const results = await Promise.all([0, 1, 2, 3, 0].map((i) => models('promote', v[i], '--json')));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const history = await registry.history();
    for (let i = 1; i < history.length; i++) expect(history[i].from).toBe(history[i - 1].to);
    expect((await registry.readAliases()).generation).toBe(history.length);
    expect(history.length).toBeGreaterThanOrEqual(4);
  });

  it('says so when the registry is empty, and when it is not a folder', async () => {
    const empty = await runFlywheel(['models', 'list', '--registry', path.join(dir, 'none')]);
    expect(empty.stdout).toMatch(/^no model versions in /);
    const history = await runFlywheel(['models', 'history', '--registry', path.join(dir, 'none')]);
    expect(history.stdout).toBe('no alias changes yet\n');
    // A registry path through a regular file: a clear error, not a stack trace.
    const file = path.join(dir, 'versions', v[0], 'manifest.json');
    const notDir = await runFlywheel(['models', 'list', '--registry', file]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toMatch(/cannot be read.*ENOTDIR.*\[FLY_ERR_REGISTRY_UNREADABLE\]/);
  });
});
