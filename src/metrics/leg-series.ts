/**
 * Every series that carries a `leg` label, kept here rather than in prom-client (issue 12 §1, §3).
 *
 * A leg's values live in one Float64Array laid out by a `LegLayout` shared by all legs (about 0.5
 * KiB per leg at the default detail). prom-client kept the same values as a labels object, a
 * value object and a bucket dictionary per series: about 4 KiB of heap and a dozen objects per
 * leg, and its renderer formatted every label set again on every scrape. Here a leg's label is
 * escaped once, at bind time, and each family is written as bytes from pieces built once around
 * it (chunk-writer.ts): a scrape of 10,000 legs leaves almost no garbage behind.
 *
 * The writer (`LegSeriesStore.write`) writes whole series: a histogram's buckets, `_sum` and
 * `_count` come from one read, so they always agree; between chunks the exposition may yield.
 * prom-client keeps the process metrics and the probe-wide series (src/metrics/registry.ts).
 */
import { REASONS, type Reason } from '../reasons.js';
import type { MetricsDetail } from '../config/defaults.js';
import type { ConnectPhase, HeartbeatResult, LegMetrics } from './leg-vocabulary.js';
import { MAX_NUMBER_BYTES, type ChunkWriter } from './chunk-writer.js';

/** One family of the per-leg exposition: its name, type, help and the label values of its series. */
export interface LegFamilySpec {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
}

/** The per-leg families and their fixed vocabularies, from src/metrics/registry.ts. */
export interface LegLayoutSpec {
  readonly prefix: string;
  readonly detail: MetricsDetail;
  readonly connected: LegFamilySpec;
  readonly disconnects: LegFamilySpec;
  readonly rtt: LegFamilySpec & { readonly buckets: readonly number[] };
  readonly lifetime: LegFamilySpec & { readonly buckets: readonly number[] };
  readonly lastDrop: LegFamilySpec;
  readonly heartbeats: LegFamilySpec & { readonly results: readonly HeartbeatResult[]; readonly precreated: readonly HeartbeatResult[] };
  readonly info: LegFamilySpec;
  /** Per leg and phase only at `full`; at `default` the phases are one probe-wide histogram. */
  readonly connect: (LegFamilySpec & { readonly buckets: readonly number[]; readonly phases: readonly ConnectPhase[] }) | undefined;
}

/** Offsets into a leg's Float64Array. Histograms keep per-bucket (not cumulative) counts, then sum, then count. */
class LegLayout {
  readonly connected = 0;
  readonly lastDrop = 1;
  readonly disconnects = 2;
  readonly heartbeats: number;
  readonly rtt: number;
  readonly lifetime: number;
  readonly connect: number;
  readonly size: number;
  readonly reasonIndex: ReadonlyMap<Reason, number>;
  readonly resultIndex: ReadonlyMap<HeartbeatResult, number>;
  readonly phaseIndex: ReadonlyMap<ConnectPhase, number>;
  readonly rttBuckets: Float64Array;
  readonly lifetimeBuckets: Float64Array;
  readonly connectBuckets: Float64Array;

  constructor(readonly spec: LegLayoutSpec) {
    this.reasonIndex = new Map(REASONS.map((r, i) => [r, i]));
    this.resultIndex = new Map(spec.heartbeats.results.map((r, i) => [r, i]));
    this.phaseIndex = new Map((spec.connect?.phases ?? []).map((p, i) => [p, i]));
    this.rttBuckets = Float64Array.from(spec.rtt.buckets);
    this.lifetimeBuckets = Float64Array.from(spec.lifetime.buckets);
    this.connectBuckets = Float64Array.from(spec.connect?.buckets ?? []);
    this.heartbeats = this.disconnects + REASONS.length;
    this.rtt = this.heartbeats + spec.heartbeats.results.length;
    this.lifetime = this.rtt + spec.rtt.buckets.length + 2;
    this.connect = this.lifetime + spec.lifetime.buckets.length + 2;
    this.size = this.connect + (spec.connect === undefined ? 0 : spec.connect.phases.length * (spec.connect.buckets.length + 2));
  }
}

