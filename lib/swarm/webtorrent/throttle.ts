import type { ThrottleGroup } from 'speed-limiter'

// webtorrent paces every peer connection through speed-limiter's groups; the
// direct pipes and HTTP streams draw from the same buckets through these.

/**
 * Waits until the group's bucket paid for `bytes`, at the most `bucketSize` at
 * a time; at once without a limit, or for what is left once it is lifted.
 */
export async function pay(group: ThrottleGroup, bytes: number): Promise<void> {
  let left = bytes
  // Bounded: every paid turn takes at least one byte off; an unpaid one (the limit changed) re-reads the limit.
  while (left > 0 && group.getEnabled()) {
    const n = Math.min(group.getChunksize(), group.bucket.bucketSize, left)
    if (await take(group, n)) left -= n
  }
}

/** Waits for n tokens; false when the limit changed meanwhile so that n no longer fits the bucket. */
export function take(group: ThrottleGroup, n: number): Promise<boolean> | boolean {
  if (group.bucket.tryRemoveTokens(n)) return true
  return new Promise((resolve) => group.bucket.removeTokens(n, (err) => resolve(!err)))
}
