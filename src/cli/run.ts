import { loadConfigFile } from '../config/load.js';
import { ProbeError } from '../errors.js';
import { createLogger } from '../log.js';
import { Probe } from '../probe.js';
import { listenArg, logLevelArg, parseCommand } from './args.js';
import { onShutdownSignal } from './shutdown.js';
import { RUN_USAGE } from './usage.js';

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
  const loaded = await loadConfigFile(values.config, { env: process.env });
  const config = {
    ...loaded,
    listen: listenArg('--listen', values.listen, loaded.listen),
    log: { level: logLevelArg(values['log-level'], loaded.log.level) },
  };
  if (values.check === true) {
    const legs = config.legs.map((l) => `  ${l.name} (${l.kind}) ${l.url} via ${l.resolve.mode === 'pin' ? `pin ${l.resolve.address}` : l.resolve.mode}`);
    process.stdout.write(`config ok: ${config.legs.length} legs, listen ${config.listen.host}:${config.listen.port}\n${legs.join('\n')}\n`);
    return 0;
  }
  const logger = createLogger(config.log.level);
  const probe = new Probe(config, { logger });
  await probe.start();
  await onShutdownSignal(() => probe.close(), (message) => logger.info(message));
  return 0;
}
