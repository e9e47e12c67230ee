#!/usr/bin/env node
// The `flywheel` executable: one subcommand per role. Each role's module is imported only when its
// command runs, so `flywheel train` in a CronJob does not load the HTTP servers.
import { Command } from 'commander';
import { addSettingOptions, loadConfig, redactConfig, type Role } from './config.js';
import { isFlywheelError } from './errors.js';
import { createLogger } from './log.js';
import { PACKAGE_VERSION } from './version.js';

const program = new Command('flywheel')
  .description('A continuously retrained ML model served behind a version-aware load balancer.')
  .version(PACKAGE_VERSION)
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nEvery option can also be set with the FLYWHEEL_* variable shown beside it; flags win over variables.',
  );

/** Runs an action with its role's validated config; prints errors without a stack trace. */
function action<R extends Role>(
  role: R,
  run: (config: ReturnType<typeof loadConfig<R>>, cmd: Command) => Promise<void>,
) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    try {
      const config = loadConfig(role, cmd.opts(), process.env);
      if (cmd.opts().printConfig === true) {
        // A dry check (used by the manifest tests): the arguments parse and the config is valid.
        process.stdout.write(
          `${JSON.stringify({ command: cmd.name(), role, config: redactConfig(role, config) })}\n`,
        );
        return;
      }
      await run(config, cmd);
    } catch (err) {
      if (isFlywheelError(err)) {
        process.stderr.write(`flywheel ${cmd.name()}: ${err.message} [${err.code}]\n`);
        process.exitCode = err.code === 'FLY_ERR_CONFIG' || err.code === 'FLY_ERR_USAGE' ? 2 : 1;
      } else {
        process.stderr.write(
          `flywheel ${cmd.name()}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`,
        );
        process.exitCode = 1;
      }
    }
  };
}

addSettingOptions(
  program
    .command('train')
    .description('train a model once, publish it to the registry and apply the promotion policy, then exit'),
  'train',
).action(
  action('train', async (config) => {
    const { runTrain } = await import('./trainer/main.js');
    const log = createLogger({ role: 'trainer', level: config.logLevel });
    const summary = await runTrain(config, log);
    if (config.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  }),
);

addSettingOptions(
  program
    .command('import <file>')
    .description(
      'publish a model trained elsewhere (XGBoost JSON, scikit-learn joblib/pickle, flywheel-trees JSON) as a version, then apply the promotion policy',
    ),
  'import',
).action(
  action('import', async (config, cmd) => {
    const { runImport } = await import('./trainer/main.js');
    const log = createLogger({ role: 'importer', level: config.logLevel });
    const summary = await runImport(cmd.args[0], config, log);
    if (config.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  }),
);

addSettingOptions(
  program.command('serve').description('run a backend inference server that follows the registry'),
  'serve',
).action(
  action('serve', async (config) => {
    const { runServe } = await import('./backend/main.js');
    await runServe(config, createLogger({ role: 'backend', level: config.logLevel }));
  }),
);

addSettingOptions(
  program.command('gateway').description('run the load balancer in front of the backend replicas'),
  'gateway',
).action(
  action('gateway', async (config) => {
    const { runGateway } = await import('./gateway/main.js');
    await runGateway(config, createLogger({ role: 'gateway', level: config.logLevel }));
  }),
);

addSettingOptions(
  program
    .command('up')
    .description('run the whole system on this machine: trainer schedule, backend replicas and gateway'),
  'up',
).action(
  action('up', async (config) => {
    const { runUp } = await import('./local/main.js');
    await runUp(config, createLogger({ role: 'up', level: config.logLevel }));
  }),
);

addSettingOptions(
  program.command('status').description('show the local stack: components, schedule, model versions'),
  'status',
).action(
  action('status', async (config) => {
    const { runStatus } = await import('./local/main.js');
    await runStatus(config, process.stdout);
  }),
);

const rollout = program.command('rollout').description('manage the local stack’s backend replicas');
addSettingOptions(
  rollout
    .command('restart')
    .description(
      'replace the backend replicas one at a time with no failed request (like kubectl rollout restart)',
    ),
  'status',
).action(
  action('status', async (config) => {
    const { runRolloutRestart } = await import('./local/main.js');
    await runRolloutRestart(config, process.stdout);
  }),
);

const models = program.command('models').description('inspect and change the model registry');
const modelActions = [
  ['list', 'list versions, newest first, with their aliases', ''],
  ['show', 'show one version’s manifest', '<version>'],
  ['promote', 'point production at a version', '<version>'],
  ['history', 'show every alias change', ''],
] as const;
for (const [name, description, arg] of modelActions) {
  const sub = models.command(arg ? `${name} ${arg}` : name).description(description);
  addSettingOptions(sub, 'models').action(
    action('models', async (config, cmd) => {
      const { runModelsCommand } = await import('./registry/cli.js');
      await runModelsCommand(name, { version: cmd.args[0] }, config, process.stdout);
    }),
  );
}
addSettingOptions(
  models
    .command('rollback')
    .description('point production back at the previous production version (or --to a version)')
    .option('--to <version>', 'version to roll back to'),
  'models',
).action(
  action('models', async (config, cmd) => {
    const { runModelsCommand } = await import('./registry/cli.js');
    await runModelsCommand('rollback', { to: cmd.opts().to as string | undefined }, config, process.stdout);
  }),
);

const data = program.command('data').description('data sets');
data
  .command('synthetic')
  .description('write the seed’s synthetic user-engagement data set as CSV')
  .option('--rows <n>', 'rows to write', '250')
  .option('--seed <n>', 'random seed', '42')
  .requiredOption('--out <file>', 'CSV file to write (- for stdout)')
  .action(async (opts: { rows: string; seed: string; out: string }, cmd: Command) => {
    const rows = Number(opts.rows);
    const seed = Number(opts.seed);
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(seed) || seed < 0) {
      cmd.error(
        'flywheel data synthetic: --rows must be a whole number >= 1 and --seed a whole number >= 0',
        {
          exitCode: 2,
        },
      );
    }
    const { generateSynthetic } = await import('./trainer/data/synthetic.js');
    const { writeCsv } = await import('./trainer/data/csv.js');
    await writeCsv(generateSynthetic(rows, seed), opts.out === '-' ? process.stdout : opts.out);
  });

// Experiments: the gateway's admin actions, against a gateway (--url + --admin-token) or the registry.
addSettingOptions(
  program
    .command('traffic [mode] [weight]')
    .description(
      'show or set the traffic split between production and candidate: off | canary <w> | sticky <w> | shadow <w> (w in %)',
    )
    .option('--salt <salt>', 'sticky hash salt (changing it reshuffles which users see the candidate)'),
  'admin',
).action(
  action('admin', async (config, cmd) => {
    const { runTraffic } = await import('./gateway/experiments/cli.js');
    const [mode, weight] = cmd.args as (string | undefined)[];
    const salt = cmd.opts().salt as string | undefined;
    await runTraffic({ mode, weight, salt }, config, process.stdout);
  }),
);
for (const [name, description] of [
  ['promote', 'make the candidate production now (traffic returns to 100% production)'],
  ['rollback', 'drop the candidate now (traffic returns to 100% production)'],
] as const) {
  addSettingOptions(
    program
      .command(name)
      .description(description)
      .option('--reason <text>', 'why, recorded in the alias history'),
    'admin',
  ).action(
    action('admin', async (config, cmd) => {
      const { runDecision } = await import('./gateway/experiments/cli.js');
      await runDecision(name, { reason: cmd.opts().reason as string | undefined }, config, process.stdout);
    }),
  );
}

await program.parseAsync(process.argv);
