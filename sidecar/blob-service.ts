import type { Readable } from 'node:stream'
import type { BlobStore, BlobInfo } from '../lib/blob-store.js'
import { rehashBlob } from '../lib/blob-store.js'
import type { Clock } from '../lib/clock.js'
import type { BlobRef, Digest, InfoHash } from '../lib/domain.js'
import { AppError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { RegistryClient } from '../lib/registry-client.js'
import { isTransient, withRetry, type RetryPolicy } from '../lib/retry.js'
import type { Swarm } from '../lib/swarm.js'
import { buildTorrent, type BlobTorrent } from '../lib/torrent.js'
import type { Tracker } from './tracker.js'
import type { BlobHashes } from '../lib/blob-hasher.js'

// A pushed blob is in the registry before its notification is sent, so a 404
// will not go away by waiting; an unreachable or failing origin may.
const blobRetryable = (err: unknown) => isTransient(err) && !(err instanceof AppError && err.code === 'BLOB_UNKNOWN')

export type BlobState = 'absent' | 'fetching' | 'seeding' | 'failed'

export interface BlobStatus {
  digest: string
  size?: number
  state: BlobState
  infoHash?: string
  error?: string
}

interface Entry {
  state: Exclude<BlobState, 'absent'>
  size?: number
  torrent?: BlobTorrent
  error?: string
  inflight?: Promise<BlobTorrent>
}

export interface BlobServiceDeps {
  readonly store: BlobStore
  readonly origin: RegistryClient
  readonly swarm: Swarm
  readonly tracker: Tracker
  /** Read when a torrent is built: the port is known only once the server listens, and a credential names the info-hash. */
  readonly announceUrl: (infoHash: InfoHash) => string
  readonly logger: Logger
  readonly clock: Clock
  readonly retry: RetryPolicy
}

/**
 * Owns every blob the sidecar knows: fetches each from the origin at most once
 * at a time (single flight), stores it verified, and seeds it.
 */
export class BlobService {
  private readonly entries = new Map<string, Entry>()

  constructor(private readonly deps: BlobServiceDeps) {}

  status(digest: Digest): BlobStatus {
    const e = this.entries.get(digest.hex)
    if (!e) return { digest: digest.toString(), state: 'absent' }
    return {
      digest: digest.toString(),
      size: e.size,
      state: e.state,
      ...(e.torrent ? { infoHash: e.torrent.infoHash.hex } : {}),
      ...(e.error ? { error: e.error } : {}),
    }
  }

  /** The stored bytes of a blob that `ensure` resolved. */
  read(digest: Digest): Readable {
    return this.deps.store.createReadStream(digest)
  }

  isSeeding(digest: Digest): boolean {
    return this.entries.get(digest.hex)?.state === 'seeding'
  }

  /** The blob's torrent, fetching and seeding it first if needed. Concurrent callers share one fetch. */
  ensure(ref: BlobRef): Promise<BlobTorrent> {
    const e = this.entries.get(ref.digest.hex)
    if (e?.state === 'seeding' && e.torrent) return Promise.resolve(e.torrent)
    if (e?.inflight) return e.inflight
    const entry: Entry = { state: 'fetching', size: e?.size }
    entry.inflight = this.fetchAndSeed(ref, entry).finally(() => {
      entry.inflight = undefined
    })
    this.entries.set(ref.digest.hex, entry)
    return entry.inflight
  }

  /** Seeds what an earlier run stored, without touching the origin. */
  async restore(): Promise<number> {
    let n = 0
    for (const info of await this.deps.store.list()) {
      const hashes = await rehashBlob(info)
      if (!hashes) {
        this.deps.logger.warn({ digest: info.digest.toString() }, 'stored blob does not match its digest; not seeding it')
        continue
      }
      await this.seed(info, hashes, { state: 'fetching', size: info.size })
      n++
    }
    return n
  }

  private async fetchAndSeed(ref: BlobRef, entry: Entry): Promise<BlobTorrent> {
    const log = this.deps.logger.child({ digest: ref.digest.toString(), repo: ref.repo.toString() })
    const started = this.deps.clock.now()
    try {
      const { info, hashes } = await withRetry(this.deps.retry, this.deps.clock, async (attempt) => {
        if (attempt > 1) log.info({ attempt }, 'retrying origin fetch')
        return this.fetchOnce(ref, entry)
      }, blobRetryable)
      const torrent = await this.seed(info, hashes, entry)
      log.info({ bytes: info.size, ms: this.deps.clock.now() - started, infoHash: torrent.infoHash.hex, source: 'origin' }, 'blob seeding')
      return torrent
    } catch (err) {
      entry.state = 'failed'
      entry.error = err instanceof Error ? err.message : String(err)
      log.warn({ err: entry.error }, 'pre-seed failed')
      throw err
    }
  }

  private async fetchOnce(ref: BlobRef, entry: Entry): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const existing = await this.deps.store.stat(ref.digest)
    if (existing) {
      const hashes = await rehashBlob(existing)
      if (hashes) return { info: existing, hashes }
    }
    const blob = await this.deps.origin.openBlob(ref.repo, ref.digest)
    entry.size = blob.length
    const writer = await this.deps.store.begin(ref.digest, blob.length)
    try {
      for await (const chunk of blob.stream) await writer.write(chunk as Buffer)
      return await writer.commit()
    } catch (err) {
      blob.stream.destroy()
      await writer.abort()
      if (err instanceof AppError) throw err
      throw new AppError('BLOB_FETCH_FAILED', `reading ${ref.digest} from the origin: ${(err as Error).message}`, err)
    }
  }

  private async seed(info: BlobInfo, hashes: BlobHashes, entry: Entry): Promise<BlobTorrent> {
    const torrent = buildTorrent(info.digest, hashes, (ih) => this.deps.announceUrl(ih))
    this.deps.tracker.issue(torrent.infoHash)
    if (!(await this.deps.swarm.has(torrent.infoHash.hex))) await this.deps.swarm.seed(torrent.torrent, this.deps.store.blobDir)
    entry.state = 'seeding'
    entry.size = info.size
    entry.torrent = torrent
    entry.error = undefined
    this.entries.set(info.digest.hex, entry)
    return torrent
  }

  infoHashes(): InfoHash[] {
    return [...this.entries.values()].flatMap((e) => (e.torrent ? [e.torrent.infoHash] : []))
  }
}
