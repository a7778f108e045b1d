/**
 * The WebSocket echo route: every message goes back verbatim (text as text, binary as binary),
 * nothing is sent unsolicited, no pings. Anyone can connect, so it is bounded: message size
 * (`maxPayload`, 1009 above it), concurrent clients (503 above it, in total and per address),
 * the echo bytes queued per client (reading from a client that does not read its echoes stops at
 * the high-water mark), the message rate per client (1008 above it), and the time a client may
 * stay silent after its upgrade before its first message (4408). Optional access controls refuse
 * 403 (Origin) and 401 (token) before anything else is spent on the client.
 * Path matching is the mount's job; this class only sees upgrades meant for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { accessStatus } from './access.js';
import { AddressCounts } from './address-counts.js';
import { clientAddressKey } from './client-address.js';
import { CloseTracker } from './close-tracker.js';
import type { EchoCounters } from './counters.js';
import { CLOSE_GRACE_MS, type ResolvedEchoOptions } from './options.js';
import { rejectUpgrade } from './reject-upgrade.js';
import { TokenBucket } from './token-bucket.js';

/** Close code sent to clients when the server shuts down ("going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code for a client over the message rate limit (RFC 6455 "policy violation"). */
export const CLOSE_RATE_LIMITED = 1008;
/** Close code for a client that sent nothing within firstMessageTimeoutMs (4000s: ours; 408 as in HTTP). */
export const CLOSE_NEVER_SPOKE = 4408;

interface Client {
  readonly ws: WebSocket;
  readonly socket: Duplex;
  readonly addressKey: string;
  readonly bucket: TokenBucket;
  /** Echo bytes handed to `ws.send` whose callback has not run yet. */
  queued: number;
  paused: boolean;
  /** Until the first frame arrives: the timer that closes a client that never speaks. */
  silenceTimer: NodeJS.Timeout | undefined;
  /** Set once the server has started closing this client; nothing more is echoed. */
  closeTimer: NodeJS.Timeout | undefined;
}

