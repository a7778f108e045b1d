// The far end for bench/ws-legs.ts, in its own process so its CPU is not billed to the probe. All
// legs come from 127.0.0.1, so the per-IP cap (256 by default since issue 11) is lifted to the
// connection cap; bench/echo-child.ts keeps the defaults for the echo benchmarks.
import { startEchoServer } from '../src/echo/server.js';

const server = await startEchoServer({ listen: { host: '127.0.0.1', port: 0 }, maxConnections: 20_000, maxConnectionsPerIp: 20_000 });
process.send?.({ port: server.httpAddress.port });
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
