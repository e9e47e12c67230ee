// Static checks that keep deploy/Dockerfile consistent with the package and the manifests: what it
// copies exists and is not excluded by .dockerignore, it runs the package's bin, and its user is the
// one the pods declare. The image is built and run with podman by test/image (`npm run test:image`).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { containers, render, REPO } from './k8s.js';

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROM lines. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    pending += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (line.endsWith('\\')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(pending);
    pending = '';
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage += 1;
    out.push({ op, args: m[2], stage });
  }
  return out;
}

/** The patterns of .dockerignore as regular expressions over paths relative to the context. */
function ignoreMatchers(text: string): RegExp[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((pattern) => {
      if (pattern.startsWith('!'))
        throw new Error('.dockerignore exceptions (!) are not handled by this test');
      const body = pattern
        .replace(/^\/+|\/+$/g, '')
        .split('**')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('.*');
      // A pattern excludes the path itself and everything under it.
      return new RegExp(`^${body}(/.*)?$`);
    });
}

const dockerfile = parseDockerfile(readFileSync(`${REPO}deploy/Dockerfile`, 'utf8'));
const ignored = ignoreMatchers(readFileSync(`${REPO}.dockerignore`, 'utf8'));
const isIgnored = (path: string) => ignored.some((re) => re.test(path));
const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
  engines: { node: string };
};
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const final = dockerfile.filter((i) => i.stage === lastStage);

describe('deploy/Dockerfile', () => {
  it('is multi-stage, every stage on the NODE_IMAGE argument, whose default satisfies engines.node', () => {
    const froms = dockerfile.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    // Global ARGs (before the first FROM) are the only ones a FROM line can use.
    const globalArgs = new Map(
      dockerfile
        .filter((i) => i.stage === -1 && i.op === 'ARG')
        .map((i) => /^(\w+)=(\S+)$/.exec(i.args))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const minimum = Number(/(\d+)/.exec(pkg.engines.node)?.[1]);
    for (const from of froms) {
      expect(from.args, 'one base for both stages, chosen with --build-arg NODE_IMAGE').toMatch(
        /^\$\{NODE_IMAGE\}\s/,
      );
      const image = globalArgs.get('NODE_IMAGE') ?? '';
      const major = Number(/^node:(\d+)/.exec(image)?.[1]);
      expect(major, `NODE_IMAGE default ${image}`).toBeGreaterThanOrEqual(minimum);
    }
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const copies = dockerfile.filter((i) => i.op === 'COPY' && !i.args.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.args
        .split(/\s+/)
        .filter((s) => !s.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) {
        expect(existsSync(`${REPO}${source}`), `${source} exists`).toBe(true);
        expect(isIgnored(source), `${source} is in the build context`).toBe(false);
      }
    }
    for (const hostOnly of [
      'node_modules',
      'dist',
      '.git',
      '.flywheel',
      'node_modules/fastify/package.json',
    ]) {
      expect(isIgnored(hostOnly), `${hostOnly} is kept out of the build context`).toBe(true);
    }
  });

  it('has every file the build script compiles in the build context', () => {
    // `npm run build` is one or more `tsc -p <tsconfig>`; each project's files must survive .dockerignore.
    const projects = [...pkg.scripts.build.matchAll(/(?:-p|--project)\s+(\S+)/g)].map((m) => m[1]);
    expect(projects.length, `no tsc -p in the build script: ${pkg.scripts.build}`).toBeGreaterThan(0);
    for (const project of projects) {
      // `tsc -p <dir>` reads <dir>/tsconfig.json, as tsc itself does.
      const given = path.resolve(REPO, project);
      const file = given.endsWith('.json') ? given : path.join(given, 'tsconfig.json');
      const read = ts.readConfigFile(file, ts.sys.readFile);
      expect(read.error, project).toBeUndefined();
      const parsedConfig = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(file));
      expect(parsedConfig.fileNames.length, project).toBeGreaterThan(0);
      const extended =
        typeof read.config.extends === 'string'
          ? [path.resolve(path.dirname(file), read.config.extends)]
          : [];
      for (const input of [file, ...extended, ...parsedConfig.fileNames]) {
        const relative = path.relative(REPO, input).split(path.sep).join('/');
        expect(isIgnored(relative), `${relative} is in the build context`).toBe(false);
      }
    }
  });

  it('builds with the package build script and ships production dependencies without scripts', () => {
    expect(pkg.scripts.build).toBeDefined();
    expect(
      dockerfile.some((i) => i.stage < lastStage && i.op === 'RUN' && /\bnpm run build\b/.test(i.args)),
    ).toBe(true);
    const installs = final.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(installs).toHaveLength(1);
    expect(installs[0].args).toMatch(/--omit=dev/);
    // `prepare` would run tsc, which is not installed without the dev dependencies.
    expect(installs[0].args).toMatch(/--ignore-scripts/);
  });

  it('runs the package bin as the ENTRYPOINT `flywheel`', () => {
    const entrypoint = final.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.args ?? 'null')).toEqual(['flywheel']);
    const bin = pkg.bin.flywheel;
    const link = final.find((i) => i.op === 'RUN' && i.args.includes('/usr/local/bin/flywheel'));
    expect(link?.args).toContain(`ln -s /app/${bin} /usr/local/bin/flywheel`);
    expect(link?.args).toContain(`chmod 0755 ${bin}`);
    const workdir = final.find((i) => i.op === 'WORKDIR');
    expect(workdir?.args).toBe('/app');
    expect(final.some((i) => i.op === 'COPY' && i.args.includes(`/app/${bin.split('/')[0]} `))).toBe(true);
  });

  it('runs as the numeric non-root user that every pod declares', async () => {
    const user = final.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
    const m = /^(\d+):(\d+)$/.exec(user);
    expect(m, `USER ${user} must be numeric so runAsNonRoot can verify it`).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(0);
    const objects = await render('minikube');
    const pods = containers(objects);
    expect(pods.length).toBeGreaterThan(0);
    for (const { workload, key } of pods) {
      const sc = workload.template.spec?.securityContext;
      expect({ key, user: sc?.runAsUser, group: sc?.runAsGroup }).toEqual({
        key,
        user: Number(m?.[1]),
        group: Number(m?.[2]),
      });
    }
  });
});
