/**
 * `t3-probe/demo`, the demo's own entry point: everything on loopback (a throwaway CA, a DoH
 * responder, echo servers and a probe). Kept apart from the package entry because it loads
 * node-forge and the DoH responder, which neither `t3-probe run` nor a library user needs.
 */
export { startDemo } from './demo.js';

export type { Demo } from './demo.js';
