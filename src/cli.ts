#!/usr/bin/env node
/** The t3-probe command line. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. */
import { createRequire } from 'node:module';
import { MAIN_USAGE } from './cli/usage.js';
import { isProbeError } from './errors.js';
import { nearestWord } from './util/suggest.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

type Command = (argv: readonly string[]) => Promise<number>;

/**
 * Each command is loaded when it is run, so `run` never loads the demo's node-forge and DoH
 * responder, and no command loads another's dependencies.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./cli/run.js')).runCommand,
  echo: async () => (await import('./cli/echo.js')).echoCommand,
  demo: async () => (await import('./cli/demo.js')).demoCommand,
  'idle-check': async () => (await import('./cli/idle-check.js')).idleCheckCommand,
  attribute: async () => (await import('./cli/attribute.js')).attributeCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(MAIN_USAGE);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command === '--version' || command === '-v') {
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return EXIT_OK;
  }
  const load = COMMANDS[command];
  if (load === undefined) {
    const suggestion = nearestWord(command, Object.keys(COMMANDS));
    const hint = suggestion === undefined ? '' : `: did you mean ${JSON.stringify(suggestion)}?`;
    process.stderr.write(`t3-probe: unknown command ${JSON.stringify(command)}${hint}\n\n${MAIN_USAGE}`);
    return EXIT_USAGE;
  }
  const handler = await load();
  return handler(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (isProbeError(err) && (err.code === 'PROBE_ERR_USAGE' || err.code === 'PROBE_ERR_CONFIG')) {
    if (err.code === 'PROBE_ERR_CONFIG') {
      process.stderr.write(`t3-probe: invalid configuration:\n${err.message.replace(/^/gm, '  ')}\n`);
    } else {
      process.stderr.write(`t3-probe: ${err.message}\n`);
    }
    if (err.code === 'PROBE_ERR_USAGE') process.stderr.write(`Try "t3-probe ${process.argv[2] ?? ''} --help".\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`t3-probe: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}
