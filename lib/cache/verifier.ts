import type { BlobHashes } from '../store/blob-hasher.js'
import { rehashBlob, type BlobInfo, type BlobStore } from '../store/blob-store.js'
import type { CacheIndex, Entry } from './cache-index.js'
import type { Digest } from '../core/domain.js'
import type { Logger } from '../core/logger.js'

export interface VerifierDeps {
  readonly index: CacheIndex
  readonly store: BlobStore
  readonly logger: Logger
  /** Runs once for each blob that matched, before it counts as verified (the process seeds it). */
  readonly admitted: (info: BlobInfo, hashes: BlobHashes) => Promise<void>
  /** Removes a blob that did not match. */
  readonly drop: (digest: Digest) => Promise<void>
}

/**
 * Verifies the blobs found at start: in the background, a bounded number at
 * a time, and at once for a blob someone asks for. Each blob is hashed once
 * (sha256 and torrent pieces in one pass) however many ask.
 */
export class CacheVerifier {
  private readonly running = new Map<string, Promise<boolean>>()
  private closed = false

  constructor(private readonly deps: VerifierDeps) {}

  /** False when the blob is absent or proved damaged; one awaiting verification is verified now. */
  async ready(digest: Digest): Promise<boolean> {
    const e = this.deps.index.get(digest)
    if (!e) return false
    return e.verified || this.verify(e)
  }

  /** Every unverified blob, `concurrency` at a time, most recently used first; resolves with how many verified. */
  async verifyAll(concurrency: number): Promise<number> {
    const queue = this.deps.index.values().filter((e) => !e.verified).sort((a, b) => b.accessedAt - a.accessedAt)
    let next = 0
    let ok = 0
    const worker = async () => {
      while (next < queue.length && !this.closed) {
        const e = queue[next++]
        if (this.deps.index.get(e.digest) === e && !e.verified && (await this.verify(e))) ok++
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
    return ok
  }

  /** Stops the background work; a verification already running finishes. */
  close(): void {
    this.closed = true
  }

  /** Pinned meanwhile, so it is not evicted mid-hash. */
  private verify(e: Entry): Promise<boolean> {
    const hex = e.digest.hex
    let run = this.running.get(hex)
    if (run) return run
    const release = this.deps.index.pin(e.digest)
    run = this.hashAndAdmit(e).finally(() => {
      release()
      this.running.delete(hex)
    })
    this.running.set(hex, run)
    return run
  }

  private async hashAndAdmit(e: Entry): Promise<boolean> {
    const info = this.deps.index.infoOf(e)
    const log = { digest: e.digest.toString(), bytes: e.size }
    let hashes: BlobHashes | undefined
    try {
      hashes = await rehashBlob(info, this.deps.store.createReadStream(e.digest))
    } catch (err) {
      this.deps.logger.warn({ ...log, err: (err as Error).message }, 'stored blob is unreadable; dropping it')
    }
    if (!hashes) {
      if (this.deps.index.get(e.digest) === e) this.deps.logger.warn(log, 'stored blob does not match its digest; dropped, never seeded')
      await this.deps.drop(e.digest)
      return false
    }
    try {
      await this.deps.admitted(info, hashes)
    } catch (err) {
      this.deps.logger.warn({ ...log, err: (err as Error).message }, 'could not seed a verified blob')
    }
    // Only now: a request for it meanwhile joins this verification, so it is served once it seeds.
    e.verified = true
    return true
  }
}
