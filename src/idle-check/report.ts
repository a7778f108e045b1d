/** The human summary of an idle check. JSON output is the report object itself. */
import { formatDurationMs } from '../util/duration.js';
import type { IdleCheckReport, RungResult } from './run.js';

export function formatRung(rung: RungResult): string {
  const idle = formatDurationMs(rung.idleSeconds * 1000).padStart(7);
  if (rung.result === 'survived') return `  idle ${idle}: survived (echo in ${((rung.rttSeconds ?? 0) * 1000).toFixed(1)} ms)`;
  if (rung.result === 'inconclusive') {
    const died = rung.whileIdle === true ? `died while idle, after ${formatDurationMs(rung.measuredIdleSeconds * 1000)}` : 'did not answer the probe';
    return `  idle ${idle}: INCONCLUSIVE (${died}, but the control connection failed too)`;
  }
  const how =
    rung.expiry === 'silent'
      ? 'silent: no echo, the connection hangs'
      : rung.expiry === 'reset'
        ? 'reset: the path answered with RST'
        : 'closed: the path closed the connection';
  const when = rung.whileIdle === true ? ` while idle, after ${formatDurationMs(rung.measuredIdleSeconds * 1000)}` : '';
  return `  idle ${idle}: EXPIRED${when} (${how})`;
}

export function formatReport(report: IdleCheckReport): string {
  const control = report.controlIntervalSeconds === null ? '' : `, control heartbeat every ${formatDurationMs(report.controlIntervalSeconds * 1000)}`;
  const lines = [`idle-check ${report.target}: ${report.rungs.length === 1 ? '1 connection' : `${report.rungs.length} connections (sweep)`}, deadline ${formatDurationMs(report.deadlineSeconds * 1000)}, keepalive ${report.keepaliveSeconds === null ? 'off' : formatDurationMs(report.keepaliveSeconds * 1000)}${control}`];
  for (const rung of report.rungs) lines.push(formatRung(rung));
  const { survivedSeconds, expiredSeconds } = report.bracket;
  if (report.rungs.length > 1) {
    const unknown = report.rungs.filter((r) => r.result === 'inconclusive').length;
    if (unknown > 0 && (survivedSeconds === null || expiredSeconds === null)) {
      lines.push(`bracket: none: ${unknown} of ${report.rungs.length} idle times were inconclusive`);
    } else if (report.inconsistent) {
      lines.push(`bracket: none: ${formatDurationMs((survivedSeconds ?? 0) * 1000)} survived but ${formatDurationMs((expiredSeconds ?? 0) * 1000)} expired; the path drops connections for another reason than idle time`);
    } else if (expiredSeconds === null) {
      lines.push(`bracket: every idle time survived; the path's idle timeout, if any, is above ${formatDurationMs((survivedSeconds ?? 0) * 1000)}`);
    } else if (survivedSeconds === null) {
      lines.push(`bracket: every idle time expired; the idle timeout is below ${formatDurationMs(expiredSeconds * 1000)}`);
    } else {
      lines.push(`bracket: the path's idle timeout is between ${formatDurationMs(survivedSeconds * 1000)} (survived) and ${formatDurationMs(expiredSeconds * 1000)} (expired)`);
    }
  }
  if (report.matches.length > 0) lines.push(`consistent with: ${report.matches.join('; ')}`);
  if (report.control !== null) {
    lines.push(
      report.inconclusive
        ? `inconclusive: the control connection dropped too, at ${report.control.failedAt}: the far end or the whole path went away`
        : `control: the control connection dropped at ${report.control.failedAt} (${report.control.reason}); no idle connection died after that, so the results stand`,
    );
  }
  lines.push(`expected ${report.expect}: ${report.inconclusive ? 'INCONCLUSIVE' : report.ok ? 'OK' : 'FAILED'}`);
  return lines.join('\n') + '\n';
}
