/**
 * What reloads `t3-probe run`: SIGHUP, or a change of the config file. The file is watched, and
 * so is its directory, because editors save by writing a temp file and renaming it over the old
 * one, and Kubernetes updates a mounted ConfigMap by swapping a `..data` symlink: a watch on the
 * file alone goes deaf after the first such save. Events are debounced, and a file event whose
 * text did not change (a touch, a swap to the same content) is not a reload; SIGHUP always is,
 * so it also picks up a changed tls.ca file or the like.
 *
 * A config that fails to load is rejected with the same text a start-up with it would print,
 * logged, and the running config stays.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ProbeConfig } from '../config/types.js';
import { isProbeError } from '../errors.js';
import type { Logger } from '../log.js';
import { RELOAD_DEBOUNCE_MS } from './defaults.js';

export type ReloadTrigger = 'SIGHUP' | 'file';

export interface ConfigReloaderOptions {
  readonly path: string;
  /** Load and validate the config the way start-up did (same overrides); throws PROBE_ERR_CONFIG. */
  load(): Promise<ProbeConfig>;
  /** Apply a loaded config; throws when it cannot be applied live. */
  apply(config: ProbeConfig): Promise<unknown>;
  /** A reload was rejected (the metrics say so). */
  rejected(): void;
  readonly log: Pick<Logger, 'info' | 'error' | 'warn' | 'debug'>;
  readonly debounceMs?: number;
}

export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  readonly #debounceMs: number;
  #dirWatcher: FSWatcher | undefined;
  #fileWatcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  /** The file's text as last loaded, so a file event without a change is not a reload. */
  #lastText: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onSighup = (): void => {
    if (!this.#closed) void this.reload('SIGHUP');
  };

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? RELOAD_DEBOUNCE_MS;
  }

  /** Start listening for SIGHUP and watching the file; `text` is the file's text as started with. */
  start(text: string | undefined): void {
    this.#lastText = text;
    process.on('SIGHUP', this.#onSighup);
    const file = basename(this.#options.path);
    try {
      // persistent: false: watching never keeps a process alive that was told to stop.
      this.#dirWatcher = watch(dirname(this.#options.path), { persistent: false }, () => this.#changed());
      this.#dirWatcher.on('error', (err) => this.#options.log.warn({ err, path: dirname(this.#options.path) }, 'config directory watch failed: reload with SIGHUP'));
    } catch (err) {
      this.#options.log.warn({ err, path: dirname(this.#options.path) }, 'cannot watch the config directory: reload with SIGHUP');
    }
    this.#watchFile();
    this.#options.log.debug({ path: this.#options.path, file }, 'watching the config file');
  }

  /** The file itself: catches a write in place, and a change behind a symlink in another directory. */
  #watchFile(): void {
    this.#fileWatcher?.close();
    this.#fileWatcher = undefined;
    try {
      this.#fileWatcher = watch(this.#options.path, { persistent: false }, () => this.#changed());
      this.#fileWatcher.on('error', () => this.#fileWatcher?.close());
    } catch {
      // Mid-swap the file may be missing for a moment; the directory watch sees it come back.
    }
  }

  #changed(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      // A rename leaves the old watch on the old inode: watch whatever the path is now.
      this.#watchFile();
      void this.reload('file');
    }, this.#debounceMs);
    this.#debounce.unref();
  }

  /** Reload now (SIGHUP) or after a file event; reloads run one at a time. */
  reload(trigger: ReloadTrigger): Promise<void> {
    this.#queue = this.#queue.then(() => this.#reload(trigger));
    return this.#queue;
  }

  async #reload(trigger: ReloadTrigger): Promise<void> {
    if (this.#closed) return;
    const { log } = this.#options;
    if (trigger === 'file') {
      let text: string;
      try {
        text = await readFile(this.#options.path, 'utf8');
      } catch {
        return; // mid-swap; the next event (or the load below on SIGHUP) reports a file that stays missing
      }
      if (text === this.#lastText) return;
      this.#lastText = text;
    } else {
      this.#lastText = await readFile(this.#options.path, 'utf8').catch(() => undefined);
    }
    log.info({ trigger, path: this.#options.path }, 'config reload');
    try {
      const config = await this.#options.load();
      await this.#options.apply(config);
    } catch (err) {
      this.#options.rejected();
      const code = isProbeError(err) ? err.code : undefined;
      log.error({ trigger, path: this.#options.path, code, error: (err as Error).message }, 'config reload rejected: the running config stays');
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#debounce);
    // The SIGHUP listener stays, ignoring: without any listener, a SIGHUP during the graceful
    // close would kill the process (Node's default action) and skip the close.
    this.#dirWatcher?.close();
    this.#fileWatcher?.close();
  }
}
