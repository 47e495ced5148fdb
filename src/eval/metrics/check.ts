/** Input checks shared by the metric modules (not part of the public metric API). */

/** Throws unless a and b have the same, non-zero length. */
export function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length mismatch ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new Error(`${what}: empty input`);
}
