/**
 * Help texts. Kept next to each other so `--help` output stays consistent, and every default in
 * them is the constant the code uses, so help can never disagree with it. Only light modules are
 * imported here: cli.ts loads this for every command, and each command's own code on demand.
 */
import { DEFAULT_BURST_MS, DEFAULT_WINDOW_MS } from '../attribution/verdict.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_LISTEN,
  DEFAULT_LOG_LEVEL,
  DEFAULT_METRICS_PREFIX,
  DEMO_LISTEN,
  LOG_LEVELS,
} from '../config/defaults.js';
import { ENV_OVERRIDES } from '../config/env.js';
import {
  DEFAULT_IDLE_DEADLINE_MS,
  DEFAULT_IDLE_MS,
  MAX_PAYLOAD_BYTES,
  MIN_CONTROL_INTERVAL_MS,
  defaultControlIntervalMs,
} from '../config/leg-kinds.js';
import { formatBytes } from '../config/size.js';
import { ECHO_DEFAULTS } from '../echo/options.js';
import { formatDurationMs } from '../util/duration.js';
import { formatHostPort } from '../net/listen.js';
import { DEFAULT_ECHO_LISTEN, DEFAULT_EXPECTATION, ECHO_TOKEN_ENV, DEFAULT_PROMETHEUS_JOB, DEFAULT_SWEEP_STEPS, MAX_SWEEP_STEPS, SHUTDOWN_TIMEOUT_MS } from './defaults.js';

/** The control interval a long idle gets: the cap that a short idle's quarter may lower. */
const CONTROL_INTERVAL_CAP_MS = defaultControlIntervalMs(Number.POSITIVE_INFINITY);

export const MAIN_USAGE = `t3-probe: differential connectivity probe

Usage:
  t3-probe run --config probe.yaml [--listen host:port] [--log-level level]
  t3-probe echo [--listen host:port] [--tcp-listen host:port] [options]
  t3-probe demo [--listen host:port]
  t3-probe idle-check --target tcp://host:port|ws(s)://host/path [--idle ${formatDurationMs(DEFAULT_IDLE_MS)} | --sweep 30s..1200s]
  t3-probe attribute --at <RFC3339|now> [--window ${formatDurationMs(DEFAULT_WINDOW_MS)}] (--probe URL | --prometheus URL) [--json]
  t3-probe <command> --help
  t3-probe --version

Commands:
  run     hold the permanent legs of a config and serve /metrics, /status, /healthz, /readyz
  echo    the far end: /probe/ws verbatim WebSocket echo, /probe/healthz, optional TCP echo
  demo    everything on loopback (echo server, DoH responder, probe); needs nothing external
  attribute   name the broken segment around a moment, with evidence (from a probe or Prometheus)
  idle-check  one-shot: does an idle connection on this path survive? (exit 0 as expected, 1 not)

Exit codes: 0 ok, 1 runtime failure (for example the listen port is taken), 2 usage or config error.
`;

export const RUN_USAGE = `Usage: t3-probe run --config probe.yaml [--listen host:port] [--log-level level]

Hold the legs described in the config file and serve /metrics, /status, /healthz and /readyz
(default listen address ${formatHostPort(DEFAULT_LISTEN)}).

SIGHUP, or a change to the config file, reloads it: unchanged legs keep their connections and
counters, added legs start, removed legs stop and their series go. A bad config is refused with
the start-up error and the running one stays; listen, metrics.prefix and state need a restart.
SIGTERM or SIGINT closes gracefully (exit 0), a second one exits at once, and a close that takes
over ${SHUTDOWN_TIMEOUT_MS / 1000} s exits 1.

Options:
  -c, --config <file>      YAML config (required)
      --listen <host:port> override the config's listen address
      --log-level <level>  override log.level (${LOG_LEVELS.join('|')})
      --check              validate the config, print each leg's role, resolve mode,
                           interval and deadline, and exit
  -h, --help

Environment overrides (applied on top of the file):
${ENV_OVERRIDES.map((o) => `  ${o.env.padEnd(24)} ${o.key.padEnd(18)} ${o.description}`).join('\n')}
`;

