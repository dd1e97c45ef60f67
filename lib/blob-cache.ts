import type { Readable } from 'node:stream'
import type { BlobHashes } from './blob-hasher.js'
import { rehashBlob, type BlobInfo, type BlobStore, type BlobWriter, type DiskSpace, type StoredBlob } from './blob-store.js'
import { bytesToFree, refusal, type CacheLimits, type CacheUsage } from './cache-policy.js'
import { CacheWriter, StoringWriter } from './cache-writers.js'
import type { Clock } from './clock.js'
import type { Digest } from './domain.js'
import { AppError } from './errors.js'
import type { Logger } from './logger.js'
import { safeJoin } from './safe-path.js'

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
}

interface Entry {
  readonly digest: Digest
  readonly size: number
  accessedAt: number
  /** When the access time was last written to disk. */
  persistedAt: number
  verified: boolean
}

/** Access times reach the disk at most this often per blob: they order evictions, which need no finer grain. */
const PERSIST_ACCESS_MS = 60_000
const NEVER: ReapReport = { at: null, evicted: 0, freedBytes: 0 }

/**
 * The blob store with an index over it (size and last access per blob, rebuilt
 * from the files at start), pins, room checks before writes, and LRU eviction.
 * It is a BlobStore itself: `stat` and `list` show verified blobs only, and a
 * blob still being verified after a restart is verified at once when asked for.
 * A pinned blob (read, written, or uploaded to a peer) is never evicted.
 */
export class BlobCache implements BlobStore {
  private readonly index = new Map<string, Entry>()
  private readonly pins = new Map<string, number>()
  private readonly writers = new Set<{ size: number; written(): number }>()
  private readonly evicting = new Map<string, Promise<void>>()
  private readonly verifying = new Map<string, Promise<boolean>>()
  private hooks: CacheHooks = {}
  private used = 0
  private reaping: Promise<unknown> = Promise.resolve()
  private lastReap = NEVER
  private limitsNow: CacheLimits

