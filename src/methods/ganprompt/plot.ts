/**
 * 2-D views of encoder vectors for GANPrompt's figures: a seeded UMAP
 * projection (umap-js; its `random` option is fed by our mulberry32, so the
 * same seed gives the same picture) and a scatter plot, one colour and one
 * mark layer per class, rendered headlessly to SVG by vega-lite + vega.
 */
import { UMAP } from 'umap-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { writeFileAtomic } from '../../util/fs.js';
import { Mulberry32, mixSeed } from '../../util/random.js';

export interface ProjectionOptions {
  seed: number;
  /** UMAP neighbours (clamped below the number of points). */
  nNeighbors?: number;
  minDist?: number;
}

/** Seeded 2-D UMAP of `vectors` (at least 3 points). */
export function project2d(vectors: readonly ArrayLike<number>[], o: ProjectionOptions): number[][] {
  if (vectors.length < 3) throw new Error(`project2d: need at least 3 vectors, got ${vectors.length}`);
  const rng = new Mulberry32(mixSeed(o.seed, 4242));
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.max(2, Math.min(o.nNeighbors ?? 15, vectors.length - 1)),
    minDist: o.minDist ?? 0.1,
    random: () => rng.next(),
  });
  return umap.fit(vectors.map((v) => Array.from(v)));
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Class label (one colour and one mark layer per label). */
  label: string;
}

/** The vega-lite spec of a scatter plot: one point layer per label (in `labels` order), a shared colour legend. */
export function scatterSpec(points: readonly ScatterPoint[], labels: readonly string[], title: string): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 420,
    data: { values: points.map((p) => ({ x: p.x, y: p.y, label: p.label })) },
    layer: labels.map((label) => ({
      name: `class_${labels.indexOf(label)}`,
      transform: [{ filter: { field: 'label', equal: label } }],
      mark: { type: 'point', filled: true, size: 28, opacity: 0.75 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: 'UMAP 1', scale: { zero: false } },
        y: { field: 'y', type: 'quantitative', title: 'UMAP 2', scale: { zero: false } },
        color: { field: 'label', type: 'nominal', title: 'class', scale: { domain: [...labels] } },
      },
    })),
  };
}

/** Renders a scatter plot to an SVG string (no browser, no canvas). */
export async function renderScatterSvg(points: readonly ScatterPoint[], labels: readonly string[], title: string): Promise<string> {
  const spec = vl.compile(scatterSpec(points, labels, title) as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface ClassScatterOptions extends ProjectionOptions {
  title: string;
  /** Label of each class index (class c is drawn as classNames[c]). */
  classNames: readonly string[];
}

/**
 * Projects `vectors` (classes[i] = class of vectors[i]) to 2-D with UMAP
 * and writes the scatter plot as SVG to `path` (atomically); returns the points.
 */
export async function writeClassScatter(path: string, vectors: readonly ArrayLike<number>[], classes: ArrayLike<number>, o: ClassScatterOptions): Promise<ScatterPoint[]> {
  if (classes.length !== vectors.length) throw new Error(`writeClassScatter: ${vectors.length} vectors but ${classes.length} classes`);
  const xy = project2d(vectors, o);
  const points = xy.map(([x, y], i) => {
    const c = classes[i];
    if (!(c >= 0 && c < o.classNames.length)) throw new Error(`writeClassScatter: class ${c} of vector ${i} has no name`);
    return { x, y, label: o.classNames[c] };
  });
  writeFileAtomic(path, await renderScatterSvg(points, o.classNames, o.title));
  return points;
}