/** Add one observation to the histogram at `offset` (buckets, then sum, then count); `le` is inclusive, as in Prometheus. */
function observe(values: Float64Array, offset: number, bounds: Float64Array, value: number): void {
  if (!Number.isFinite(value)) return;
  let i = 0;
  while (i < bounds.length && value > (bounds[i] as number)) i++;
  if (i < bounds.length) (values[offset + i] as number)++;
  values[offset + bounds.length] = (values[offset + bounds.length] as number) + value;
  (values[offset + bounds.length + 1] as number)++;
}

/** One leg's series: its escaped label and its values. Also the LegMetrics the leg writes to. */
export class LegSeries implements LegMetrics {
  readonly values: Float64Array;
  /** `leg="..."`, escaped once, as UTF-8: copied into every line of the leg's text. */
  readonly label: Buffer;

  constructor(
    readonly layout: LegLayout,
    /** `leg="..."`, escaped once. */
    label: string,
    /** `,kind="ws",role="internal"` for leg_info, as UTF-8, or undefined for a leg without one. */
    public info: Buffer | undefined,
    /** Idle legs at the default detail export no RTT histogram. */
    readonly hasRtt: boolean,
    readonly observeProbeWidePhase: ((phase: ConnectPhase, seconds: number) => void) | undefined,
  ) {
    this.values = new Float64Array(layout.size);
    this.label = Buffer.from(label);
  }

  setConnected(up: boolean): void {
    this.values[this.layout.connected] = up ? 1 : 0;
  }

  observeRtt(seconds: number): void {
    if (this.hasRtt) observe(this.values, this.layout.rtt, this.layout.rttBuckets, seconds);
  }

  countHeartbeat(result: HeartbeatResult): void {
    const index = this.layout.resultIndex.get(result);
    if (index !== undefined) (this.values[this.layout.heartbeats + index] as number)++;
  }

  observeConnectPhase(phase: ConnectPhase, seconds: number): void {
    if (this.observeProbeWidePhase !== undefined) {
      this.observeProbeWidePhase(phase, seconds);
      return;
    }
    const layout = this.layout;
    const index = layout.phaseIndex.get(phase);
    if (index !== undefined) observe(this.values, layout.connect + index * (layout.connectBuckets.length + 2), layout.connectBuckets, seconds);
  }

  recordDrop(reason: Reason, lifetimeSeconds: number | undefined, atEpochMs: number): void {
    const layout = this.layout;
    const index = layout.reasonIndex.get(reason);
    if (index !== undefined) (this.values[layout.disconnects + index] as number)++;
    this.values[layout.lastDrop] = atEpochMs / 1000;
    if (lifetimeSeconds !== undefined) observe(this.values, layout.lifetime, layout.lifetimeBuckets, lifetimeSeconds);
  }
}

/** Text pieces of one family as bytes, built once per store and format. */
interface FamilyText {
  readonly header: Buffer;
  /** For each series of a leg: the text before the leg label (`name{` or `name{le="0.5",`). */
  readonly before: readonly Buffer[];
  /** For each series: the text between the leg label and the value (`} ` or `,reason="x"} `). */
  readonly after: readonly Buffer[];
  /** The bytes of every piece: with the lines' labels and values, a bound on one leg's text. */
  readonly pieceBytes: number;
}

const NEWLINE = Buffer.from('\n');
const ONE = Buffer.from('1\n');

/** The families in the order they are written. */
const FAMILY_ORDER = ['connected', 'disconnects', 'rtt', 'connect', 'lifetime', 'lastDrop', 'heartbeats', 'info'] as const;
type FamilyKey = (typeof FAMILY_ORDER)[number];

/** Every leg's series, and their text. */
export class LegSeriesStore {
  readonly #layout: LegLayout;
  readonly #legs = new Map<string, LegSeries>();
  readonly #observeProbeWidePhase: ((phase: ConnectPhase, seconds: number) => void) | undefined;
  readonly #text = new Map<boolean, ReadonlyMap<FamilyKey, FamilyText>>();

  constructor(spec: LegLayoutSpec, observeProbeWidePhase: ((phase: ConnectPhase, seconds: number) => void) | undefined) {
    this.#layout = new LegLayout(spec);
    this.#observeProbeWidePhase = spec.connect === undefined ? observeProbeWidePhase : undefined;
  }

  get size(): number {
    return this.#legs.size;
  }

