/**
 * What the peer benchmarks read about a process from /proc, and the few statistics they print.
 * Linux only, like the benchmarks themselves. Figures only: nothing here passes or fails.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** utime + stime of a process, in seconds (clock ticks of 1/100 s on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Nanoseconds a task has run on a CPU (the scheduler's own count, /proc/<pid>/schedstat): a
 * process's main thread or a kernel thread by pid, or the calling thread with 'thread-self'. NaN
 * when there is none (gone, or not Linux).
 */
export function runNanoseconds(task: number | 'thread-self'): number {
  try {
    return Number(readFileSync(`/proc/${task}/schedstat`, 'latin1').split(' ', 1)[0]);
  } catch {
    return Number.NaN;
  }
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM, ...). */
export function statusKiB(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? NaN);
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The machine line every benchmark prints first: the lead re-runs noisy figures in a quiet window. */
export function machineLine(): string {
  const [one, five] = os.loadavg();
  return `# node ${process.version}, ${os.cpus().length} cores, load average ${one?.toFixed(2)} ${five?.toFixed(2)} at start, ${new Date().toISOString()}`;
}

export function loadLine(): string {
  const [one, five] = os.loadavg();
  return `# load average ${one?.toFixed(2)} ${five?.toFixed(2)} at end`;
}
