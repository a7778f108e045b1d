import { readFile } from 'node:fs/promises';
import { DEFAULT_LOG_LEVEL } from '../config/defaults.js';
import { MAX_PAYLOAD_BYTES } from '../config/leg-kinds.js';
import { resolveEchoOptions, type EchoOptions } from '../echo/options.js';
import { startEchoServer } from '../echo/server.js';
import { ProbeError, isProbeError } from '../errors.js';
import { createLogger } from '../log.js';
import { durationArg, listenArg, logLevelArg, parseCommand, positiveIntArg, sizeArg } from './args.js';
import { DEFAULT_ECHO_LISTEN, ECHO_TOKEN_ENV } from './defaults.js';
import { listenForShutdown } from './shutdown.js';
import { ECHO_USAGE } from './usage.js';

export async function echoCommand(argv: readonly string[]): Promise<number> {
  const values = parseCommand(
    argv,
    {
      listen: { type: 'string' },
      'tcp-listen': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-ip': { type: 'string' },
      'max-payload': { type: 'string' },
      'handshake-timeout': { type: 'string' },
      'first-message-timeout': { type: 'string' },
      'max-messages-per-second': { type: 'string' },
      'message-burst': { type: 'string' },
      'allowed-origin': { type: 'string', multiple: true },
      'token-file': { type: 'string' },
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
  const token = await readToken(values['token-file']);
  const options: EchoOptions = definedOnly({
    maxConnections: positiveIntArg('--max-connections', values['max-connections']),
    maxConnectionsPerIp: positiveIntArg('--max-connections-per-ip', values['max-connections-per-ip']),
    // The same range as a ws leg's maxPayload, so the far end never refuses what a leg may send.
    maxPayloadBytes: sizeArg('--max-payload', values['max-payload'], MAX_PAYLOAD_BYTES),
    handshakeTimeoutMs: durationArg('--handshake-timeout', values['handshake-timeout']),
    firstMessageTimeoutMs: durationArg('--first-message-timeout', values['first-message-timeout']),
    maxMessagesPerSecond: positiveIntArg('--max-messages-per-second', values['max-messages-per-second']),
    messageBurst: positiveIntArg('--message-burst', values['message-burst']),
    allowedOrigins: values['allowed-origin'],
    token,
  });
  asFlagErrors(() => resolveEchoOptions(options));
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new ProbeError('PROBE_ERR_USAGE', '--tls-cert and --tls-key must be given together');
  }
  const tls =
    values['tls-cert'] !== undefined && values['tls-key'] !== undefined
      ? { certPem: await readFlagFile('--tls-cert', values['tls-cert']), keyPem: await readFlagFile('--tls-key', values['tls-key']) }
      : undefined;
  // Before anything listens: SIGTERM right after the "listening" line must close gracefully.
  const shutdown = listenForShutdown(logger);
  const server = await shutdown.whileStarting(
    startEchoServer({
      listen,
      ...(tcpListen === undefined ? {} : { tcpListen }),
      ...(tls === undefined ? {} : { tls }),
      ...options,
    }),
  );
  // Whether a token is set, never the token.
  logger.info({ url: server.url, tcp: server.tcpAddress, token: token !== undefined, allowedOrigins: options.allowedOrigins }, 'echo server listening');
  await shutdown.closeOnSignal(() => server.close());
  logger.info({ counters: server.counters }, 'echo server closed');
  return 0;
}

/**
 * The shared secret comes from a file or the environment, never from a flag: command lines are
 * readable by every user of the host (ps, /proc/PID/cmdline). Both at once is ambiguous.
 */
async function readToken(file: string | undefined): Promise<string | undefined> {
  const fromEnv = process.env[ECHO_TOKEN_ENV];
  const envSet = fromEnv !== undefined && fromEnv !== '';
  if (file !== undefined && envSet) {
    throw new ProbeError('PROBE_ERR_USAGE', `--token-file and ${ECHO_TOKEN_ENV} are both set: give the token one way`);
  }
  if (file !== undefined) {
    // One trailing newline is how files are written, not part of the secret.
    const token = (await readFlagFile('--token-file', file)).replace(/\r?\n$/, '');
    if (token === '') throw new ProbeError('PROBE_ERR_USAGE', `--token-file: ${JSON.stringify(file)} is empty`);
    return token;
  }
  return envSet ? fromEnv : undefined;
}

/** A flag not given leaves its option out, so the library's default applies. */
function definedOnly<T extends object>(options: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** Option errors from the command line name the flag, not the library key. */
function asFlagErrors(check: () => unknown): void {
  try {
    check();
  } catch (err) {
    if (!isProbeError(err, 'PROBE_ERR_CONFIG')) throw err;
    const flag = FLAG_OF_KEY[err.key?.replace(/^echo\./, '').replace(/\[\d+\]$/, '') ?? ''];
    const message = flag === undefined ? err.message : err.message.replace(/^echo\.[A-Za-z]+/, flag);
    throw new ProbeError('PROBE_ERR_USAGE', message, { cause: err });
  }
}

const FLAG_OF_KEY: Readonly<Record<string, string>> = {
  allowedOrigins: '--allowed-origin',
  token: `the token (--token-file or ${ECHO_TOKEN_ENV})`,
};

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ProbeError('PROBE_ERR_USAGE', `${flag}: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
