/** Help texts. Kept next to each other so `--help` output stays consistent. */
import { ENV_OVERRIDES } from '../config/env.js';

export const MAIN_USAGE = `t3-probe: differential connectivity probe

Usage:
  t3-probe run --config probe.yaml [--listen host:port] [--log-level level]
  t3-probe echo [--listen host:port] [--tcp-listen host:port] [options]
  t3-probe demo [--listen host:port]
  t3-probe <command> --help
  t3-probe --version

Commands:
  run     hold the permanent legs of a config and serve /metrics, /status, /healthz, /readyz
  echo    the far end: /probe/ws verbatim WebSocket echo, /probe/healthz, optional TCP echo
  demo    everything on loopback (echo server, DoH responder, probe); needs nothing external

Exit codes: 0 ok, 1 runtime failure (for example the listen port is taken), 2 usage or config error.
`;

export const RUN_USAGE = `Usage: t3-probe run --config probe.yaml [--listen host:port] [--log-level level]

Hold the legs described in the config file and serve /metrics, /status, /healthz and /readyz
(default listen address 0.0.0.0:9464). SIGTERM or SIGINT closes gracefully; a second one exits at once.

Options:
  -c, --config <file>      YAML config (required)
      --listen <host:port> override the config's listen address
      --log-level <level>  override log.level (fatal|error|warn|info|debug|trace|silent)
      --check              validate the config, print the normalized legs, and exit
  -h, --help

Environment overrides (applied on top of the file):
${ENV_OVERRIDES.map((o) => `  ${o.env.padEnd(24)} ${o.key.padEnd(18)} ${o.description}`).join('\n')}
`;

export const ECHO_USAGE = `Usage: t3-probe echo [--listen host:port] [--tcp-listen host:port] [options]

The far end for probe legs: GET /probe/healthz answers 200, /probe/ws echoes every WebSocket
message verbatim, and --tcp-listen adds a plain TCP echo (for idle legs). Unauthenticated by
design, so every resource is bounded.

Options:
      --listen <host:port>       HTTP/WebSocket address (default 0.0.0.0:8080)
      --tcp-listen <host:port>   also run a plain TCP echo here
      --max-connections <n>      concurrent WebSocket (and TCP) clients (default 1024)
      --max-payload <size>       largest WebSocket message, e.g. 64KiB (default 64KiB)
      --tls-cert <file>          serve HTTPS/WSS with this PEM certificate chain
      --tls-key <file>           ... and this PEM private key
      --log-level <level>        default info
  -h, --help
`;

export const DEMO_USAGE = `Usage: t3-probe demo [--listen host:port]

Start, all on loopback: an echo server (wss with a throwaway CA), a DoH responder (HTTP/2), a plain
HTTP "serve" process, and a probe with three legs: cloudflare (DoH-resolved wss), internal (the
same URL pinned to 127.0.0.1) and t3serve (plain HTTP). Then open:
  http://127.0.0.1:9464/metrics   http://127.0.0.1:9464/status

Options:
      --listen <host:port>   probe address (default 127.0.0.1:9464)
      --log-level <level>    default info
  -h, --help
`;