export class WsEcho {
  readonly #options: ResolvedEchoOptions;
  readonly #counters: EchoCounters;
  readonly #perAddress: AddressCounts;
  readonly #wss: WebSocketServer;
  readonly #clients = new Map<WebSocket, Client>();
  /** Every WebSocket, until its 'close'. Same members as #clients; kept for `settled()`. */
  readonly #sockets = new CloseTracker<WebSocket>();
  /** Every raw socket handed to us (handshaking, refused or upgraded), until it closes. */
  readonly #rawSockets = new CloseTracker<Duplex>();
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedEchoOptions, counters: EchoCounters) {
    this.#options = options;
    this.#counters = counters;
    this.#perAddress = new AddressCounts(options.maxConnectionsPerIp);
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
    });
    // An invalid upgrade (bad key, version, method) is refused by us, not by ws's abortHandshake,
    // whose answer carries an explanatory body that can be larger than the request.
    this.#wss.on('wsClientError', (_err: Error, socket: Duplex) => rejectUpgrade(socket, 400, this.#counters));
  }

  get connections(): number {
    return this.#clients.size;
  }

  /** Echo bytes queued across all clients (waiting for their send callback). */
  get bufferedBytes(): number {
    let total = 0;
    for (const client of this.#clients.values()) total += client.queued;
    return total;
  }

  /** Clients the server has stopped reading from because their echoes are not being read. */
  get pausedClients(): number {
    let total = 0;
    for (const client of this.#clients.values()) if (client.paused) total += 1;
    return total;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', ignore);
    this.#rawSockets.add(socket);
    const denied = accessStatus(req, this.#options);
    if (denied !== 0) {
      if (denied === 403) this.#counters.refusedOrigin++;
      else this.#counters.refusedToken++;
      rejectUpgrade(socket, denied, this.#counters);
      return;
    }
    if (this.#closing !== undefined || this.#clients.size >= this.#options.maxConnections) {
      this.#counters.refusedFull++;
      rejectUpgrade(socket, 503, this.#counters);
      return;
    }
    const addressKey = clientAddressKey(req.socket.remoteAddress);
    if (!this.#perAddress.tryAdd(addressKey)) {
      this.#counters.refusedPerIp++;
      rejectUpgrade(socket, 503, this.#counters);
      return;
    }
    let accepted = false;
    // ws may refuse the handshake (bad key) without calling back: the slot is freed on close.
    socket.once('close', () => {
      if (!accepted) this.#perAddress.release(addressKey);
    });
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      this.#accept(ws, socket, addressKey);
    });
  }

  /** Refuse an upgrade that is not ours, keeping the socket tracked until it is gone. */
  reject(socket: Duplex, status: number): void {
    this.#rawSockets.add(socket);
    rejectUpgrade(socket, status, this.#counters);
  }

  /**
   * Graceful and idempotent: refuse new clients, send close 1001 to every client, wait a short
   * bounded grace for the closing handshakes, then terminate whatever is left.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeGracefully();
    return this.#closing;
  }

  /** Immediate: destroy every socket. Refuses new clients from now on. */
  destroy(): void {
    this.#closing ??= Promise.resolve();
    for (const ws of this.#sockets) ws.terminate();
    for (const socket of this.#rawSockets) socket.destroy();
  }

  async #closeGracefully(): Promise<void> {
    for (const ws of this.#sockets) ws.close(CLOSE_GOING_AWAY, 'echo server closing');
    // Sockets still handshaking or being refused have nothing to say goodbye to.
    const upgraded = new Set([...this.#clients.values()].map((client) => client.socket));
    for (const socket of this.#rawSockets) if (!upgraded.has(socket)) socket.destroy();
    await this.#sockets.settled(CLOSE_GRACE_MS);
    this.destroy();
    await this.#rawSockets.settled(CLOSE_GRACE_MS);
  }

  #accept(ws: WebSocket, socket: Duplex, addressKey: string): void {
    const options = this.#options;
    const client: Client = {
      ws,
      socket,
      addressKey,
      bucket: new TokenBucket(options.maxMessagesPerSecond, options.messageBurst),
      queued: 0,
      paused: false,
      silenceTimer: undefined,
      closeTimer: undefined,
    };
    client.silenceTimer = setTimeout(() => {
      client.silenceTimer = undefined;
      this.#counters.firstMessageTimeouts++;
      this.#closeClient(client, CLOSE_NEVER_SPOKE);
    }, options.firstMessageTimeoutMs);
    client.silenceTimer.unref();
    this.#clients.set(ws, client);
    this.#sockets.add(ws);
    // Receiver errors (bad frames, 1009, invalid UTF-8) already close the connection; listening
    // here is what keeps them from being thrown as an unhandled 'error' event.
    ws.on('error', ignore);
    ws.on('close', () => {
      clearTimeout(client.silenceTimer);
      clearTimeout(client.closeTimer);
      this.#clients.delete(ws);
      this.#perAddress.release(addressKey);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.#admit(client)) this.#echo(client, data, isBinary);
    });
    // ws answers pings itself; they count as speaking and against the rate all the same.
    ws.on('ping', () => this.#admit(client));
    ws.on('pong', () => this.#admit(client));
  }

  /** Count one incoming frame: it ends the silence, and it must fit the rate limit. */
  #admit(client: Client): boolean {
    if (client.closeTimer !== undefined) return false;
    if (client.silenceTimer !== undefined) {
      clearTimeout(client.silenceTimer);
      client.silenceTimer = undefined;
    }
    if (client.bucket.take()) return true;
    this.#counters.rateLimitedClients++;
    this.#closeClient(client, CLOSE_RATE_LIMITED);
    return false;
  }

  /**
   * Close with `code` (no reason text: a close frame is an answer too, and must stay small), and
   * terminate after a short grace: a client being thrown out is not trusted to finish the
   * closing handshake, and ws's own fallback would wait 30 s.
   */
  #closeClient(client: Client, code: number): void {
    if (client.closeTimer !== undefined) return;
    client.closeTimer = setTimeout(() => client.ws.terminate(), CLOSE_GRACE_MS);
    client.closeTimer.unref();
    client.ws.close(code);
  }

  #echo(client: Client, data: RawData, isBinary: boolean): void {
    const { ws } = client;
    const size = byteLength(data);
    client.queued += size;
    ws.send(data, { binary: isBinary }, () => {
      client.queued -= size;
      if (client.paused && client.queued < this.#options.highWaterMarkBytes / 2) {
        client.paused = false;
        ws.resume();
      }
    });
    if (!client.paused && Math.max(client.queued, ws.bufferedAmount) > this.#options.highWaterMarkBytes) {
      client.paused = true;
      ws.pause();
    }
  }
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, chunk) => sum + chunk.length, 0);
  return data.byteLength;
}

function ignore(): void {
  // Errors on a client socket end that client, never the process.
}