  /** The series of `leg`, created at zero (every counter series increase() needs exists from the start). */
  bind(leg: string, info: { kind: string; role: string } | undefined, hasRtt: boolean): LegSeries {
    const infoBytes = info === undefined ? undefined : Buffer.from(`,kind="${escapeLabelValue(info.kind)}",role="${escapeLabelValue(info.role)}"`);
    const existing = this.#legs.get(leg);
    if (existing !== undefined) {
      if (infoBytes !== undefined) existing.info = infoBytes;
      return existing;
    }
    const series = new LegSeries(this.#layout, `leg="${escapeLabelValue(leg)}"`, infoBytes, hasRtt || this.#layout.spec.detail === 'full', this.#observeProbeWidePhase);
    this.#legs.set(leg, series);
    return series;
  }

  /** Forget a leg: its series disappear from the next scrape. */
  remove(leg: string): void {
    this.#legs.delete(leg);
  }

  /** The names and types of the families this store writes (the README's table, the dashboard test). */
  families(): readonly LegFamilySpec[] {
    const spec = this.#layout.spec;
    return FAMILY_ORDER.flatMap((key) => {
      const family = spec[key];
      return family === undefined ? [] : [family];
    });
  }

  /**
   * The per-leg exposition, family by family, leg by leg, written into `writer`; yields each
   * chunk that fills up (so the caller can send it and give the event loop back between chunks).
   * A leg's series in a family go into one chunk whole, so a histogram's buckets, `_sum` and
   * `_count` always agree. What is left at the end stays in the writer (`take()` it).
   */
  *write(openMetrics: boolean, writer: ChunkWriter): Generator<Buffer, void, undefined> {
    const texts = this.#familyText(openMetrics);
    const layout = this.#layout;
    const spec = layout.spec;
    const all = spec.detail === 'full';
    for (const key of FAMILY_ORDER) {
      const family = texts.get(key);
      if (family === undefined) continue;
      const { before, after } = family;
      const lineCount = before.length;
      let header: Buffer | undefined = family.header;
      for (const series of this.#legs.values()) {
        if ((key === 'rtt' && !series.hasRtt) || (key === 'info' && series.info === undefined)) continue;
        const values = series.values;
        const label = series.label;
        const full = writer.reserve(
          (header?.length ?? 0) + family.pieceBytes + lineCount * (label.length + MAX_NUMBER_BYTES + 1) + (key === 'info' ? (series.info?.length ?? 0) : 0),
        );
        if (full !== undefined) yield full;
        if (header !== undefined) writer.bytes(header);
        header = undefined;
        switch (key) {
          case 'connected':
            line(writer, before, after, 0, label, values[layout.connected] as number);
            break;
          case 'lastDrop':
            line(writer, before, after, 0, label, values[layout.lastDrop] as number);
            break;
          case 'disconnects':
            for (let i = 0; i < REASONS.length; i++) line(writer, before, after, i, label, values[layout.disconnects + i] as number);
            break;
          case 'heartbeats': {
            const results = spec.heartbeats.results;
            for (let i = 0; i < results.length; i++) {
              const value = values[layout.heartbeats + i] as number;
              // At the default detail a result that never happened is not exported (ok and timeout always are).
              if (!all && value === 0 && !spec.heartbeats.precreated.includes(results[i] as HeartbeatResult)) continue;
              line(writer, before, after, i, label, value);
            }
            break;
          }
          case 'info':
            writer.bytes(before[0] as Buffer);
            writer.bytes(label);
            if (series.info !== undefined) writer.bytes(series.info);
            writer.bytes(after[0] as Buffer);
            writer.bytes(ONE);
            break;
          case 'rtt':
            histogram(writer, family, label, values, layout.rtt, layout.rttBuckets.length, 0);
            break;
          case 'lifetime':
            histogram(writer, family, label, values, layout.lifetime, layout.lifetimeBuckets.length, 0);
            break;
          case 'connect': {
            const perPhase = layout.connectBuckets.length + 3;
            const phases = spec.connect?.phases.length ?? 0;
            for (let p = 0; p < phases; p++) histogram(writer, family, label, values, layout.connect + p * (layout.connectBuckets.length + 2), layout.connectBuckets.length, p * perPhase);
            break;
          }
        }
      }
      // A family with no series at all still has its header, as prom-client writes it.
      if (header !== undefined) {
        const full = writer.reserve(header.length);
        if (full !== undefined) yield full;
        writer.bytes(header);
      }
    }
  }

  #familyText(openMetrics: boolean): ReadonlyMap<FamilyKey, FamilyText> {
    const cached = this.#text.get(openMetrics);
    if (cached !== undefined) return cached;
    const spec = this.#layout.spec;
    const texts = new Map<FamilyKey, FamilyText>();
    const header = (family: LegFamilySpec): string => {
      const name = openMetrics && family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
      return `# HELP ${name} ${escapeHelp(family.help, openMetrics)}\n# TYPE ${name} ${family.type}\n`;
    };
    const asBytes = (text: { header: string; before: string[]; after: string[] }): FamilyText => {
      const before = text.before.map((t) => Buffer.from(t));
      const after = text.after.map((t) => Buffer.from(t));
      const pieceBytes = [...before, ...after].reduce((sum, b) => sum + b.length, 0);
      return { header: Buffer.from(text.header), before, after, pieceBytes };
    };
    const sampleName = (family: LegFamilySpec): string => (openMetrics && family.type === 'counter' ? `${family.name.replace(/_total$/, '')}_total` : family.name);
    const single = (family: LegFamilySpec): FamilyText => asBytes({ header: header(family), before: [`${sampleName(family)}{`], after: ['} '] });
    const labelled = (family: LegFamilySpec, label: string, values: readonly string[]): FamilyText =>
      asBytes({
        header: header(family),
        before: values.map(() => `${sampleName(family)}{`),
        after: values.map((v) => `,${label}="${escapeLabelValue(v)}"} `),
      });
    const histogram = (family: LegFamilySpec, buckets: readonly number[], extra: readonly string[]): FamilyText => {
      const before: string[] = [];
      const after: string[] = [];
      for (const labels of extra.length === 0 ? [''] : extra) {
        for (const bound of [...buckets.map(formatBound), '+Inf']) {
          before.push(`${family.name}_bucket{le="${bound}",`);
          after.push(`${labels}} `);
        }
        before.push(`${family.name}_sum{`, `${family.name}_count{`);
        after.push(`${labels}} `, `${labels}} `);
      }
      return asBytes({ header: header(family), before, after });
    };
    texts.set('connected', single(spec.connected));
    texts.set('disconnects', labelled(spec.disconnects, 'reason', REASONS));
    texts.set('rtt', histogram(spec.rtt, spec.rtt.buckets, []));
    if (spec.connect !== undefined) texts.set('connect', histogram(spec.connect, spec.connect.buckets, spec.connect.phases.map((p) => `,phase="${p}"`)));
    texts.set('lifetime', histogram(spec.lifetime, spec.lifetime.buckets, []));
    texts.set('lastDrop', single(spec.lastDrop));
    texts.set('heartbeats', labelled(spec.heartbeats, 'result', spec.heartbeats.results));
    texts.set('info', single(spec.info));
    this.#text.set(openMetrics, texts);
    return texts;
  }
}

