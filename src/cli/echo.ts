import { readFile } from 'node:fs/promises';
import { DEFAULT_LOG_LEVEL } from '../config/defaults.js';
import { MAX_PAYLOAD_BYTES } from '../config/leg-kinds.js';
import { startEchoServer } from '../echo/server.js';
import { ProbeError } from '../errors.js';
import { createLogger } from '../log.js';
import { listenArg, logLevelArg, parseCommand, positiveIntArg, sizeArg } from './args.js';
import { DEFAULT_ECHO_LISTEN } from './defaults.js';
import { onShutdownSignal } from './shutdown.js';
import { ECHO_USAGE } from './usage.js';

export async function echoCommand(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      listen: { type: 'string' },
      'tcp-listen': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-payload': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'log-level': { type: 'string' },
    },
    ECHO_USAGE,
  );
  if (values === undefined) return 0;
  const logger = createLogger(logLevelArg(values['log-level'], DEFAULT_LOG_LEVEL));
  const listen = listenArg('--listen', values.listen, DEFAULT_ECHO_LISTEN);
  const tcpListen = values['tcp-listen'] === undefined ? undefined : listenArg('--tcp-listen', values['tcp-listen'], listen);
  const maxConnections = positiveIntArg('--max-connections', values['max-connections']);
  // The same range as a ws leg's maxPayload, so the far end never refuses what a leg may send.
  const maxPayloadBytes = sizeArg('--max-payload', values['max-payload'], MAX_PAYLOAD_BYTES);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new ProbeError('PROBE_ERR_USAGE', '--tls-cert and --tls-key must be given together');
  }
  const tls =
    values['tls-cert'] !== undefined && values['tls-key'] !== undefined
      ? { certPem: await readFlagFile('--tls-cert', values['tls-cert']), keyPem: await readFlagFile('--tls-key', values['tls-key']) }
      : undefined;
  const server = await startEchoServer({
    listen,
    ...(tcpListen === undefined ? {} : { tcpListen }),
    ...(tls === undefined ? {} : { tls }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
  });
  logger.info({ url: server.url, tcp: server.tcpAddress }, 'echo server listening');
  await onShutdownSignal(() => server.close(), logger);
  return 0;
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ProbeError('PROBE_ERR_USAGE', `${flag}: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
