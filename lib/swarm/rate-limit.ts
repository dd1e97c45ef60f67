import { ThrottleGroup } from 'speed-limiter'
import type { Live } from '../core/live.js'
import { take } from './webtorrent/throttle.js'

/**
 * One host-wide bandwidth limit: a speed-limiter group whose token bucket
 * every stream of one direction draws from. The swarm's peer connections use
 * webtorrent's groups; HTTP streams (origin fallback, the sidecar's data
 * endpoint, origin fetches) are passed through `limit` to join the same one.
 */
export class RateLimit {
  constructor(private readonly group: ThrottleGroup = new ThrottleGroup({ rate: 0, enabled: false })) {}

  /** Bytes per second, or undefined for no limit. */
  get bytesPerSec(): number | undefined {
    return this.group.getEnabled() ? this.group.getRate() : undefined
  }

  set(bytesPerSec: number | undefined): void {
    if (bytesPerSec === undefined) {
      this.group.setEnabled(false)
      return
    }
    this.group.setRate(bytesPerSec)
    // The bucket holds a tenth of a second, not the library's full second: a
    // burst of a whole second's bytes after a pause would overshoot the limit.
    this.group.bucket.bucketSize = this.group.getChunksize()
    this.group.setEnabled(true)
  }

  /**
   * The stream's chunks, paced to the limit. Without a limit when the stream
   * starts, the stream itself: no stage is added to an unlimited transfer.
   */
  limit(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    return this.group.getEnabled() ? paced(source, this.group) : source
  }
}

async function* paced(source: AsyncIterable<Buffer>, group: ThrottleGroup): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    let off = 0
    while (off < chunk.length) {
      // A limit lifted midway lets the rest through at once.
      if (!group.getEnabled()) {
        yield chunk.subarray(off)
        break
      }
      const n = Math.min(group.getChunksize(), group.bucket.bucketSize, chunk.length - off)
      if (await take(group, n)) {
        yield chunk.subarray(off, off + n)
        off += n
      }
    }
  }
}

/** Keeps a rate limit equal to a live config field; returns the unsubscribe function. */
export function followRate<T extends object, K extends keyof T>(live: Live<T>, field: K, limit: RateLimit): () => void {
  const apply = (c: T) => limit.set(c[field] as number | undefined)
  apply(live.current)
  return live.subscribe([field], apply)
}
