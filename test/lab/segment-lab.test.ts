/**
 * The segment lab works: real unbound answers DoH, real haproxy carries WebSockets edge -> lb ->
 * dispatch, serve answers /probe/healthz, and each fault does what it says, seen from a client in
 * the client namespace that verifies TLS against the lab's CA.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { requireLab } from './netns.js';
import { PUBLIC_HOSTNAME, SEGMENT_IPS, createSegmentLab, type Fault, type Segment, type SegmentLab } from './segment-lab.js';

const AGENT = fileURLToPath(new URL('./fixtures/segment/client-agent.ts', import.meta.url));
/** Long enough for an answer on this lab (milliseconds), short enough to keep the test quick. */
const QUIET_MS = 1_000;

type Reply = Record<string, unknown>;

/** The client-agent fixture, running in the client namespace: send an order, get its reply. */
function startAgent(sl: SegmentLab): (order: Record<string, unknown>) => Promise<Reply> {
  const proc = sl.lab.spawn(sl.ns.client, process.execPath, ['--import', 'tsx', AGENT, sl.caFile], { stdin: 'pipe' });
  const pending = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>();
  let buffered = '';
  proc.child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const reply = JSON.parse(buffered.slice(0, nl)) as Reply;
      buffered = buffered.slice(nl + 1);
      pending.get(reply.id as number)?.resolve(reply);
      pending.delete(reply.id as number);
    }
  });
  void proc.exited.then((code) => {
    for (const { reject } of pending.values()) reject(new Error(`client agent exited (${code}): ${proc.stderr}`));
  });
  let nextId = 1;
  return (order) =>
    new Promise<Reply>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      proc.child.stdin?.write(`${JSON.stringify({ id, ...order })}\n`);
    });
}

test('segment lab: real DoH, edge, lb, dispatch and serve, and faults that do what they say', { timeout: 120_000 }, async (t) => {
  if (!requireLab(t)) return;
  const started = performance.now();
  const sl = await createSegmentLab(t);
  t.diagnostic(`createSegmentLab took ${Math.round(performance.now() - started)} ms`);
  const agent = startAgent(sl);

  const openPublic = () => agent({ op: 'ws-open', ip: SEGMENT_IPS.edge, port: 443, timeoutMs: 5_000 });
  const openInternal = () => agent({ op: 'ws-open', ip: SEGMENT_IPS.lb, port: 443, timeoutMs: 5_000 });
  const echo = (conn: unknown, timeoutMs = 5_000) => agent({ op: 'ws-echo', conn, timeoutMs });
  const healthz = (timeoutMs = 5_000) => agent({ op: 'http-get', url: sl.serveUrl, timeoutMs });
  const resolveT3 = (timeoutMs = 5_000) => agent({ op: 'doh', ip: SEGMENT_IPS.doh, name: PUBLIC_HOSTNAME, timeoutMs });
  /** Inject a fault for one subtest: healed when the subtest ends, also when it fails. */
  const inject = async (st: TestContext, segment: Segment, fault: Fault): Promise<() => Promise<void>> => {
    const heal = await sl.inject(segment, fault);
    st.after(heal);
    return heal;
  };
  /** Open a WebSocket and prove it echoes; returns its connection id. */
  const established = async (open: () => Promise<Reply>): Promise<unknown> => {
    const opened = await open();
    assert.equal(typeof opened.conn, 'number', JSON.stringify(opened));
    const first = await echo(opened.conn);
    assert.equal(first.result, 'echo', JSON.stringify(first));
    return opened.conn;
  };

  await t.test('DoH over HTTP/2 (real unbound) resolves the public hostname to the edge', async () => {
    const reply = await resolveT3();
    assert.equal(reply.status, 200, JSON.stringify(reply));
    assert.deepEqual(reply.addresses, [SEGMENT_IPS.edge]);
  });

  await t.test('the public path (edge -> lb -> dispatch) and the internal path (lb -> dispatch) echo; serve answers', async () => {
    await established(openPublic);
    await established(openInternal);
    assert.equal((await healthz()).status, 200);
  });

  await t.test('blackhole edge: the public path stalls, the internal path still echoes; heal: a new public connection works', async (st) => {
    const pub = await established(openPublic);
    const internal = await established(openInternal);
    const heal = await inject(st, 'edge', 'blackhole');
    assert.equal((await echo(pub, QUIET_MS)).result, 'timeout');
    assert.equal((await echo(internal)).result, 'echo');
    const fresh = await agent({ op: 'ws-open', ip: SEGMENT_IPS.edge, port: 443, timeoutMs: QUIET_MS });
    assert.ok(fresh.error !== undefined, `a new public connection must not open: ${JSON.stringify(fresh)}`);
    await heal();
    await established(openPublic);
  });

  await t.test('reset lb: an established internal connection is reset', async (st) => {
    const internal = await established(openInternal);
    const heal = await inject(st, 'lb', 'reset');
    const reply = await echo(internal);
    assert.equal(reply.result, 'closed', JSON.stringify(reply));
    assert.equal(reply.error, 'ECONNRESET', JSON.stringify(reply));
    await heal();
    await established(openInternal);
  });

  await t.test('kill serve: connection refused; heal: 200 again', async (st) => {
    const heal = await inject(st, 'serve', 'kill');
    const refused = await healthz();
    assert.equal(refused.error, 'ECONNREFUSED', JSON.stringify(refused));
    await heal();
    assert.equal((await healthz()).status, 200);
  });

  await t.test('stall serve: the request times out; heal: 200 again', async (st) => {
    const heal = await inject(st, 'serve', 'stall');
    assert.equal((await healthz(QUIET_MS)).error, 'TIMEOUT');
    await heal();
    assert.equal((await healthz()).status, 200);
  });

  await t.test('conntrack-flush edge: an established public connection stalls, a fresh one works', async () => {
    const pub = await established(openPublic);
    await sl.inject('edge', 'conntrack-flush');
    assert.equal((await echo(pub, QUIET_MS)).result, 'timeout');
    await established(openPublic);
  });

  await t.test('kill doh: the query fails; heal: it resolves again', async (st) => {
    const heal = await inject(st, 'doh', 'kill');
    assert.equal((await resolveT3()).error, 'ECONNREFUSED');
    await heal();
    assert.deepEqual((await resolveT3()).addresses, [SEGMENT_IPS.edge]);
  });
});
