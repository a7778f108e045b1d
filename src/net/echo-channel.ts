/**
 * One connection to a verbatim echo, used by idle legs and `idle-check`: either a raw TCP echo
 * (tcp://) or a WebSocket echo (ws://, wss://). It does nothing on its own: no heartbeat, no
 * WebSocket ping, and TCP keepalive only when asked. `exchange()` sends one payload and waits for
 * exactly those bytes to come back.
 */
import type net from 'node:net';
import type { TlsOptions } from '../config/types.js';
import { ProbeError } from '../errors.js';
import { nowNs, secondsSince } from '../util/clock.js';
import { raceSignal } from '../util/race-signal.js';
import { NO_STALLS, RunDeadline, stalledNote, type StallClock } from '../util/run-deadline.js';
import { openTimedSocket, type SocketPhase } from './socket.js';
import { closeErrorOf, connectWebSocket } from './websocket.js';

export interface EchoChannelTarget {
  /** tcp://host:port, ws://host/path or wss://host/path. */
  readonly url: URL;
  readonly hostname: string;
  /** The address to dial. */
  readonly address: string;
  readonly tls: TlsOptions;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface EchoChannelOptions {
  readonly connectTimeoutMs: number;
  /** TCP_KEEPIDLE via setKeepAlive(true, ms); undefined: keepalive explicitly off. */
  readonly keepaliveMs?: number;
  readonly onPhase?: (phase: SocketPhase | 'upgrade', seconds: number) => void;
  /** Exchange deadlines discount time this process itself was stalled (util/run-deadline.ts). */
  readonly stalls?: StallClock;
}

export interface EchoChannel {
  /** Send `payload`; resolve with the RTT in seconds once the same bytes return. */
  exchange(payload: Buffer, deadlineMs: number, signal?: AbortSignal): Promise<number>;
  /** The error that ended the connection, once it is gone. */
  readonly failure: Error | undefined;
  /** Call `listener` once when the connection is gone (now, if it already is). Returns an unsubscribe. */
  onceGone(listener: (err: Error) => void): () => void;
  /** Immediate: never wait for a polite close from a peer that may be gone. */
  terminate(): void;
}

function noop(): void {}

/** Echo bytes beyond what we sent are never buffered past this. */
const MAX_PENDING_BYTES = 64 * 1024;

export function openEchoChannel(target: EchoChannelTarget, options: EchoChannelOptions, signal: AbortSignal): Promise<EchoChannel> {
  signal.throwIfAborted();
  return target.url.protocol === 'tcp:' ? openTcpChannel(target, options, signal) : openWsChannel(target, options, signal);
}

/** Shared bookkeeping: the first failure wins, and one exchange at a time. */
class ChannelState {
  failure: Error | undefined;
  readonly #stalls: StallClock;
  readonly #goneListeners = new Set<(err: Error) => void>();
  #waiter: { expected: Buffer; bytes: number; done: (err: Error | undefined) => void } | undefined;

  constructor(stalls: StallClock = NO_STALLS) {
    this.#stalls = stalls;
  }

  fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.#waiter?.done(err);
    for (const listener of this.#goneListeners) listener(err);
    this.#goneListeners.clear();
  }

  onceGone(listener: (err: Error) => void): () => void {
    if (this.failure !== undefined) {
      listener(this.failure);
      return noop;
    }
    this.#goneListeners.add(listener);
    return () => this.#goneListeners.delete(listener);
  }

  /** Feed received bytes; completes the running exchange once the expected bytes are all there. */
  receive(chunk: Buffer): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return; // unsolicited bytes while idle: ignored
    const { expected } = waiter;
    const offset = waiter.bytes;
    waiter.bytes += chunk.length;
    // Checked as the bytes arrive: a wrong byte followed by silence is a garbled echo, not a timeout.
    const owed = chunk.subarray(0, Math.max(0, expected.length - offset));
    if (!owed.equals(expected.subarray(offset, offset + owed.length))) {
      waiter.done(new ProbeError('PROBE_ERR_PROTOCOL', 'the echo did not return the probe verbatim'));
      return;
    }
    if (waiter.bytes > MAX_PENDING_BYTES) {
      waiter.done(new ProbeError('PROBE_ERR_PROTOCOL', `echo sent ${waiter.bytes} bytes for a ${expected.length}-byte probe`));
      return;
    }
    if (waiter.bytes >= expected.length) waiter.done(undefined);
  }

