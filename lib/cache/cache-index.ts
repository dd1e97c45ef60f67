import type { BlobInfo, BlobStore, StoredBlob } from '../store/blob-store.js'
import type { Clock } from '../core/clock.js'
import type { Digest } from '../core/domain.js'
import type { Logger } from '../core/logger.js'
import { safeJoin } from '../core/safe-path.js'

export interface Entry {
  readonly digest: Digest
  readonly size: number
  accessedAt: number
  /** When the access time was last written to disk. */
  persistedAt: number
  /** False for a blob found at start until its bytes proved to match its digest. */
  verified: boolean
}

/** Access times reach the disk at most this often per blob: they order evictions, which need no finer grain. */
const PERSIST_ACCESS_MS = 60_000

/**
 * What the cache knows of each stored blob (size, last access, verified) and
 * which blobs are pinned. Access times are kept in the files' atime through
 * the store, so they survive restarts.
 */
export class CacheIndex {
  private readonly entries = new Map<string, Entry>()
  private readonly pins = new Map<string, number>()
  private used = 0

  constructor(private readonly deps: { store: BlobStore; clock: Clock; logger: Logger }) {}

  get usedBytes(): number {
    return this.used
  }

  get size(): number {
    return this.entries.size
  }

  get pinnedCount(): number {
    return this.pins.size
  }

  get(digest: Digest): Entry | undefined {
    return this.entries.get(digest.hex)
  }

  values(): Entry[] {
    return [...this.entries.values()]
  }

  add(b: StoredBlob, verified: boolean, persist = false): void {
    const old = this.entries.get(b.digest.hex)
    if (old) this.used -= old.size
    this.entries.set(b.digest.hex, { digest: b.digest, size: b.size, accessedAt: b.accessedAt, persistedAt: b.accessedAt, verified })
    this.used += b.size
    if (persist) this.persistAccess(b.digest, b.accessedAt)
  }

  /** Takes the entry out; false when it was not (or no longer) the current one. */
  delete(e: Entry): boolean {
    if (this.entries.get(e.digest.hex) !== e) return false
    this.entries.delete(e.digest.hex)
    this.used -= e.size
    return true
  }

  /** Keeps a blob (stored or to be stored) from eviction until the returned function is called; it counts once. */
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

  isPinned(digest: Digest): boolean {
    return this.pins.has(digest.hex)
  }

  pinnedBytes(): number {
    let n = 0
    for (const hex of this.pins.keys()) n += this.entries.get(hex)?.size ?? 0
    return n
  }

  /** Records a read now; it reaches the disk at most once a minute. */
  accessed(digest: Digest): void {
    const e = this.entries.get(digest.hex)
    if (!e) return
    e.accessedAt = this.deps.clock.now()
    if (e.accessedAt - e.persistedAt >= PERSIST_ACCESS_MS) {
      e.persistedAt = e.accessedAt
      this.persistAccess(digest, e.accessedAt)
    }
  }

  infoOf(e: Entry): BlobInfo {
    return { digest: e.digest, size: e.size, path: safeJoin(this.deps.store.blobDir, e.digest.hex) }
  }

  private persistAccess(digest: Digest, at: number): void {
    this.deps.store.touch(digest, at).catch((err: unknown) => {
      this.deps.logger.warn({ digest: digest.toString(), err: (err as Error).message }, 'could not record a blob\'s last access')
    })
  }
}
