// The far end for the benchmark, in its own process so its CPU is not billed to the probe.
import { startEchoServer } from '../src/echo/server.js';

const server = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, maxConnections: 10_000 });
process.send?.({ port: server.httpAddress.port });
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
