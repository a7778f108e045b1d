/**
 * The WebSocket echo route: every message goes back verbatim (text as text, binary as binary),
 * nothing is sent unsolicited, no pings. Anyone can connect, so it is bounded: message size
 * (`maxPayload`, 1009 above it), concurrent clients (503 above it), and the echo bytes queued per
 * client (reading from a client that does not read its echoes stops at the high-water mark).
 * Path matching is the mount's job; this class only sees upgrades meant for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CloseTracker } from './close-tracker.js';
import { CLOSE_GRACE_MS, type ResolvedEchoOptions } from './options.js';
import { rejectUpgrade } from './reject-upgrade.js';

/** Close code sent to clients when the server shuts down ("going away"). */
export const CLOSE_GOING_AWAY = 1001;

interface Client {
  readonly ws: WebSocket;
  readonly socket: Duplex;
  /** Echo bytes handed to `ws.send` whose callback has not run yet. */
  queued: number;
  paused: boolean;
}

export class WsEcho {
  readonly #options: ResolvedEchoOptions;
  readonly #wss: WebSocketServer;
  readonly #clients = new Map<WebSocket, Client>();
  /** Every WebSocket, until its 'close'. Same members as #clients; kept for `settled()`. */
  readonly #sockets = new CloseTracker<WebSocket>();
  /** Every raw socket handed to us (handshaking, refused or upgraded), until it closes. */
  readonly #rawSockets = new CloseTracker<Duplex>();
  #closing: Promise<void> | undefined;

  constructor(options: ResolvedEchoOptions) {
    this.#options = options;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
    });
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
    if (this.#closing !== undefined || this.#clients.size >= this.#options.maxConnections) {
      rejectUpgrade(socket, 503);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, socket));
  }

  /** Refuse an upgrade that is not ours, keeping the socket tracked until it is gone. */
  reject(socket: Duplex, status: number): void {
    this.#rawSockets.add(socket);
    rejectUpgrade(socket, status);
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

  #accept(ws: WebSocket, socket: Duplex): void {
    const client: Client = { ws, socket, queued: 0, paused: false };
    this.#clients.set(ws, client);
    this.#sockets.add(ws);
    // Receiver errors (bad frames, 1009, invalid UTF-8) already close the connection; listening
    // here is what keeps them from being thrown as an unhandled 'error' event.
    ws.on('error', ignore);
    ws.on('close', () => this.#clients.delete(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => this.#echo(client, data, isBinary));
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
