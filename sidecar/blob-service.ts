import { Readable } from 'node:stream'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { BlobInfo, BlobWriter } from '../lib/store/blob-store.js'
import { rehashBlob } from '../lib/store/blob-store.js'
import type { Clock } from '../lib/core/clock.js'
import { Digest, type BlobRef } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/logger.js'
import type { RegistryClient } from '../lib/registry/client.js'
import type { RateLimit } from '../lib/swarm/rate-limit.js'
import { isTransient, withRetry, type RetryPolicy } from '../lib/core/retry.js'
import type { BlobTorrent } from '../lib/swarm/torrent.js'
import type { BlobHashes } from '../lib/store/blob-hasher.js'
import type { Seeding } from './seeding.js'
import { alone, type BlobPlacement } from './placement.js'
import type { MemberClient } from './member-client.js'
import { noSidecarMeter, type SidecarMeter } from './metrics.js'

// A pushed blob is in the registry before its notification is sent, so a 404
// will not go away by waiting; an unreachable or failing origin may.
const blobRetryable = (err: unknown) => isTransient(err) && !(err instanceof AppError && err.code === 'BLOB_UNKNOWN')

/** `verifying`: stored by an earlier run and not yet hashed again; it seeds once it matches its digest. */
export type BlobState = 'absent' | 'verifying' | 'fetching' | 'seeding' | 'failed'

export interface BlobStatus {
  digest: string
  size?: number
  state: BlobState
  infoHash?: string
  error?: string
  /** While fetching: bytes read from the origin so far. */
  bytesFetched?: number
}

/** A fetch from the origin, running or failed; a blob that seeds is the seeding's. */
interface Entry {
  state: 'fetching' | 'failed'
  size?: number
  error?: string
  bytesFetched: number
  inflight?: Promise<BlobTorrent>
  /** Where the bytes come from: `origin`, or the member's URL. */
  source?: string
  originOnly?: boolean
}

export interface BlobServiceDeps {
  readonly store: BlobCache
  readonly origin: RegistryClient
  readonly seeding: Seeding
  readonly logger: Logger
  readonly clock: Clock
  readonly retry: RetryPolicy
  /** Paces origin fetches (--origin-rate). */
  readonly originRate: RateLimit
  /** Paces blob bytes sent over HTTP (--upload-rate, shared with the seeder). */
  readonly uploadRate: RateLimit
  /** Counts origin and HTTP bytes; none in tests that do not look. */
  readonly meter?: Pick<SidecarMeter, 'fetched' | 'servedHttp'>
  /** In a group: which members to read a blob from before the origin (default: the origin only). */
  readonly placement?: BlobPlacement
  readonly members?: MemberClient
}

/**
 * Owns every blob the sidecar knows: fetches each from the origin at most once
 * at a time (single flight), stores it verified, and seeds it.
 */
export class BlobService {
  private readonly entries = new Map<string, Entry>()
  private readonly meter: Pick<SidecarMeter, 'fetched' | 'servedHttp'>

  constructor(private readonly deps: BlobServiceDeps) {
    this.meter = deps.meter ?? noSidecarMeter
  }

  status(digest: Digest): BlobStatus {
    const t = this.deps.seeding.torrentOf(digest)
    if (t) return { digest: digest.toString(), size: t.size, state: 'seeding', infoHash: t.infoHash.hex }
    const e = this.entries.get(digest.hex)
    if (!e) return { digest: digest.toString(), state: this.deps.store.has(digest) ? 'verifying' : 'absent' }
    return { digest: digest.toString(), size: e.size, state: e.state, ...(e.error ? { error: e.error } : {}), ...(e.state === 'fetching' ? { bytesFetched: e.bytesFetched } : {}) }
  }

  /**
   * Counts by state and the fetches running, for `GET /v1/blobs`. With token
   * auth the fetches are left out: a blob's status needs a token for its repo.
   */
  list(details: boolean): { counts: Record<'fetching' | 'seeding' | 'failed', number>; fetching: BlobStatus[] } {
    const fetching = details ? [...this.entries.entries()].filter(([, e]) => e.state === 'fetching').map(([hex]) => this.status(Digest.fromHex(hex))) : []
    return { counts: this.counts(), fetching }
  }

  /** Blobs by state, for the metrics. */
  counts(): Record<'fetching' | 'seeding' | 'failed', number> {
    let fetching = 0
    for (const e of this.entries.values()) if (e.state === 'fetching') fetching++
    return { fetching, seeding: this.deps.seeding.count, failed: this.entries.size - fetching }
  }

