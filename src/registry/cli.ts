// `flywheel models list | show | promote | history | rollback`: the registry for people (tables) and
// for scripts (--json, one JSON document on stdout).
import os from 'node:os';
import type { ConfigOf } from '../config.js';
import { FlywheelError } from '../errors.js';
import { describeOrigin, originOf } from './origin.js';
import { Registry } from './registry.js';
import type { AliasChange, AliasState, Manifest, VersionEntry } from './types.js';

export type ModelsAction = 'list' | 'show' | 'promote' | 'history' | 'rollback';

/** Who ran the command, for the history: user@host when the user is known (containers may not know). */
function whoAmI(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return os.hostname();
  }
}

/** Left-aligned text columns, separated by two spaces. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const fmt = (n: number, digits = 4) => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

function aliasesOf(version: string, aliases: AliasState): string[] {
  return (['production', 'candidate'] as const).filter((a) => aliases[a] === version);
}

function listRow(e: VersionEntry, aliases: AliasState): string[] {
  const names = aliasesOf(e.version, aliases).join(',');
  if (!e.ok) return [e.version, names, '', '', '', '', '', '', '', '', `CORRUPT: ${e.error}`];
  const m = e.manifest;
  return [
    e.version,
    names,
    m.created_at,
    m.algorithm,
    String(m.data.rows),
    m.metrics === null ? '-' : fmt(m.metrics.r2),
    m.metrics === null ? '-' : fmt(m.metrics.mae),
    m.metrics === null ? '-' : fmt(m.metrics.rmse),
    m.fit_seconds.toFixed(2),
    originOf(m).kind,
    'ok',
  ];
}

function listJson(e: VersionEntry, aliases: AliasState) {
  if (!e.ok)
    return {
      version: e.version,
      ok: false,
      aliases: aliasesOf(e.version, aliases),
      error: e.error,
      code: e.code,
    };
  const m = e.manifest;
  return {
    version: e.version,
    ok: true,
    aliases: aliasesOf(e.version, aliases),
    created_at: m.created_at,
    algorithm: m.algorithm,
    source: m.data.source,
    rows: m.data.rows,
    metrics: m.metrics,
    fit_seconds: m.fit_seconds,
    origin: originOf(m),
  };
}

function showText(m: Manifest, aliases: AliasState): string {
  const lines: [string, string][] = [
    ['version', m.version],
    ['aliases', aliasesOf(m.version, aliases).join(', ') || '-'],
    ['created at', m.created_at],
    ['trainer host', m.trainer_host],
    ['package version', m.package_version],
    ['algorithm', m.algorithm],
    ['origin', describeOrigin(m)],
    ['parameters', JSON.stringify(m.parameters)],
    ['data', `${m.data.source}, ${m.data.rows} rows, sha256 ${m.data.sha256}`],
    ['target', m.target],
    [
      'holdout',
      m.metrics === null
        ? 'not evaluated (imported without evaluation data)'
        : `r2 ${fmt(m.metrics.r2)}  mae ${fmt(m.metrics.mae)}  rmse ${fmt(m.metrics.rmse)}`,
    ],
    ['fit seconds', m.fit_seconds.toFixed(3)],
    ['artifact', `${m.artifact.file}, ${m.artifact.bytes} bytes, sha256 ${m.artifact.sha256} (verified)`],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  const features = formatTable(
    ['FEATURE', 'TYPE', 'MIN', 'MAX'],
    m.features.map((f) => [f.name, f.type, String(f.min), String(f.max)]),
  )
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
  return `${lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\nfeatures\n${features}`;
}

function historyRows(history: readonly AliasChange[]): string[][] {
  return history.map((h) => [
    h.at,
    h.alias,
    h.from === h.to ? `${h.to ?? '-'} (unchanged)` : `${h.from ?? '-'} -> ${h.to ?? '-'}`,
    h.action ?? 'set',
    h.by,
    h.reason,
  ]);
}

export async function runModelsCommand(
  action: ModelsAction,
  args: { version?: string; to?: string },
  config: ConfigOf<'models'>,
  out: NodeJS.WritableStream,
): Promise<void> {
  const registry = new Registry(config.registry);
  const print = (text: string) => out.write(text);
  const printJson = (value: unknown) => out.write(`${JSON.stringify(value)}\n`);
  const needVersion = () => {
    if (!args.version) throw new FlywheelError('FLY_ERR_USAGE', `flywheel models ${action} needs a version`);
    return args.version;
  };

  switch (action) {
    case 'list': {
      const [versions, aliases] = await Promise.all([
        registry.listVersions({ verify: true }),
        registry.readAliases(),
      ]);
      if (config.json)
        return void printJson({ aliases, versions: versions.map((e) => listJson(e, aliases)) });
      if (versions.length === 0) return void print(`no model versions in ${registry.root}\n`);
      print(
        formatTable(
          [
            'VERSION',
            'ALIAS',
            'CREATED',
            'ALGORITHM',
            'ROWS',
            'R2',
            'MAE',
            'RMSE',
            'FIT_S',
            'ORIGIN',
            'STATUS',
          ],
          versions.map((e) => listRow(e, aliases)),
        ),
      );
      return;
    }
    case 'show': {
      const { manifest } = await registry.loadArtifact(needVersion());
      const aliases = await registry.readAliases();
      if (config.json) return void printJson({ ...manifest, aliases: aliasesOf(manifest.version, aliases) });
      print(showText(manifest, aliases));
      return;
    }
    case 'promote': {
      const version = needVersion();
      const before = await registry.readAliases();
      const after = await registry.promote(version, {
        by: whoAmI(),
        reason: 'promoted by hand (flywheel models promote)',
      });
      if (config.json) return void printJson({ aliases: after, from: before.production, to: version });
      print(
        after.generation === before.generation
          ? `${version} is already production\n`
          : `production: ${before.production ?? '-'} -> ${version}\n`,
      );
      return;
    }
    case 'rollback': {
      const before = await registry.readAliases();
      const after = await registry.rollback({
        by: whoAmI(),
        reason: args.to
          ? `rolled back by hand to ${args.to}`
          : 'rolled back by hand to the previous production',
        ...(args.to ? { to: args.to } : {}),
      });
      if (config.json)
        return void printJson({ aliases: after, from: before.production, to: after.production });
      print(`production: ${before.production ?? '-'} -> ${after.production ?? '-'} (rollback)\n`);
      return;
    }
    case 'history': {
      const history = await registry.history();
      if (config.json) return void printJson(history);
      if (history.length === 0) return void print('no alias changes yet\n');
      print(formatTable(['AT', 'ALIAS', 'CHANGE', 'ACTION', 'BY', 'REASON'], historyRows(history)));
      return;
    }
    default: {
      const never: never = action;
      throw new FlywheelError('FLY_ERR_USAGE', `unknown models action ${String(never)}`);
    }
  }
}
