import type { Clock } from '../core/clock.js'
import type { Live } from '../core/live.js'
import type { Logger } from '../core/logger.js'
import { FileBlobStore } from '../store/blob-store.js'
import { BlobCache, type CacheHooks } from './blob-cache.js'
import { cacheLimitsOf, type CacheSettings } from './policy.js'
import { Reaper } from './reaper.js'

/** Blobs hashed at once while a restarted process verifies its store: the disk and one core stay busy, the rest serve. */
export const VERIFY_CONCURRENCY = 8

export interface OpenedCache {
  readonly cache: BlobCache
  close(): void
}

/**
 * The data dir's blob cache and its reaper, following the live config: new
 * bounds reap at once, a new schedule replaces the old. The index is ready
 * when this resolves; verification is the caller's to start.
 */
export async function openCache<T extends CacheSettings>(opts: { dataDir: string; live: Live<T>; hooks: CacheHooks; clock: Clock; logger: Logger }): Promise<OpenedCache> {
  const { live, logger } = opts
  const store = new FileBlobStore(opts.dataDir)
  await store.init()
  const cache = new BlobCache({ store, clock: opts.clock, logger, limits: cacheLimitsOf(live.current), hooks: opts.hooks })
  const blobs = await cache.load()
  logger.info({ blobs }, 'cache index loaded')
  const reaper = new Reaper(cache, logger, live.current.reapSchedule)
  const unsubscribe = [
    live.subscribe(['cacheMaxBytes', 'cacheHighWatermark', 'cacheLowWatermark', 'minFreeDiskBytes'], (next) => {
      cache.setLimits(cacheLimitsOf(next))
      cache.reap('config').catch((err: unknown) => logger.error({ err }, 'reap after a configuration change failed'))
    }),
    live.subscribe(['reapSchedule'], (next) => reaper.reschedule(next.reapSchedule)),
  ]
  return {
    cache,
    close() {
      for (const u of unsubscribe) u()
      reaper.close()
      cache.close()
    },
  }
}

/** Verifies and seeds what an earlier run stored, in the background; resolves with how many, never rejects. */
export function restoreStored(cache: BlobCache, logger: Logger): Promise<number> {
  return cache.verifyAll(VERIFY_CONCURRENCY).then(
    (n) => {
      logger.info({ blobs: n }, 'stored blobs verified and seeding again')
      return n
    },
    (err: unknown) => {
      logger.error({ err }, 'restoring stored blobs failed')
      return 0
    },
  )
}
