/**
 * A WebSocket far end written by hand in a worker thread, for races that need the far end to act
 * while the probe's own thread is blocked (starved): the worker has its own event loop, and it
 * raises a shared flag once its fault has left, so a test can block the probe's thread exactly
 * until then, without sleeping.
 *
 * It completes the upgrade, then takes one fault on the first frame the probe sends:
 * - `close-frame`: a close frame 1012 and nothing more: it never reads the probe's reply and never
 *   closes TCP (a far end that withholds its FIN, or one too slow to send it in time);
 * - `fin`: a FIN without a close frame, as a killed process's kernel sends.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

export type RawFarEndFault = 'close-frame' | 'fin';

export interface RawWsFarEnd {
  readonly url: string;
  /** Block this thread until the fault has been sent; throws after `timeoutMs`. */
  blockUntilFaultSent(timeoutMs: number): void;
  close(): Promise<void>;
}

// Plain JavaScript: the worker runs it with `eval`, independent of the test's loader.
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.shared);
const sockets = new Set();
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
  let request = '';
  let upgraded = false;
  socket.on('data', (chunk) => {
    if (!upgraded) {
      request += chunk.toString('latin1');
      const end = request.indexOf('\\r\\n\\r\\n');
      if (end === -1) return;
      const key = /^sec-websocket-key:\\s*(\\S+)/im.exec(request)?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
      upgraded = true;
      return;
    }
    const sent = () => { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
    if (workerData.fault === 'close-frame') {
      // Stop reading: the probe's close reply is never processed, so no FIN ever follows.
      socket.pause();
      socket.removeAllListeners('data');
      socket.write(Buffer.from([0x88, 0x02, 0x03, 0xf4]), sent);
    } else {
      socket.removeAllListeners('data');
      socket.resume();
      socket.end(sent);
    }
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => {
  for (const socket of sockets) socket.destroy();
  server.close(() => parentPort.close());
});
`;

export async function startRawWsFarEnd(fault: RawFarEndFault): Promise<RawWsFarEnd> {
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fault, shared } });
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  return {
    url: `ws://127.0.0.1:${port}/probe/ws`,
    blockUntilFaultSent(timeoutMs) {
      if (Atomics.wait(flag, 0, 0, timeoutMs) === 'timed-out') throw new Error(`the far end sent no ${fault} within ${timeoutMs} ms`);
    },
    async close() {
      const exited = once(worker, 'exit');
      worker.postMessage('close');
      await exited;
    },
  };
}
