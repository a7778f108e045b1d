/** The one place that maps a leg kind to its implementation. */
import type { LegOptions } from '../config/types.js';
import { HttpLeg } from './http-leg.js';
import type { Leg } from './leg.js';
import type { UrlLegDeps } from './url-leg.js';
import { WsLeg } from './ws-leg.js';

export type CreateLegDeps = UrlLegDeps;

export function createLeg(options: LegOptions, deps: CreateLegDeps): Leg {
  switch (options.kind) {
    case 'ws':
      return new WsLeg(options, deps);
    case 'http':
      return new HttpLeg(options, deps);
  }
}
