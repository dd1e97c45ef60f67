// What the reaper must free, as a pure function of the cache's numbers.

export interface CacheLimits {
  /** Unset: the cache has no size bound of its own. */
  readonly maxBytes?: number
  readonly highBytes?: number
  readonly lowBytes?: number
  /** Free space the data dir's filesystem must keep. */
  readonly minFreeBytes: number
}

/** A bound given as a share of the cache's maximum or as bytes. */
export type Watermark = { readonly percent: number } | { readonly bytes: number }

export function watermarkBytes(w: Watermark, maxBytes: number | undefined): number | undefined {
  if ('bytes' in w) return w.bytes
  return maxBytes === undefined ? undefined : Math.floor((maxBytes * w.percent) / 100)
}

/** The configuration fields the cache and its reaper follow, as both processes name them. */
export interface CacheSettings {
  /** Unset: no bound on the cache's size; the free-disk floor still holds. */
  readonly cacheMaxBytes?: number
  readonly cacheHighWatermark: Watermark
  readonly cacheLowWatermark: Watermark
  readonly minFreeDiskBytes: number
  /** A cron expression (5 fields, or 6 with seconds). */
  readonly reapSchedule: string
}

/** The cache's bounds in bytes. */
export function cacheLimitsOf(c: CacheSettings): CacheLimits {
  return {
    maxBytes: c.cacheMaxBytes,
    highBytes: watermarkBytes(c.cacheHighWatermark, c.cacheMaxBytes),
    lowBytes: watermarkBytes(c.cacheLowWatermark, c.cacheMaxBytes),
    minFreeBytes: c.minFreeDiskBytes,
  }
}

export interface CacheUsage {
  /** Stored blobs. */
  readonly usedBytes: number
  /** Full sizes of blobs being written. */
  readonly reservedBytes: number
  /** The part of those writes not yet on disk. */
  readonly pendingBytes: number
  /** Free space on the filesystem now. */
  readonly freeBytes: number
}

/**
 * Bytes to evict so that, with a write of `needBytes` more: usage is under the
 * low watermark whenever it passed the high watermark or the max, and the
 * filesystem keeps its free-space floor (going down to the low watermark then
 * too, so one breach does not make a reap per write).
 */
export function bytesToFree(limits: CacheLimits, u: CacheUsage, needBytes = 0): number {
  const usage = u.usedBytes + u.reservedBytes + needBytes
  const low = limits.lowBytes ?? limits.highBytes ?? limits.maxBytes
  const over = (limits.maxBytes !== undefined && usage > limits.maxBytes) || (limits.highBytes !== undefined && usage > limits.highBytes)
  let toFree = over && low !== undefined ? usage - low : 0
  const deficit = limits.minFreeBytes + u.pendingBytes + needBytes - u.freeBytes
  if (deficit > 0) toFree = Math.max(toFree, deficit, low !== undefined ? usage - low : 0)
  return Math.max(0, toFree)
}

/** Why a write of `needBytes` cannot go ahead now, or undefined when it can. */
export function refusal(limits: CacheLimits, u: CacheUsage, needBytes: number): string | undefined {
  if (limits.maxBytes !== undefined && u.usedBytes + u.reservedBytes + needBytes > limits.maxBytes) {
    return `${needBytes} bytes do not fit under --cache-max-bytes ${limits.maxBytes}: ${u.usedBytes} stored and in use, ${u.reservedBytes} being written`
  }
  const left = u.freeBytes - u.pendingBytes - needBytes
  if (left < limits.minFreeBytes) {
    return `${needBytes} bytes would leave ${Math.max(0, left)} bytes free on the data dir's filesystem, under --min-free-disk ${limits.minFreeBytes}`
  }
  return undefined
}
