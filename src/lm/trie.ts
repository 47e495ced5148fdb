/**
 * A trie over token-id sequences: the allowed outputs of constrained
 * generation (every real item title of a catalogue, say). Each stored
 * sequence ends with an end marker so that prefixes of longer entries are
 * only complete when they are entries themselves.
 */
export class TokenTrie {
  private readonly root: TrieNode = { next: new Map(), value: undefined };
  private count = 0;

  /** Adds a sequence (with an optional value returned on completion, e.g. an item index). */
  add(seq: ArrayLike<number>, value?: number): void {
    if (seq.length === 0) throw new Error('TokenTrie: empty sequence');
    let node = this.root;
    for (let i = 0; i < seq.length; i++) {
      const t = seq[i];
      if (!Number.isInteger(t) || t < 0) throw new Error(`TokenTrie: invalid token id ${t}`);
      let n = node.next.get(t);
      if (!n) { n = { next: new Map(), value: undefined }; node.next.set(t, n); }
      node = n;
    }
    if (!node.end) this.count++;
    node.end = true;
    node.value = value ?? node.value;
  }

  get size(): number {
    return this.count;
  }

  private walk(prefix: ArrayLike<number>): TrieNode | undefined {
    let node: TrieNode | undefined = this.root;
    for (let i = 0; i < prefix.length && node; i++) node = node.next.get(prefix[i]);
    return node;
  }

  /** Token ids that may follow `prefix` (empty when the prefix is not in the trie). */
  allowed(prefix: ArrayLike<number>): number[] {
    const n = this.walk(prefix);
    return n ? [...n.next.keys()] : [];
  }

  /** Whether `prefix` is a complete stored sequence. */
  isComplete(prefix: ArrayLike<number>): boolean {
    return this.walk(prefix)?.end === true;
  }

  /** The value stored with a complete sequence. */
  valueOf(seq: ArrayLike<number>): number | undefined {
    const n = this.walk(seq);
    return n?.end ? n.value : undefined;
  }

  has(seq: ArrayLike<number>): boolean {
    return this.isComplete(seq);
  }
}

interface TrieNode {
  next: Map<number, TrieNode>;
  end?: boolean;
  value: number | undefined;
}