export const ECHO_USAGE = `Usage: t3-probe echo [--listen host:port] [--tcp-listen host:port] [options]

The far end for probe legs: GET /probe/healthz answers 200, /probe/ws echoes every WebSocket
message verbatim, and --tcp-listen adds a plain TCP echo (for idle legs). Unauthenticated by
design, so every resource is bounded; every answer is smaller than the request it answers.

Options:
      --listen <host:port>       HTTP/WebSocket address (default ${formatHostPort(DEFAULT_ECHO_LISTEN)})
      --tcp-listen <host:port>   also run a plain TCP echo here (no idle timeout, by design)
      --max-connections <n>      concurrent WebSocket (and TCP) clients, 503 above (default ${ECHO_DEFAULTS.maxConnections})
      --max-connections-per-ip <n>
                                 the same from one address or IPv6 /64 (default ${ECHO_DEFAULTS.maxConnectionsPerIp});
                                 everything behind one NAT or proxy counts as one address
      --max-payload <size>       largest WebSocket message, 1B to ${formatBytes(MAX_PAYLOAD_BYTES)} (default ${formatBytes(ECHO_DEFAULTS.maxPayloadBytes)})
      --handshake-timeout <d>    a connection must complete its upgrade this soon (default ${formatDurationMs(ECHO_DEFAULTS.handshakeTimeoutMs)})
      --first-message-timeout <d>
                                 close (4408) a WebSocket that sent nothing this long after
                                 its upgrade (default ${formatDurationMs(ECHO_DEFAULTS.firstMessageTimeoutMs)}); never applies once it spoke
      --max-messages-per-second <n>
                                 per client, sustained; above it: close 1008 (default ${ECHO_DEFAULTS.maxMessagesPerSecond})
      --message-burst <n>        messages at once above that rate (default ${ECHO_DEFAULTS.messageBurst})
      --allowed-origin <origin>  admit browsers only from this exact origin (repeatable); requests
                                 without an Origin header (non-browsers, the probe) are admitted
      --token-file <file>        require this shared secret (Authorization: Bearer, or ?token=);
                                 or set ${ECHO_TOKEN_ENV}. Never a flag: command lines are public
      --tls-cert <file>          serve HTTPS/WSS with this PEM certificate chain
      --tls-key <file>           ... and this PEM private key
      --log-level <level>        default ${DEFAULT_LOG_LEVEL}
  -h, --help
`;

export const DEMO_USAGE = `Usage: t3-probe demo [--listen host:port]

Start, all on loopback: an echo server (wss with a throwaway CA), a DoH responder (HTTP/2), a plain
HTTP "serve" process, and a probe with three legs: cloudflare (DoH-resolved wss), internal (the
same URL pinned to 127.0.0.1) and t3serve (plain HTTP). Then open:
  http://${formatHostPort(DEMO_LISTEN)}/  (status page)   http://${formatHostPort(DEMO_LISTEN)}/metrics   http://${formatHostPort(DEMO_LISTEN)}/status

Options:
      --listen <host:port>   probe address (default ${formatHostPort(DEMO_LISTEN)})
      --log-level <level>    default ${DEFAULT_LOG_LEVEL}
  -h, --help
`;

