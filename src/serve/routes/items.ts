/** The catalogue and the known users: search, one item, similar items, users (docs/SERVING.md, "API"). */
import { ApiError, parseWith } from '../http.js';
import { testHistory } from '../run.js';
import { ItemParams, ItemsQuery, SimilarQuery, UsersQuery } from '../schemas.js';
import { topKRow } from '../topk.js';
import { itemJson, modelOf, type RoutePlugin } from './context.js';

export const itemRoutes: RoutePlugin = async (app, ctx) => {
  app.get('/v1/items', async (req) => {
    const q = parseWith(ItemsQuery, req.query, 'query');
    const s = ctx.lease(req);
    const needle = q.q.trim().toLowerCase();
    const hits: { i: number; rank: number }[] = [];
    const titles = s.run.lowerTitles;
    for (let i = 1; i < titles.length; i++) {
      if (needle === '') { hits.push({ i, rank: 0 }); if (hits.length >= q.limit) break; continue; }
      const p = titles[i].indexOf(needle);
      if (p < 0) continue;
      hits.push({ i, rank: p === 0 ? 0 : titles[i][p - 1] === ' ' ? 1 : 2 });
    }
    hits.sort((a, b) => a.rank - b.rank || titles[a.i].length - titles[b.i].length || a.i - b.i);
    return { query: q.q, items: hits.slice(0, q.limit).map((h) => itemJson(s, h.i)), total: hits.length };
  });

  app.get('/v1/items/:id', async (req) => {
    const p = parseWith(ItemParams, req.params, 'path');
    const s = ctx.lease(req);
    const i = s.run.itemIndex.get(p.id);
    if (i === undefined) throw new ApiError(404, `id: unknown item ${JSON.stringify(p.id.slice(0, 100))}`, 'id', 'unknown_item');
    return itemJson(s, i);
  });

  app.get('/v1/items/:id/similar', async (req) => {
    const p = parseWith(ItemParams, req.params, 'path');
    const q = parseWith(SimilarQuery, req.query, 'query');
    const s = ctx.lease(req);
    const i = s.run.itemIndex.get(p.id);
    if (i === undefined) throw new ApiError(404, `id: unknown item ${JSON.stringify(p.id.slice(0, 100))}`, 'id', 'unknown_item');
    const m = q.model === undefined ? s.run.models.find((x) => x.items !== null) : modelOf(s, q.model);
    if (!m || !m.items) throw new ApiError(400, `model: ${m ? `'${m.label}' has no item vectors` : 'no served model has item vectors'}`, 'model', 'no_item_vectors');
    const { dim, data } = m.items;
    const n = data.length / dim - 1;
    const norm = (j: number) => { let a = 0; for (let d = 0; d < dim; d++) a += data[j * dim + d] ** 2; return Math.sqrt(a) || 1; };
    const ni = norm(i);
    const scores = new Float32Array(n + 1);
    for (let j = 1; j <= n; j++) {
      let a = 0;
      for (let d = 0; d < dim; d++) a += data[i * dim + d] * data[j * dim + d];
      scores[j] = a / (ni * norm(j));
    }
    const top = topKRow(scores, 0, n, q.k, Int32Array.of(i));
    return { model: m.label, item: itemJson(s, i), similar: top.map((t) => ({ ...itemJson(s, t.item), score: t.score })) };
  });

  app.get('/v1/users', async (req) => {
    const q = parseWith(UsersQuery, req.query, 'query');
    const s = ctx.lease(req);
    const d = s.run.data;
    const users = [];
    for (let u = q.offset; u < Math.min(d.numUsers, q.offset + q.limit); u++) {
      users.push({ id: d.userIds[u], history: Array.from(testHistory(d, u), (i) => itemJson(s, i)), nextItem: itemJson(s, d.test.target[u]) });
    }
    return { total: d.numUsers, offset: q.offset, users };
  });
};
