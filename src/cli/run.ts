import { loadConfigFile } from '../config/load.js';
import { findPlaceholders, formatPlaceholder } from '../config/placeholders.js';
import { readFile } from 'node:fs/promises';
import type { LegOptions, ProbeConfig } from '../config/types.js';
import { ProbeError } from '../errors.js';
import { createLogger } from '../log.js';
import { Probe } from '../probe.js';
import { listenArg, logLevelArg, parseCommand } from './args.js';
import { ConfigReloader } from './reload.js';
import { listenForShutdown } from './shutdown.js';
import { formatDurationMs } from '../util/duration.js';
import { RUN_USAGE } from './usage.js';
import { defaultControlIntervalMs } from '../config/leg-kinds.js';

export async function runCommand(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      'log-level': { type: 'string' },
      check: { type: 'boolean' },
    },
    RUN_USAGE,
  );
  if (values === undefined) return 0;
  if (values.config === undefined) throw new ProbeError('PROBE_ERR_USAGE', '--config <file> is required');
  const path = values.config;
  // The flags win over the file, at start-up and at every reload alike.
  const load = async (): Promise<ProbeConfig> => {
    const loaded = await loadConfigFile(path, { env: process.env });
    return {
      ...loaded,
      listen: listenArg('--listen', values.listen, loaded.listen),
      log: { level: logLevelArg(values['log-level'], loaded.log.level) },
    };
  };
  const startText = await readFile(path, 'utf8').catch(() => undefined);
  const config = await load();
  // Placeholders warn and never fail: the config is valid, and a lab may resolve .test names on
  // purpose. The shipped configs hold nothing but placeholders, so the warning names each one.
  const placeholders = findPlaceholders(config);
  if (values.check === true) {
    const legs = config.legs.map(describeLeg);
    process.stdout.write(`config ok: ${config.legs.length} legs, listen ${config.listen.host}:${config.listen.port}\n${legs.join('\n')}\n`);
    for (const placeholder of placeholders) process.stderr.write(`warning: ${formatPlaceholder(placeholder)}\n`);
    return 0;
  }
  const logger = createLogger(config.log.level);
  for (const placeholder of placeholders) {
    logger.warn({ key: placeholder.key, value: placeholder.value, reserved: placeholder.reserved }, 'documentation placeholder in the config: replace it with your own');
  }
  const probe = new Probe(config, { logger });
  // Before anything listens: SIGTERM right after the "listening" line must close gracefully.
  const shutdown = listenForShutdown(logger);
  await shutdown.whileStarting(probe.start());
  const reloader = new ConfigReloader({
    path,
    load,
    apply: (next) => probe.applyConfig(next),
    rejected: () => probe.recordRejectedConfig(),
    log: logger,
  });
  reloader.start(startText);
  await shutdown.closeOnSignal(() => {
    reloader.close();
    return probe.close();
  });
  return 0;
}

/**
 * One --check line per leg, with every setting that was defaulted or inherited made explicit:
 * `  internal (ws, role internal) wss://t3.example.com/probe/ws via pin 10.0.0.5, interval 1s, deadline 3s`.
 */
function describeLeg(leg: LegOptions): string {
  const via = leg.resolve.mode === 'pin' ? `pin ${leg.resolve.address}` : leg.resolve.mode;
  // An idle leg has no interval: it stays silent for `idle`, then probes once.
  const timing =
    leg.kind === 'idle'
      ? [
          `idle ${formatDurationMs(leg.idleMs)}`,
          `control every ${formatDurationMs(leg.controlIntervalMs ?? defaultControlIntervalMs(leg.idleMs))}`,
          ...(leg.keepaliveMs === undefined ? [] : [`keepalive ${formatDurationMs(leg.keepaliveMs)}`]),
        ]
      : [`interval ${formatDurationMs(leg.intervalMs)}`];
  timing.push(`deadline ${formatDurationMs(leg.deadlineMs)}`);
  return `  ${leg.name} (${leg.kind}, role ${leg.role}) ${leg.url} via ${via}, ${timing.join(', ')}`;
}
