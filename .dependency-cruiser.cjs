/**
 * The architecture as rules (ARCHITECTURE.md draws it): no import cycles, and no module imports a
 * layer above its own. Layers, bottom first; a module may import its own layer and any below.
 * `npx depcruise src` checks it; test/architecture.test.ts runs it in CI.
 */
const LAYERS = [
  { name: 'vocabulary', path: '^src/(errors|reasons|roles)\\.ts$|^src/util/' },
  { name: 'config, metrics, log', path: '^src/(config|metrics)/|^src/log\\.ts$' },
  { name: 'transport', path: '^src/net/' },
  { name: 'legs, echo, idle-check', path: '^src/(legs|echo|idle-check)/' },
  { name: 'attribution, server', path: '^src/(attribution|server)/' },
  { name: 'probe, demo', path: '^src/probe\\.ts$|^src/demo/' },
  { name: 'cli, entry points', path: '^src/(cli|index)\\.ts$|^src/cli/' },
];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name.replace(/[^a-z]+/g, '-')}`,
  comment: `${layer.name} must not import a layer above it (${LAYERS.slice(i + 1).map((l) => l.name).join('; ')})`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(i + 1).map((l) => `(${l.path})`).join('|') },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle ties modules into one knot: nothing in it can be understood, tested or moved alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'every-module-in-a-layer',
      comment: 'A new folder in src/ needs its place in LAYERS (and in ARCHITECTURE.md).',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => `(${l.path})`).join('|') },
      to: {},
    },
    {
      name: 'legs-and-idle-check-apart',
      comment: 'The permanent legs and the one-shot idle-check are two users of the transport (src/net/); neither imports the other.',
      severity: 'error',
      from: { path: '^src/(legs|idle-check)/' },
      to: { path: '^src/(legs|idle-check)/', pathNot: '^src/$1/' },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
