// Layering of src/ (docs/LAYERS.md), checked by `npm run lint:layers` in CI.
//
// Layers from bottom to top; a file may import only from its own layer or a
// lower one, and there are no import cycles:
//
//   util < engine < nn, io < train < data, lm < eval < models, backends
//        < run, config < methods, experiment < serve, bench < cli < src/index.ts
//
// Folders of one layer (nn and io; data and lm; models and backends; run and
// config; methods and experiment; serve and bench) may import each other.

/** The layers, bottom first; each entry is the folders (under src/) of one layer. */
const LAYERS = [
  ['util'],
  ['engine'],
  ['nn', 'io'],
  ['train'],
  ['data', 'lm'],
  ['eval'],
  ['models', 'backends'],
  ['run', 'config'],
  ['methods', 'experiment'],
  ['serve', 'bench'],
  ['cli'],
];

const folders = (layers) => layers.flat().join('|');

const layerRules = LAYERS.slice(0, -1).map((layer, i) => {
  const own = folders([layer]);
  const above = folders(LAYERS.slice(i + 1));
  return {
    name: `layer-${layer.join('-')}`,
    severity: 'error',
    comment: `src/{${layer.join(',')}} may import only from its own layer or lower ones, not from src/{${above.split('|').join(',')}} or src/index.ts (docs/LAYERS.md)`,
    from: { path: `^src/(${own})/` },
    to: { path: [`^src/(${above})/`, '^src/index\\.ts$'] },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'lm-is-the-lm-core',
      severity: 'error',
      comment: 'src/lm holds the language-model core only: no recommender data (issue 13; recommender LM code lives in src/methods/text_lm)',
      from: { path: '^src/lm/' },
      to: { path: '^src/data/' },
    },
    {
      name: 'cli-not-index',
      severity: 'error',
      comment: 'src/index.ts (the public API) is the top: nothing in src imports it',
      from: { path: '^src/' },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'no import cycles that exist at run time (docs/LAYERS.md)',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      // Cycles closed only by `import type` do not exist at run time, but they
      // still tie two files together: none is allowed (the shared type moves
      // down into a module of its own, e.g. models/train_types.ts).
      name: 'no-circular-types',
      severity: 'error',
      comment: 'an import cycle through type-only imports: better broken by moving the shared type down',
      from: { path: '^src/' },
      to: { circular: true, via: { dependencyTypes: ['type-only'] } },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'every relative import resolves to a file',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    // Type-only imports count: a layer must not depend on a higher one even for types.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
    reporterOptions: {
      dot: { collapsePattern: '^src/[^/]+' },
      mermaid: { minify: false },
    },
  },
};
