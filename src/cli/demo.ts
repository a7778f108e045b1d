import { DEFAULT_LOG_LEVEL, DEMO_LISTEN } from '../config/defaults.js';
import { startDemo } from '../demo/demo.js';
import { createLogger } from '../log.js';
import { listenArg, logLevelArg, parseCommand } from './args.js';
import { listenForShutdown } from './shutdown.js';
import { DEMO_USAGE } from './usage.js';

export async function demoCommand(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      listen: { type: 'string' },
      'log-level': { type: 'string' },
    },
    DEMO_USAGE,
  );
  if (values === undefined) return 0;
  const logger = createLogger(logLevelArg(values['log-level'], DEFAULT_LOG_LEVEL));
  const listen = listenArg('--listen', values.listen, DEMO_LISTEN);
  // Before anything listens: SIGTERM right after the banner must close gracefully.
  const shutdown = listenForShutdown(logger);
  const demo = await shutdown.whileStarting(startDemo({ listen, logger }));
  const base = demo.probe.url ?? '';
  process.stderr.write(
    `\nt3-probe demo is running. Legs: cloudflare (DoH + wss), internal (pinned wss), t3serve (http).\n` +
      `  page:    ${base}/\n  metrics: ${base}/metrics\n  status:  ${base}/status\nCtrl-C to stop.\n\n`,
  );
  await shutdown.closeOnSignal(() => demo.close());
  return 0;
}