/** One sample line: the piece before the label, the label, the piece after it, the value. */
function line(writer: ChunkWriter, before: readonly Buffer[], after: readonly Buffer[], piece: number, label: Buffer, value: number): void {
  writer.bytes(before[piece] as Buffer);
  writer.bytes(label);
  writer.bytes(after[piece] as Buffer);
  writer.number(value);
  writer.bytes(NEWLINE);
}

/** A histogram's lines for one leg: cumulative buckets, +Inf, sum, count, from pieces starting at `piece`. */
function histogram(writer: ChunkWriter, family: FamilyText, label: Buffer, values: Float64Array, offset: number, buckets: number, piece: number): void {
  const { before, after } = family;
  let cumulative = 0;
  for (let i = 0; i < buckets; i++) {
    cumulative += values[offset + i] as number;
    line(writer, before, after, piece + i, label, cumulative);
  }
  const count = values[offset + buckets + 1] as number;
  line(writer, before, after, piece + buckets, label, count);
  line(writer, before, after, piece + buckets + 1, label, values[offset + buckets] as number);
  line(writer, before, after, piece + buckets + 2, label, count);
}

function formatBound(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The text format escapes backslash and newline in HELP; OpenMetrics also the double quote. */
export function escapeHelp(help: string, openMetrics: boolean): string {
  const escaped = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return openMetrics ? escaped.replace(/"/g, '\\"') : escaped;
}