  exchange(send: (payload: Buffer) => void, payload: Buffer, deadlineMs: number, signal?: AbortSignal): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.#waiter !== undefined) return Promise.reject(new ProbeError('PROBE_ERR_PROTOCOL', 'one exchange at a time'));
    signal?.throwIfAborted();
    return new Promise<number>((resolve, reject) => {
      const started = nowNs();
      const timer = new RunDeadline(
        deadlineMs,
        (spent) => finish(new ProbeError('PROBE_ERR_HEARTBEAT_TIMEOUT', `no echo within ${deadlineMs} ms${stalledNote(spent)}`)),
        this.#stalls,
        started,
      );
      const onAbort = (): void => finish(signal?.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (err: Error | undefined): void => {
        if (this.#waiter?.done !== finish) return;
        this.#waiter = undefined;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(secondsSince(started));
        else reject(err);
      };
      this.#waiter = { expected: payload, bytes: 0, done: finish };
      send(payload);
    });
  }
}

async function openTcpChannel(target: EchoChannelTarget, options: EchoChannelOptions, signal: AbortSignal): Promise<EchoChannel> {
  const port = Number(target.url.port);
  const socket = openTimedSocket(
    { address: target.address, port, hostname: target.hostname, secure: false, tls: target.tls },
    { timeoutMs: options.connectTimeoutMs, ...(options.onPhase === undefined ? {} : { onPhase: options.onPhase }) },
  );
  const state = new ChannelState(options.stalls);
  socket.on('data', (chunk: Buffer) => state.receive(chunk));
  socket.on('error', (err) => state.fail(err));
  socket.on('end', () => state.fail(new ProbeError('PROBE_ERR_PEER_CLOSED', 'the echo closed the connection (FIN)')));
  socket.on('close', () => state.fail(new ProbeError('PROBE_ERR_PEER_CLOSED', 'connection closed')));
  applyKeepalive(socket, options.keepaliveMs);
  const channel: EchoChannel = {
    exchange: (payload, deadlineMs, exchangeSignal) => state.exchange((p) => socket.write(p), payload, deadlineMs, exchangeSignal),
    get failure() {
      return state.failure;
    },
    onceGone: (listener) => state.onceGone(listener),
    terminate: () => socket.destroy(),
  };
  await whenConnected(socket, state, signal);
  return channel;
}

async function openWsChannel(target: EchoChannelTarget, options: EchoChannelOptions, signal: AbortSignal): Promise<EchoChannel> {
  const state = new ChannelState(options.stalls);
  const { ws, socketError } = await connectWebSocket(
    target,
    {
      timeoutMs: options.connectTimeoutMs,
      maxPayloadBytes: MAX_PENDING_BYTES,
      ...(options.onPhase === undefined ? {} : { onPhase: options.onPhase }),
      onSocket: (socket) => {
        // The raw socket error is the failure (a reset reads as one), as on a tcp:// channel.
        socket.on('error', (err) => state.fail(err));
        applyKeepalive(socket, options.keepaliveMs);
      },
    },
    signal,
  );
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) state.receive(data);
  });
  ws.on('error', (err) => state.fail(err));
  ws.on('close', (code: number, reason: Buffer) => state.fail(closeErrorOf(code, reason, socketError())));
  return {
    exchange: (payload, deadlineMs, exchangeSignal) =>
      state.exchange((p) => ws.send(p, { binary: false, compress: false }), payload, deadlineMs, exchangeSignal),
    get failure() {
      return state.failure;
    },
    onceGone: (listener) => state.onceGone(listener),
    terminate: () => ws.terminate(),
  };
}

function applyKeepalive(socket: net.Socket, keepaliveMs: number | undefined): void {
  // Explicitly off unless asked: the point of an idle leg is a connection that says nothing.
  if (keepaliveMs === undefined) socket.setKeepAlive(false);
  else socket.setKeepAlive(true, keepaliveMs);
}

/** Resolve once the socket connects; reject with its first failure (the connect timeout among them) or the abort. */
async function whenConnected(socket: net.Socket, state: ChannelState, signal: AbortSignal): Promise<void> {
  let unsubscribe: () => void = noop;
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    // onceGone calls reject at once if the connection is already gone.
    unsubscribe = state.onceGone(reject);
  });
  try {
    await raceSignal(connected, signal);
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    unsubscribe();
  }
}
