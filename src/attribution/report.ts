/** The plain-words rendering of a verdict for `t3-probe attribute`. */
import type { Verdict } from './verdict.js';

function hms(unixMs: number): string {
  return new Date(unixMs).toISOString().replace('T', ' ').replace('Z', 'Z');
}

export function formatVerdict(verdict: Verdict, source: string, warnings: readonly string[]): string {
  const lines = [
    `Verdict for ${hms(verdict.at)} (window ${hms(verdict.window.from)} to ${hms(verdict.window.to)}, from ${source}):`,
    `  ${verdict.verdict}: ${verdict.segment}`,
    `  ${verdict.summary}`,
  ];
  if (verdict.bursts.length > 0) {
    lines.push('', 'Evidence (drops in the window; legs dropping within the burst gap count as one event):');
    for (const burst of verdict.bursts) {
      lines.push(`  event ${hms(burst.from)}${burst.to > burst.from ? ` to ${hms(burst.to)}` : ''}: ${burst.legs.join(', ')} -> ${burst.verdict}`);
      for (const drop of burst.drops) {
        const extra = [
          drop.lastRttSeconds === null ? undefined : `RTT before ${(drop.lastRttSeconds * 1000).toFixed(1)} ms`,
          drop.closeCode === undefined ? undefined : `close code ${drop.closeCode}`,
          drop.status === undefined ? undefined : `HTTP ${drop.status}`,
          drop.expiry === undefined ? undefined : `expiry ${drop.expiry}`,
        ].filter(Boolean);
        lines.push(`    ${hms(drop.at)}  ${drop.leg.padEnd(14)} ${drop.reason}${extra.length > 0 ? `  (${extra.join(', ')})` : ''}`);
      }
    }
  }
  if (verdict.rttSpikes.length > 0) {
    lines.push('', 'RTT spikes:');
    for (const s of verdict.rttSpikes) {
      lines.push(`  ${s.leg}: p99 ${(s.p99Seconds * 1000).toFixed(1)} ms${s.baselineP99Seconds === null ? '' : ` (baseline ${(s.baselineP99Seconds * 1000).toFixed(1)} ms)`}`);
    }
  }
  lines.push('', `Clean legs: ${verdict.cleanLegs.length > 0 ? verdict.cleanLegs.join(', ') : 'none'}`);
  for (const warning of warnings) lines.push(`Warning: ${warning}`);
  return lines.join('\n') + '\n';
}
