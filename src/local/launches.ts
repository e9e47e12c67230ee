// The command line of each child `flywheel up` runs: the same executable as the supervisor, one
// subcommand per role (`train`, `serve`, `gateway`), on the stack's registry and log level.
import { fileURLToPath } from 'node:url';
import type { UpConfig } from '../config.js';
import { splitArgs } from './args.js';
import type { Launch } from './child.js';
import { replicasPath } from './paths.js';

const DEFAULT_CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export class Launches {
  readonly #config: UpConfig;
  readonly #registry: string;
  readonly #cliPath: string;
  readonly #env: NodeJS.ProcessEnv;
  /** `--train-args`, split once. */
  readonly trainArgs: string[];

  constructor(
    config: UpConfig,
    registry: string,
    cliPath = DEFAULT_CLI,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#config = config;
    this.#registry = registry;
    this.#cliPath = cliPath;
    this.#env = env;
    this.trainArgs = splitArgs(config.trainArgs);
  }

  /** One scheduled training run; `before` goes ahead of its arguments (e.g. `--print-config`). */
  train(before: readonly string[] = []): Launch {
    return this.#launch('train', [
      ...before,
      '--registry',
      this.#registry,
      '--json',
      '--log-level',
      this.#config.logLevel,
      ...this.trainArgs,
    ]);
  }

  /** Backend replica on `port`. */
  serve(port: number): Launch {
    return this.#launch('serve', [...this.#server(port), '--log-level', this.#config.logLevel]);
  }

  /** The gateway on `port`, following the replica set the supervisor writes. */
  gateway(port: number): Launch {
    const launch = this.#launch('gateway', [
      ...this.#server(port),
      '--backends',
      `file:${replicasPath(this.#registry)}`,
      '--log-level',
      this.#config.logLevel,
    ]);
    // A token in argv would show in `ps`; the gateway reads FLYWHEEL_ADMIN_TOKEN.
    const token = this.#config.adminToken;
    return token === undefined ? launch : { ...launch, env: { ...this.#env, FLYWHEEL_ADMIN_TOKEN: token } };
  }

  /** What a server child reads and where it listens. */
  #server(port: number): string[] {
    return ['--registry', this.#registry, '--host', this.#config.host, '--port', String(port)];
  }

  #launch(role: 'train' | 'serve' | 'gateway', args: readonly string[]): Launch {
    return { file: process.execPath, args: [this.#cliPath, role, ...args], env: this.#env };
  }
}
