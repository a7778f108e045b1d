/**
 * Defaults of the command-line flags that are not config keys (flags that are take theirs from
 * config/defaults.ts and leg-kinds.ts). A module without heavy imports, so the help texts show the
 * very values the commands use without loading the commands.
 */
import type { ListenAddress } from '../config/types.js';
import type { Expectation } from '../idle-check/run.js';

/** `t3-probe echo --listen`: every interface, the port the examples dial. */
export const DEFAULT_ECHO_LISTEN: ListenAddress = { host: '0.0.0.0', port: 8080 };

/** `idle-check --steps`: connections in a sweep, and the most one run may open. */
export const DEFAULT_SWEEP_STEPS = 8;
export const MAX_SWEEP_STEPS = 200;
/** `idle-check --expect`: the path should keep an idle connection. */
export const DEFAULT_EXPECTATION: Expectation = 'survive';

/** `attribute --job`: the Prometheus job the deploy examples scrape the probe as. */
export const DEFAULT_PROMETHEUS_JOB = 't3-probe';

/** `t3-probe echo`: the environment variable the shared secret may come from (never a flag). */
export const ECHO_TOKEN_ENV = 'T3PROBE_ECHO_TOKEN';

/**
 * The hard bound on a graceful shutdown (run, echo): past it the process logs and exits 1 anyway,
 * below Docker's 10 s and Kubernetes' 30 s grace, so the log line is written before a SIGKILL.
 */
export const SHUTDOWN_TIMEOUT_MS = 5_000;

/**
 * A config file change reloads this long after the last event: an editor's save or a ConfigMap
 * swap is several events (write, rename, symlink swap), and a reload should read the result once.
 */
export const RELOAD_DEBOUNCE_MS = 250;
