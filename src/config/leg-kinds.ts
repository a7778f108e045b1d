/**
 * What each leg kind adds to the keys every leg has. Adding a kind means adding it to LegOptions
 * in types.ts and one entry here; the mapped type below makes the compiler ask for it.
 */
import type { LegKind, LegOptions } from './types.js';
import type { Section } from './section.js';

/** The part of a leg that every kind has. */
export type LegCommonOptions = Omit<LegOptions, 'kind'>;

export interface LegKindSpec<K extends LegKind> {
  /** URL schemes this kind accepts, as URL.protocol spells them ("wss:"). */
  readonly schemes: readonly string[];
  /** Config keys only this kind accepts. */
  readonly keys: readonly string[];
  /** Read this kind's own keys from the leg's mapping and finish the leg. */
  build(common: LegCommonOptions, leg: Section): Extract<LegOptions, { kind: K }>;
}

const KiB = 1_024;
const MiB = 1_048_576;

export const LEG_KINDS: { readonly [K in LegKind]: LegKindSpec<K> } = {
  ws: {
    schemes: ['ws:', 'wss:'],
    keys: ['maxPayload'],
    build: (common, leg) => ({ ...common, kind: 'ws', maxPayloadBytes: leg.size('maxPayload', 16 * MiB) ?? 64 * KiB }),
  },
  http: {
    schemes: ['http:', 'https:'],
    keys: ['maxBody'],
    build: (common, leg) => ({ ...common, kind: 'http', maxBodyBytes: leg.size('maxBody', 64 * MiB) ?? MiB }),
  },
};

export const LEG_KIND_NAMES = Object.keys(LEG_KINDS) as LegKind[];

/** Which kind a kind-specific key belongs to, so a misplaced one gets a better message than "unknown". */
export function kindOfKey(key: string): LegKind | undefined {
  return LEG_KIND_NAMES.find((kind) => LEG_KINDS[kind].keys.includes(key));
}
