/** The plain-words rendering of a verdict for `t3-probe attribute`. */
import { formatDurationMs } from '../util/duration.js';
import { formatCoverage, type Verdict } from './verdict.js';

/** The newest stalls listed one per line; a starved probe may stall hundreds of times. */
const MAX_STALLS_LISTED = 10;

function hms(unixMs: number): string {
  return new Date(unixMs).toISOString().replace('T', ' ');
}

/** "window ±2m: 2026-11-22 03:00:00.000Z to 2026-11-22 03:02:00.000Z, clamped to now". */
export function describeWindow(verdict: Pick<Verdict, 'window' | 'windowMs' | 'clampedToNow'>): string {
  return `window ±${formatDurationMs(verdict.windowMs)}: ${hms(verdict.window.from)} to ${hms(verdict.window.to)}${verdict.clampedToNow ? ', clamped to now' : ''}`;
}

export function formatVerdict(verdict: Verdict, source: string, warnings: readonly string[]): string {
  const { coverage } = verdict;
  const lines = [
    `Verdict for ${hms(verdict.at)} (${describeWindow(verdict)}; from ${source}):`,
    `  ${verdict.verdict}: ${verdict.segment}`,
    `  ${verdict.summary}`,
  ];
  if (coverage.fraction < 1) {
    lines.push(
      coverage.from === null
        ? '  Coverage: none of the window was observed.'
        : `  Coverage: partial, ${formatCoverage(coverage.fraction)} of the window was observed (data from ${hms(coverage.from)}).`,
    );
  }
  if (verdict.bursts.length > 0) {
    lines.push('', 'Evidence (drops in the window; legs dropping within the burst gap count as one event):');
    verdict.bursts.forEach((burst, i) => {
      const deciding = i === verdict.decidingBurst ? '  [deciding]' : '';
      lines.push(`  event ${hms(burst.from)}${burst.to > burst.from ? ` to ${hms(burst.to)}` : ''}: ${burst.legs.join(', ')} -> ${burst.verdict}${deciding}`);
      for (const drop of burst.drops) {
        const extra = [
          drop.lastRttSeconds === null ? undefined : `RTT before ${(drop.lastRttSeconds * 1000).toFixed(1)} ms`,
          drop.closeCode === undefined ? undefined : `close code ${drop.closeCode}`,
          drop.status === undefined ? undefined : `HTTP ${drop.status}`,
          drop.expiry === undefined ? undefined : `expiry ${drop.expiry}`,
          (drop.probeStalledSeconds ?? 0) > 0 ? `the probe stalled ${drop.probeStalledSeconds?.toFixed(2)} s before it` : undefined,
        ].filter(Boolean);
        lines.push(`    ${hms(drop.at)}  ${drop.leg.padEnd(14)} ${drop.reason}${extra.length > 0 ? `  (${extra.join(', ')})` : ''}`);
      }
    });
  }
  if (verdict.downLegs.length > 0) lines.push('', `Down in the window without a new drop (since before it): ${verdict.downLegs.join(', ')}`);
  if (verdict.rttSpikes.length > 0) {
    lines.push('', 'RTT spikes:');
    for (const s of verdict.rttSpikes) {
      lines.push(`  ${s.leg}: p99 ${(s.p99Seconds * 1000).toFixed(1)} ms${s.baselineP99Seconds === null ? '' : ` (baseline ${(s.baselineP99Seconds * 1000).toFixed(1)} ms)`}`);
    }
  }
  if (verdict.stalls.length > 0) {
    lines.push('', 'The probe itself stalled (it did not run, so it observed nothing then):');
    for (const s of verdict.stalls.slice(-MAX_STALLS_LISTED)) lines.push(`  ${hms(s.from)}  ${s.seconds.toFixed(2)} s`);
    const more = verdict.stalls.length - MAX_STALLS_LISTED;
    if (more > 0) lines.push(`  and ${more} earlier stall${more === 1 ? '' : 's'}`);
  }
  lines.push('', `Clean legs: ${verdict.cleanLegs.length > 0 ? verdict.cleanLegs.join(', ') : 'none'}`);
  for (const warning of warnings) lines.push(`Warning: ${warning}`);
  return lines.join('\n') + '\n';
}
