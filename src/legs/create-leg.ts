/** The one place that maps a leg kind to its implementation. */
import type { LegOptions } from '../config/types.js';
import type { IdleLegMetrics } from '../metrics/registry.js';
import { HttpLeg } from './http-leg.js';
import { IdleLeg } from './idle-leg.js';
import type { Leg } from './leg.js';
import type { UrlLegDeps } from './url-leg.js';
import { WsLeg } from './ws-leg.js';

export interface CreateLegDeps extends UrlLegDeps {
  /** Only consulted for idle legs, so other kinds never register idle series. */
  readonly idleMetrics: () => IdleLegMetrics;
}

export function createLeg(options: LegOptions, deps: CreateLegDeps): Leg {
  switch (options.kind) {
    case 'ws':
      return new WsLeg(options, deps);
    case 'http':
      return new HttpLeg(options, deps);
    case 'idle':
      return new IdleLeg(options, { ...deps, idleMetrics: deps.idleMetrics() });
  }
}