  constructor(private readonly deps: BlobCacheDeps) {
    this.limitsNow = deps.limits
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

  attach(hooks: CacheHooks): void {
    this.hooks = hooks
  }

  /** Indexes what the store holds, unverified: quick, it hashes nothing. */
  async load(): Promise<number> {
    for (const b of await this.deps.store.list()) this.add(b, false)
    return this.index.size
  }

  has(digest: Digest): boolean {
    return this.index.has(digest.hex)
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await this.ready(digest))) return undefined
    const e = this.index.get(digest.hex)
    return e && this.infoOf(e)
  }

  /** A verified blob, pinned until released; undefined when absent. */
  async acquire(digest: Digest): Promise<Acquired | undefined> {
    if (!(await this.ready(digest))) return undefined
    const e = this.index.get(digest.hex)
    if (!e) return undefined
    return { info: this.infoOf(e), release: this.pin(digest) }
  }

  /** Keeps a blob (stored or to be stored) from eviction until the returned function is called. */
  pin(digest: Digest): () => void {
    const hex = digest.hex
    this.pins.set(hex, (this.pins.get(hex) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.pins.get(hex) ?? 1) - 1
      if (n > 0) this.pins.set(hex, n)
      else this.pins.delete(hex)
    }
  }

  /** Reads a blob, pinned while the stream is open, and records the access. */
  createReadStream(digest: Digest, opts?: { start?: number }): Readable {
    this.accessed(digest)
    const release = this.pin(digest)
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
    // A blob being evicted is gone before it is written again.
    await this.evicting.get(digest.hex)
    const space = await this.space()
    if (refusal(this.limitsNow, this.usage(space), size) && this.couldFit(size, space)) await this.reap('write', size)
    const why = refusal(this.limitsNow, this.usage(await this.space()), size)
    if (why) throw new AppError('INSUFFICIENT_STORAGE', `cannot store ${digest}: ${why}`)
    const reservation = { size, written: () => 0 }
    this.writers.add(reservation)
    try {
      const inner = await this.deps.store.begin(digest, size, opts)
      reservation.written = () => inner.bytes
      return new StoringWriter(inner, {
        committed: (info) => this.add({ ...info, accessedAt: this.deps.clock.now() }, true, true),
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
  async beginOrVerifyOnly(digest: Digest, size: number, opts?: { pieces?: boolean }): Promise<CacheWriter> {
    return CacheWriter.open(() => this.begin(digest, size, opts), digest, size, opts?.pieces ?? true, this.deps.logger)
  }

  async list(): Promise<StoredBlob[]> {
    return [...this.index.values()].filter((e) => e.verified).map((e) => ({ ...this.infoOf(e), accessedAt: e.accessedAt }))
  }

  async touch(digest: Digest, atMs: number): Promise<void> {
    const e = this.index.get(digest.hex)
    if (e) e.accessedAt = atMs
    await this.deps.store.touch(digest, atMs)
  }

  /** Evicts one blob now, pinned or not: for a blob that must go (its bytes proved wrong). */
  async remove(digest: Digest): Promise<void> {
    const e = this.index.get(digest.hex)
    if (e) await this.evict(e)
    else await this.deps.store.remove(digest)
  }

  space(): Promise<DiskSpace> {
    return this.deps.store.space()
  }

  scratchDir(label: string): Promise<string> {
    return this.deps.store.scratchDir(label)
  }

  /**
   * Hashes every blob found at start (sha256 and torrent pieces in one pass),
   * `concurrency` at a time, most recently used first. A blob that does not
   * match its digest is dropped. Resolves with how many verified.
   */
  async verifyAll(concurrency: number): Promise<number> {
    const queue = [...this.index.values()].filter((e) => !e.verified).sort((a, b) => b.accessedAt - a.accessedAt)
    let next = 0
    let ok = 0
    const worker = async () => {
      while (next < queue.length) {
        const e = queue[next++]
        if (this.index.get(e.digest.hex) === e && !e.verified && (await this.verify(e))) ok++
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
    return ok
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
      usedBytes: this.used,
      maxBytes: l.maxBytes ?? null,
      blobs: this.index.size,
      pinned: this.pins.size,
      lastReap: this.lastReap,
      reservedBytes: this.usage(space).reservedBytes,
      unverified: [...this.index.values()].filter((e) => !e.verified).length,
      freeDiskBytes: space.freeBytes,
      minFreeDiskBytes: l.minFreeBytes,
      highWatermarkBytes: l.highBytes ?? null,
      lowWatermarkBytes: l.lowBytes ?? null,
    }
  }

  private async reapOnce(reason: string, needBytes: number): Promise<ReapReport> {
    const toFree = bytesToFree(this.limitsNow, this.usage(await this.space()), needBytes)
    let freed = 0
    let evicted = 0
    if (toFree > 0) {
      for (const e of [...this.index.values()].sort((a, b) => a.accessedAt - b.accessedAt)) {
        if (freed >= toFree) break
        if (this.pins.has(e.digest.hex) || this.hooks.busy?.(e.digest)) continue
        if (!(await this.evict(e))) continue
        freed += e.size
        evicted++
      }
      const log = { reason, evicted, freedBytes: freed, wanted: toFree, usedBytes: this.used }
      if (freed < toFree) this.deps.logger.warn(log, 'cache is over its bounds, but the remaining blobs are in use')
      else this.deps.logger.info(log, 'cache reaped')
    }
    this.lastReap = { at: new Date(this.deps.clock.now()).toISOString(), evicted, freedBytes: freed }
    return this.lastReap
  }

  /** False when the entry was gone already. */
  private async evict(e: Entry): Promise<boolean> {
    const hex = e.digest.hex
    if (this.index.get(hex) !== e) return false
    this.index.delete(hex)
    this.used -= e.size
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

  /** False when the blob is absent or proved damaged; a blob awaiting verification is verified now. */
  private async ready(digest: Digest): Promise<boolean> {
    const e = this.index.get(digest.hex)
    if (!e) return false
    return e.verified || this.verify(e)
  }

  /** One verification per blob, however many ask; pinned meanwhile so it is not evicted mid-hash. */
  private verify(e: Entry): Promise<boolean> {
    const hex = e.digest.hex
    let running = this.verifying.get(hex)
    if (running) return running
    const release = this.pin(e.digest)
    running = this.hashAndAdmit(e).finally(() => {
      release()
      this.verifying.delete(hex)
    })
    this.verifying.set(hex, running)
    return running
  }

  private async hashAndAdmit(e: Entry): Promise<boolean> {
    const info = this.infoOf(e)
    const log = { digest: e.digest.toString(), bytes: e.size }
    let hashes: BlobHashes | undefined
    try {
      hashes = await rehashBlob(info, this.deps.store.createReadStream(e.digest))
    } catch (err) {
      this.deps.logger.warn({ ...log, err: (err as Error).message }, 'stored blob is unreadable; dropping it')
    }
    if (!hashes) {
      if (this.index.get(e.digest.hex) === e) this.deps.logger.warn(log, 'stored blob does not match its digest; dropped, never seeded')
      await this.remove(e.digest)
      return false
    }
    try {
      await this.hooks.verified?.(info, hashes)
    } catch (err) {
      this.deps.logger.warn({ ...log, err: (err as Error).message }, 'could not seed a verified blob')
    }
    // Only now: a request for it meanwhile joins this verification, so it is served once it seeds.
    e.verified = true
    return true
  }

  private add(b: StoredBlob, verified: boolean, persist = false): void {
    const old = this.index.get(b.digest.hex)
    if (old) this.used -= old.size
    this.index.set(b.digest.hex, { digest: b.digest, size: b.size, accessedAt: b.accessedAt, persistedAt: b.accessedAt, verified })
    this.used += b.size
    if (persist) this.persistAccess(b.digest, b.accessedAt)
  }

  private accessed(digest: Digest): void {
    const e = this.index.get(digest.hex)
    if (!e) return
    e.accessedAt = this.deps.clock.now()
    if (e.accessedAt - e.persistedAt >= PERSIST_ACCESS_MS) {
      e.persistedAt = e.accessedAt
      this.persistAccess(digest, e.accessedAt)
    }
  }

  private persistAccess(digest: Digest, at: number): void {
    this.deps.store.touch(digest, at).catch((err: unknown) => {
      this.deps.logger.warn({ digest: digest.toString(), err: (err as Error).message }, 'could not record a blob\'s last access')
    })
  }

  /** Whether evicting every unpinned blob would make room: a write that cannot fit anyway evicts nothing. */
  private couldFit(size: number, space: DiskSpace): boolean {
    let pinned = 0
    for (const hex of this.pins.keys()) pinned += this.index.get(hex)?.size ?? 0
    const u = this.usage(space)
    const evictable = u.usedBytes - pinned
    return refusal(this.limitsNow, { ...u, usedBytes: pinned, freeBytes: space.freeBytes + evictable }, size) === undefined
  }

  private usage(space: DiskSpace): CacheUsage {
    let reserved = 0
    let pending = 0
    for (const w of this.writers) {
      reserved += w.size
      pending += Math.max(0, w.size - w.written())
    }
    return { usedBytes: this.used, reservedBytes: reserved, pendingBytes: pending, freeBytes: space.freeBytes }
  }

  private infoOf(e: Entry): BlobInfo {
    return { digest: e.digest, size: e.size, path: safeJoin(this.deps.store.blobDir, e.digest.hex) }
  }
}

