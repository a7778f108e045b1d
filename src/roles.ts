/**
 * What each leg stands for in the attribution table. A leg's role comes from its `role` key, or
 * is inferred: the production names first (cloudflare, internal, t3serve), then the leg's shape
 * (a DoH- or system-resolved ws leg is the public path, a pinned ws leg the internal path, an http
 * leg the serve process, an idle leg the idle check).
 */
export const LEG_ROLES = ['public', 'internal', 'serve', 'idle'] as const;
export type LegRole = (typeof LEG_ROLES)[number];

const ROLE_BY_NAME: Readonly<Record<string, LegRole>> = {
  cloudflare: 'public',
  public: 'public',
  internal: 'internal',
  t3serve: 'serve',
  serve: 'serve',
};

export function inferRole(leg: { readonly name: string; readonly kind: string; readonly resolveMode: string }): LegRole {
  const byName = ROLE_BY_NAME[leg.name];
  if (byName !== undefined) return byName;
  if (leg.kind === 'idle') return 'idle';
  if (leg.kind === 'http') return 'serve';
  return leg.resolveMode === 'pin' ? 'internal' : 'public';
}
