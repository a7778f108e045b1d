/**
 * HTTP spoken by hand over a raw TCP socket, for the cases a real client hides: the exact status
 * line and headers of a refused upgrade, and a WebSocket connection driven frame by frame.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly statusLine: string;
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function upgradeRequest(path: string, port: number, extraHeaders: readonly string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extraHeaders,
    '',
    '',
  ].join('\r\n');
}

export async function rawConnect(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host });
  await once(socket, 'connect');
  return socket;
}

/** Everything the peer sends until the connection closes. Resumes a paused socket. */
export async function readUntilClose(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  socket.on('error', () => {
    // A reset after the response is part of some refusals; the bytes read so far still count.
  });
  // Not events.once(): it rejects on 'error', and a reset is part of some refusals.
  if (!socket.closed) await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks);
}

/** Send `request` and read the whole response; the server is expected to close the connection. */
export async function rawExchange(port: number, request: string): Promise<RawResponse> {
  const socket = await rawConnect(port);
  socket.write(request);
  return parseResponse((await readUntilClose(socket)).toString('latin1'));
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete HTTP response: ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

/**
 * Perform a WebSocket upgrade by hand. Resolves with the socket, paused and with no 'data'
 * listener, once the 101 headers have been read; `head` holds any bytes that followed them.
 */
export async function rawUpgrade(port: number, path: string): Promise<{ socket: Socket; head: Buffer }> {
  const socket = await rawConnect(port);
  socket.write(upgradeRequest(path, port));
  let received = Buffer.alloc(0);
  const end = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const index = received.indexOf('\r\n\r\n');
      if (index !== -1) {
        cleanup();
        resolve(index);
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed during upgrade: ${JSON.stringify(received.toString('latin1'))}`));
    };
    const cleanup = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
  const response = parseResponse(received.subarray(0, end + 4).toString('latin1'));
  if (response.status !== 101) {
    socket.destroy();
    throw new Error(`upgrade refused: ${response.statusLine}`);
  }
  return { socket, head: received.subarray(end + 4) };
}
