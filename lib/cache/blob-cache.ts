import type { Readable } from 'node:stream'
import type { BlobHashes } from '../store/blob-hasher.js'
import type { BlobInfo, BlobStore, BlobWriter, DiskSpace, RandomAccessWriter, StoredBlob } from '../store/blob-store.js'
import { CacheIndex, type Entry } from './cache-index.js'
import { bytesToFree, refusal, type CacheLimits, type CacheUsage } from './policy.js'
import { CacheVerifier } from './verifier.js'
import { CacheWriter, StoringRandomAccessWriter, StoringWriter, type WriterHooks } from './writers.js'
import type { Clock } from '../core/clock.js'
import type { Digest } from '../core/domain.js'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

export type { CacheLimits }

/** A blob held for a reader: it is not evicted until `release`. */
export interface Acquired {
  readonly info: BlobInfo
  release(): void
}

export interface ReapReport {
  /** RFC 3339; null before the first reap. */
  readonly at: string | null
  readonly evicted: number
  readonly freedBytes: number
}

/** What `GET /v1/cache` answers. */
export interface CacheStatus {
  readonly usedBytes: number
  readonly maxBytes: number | null
  readonly blobs: number
  readonly pinned: number
  readonly lastReap: ReapReport
  readonly reservedBytes: number
  readonly unverified: number
  readonly freeDiskBytes: number
  readonly minFreeDiskBytes: number
  readonly highWatermarkBytes: number | null
  readonly lowWatermarkBytes: number | null
}

/** What the process around the cache does when blobs come and go. */
export interface CacheHooks {
  /** True while peers are taking the blob from this host: it is not evicted then. */
  busy?(digest: Digest): boolean
  /** Before an evicted blob's file goes: stop seeding it and forget its state. */
  evicted?(digest: Digest): Promise<void>
  /** Once for each blob found at start, when its bytes proved to match its digest. */
  verified?(info: BlobInfo, hashes: BlobHashes): Promise<void>
}

export interface BlobCacheDeps {
  readonly store: BlobStore
  readonly clock: Clock
  readonly logger: Logger
  readonly limits: CacheLimits
  /** The process around the cache, built before it. */
  readonly hooks?: CacheHooks
}

const NEVER: ReapReport = { at: null, evicted: 0, freedBytes: 0 }

/**
 * The blob store with an index over it (rebuilt from the files at start),
 * pins, room checks before writes, and LRU eviction. It is a BlobStore
 * itself: `stat` and `list` show verified blobs only, and a blob still being
 * verified after a restart is verified at once when asked for. A pinned blob
 * (read, written, verified) or one peers are taking is never evicted.
 */
export class BlobCache implements BlobStore {
  private readonly index: CacheIndex
  private readonly verifier: CacheVerifier
  private readonly writers = new Set<{ size: number; written(): number }>()
  private readonly evicting = new Map<string, Promise<void>>()
  private readonly hooks: CacheHooks
  private reaping: Promise<unknown> = Promise.resolve()
  private lastReap = NEVER
  private limitsNow: CacheLimits
  private closed = false

  constructor(private readonly deps: BlobCacheDeps) {
    this.limitsNow = deps.limits
    this.hooks = deps.hooks ?? {}
    this.index = new CacheIndex(deps)
    this.verifier = new CacheVerifier({
      index: this.index,
      store: deps.store,
      logger: deps.logger,
      admitted: async (info, hashes) => this.hooks.verified?.(info, hashes),
      drop: (d) => this.remove(d),
    })
  }

  get blobDir(): string {
    return this.deps.store.blobDir
  }

  get limits(): CacheLimits {
    return this.limitsNow
  }

  /** New bounds take effect at the next write or reap. */
  setLimits(limits: CacheLimits): void {
    this.limitsNow = limits
  }

  /** Indexes what the store holds, unverified: quick, it hashes nothing. */
  async load(): Promise<number> {
    for (const b of await this.deps.store.list()) this.index.add(b, false)
    return this.index.size
  }

