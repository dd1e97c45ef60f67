import type { Digest } from '../lib/core/domain.js'

/**
 * Which sidecar of a group holds which blob.
 *
 * Contract: `holds` says whether this sidecar is one of the blob's owners
 * (the owner and its replicas) and so does pre-seed work for it. `sources`
 * lists the other members to read the blob's bytes from before the origin,
 * best first: the owners ranked before this sidecar (for a non-owner, all
 * owners); empty means this sidecar is the first owner and reads the origin.
 * `forwardTo` lists the owners other than this sidecar, for push targets it
 * received but does not hold. All three answer at once from what the
 * membership knows now, and never throw.
 */
export interface BlobPlacement {
  holds(digest: Digest): boolean
  sources(digest: Digest): string[]
  forwardTo(digest: Digest): string[]
}

/** A sidecar alone: it holds every blob and reads each from the origin. */
export const alone: BlobPlacement = {
  holds: () => true,
  sources: () => [],
  forwardTo: () => [],
}