  /** The stored bytes of a blob that `ensure` resolved, pinned while they are read and paced by --upload-rate. */
  read(digest: Digest): Readable {
    const meter = this.meter
    // Counted as they are handed on, after the pacing: what left, not what was read ahead.
    async function* counted(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
      for await (const chunk of source) {
        meter.servedHttp(chunk.length)
        yield chunk
      }
    }
    return Readable.from(counted(this.deps.uploadRate.limit(this.deps.store.createReadStream(digest))))
  }

  isSeeding(digest: Digest): boolean {
    return this.deps.seeding.torrentOf(digest) !== undefined
  }

  /** The blob's torrent, fetching and seeding it first if needed. Concurrent callers share one fetch. */
  ensure(ref: BlobRef, opts: { originOnly?: boolean } = {}): Promise<BlobTorrent> {
    // Every request is a use: a node is about to pull it, so it moves back in the LRU order.
    this.deps.store.markUsed(ref.digest)
    const seeded = this.deps.seeding.torrentOf(ref.digest)
    if (seeded) return Promise.resolve(seeded)
    const e = this.entries.get(ref.digest.hex)
    if (e?.inflight) return e.inflight
    const entry: Entry = { state: 'fetching', size: e?.size, bytesFetched: 0 }
    // A member's request reads the origin: asking members back could go round in a circle while views of the group differ.
    entry.originOnly = opts.originOnly
    entry.inflight = this.fetchAndSeed(ref, entry).finally(() => {
      entry.inflight = undefined
      if (entry.state !== 'failed' && this.entries.get(ref.digest.hex) === entry) this.entries.delete(ref.digest.hex)
    })
    this.entries.set(ref.digest.hex, entry)
    return entry.inflight
  }

  private async fetchAndSeed(ref: BlobRef, entry: Entry): Promise<BlobTorrent> {
    const log = this.deps.logger.child({ digest: ref.digest.toString(), repo: ref.repo.toString() })
    const started = this.deps.clock.now()
    const release = this.deps.store.pin(ref.digest)
    try {
      // A blob stored by an earlier run is verified now if it was not yet, and verifying seeds it.
      const restored = (await this.deps.store.stat(ref.digest)) && this.deps.seeding.torrentOf(ref.digest)
      if (restored) return restored
      const { info, hashes } = await withRetry(this.deps.retry, this.deps.clock, async (attempt) => {
        if (attempt > 1) log.info({ attempt }, 'retrying origin fetch')
        return this.fetchOnce(ref, entry)
      }, blobRetryable)
      const torrent = await this.deps.seeding.seed(info, hashes)
      log.info({ bytes: info.size, ms: this.deps.clock.now() - started, infoHash: torrent.infoHash.hex, source: entry.source ?? 'origin' }, 'blob seeding')
      return torrent
    } catch (err) {
      entry.state = 'failed'
      entry.error = err instanceof Error ? err.message : String(err)
      log.warn({ err: entry.error }, 'pre-seed failed')
      throw err
    } finally {
      release()
    }
  }

  /**
   * The blob's bytes: from the owners ranked before this sidecar while one of
   * them answers (so a group reads each blob from the origin once), else from
   * the origin. Whatever the source, the writer checks the sha256.
   */
  private async open(ref: BlobRef, originOnly: boolean): Promise<{ blob: { stream: Readable; length: number }; source: string }> {
    const members = this.deps.members
    for (const url of members && !originOnly ? (this.deps.placement ?? alone).sources(ref.digest) : []) {
      try {
        return { blob: await members!.openBlob(url, ref), source: url }
      } catch (err) {
        this.deps.logger.warn({ digest: ref.digest.toString(), member: url, err: (err as Error).message }, 'owner did not serve the blob; trying the next source')
      }
    }
    return { blob: await this.deps.origin.openBlob(ref.repo, ref.digest), source: 'origin' }
  }

  private async fetchOnce(ref: BlobRef, entry: Entry): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const existing = await this.deps.store.stat(ref.digest)
    if (existing) {
      const hashes = await rehashBlob(existing)
      if (hashes) return { info: existing, hashes }
    }
    const { blob, source } = await this.open(ref, entry.originOnly === true)
    entry.source = source
    entry.size = blob.length
    entry.bytesFetched = 0
    const repo = ref.repo.toString()
    let writer: BlobWriter | undefined
    try {
      // Room is checked (and made) before the body is read: a blob that cannot fit costs no origin traffic.
      writer = await this.deps.store.begin(ref.digest, blob.length)
      for await (const chunk of this.deps.originRate.limit(blob.stream)) {
        entry.bytesFetched += chunk.length
        if (source === 'origin') this.meter.fetched(repo, chunk.length)
        await writer.write(chunk)
      }
      return await writer.commit()
    } catch (err) {
      blob.stream.destroy()
      await writer?.abort()
      if (err instanceof AppError) throw err
      throw new AppError('BLOB_FETCH_FAILED', `reading ${ref.digest} from the origin: ${(err as Error).message}`, err)
    }
  }
}
