/**
 * The identity of a run's data (run.json, dir.ts): the dataset's name and a
 * sha256 over what the models see after the protocol: the protocol options,
 * the user and item ids, every user's sequence and the item texts. A resume
 * that would load other data (another dataset, changed files, another k-core)
 * has another fingerprint and is refused before anything is written
 * (docs/HOSTILE.md, "Run directories").
 */
import { createHash } from 'node:crypto';
import type { SplitDataset } from '../data/types.js';
import type { RunDataIdentity } from './dir.js';

export function runDataIdentity(data: SplitDataset): RunDataIdentity {
  const h = createHash('sha256');
  const str = (s: string) => { h.update(String(s.length)); h.update(':'); h.update(s); };
  str(data.name);
  str(JSON.stringify(data.config));
  h.update(`${data.numUsers}/${data.numItems}`);
  for (const id of data.userIds) str(id);
  for (const id of data.itemIds) str(id);
  for (const s of data.sequences) {
    h.update(String(s.length));
    h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  }
  for (const [i, m] of [...data.itemMeta].sort((a, b) => a[0] - b[0])) str(`${i}\u0000${m.title}\u0000${JSON.stringify(m.attributes)}`);
  return { name: data.name, fingerprint: h.digest('hex') };
}