export const IDLE_CHECK_USAGE = `Usage: t3-probe idle-check --target tcp://host:port | ws(s)://host/path
         [--idle ${formatDurationMs(DEFAULT_IDLE_MS)} | --sweep 30s..1200s [--steps ${DEFAULT_SWEEP_STEPS}]] [--deadline ${formatDurationMs(DEFAULT_IDLE_DEADLINE_MS)}] [--keepalive 60s]
         [--control-interval ${formatDurationMs(CONTROL_INTERVAL_CAP_MS)}] [--expect survive|expire] [--json]

Open a connection to a verbatim echo (the t3-probe echo server's TCP echo or /probe/ws), check one
echo, stay completely silent for --idle, then send one probe and expect its echo within --deadline.
Proves whether an idle connection on this path survives: run it before and after moving a Swarm
service to endpoint_mode: dnsrr, or adding keepalives. Progress goes to stderr while it waits.

--sweep opens --steps connections at once, with idle times on an even ladder from MIN to MAX, and
reports the largest idle that survived and the smallest that expired: the bracket around the
path's real idle timeout (IPVS 900 s, Cloudflare 270 s / 400 s, cloud LB 350 s), in one run no
longer than MAX.

A control connection to the same target heartbeats meanwhile. A connection that died while the
control failed too is INCONCLUSIVE, not expired (the far end or the whole path went away), and
the run exits 1 whatever --expect says.

Options:
      --target <url>           tcp://host:port, ws://host/path or wss://host/path (required)
      --idle <duration>        silence before the probe (default ${formatDurationMs(DEFAULT_IDLE_MS)}, longer than IPVS's 900 s)
      --sweep <min>..<max>     try a ladder of idle times at once instead of one
      --steps <n>              connections in the sweep (default ${DEFAULT_SWEEP_STEPS}, at most ${MAX_SWEEP_STEPS})
      --deadline <duration>    how long the probe's echo may take (default ${formatDurationMs(DEFAULT_IDLE_DEADLINE_MS)})
      --keepalive <duration>   enable TCP keepalive (TCP_KEEPIDLE) at this idle time (default off)
      --control-interval <d>   heartbeat of the control connection, ${formatDurationMs(MIN_CONTROL_INTERVAL_MS)} to half the shortest
                               idle (default ${formatDurationMs(CONTROL_INTERVAL_CAP_MS)}, or a quarter of the shortest idle if less)
      --expect survive|expire  what should happen (default ${DEFAULT_EXPECTATION}); with --sweep, survive means
                               every idle time survived, expire means at least one expired
      --pin <ip>               dial this IP instead of resolving the target's hostname
      --ca <file>              extra trusted CA (PEM) for wss://
      --insecure               do not verify the certificate (wss://)
      --connect-timeout <d>    default ${formatDurationMs(DEFAULT_CONNECT_TIMEOUT_MS)}
      --json                   print the report as JSON on stdout; errors too, as {error, code}
  -h, --help

Exit codes: 0 the expectation held, 1 it did not or the run was inconclusive, 2 usage error or
the first connection failed.
`;

export const ATTRIBUTE_USAGE = `Usage: t3-probe attribute --at <RFC3339 time|now> [--window ${formatDurationMs(DEFAULT_WINDOW_MS)}]
         (--probe http://probe:9464 | --prometheus http://prometheus:9090) [--json]

Name the segment that broke around a moment (a user's report), with the evidence: which legs
dropped, when, why, and the RTT just before. Drops within --burst of each other count as one
shared-segment event.

  only the public leg drops              the CDN edge, tunnel or WAN (public DNS if every drop was dns)
  both WebSocket legs drop together      Traefik, dispatch, or the host's reachability
  the serve leg times out or RTT spikes  the serve process stalled
  every leg is clean                     the user's last mile or device: infra exonerated

Options:
      --at <time>            the moment to explain: "now" or RFC 3339 (2026-11-22T03:04:05Z)
      --window <duration>    look this far before and after --at, never past now (default ${formatDurationMs(DEFAULT_WINDOW_MS)});
                             only time the source observed is vouched for (partial, no_data)
      --burst <duration>     drops closer than this are one event (default ${formatDurationMs(DEFAULT_BURST_MS)})
      --probe <url>          read a running probe's /status (its bounded ring of recent drops)
      --prometheus <url>     read Prometheus' HTTP API (history as far back as it keeps)
      --job <name>           Prometheus job of the probe (default ${DEFAULT_PROMETHEUS_JOB})
      --prefix <prefix>      metric prefix (default ${DEFAULT_METRICS_PREFIX})
      --json                 print the verdict and evidence as JSON
  -h, --help

Exit codes: 0 a verdict was reached, 2 usage error or the source could not be read.
`;
