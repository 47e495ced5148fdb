/**
 * Dataset statistics printed before any training (docs/METHODS.md §1): #users,
 * #items, #interactions, sparsity = 1 - interactions / (users * items) and mean
 * history length = interactions / users, for a RawDataset (counting only the
 * users and items that occur in its rows) or a SplitDataset (after the protocol).
 */
import type { DatasetStats, RawDataset, SplitDataset } from './types.js';

function isSplit(data: RawDataset | SplitDataset): data is SplitDataset {
  return 'sequences' in data;
}

/** Builds DatasetStats from the three counts (sparsity 1 and mean history 0 for empty data). */
export function statsFromCounts(users: number, items: number, interactions: number): DatasetStats {
  const cells = users * items;
  return {
    users,
    items,
    interactions,
    sparsity: cells > 0 ? 1 - interactions / cells : 1,
    meanHistory: users > 0 ? interactions / users : 0,
  };
}

/** Statistics of a raw dataset (every row, distinct users/items present in the rows) or of a split dataset. */
export function datasetStats(data: RawDataset | SplitDataset): DatasetStats {
  if (isSplit(data)) {
    let interactions = 0;
    for (const s of data.sequences) interactions += s.length;
    return statsFromCounts(data.numUsers, data.numItems, interactions);
  }
  const seenU = new Uint8Array(data.userIds.length);
  const seenI = new Uint8Array(data.itemIds.length);
  let users = 0;
  let items = 0;
  for (let r = 0; r < data.user.length; r++) {
    const u = data.user[r];
    const i = data.item[r];
    if (!seenU[u]) {
      seenU[u] = 1;
      users++;
    }
    if (!seenI[i]) {
      seenI[i] = 1;
      items++;
    }
  }
  return statsFromCounts(users, items, data.user.length);
}

/** One named row of a statistics table. */
export interface NamedStats {
  name: string;
  stats: DatasetStats;
}

/**
 * A Markdown table (also readable as plain text) of one or more datasets'
 * statistics: sparsity as a percentage with 2 decimals, mean history with 2.
 */
export function formatStats(rows: DatasetStats | NamedStats | readonly NamedStats[], name = 'dataset'): string {
  const list: readonly NamedStats[] = Array.isArray(rows)
    ? (rows as readonly NamedStats[])
    : 'stats' in (rows as NamedStats | DatasetStats)
      ? [rows as NamedStats]
      : [{ name, stats: rows as DatasetStats }];
  const header = ['dataset', 'users', 'items', 'interactions', 'sparsity', 'mean history'];
  const body = list.map(({ name: n, stats: s }) => [
    n,
    String(s.users),
    String(s.items),
    String(s.interactions),
    `${(s.sparsity * 100).toFixed(2)}%`,
    s.meanHistory.toFixed(2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join(' | ')} |`;
  const sep = `|${widths.map((w, c) => (c === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...body.map(line)].join('\n');
}
