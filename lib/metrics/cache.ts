import { Counter, Gauge, type Registry } from 'prom-client'
import type { CacheStatus } from '../cache/blob-cache.js'

type Status = { status(): Promise<CacheStatus> }

/** The cache's metrics, counting evictions from the cache's own hook and reading usage from the cache it is told to `watch`. */
export interface CacheMeter {
  evicted(): void
  watch(cache: Status): void
}

/**
 * The cache's metrics, the same on both processes. They exist before the
 * cache does: its eviction hook is built first, and the cache it belongs to
 * is handed over once it is open.
 */
export function cacheMetrics(register: Registry): CacheMeter {
  let cache: Status | undefined
  new Gauge({
    name: 'layerseed_cache_bytes',
    help: 'Bytes of verified blobs in the cache',
    registers: [register],
    async collect() {
      if (cache) this.set((await cache.status()).usedBytes)
    },
  })
  new Gauge({
    name: 'layerseed_cache_max_bytes',
    help: 'The cache bound (--cache-max-bytes); 0 when unbounded',
    registers: [register],
    async collect() {
      if (cache) this.set((await cache.status()).maxBytes ?? 0)
    },
  })
  const evictions = new Counter({ name: 'layerseed_cache_evictions_total', help: 'Blobs evicted from the cache', registers: [register] })
  return {
    evicted: () => evictions.inc(),
    watch: (c) => {
      cache = c
    },
  }
}