  /** Verifies the blobs found at start in the background; see CacheVerifier. */
  verifyAll(concurrency: number): Promise<number> {
    return this.verifier.verifyAll(concurrency)
  }

  has(digest: Digest): boolean {
    return this.index.get(digest) !== undefined
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await this.verifier.ready(digest))) return undefined
    const e = this.index.get(digest)
    return e && this.index.infoOf(e)
  }

  /** A verified blob, pinned until released; undefined when absent. */
  async acquire(digest: Digest): Promise<Acquired | undefined> {
    if (!(await this.verifier.ready(digest))) return undefined
    const e = this.index.get(digest)
    return e && { info: this.index.infoOf(e), release: this.index.pin(digest) }
  }

  /** Keeps a blob (stored or to be stored) from eviction until the returned function is called. */
  pin(digest: Digest): () => void {
    return this.index.pin(digest)
  }

  /** Records a use of the blob now (a torrent handed out, bytes sent to peers) for the LRU order. */
  markUsed(digest: Digest): void {
    this.index.accessed(digest)
  }

  /** Reads a blob, pinned while the stream is open, and records the access. */
  createReadStream(digest: Digest, opts?: { start?: number }): Readable {
    this.index.accessed(digest)
    const release = this.index.pin(digest)
    const stream = this.deps.store.createReadStream(digest, opts)
    stream.once('close', release)
    return stream
  }

  /**
   * Starts a write after making room: a write that would pass the max or the
   * free-disk floor reaps at once (down to the low watermark), and is refused
   * with INSUFFICIENT_STORAGE when eviction cannot make room.
   */
  async begin(digest: Digest, size: number, opts?: { pieces?: boolean }): Promise<BlobWriter> {
    return this.reserve(digest, size, () => this.deps.store.begin(digest, size, opts), (inner, on) => new StoringWriter(inner, on))
  }

  /** As `begin`, for a blob written out of order (a swarm download's pieces). */
  async beginRandomAccess(digest: Digest, size: number): Promise<RandomAccessWriter> {
    return this.reserve(digest, size, () => this.deps.store.beginRandomAccess(digest, size), (inner, on) => new StoringRandomAccessWriter(inner, on))
  }

  private async reserve<W extends BlobWriter>(digest: Digest, size: number, open: () => Promise<W>, wrap: (inner: W, on: WriterHooks) => W): Promise<W> {
    // A blob being evicted is gone before it is written again.
    await this.evicting.get(digest.hex)
    let space = await this.space()
    if (refusal(this.limitsNow, this.usage(space), size) && this.couldFit(size, space)) {
      await this.reap('write', size)
      space = await this.space()
    }
    const why = refusal(this.limitsNow, this.usage(space), size)
    if (why) throw new AppError('INSUFFICIENT_STORAGE', `cannot store ${digest}: ${why}`)
    const reservation = { size, written: () => 0 }
    this.writers.add(reservation)
    try {
      const inner = await open()
      reservation.written = () => inner.bytes
      return wrap(inner, {
        committed: (info) => this.index.add({ ...info, accessedAt: this.deps.clock.now() }, true, true),
        ended: () => this.writers.delete(reservation),
      })
    } catch (err) {
      this.writers.delete(reservation)
      throw err
    }
  }

  /**
   * For a caller that must deliver the bytes even when they cannot be stored:
   * when the disk cannot hold the blob (refused up front, or full midway) the
   * writer goes on verifying without storing, and commit returns no info.
   */
  beginOrVerifyOnly(digest: Digest, size: number, opts?: { pieces?: boolean }): Promise<CacheWriter> {
    return CacheWriter.open(() => this.begin(digest, size, opts), digest, size, opts?.pieces ?? true, this.deps.logger)
  }

  async list(): Promise<StoredBlob[]> {
    return this.index.values().filter((e) => e.verified).map((e) => ({ ...this.index.infoOf(e), accessedAt: e.accessedAt }))
  }

  async touch(digest: Digest, atMs: number): Promise<void> {
    const e = this.index.get(digest)
    if (e) e.accessedAt = atMs
    await this.deps.store.touch(digest, atMs)
  }

  /** Evicts one blob now, pinned or not: for a blob that must go (its bytes proved wrong). */
  async remove(digest: Digest): Promise<void> {
    const e = this.index.get(digest)
    if (e) await this.evict(e)
    else await this.deps.store.remove(digest)
  }

  space(): Promise<DiskSpace> {
    return this.deps.store.space()
  }

  /** Evicts least recently used, unpinned, idle blobs until the bounds hold. Reaps run one at a time. */
  reap(reason: string, needBytes = 0): Promise<ReapReport> {
    const run = this.reaping.then(() => this.reapOnce(reason, needBytes))
    this.reaping = run.catch(() => undefined)
    return run
  }

  async status(): Promise<CacheStatus> {
    const space = await this.space()
    const l = this.limitsNow
    return {
      usedBytes: this.index.usedBytes,
      maxBytes: l.maxBytes ?? null,
      blobs: this.index.size,
      pinned: this.index.pinnedCount,
      lastReap: this.lastReap,
      reservedBytes: this.usage(space).reservedBytes,
      unverified: this.index.values().filter((e) => !e.verified).length,
      freeDiskBytes: space.freeBytes,
      minFreeDiskBytes: l.minFreeBytes,
      highWatermarkBytes: l.highBytes ?? null,
      lowWatermarkBytes: l.lowBytes ?? null,
    }
  }

  /** Stops verifying and reaping; what is running finishes. */
  close(): void {
    this.closed = true
    this.verifier.close()
  }

  private async reapOnce(reason: string, needBytes: number): Promise<ReapReport> {
    if (this.closed) return this.lastReap
    const toFree = bytesToFree(this.limitsNow, this.usage(await this.space()), needBytes)
    let freed = 0
    let evicted = 0
    if (toFree > 0) {
      for (const e of this.index.values().sort((a, b) => a.accessedAt - b.accessedAt)) {
        if (freed >= toFree) break
        if (this.index.isPinned(e.digest)) continue
        if (this.hooks.busy?.(e.digest)) {
          // Peers are taking it now: that is a use, and it moves the blob back in the LRU order.
          this.index.accessed(e.digest)
          continue
        }
        if (!(await this.evict(e))) continue
        freed += e.size
        evicted++
      }
      const log = { reason, evicted, freedBytes: freed, wanted: toFree, usedBytes: this.index.usedBytes }
      if (freed < toFree) this.deps.logger.warn(log, 'cache is over its bounds, but the remaining blobs are in use')
      else this.deps.logger.info(log, 'cache reaped')
    }
    this.lastReap = { at: new Date(this.deps.clock.now()).toISOString(), evicted, freedBytes: freed }
    return this.lastReap
  }

  /** False when the entry was gone already. */
  private async evict(e: Entry): Promise<boolean> {
    if (!this.index.delete(e)) return false
    const hex = e.digest.hex
    const gone = (async () => {
      try {
        await this.hooks.evicted?.(e.digest)
      } catch (err) {
        this.deps.logger.warn({ digest: e.digest.toString(), err: (err as Error).message }, 'cleaning up after an evicted blob failed')
      }
      await this.deps.store.remove(e.digest)
    })().finally(() => this.evicting.delete(hex))
    this.evicting.set(hex, gone)
    await gone
    return true
  }

  /** Whether evicting every unpinned blob would make room: a write that cannot fit anyway evicts nothing. */
  private couldFit(size: number, space: DiskSpace): boolean {
    const pinned = this.index.pinnedBytes()
    const u = this.usage(space)
    return refusal(this.limitsNow, { ...u, usedBytes: pinned, freeBytes: space.freeBytes + u.usedBytes - pinned }, size) === undefined
  }

  private usage(space: DiskSpace): CacheUsage {
    let reserved = 0
    let pending = 0
    for (const w of this.writers) {
      reserved += w.size
      pending += Math.max(0, w.size - w.written())
    }
    return { usedBytes: this.index.usedBytes, reservedBytes: reserved, pendingBytes: pending, freeBytes: space.freeBytes }
  }
}
