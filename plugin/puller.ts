import type { Readable } from 'node:stream'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { RandomAccessWriter } from '../lib/store/blob-store.js'
import { CacheWriter } from '../lib/cache/writers.js'
import type { Clock } from '../lib/core/clock.js'
import type { Digest, RepoName } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import type { RateLimit } from '../lib/swarm/rate-limit.js'
import type { RegistryClient } from '../lib/registry/client.js'
import { withStallTimeout } from '../lib/swarm/stall.js'
import type { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import type { FetchedTorrent, SidecarClient } from '../lib/protocol/client.js'
import type { InlineLimits } from '../lib/protocol/inline.js'
import { emptyPeerZones, emptySources, PullProgress, type PeerZoneBytes, type PullView, type Source, type SourceBytes } from './pull-progress.js'

export { emptyPeerZones, emptySources, type PeerZoneBytes, type Source, type SourceBytes } from './pull-progress.js'

export interface PullRequest {
  readonly repo: RepoName
  readonly digest: Digest
  readonly origin: RegistryClient
  readonly authorization?: string
}

/** Where the bytes of one pull go as they arrive, in order. */
export interface PullSink {
  /** Called once, before the first byte, with the blob's size. */
  start(size: number): Promise<void>
  write(chunk: Buffer): Promise<void>
  /** Called once every byte is written and the sha256 matched, before the blob is synced into the cache; with where the bytes came from. */
  end(sources: SourceBytes, peerZones: PeerZoneBytes): Promise<void>
}

export interface PullerDeps {
  readonly store: BlobCache
  readonly swarm: Swarm
  readonly sidecars: SidecarClient
  readonly logger: Logger
  readonly clock: Clock
  readonly stallTimeoutMs: number
  /** Blobs the agent takes over HTTP from the sidecar's cache, in the answer to its torrent request. */
  readonly inline: InlineLimits
  /** The host's download limit, for bytes that come over HTTP (the swarm's connections pass through it already). */
  readonly downloadRate: RateLimit
}

export interface PullResult {
  /** Peers that sent bytes, including the sidecar's seeder. */
  readonly peers: number
  readonly size: number
  readonly sources: SourceBytes
  /** `sources.peers` by the peers' zone. */
  readonly peerZones: PeerZoneBytes
  readonly fellBack: boolean
  /** False when the disk could not hold the blob: it was verified and served, not stored. */
  readonly cached: boolean
}

/** One pull's running state: every byte goes to the store's writer and the sink, in order. */
class Transfer {
  sent = 0
  readonly sources = emptySources()
  readonly peerZones = emptyPeerZones()

  constructor(
    readonly writer: CacheWriter,
    private readonly sink: PullSink,
    private readonly progress: PullProgress,
  ) {}

  async copy(stream: AsyncIterable<Buffer> | Readable, source: Source): Promise<void> {
    for await (const chunk of stream) {
      const c = chunk as Buffer
      // The disk and the client drain at once; each still takes the chunks in order.
      await Promise.all([this.writer.write(c), this.sink.write(c)])
      this.sent += c.length
      this.sources[source] += c.length
      this.progress.add(source, c.length)
    }
  }
}

/**
 * Gets one blob: small ones over HTTP from the sidecar's cache, others from
 * the swarm, and from the origin whatever those do not deliver in time. Every
 * byte goes to the store's writer, which checks the sha256 before the blob is
 * cached; only then does the agent seed it. A failing swarm never fails the pull.
 */
export class Puller {
  private readonly running = new Set<PullProgress>()

  constructor(private readonly deps: PullerDeps) {}

  /** Pulls in flight, oldest first. */
  inFlight(): PullView[] {
    return [...this.running].map((p) => p.view())
  }

  async pull(req: PullRequest, sink: PullSink): Promise<PullResult> {
    const progress = new PullProgress(req.digest, req.repo, this.deps.clock)
    this.running.add(progress)
    try {
      return await this.run(req, sink, progress)
    } finally {
      this.running.delete(progress)
    }
  }

  private async run(req: PullRequest, sink: PullSink, progress: PullProgress): Promise<PullResult> {
    const log = this.deps.logger.child({ digest: req.digest.toString(), repo: req.repo.toString() })
    let fetched: FetchedTorrent | undefined
    try {
      fetched = await this.deps.sidecars.torrent(req.repo, req.digest, req.authorization, this.deps.inline)
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'no torrent from any sidecar; fetching from the origin')
    }

    let t: Transfer | undefined
    let peers = 0
    let fellBack = fetched === undefined
    // A completed swarm download, seeding from the writer's file: dropped unless the blob is committed.
    let downloaded: string | undefined
    const limit = (s: Readable) => this.deps.downloadRate.limit(s)
    const release = this.deps.store.pin(req.digest)
    try {
      if (fetched) {
        const size = fetched.parsed.size
        // The torrent's pieces already describe these bytes: only the sha256 is computed here.
        let target: RandomAccessWriter | undefined
        const writer = fetched.bytes
          ? await this.deps.store.beginOrVerifyOnly(req.digest, size, { pieces: false })
          : await CacheWriter.open(async () => (target = await this.deps.store.beginRandomAccess(req.digest, size)), req.digest, size, false, log)
        t = new Transfer(writer, sink, progress)
        progress.size = size
        await sink.start(size)
        try {
          if (fetched.bytes) await t.copy(limit(fetched.bytes), 'seeder')
          else if (target && t.writer.caching) {
            // The swarm writes its pieces into the blob's file: a blob the disk cannot hold comes from the upstream.
            peers = await this.fromSwarm(fetched, target, t, progress)
            downloaded = fetched.parsed.infoHash.hex
          }
        } catch (err) {
          log.warn({ err: (err as Error).message, offset: t.sent }, 'sidecar or swarm failed or stalled; fetching the rest from the origin')
        }
        if (t.sent < size) {
          fellBack = true
          const rest = await req.origin.openBlob(req.repo, req.digest, { offset: t.sent, authorization: req.authorization })
          await t.copy(limit(rest.stream), 'origin')
        }
      } else {
        const blob = await req.origin.openBlob(req.repo, req.digest, { authorization: req.authorization })
        t = new Transfer(await this.deps.store.beginOrVerifyOnly(req.digest, blob.length), sink, progress)
        progress.size = blob.length
        await sink.start(blob.length)
        await t.copy(limit(blob.stream), 'origin')
      }
      // The client gets its last bytes as soon as they are known good; syncing into the cache and seeding follow.
      await t.writer.verify()
      await sink.end(t.sources, t.peerZones)
      const { info, hashes } = await t.writer.commit()
      const { sources, peerZones } = t
      t = undefined
      if (info && !downloaded) void this.seed(fetched?.torrent ?? buildTorrent(req.digest, hashes, this.deps.sidecars.announceUrl).torrent, log)
      if (!info && downloaded) await this.deps.swarm.remove(downloaded)
      return { size: hashes.size, sources, peerZones, fellBack, peers, cached: info !== undefined }
    } finally {
      if (t) {
        await t.writer.abort()
        if (downloaded) await this.deps.swarm.remove(downloaded)
      }
      release()
    }
  }

  /** Seeds a blob just cached. A swarm download needs none: it goes on seeding from the committed file, peers still connected. */
  private async seed(torrent: Buffer, log: Logger): Promise<void> {
    try {
      await this.deps.swarm.seed(torrent, this.deps.store.blobDir)
    } catch (err) {
      if (!this.deps.swarm.closed) log.warn({ err: (err as Error).message }, 'could not seed the pulled blob')
    }
  }

  /**
   * Streams what the swarm delivers; returns how many peers sent bytes. Throws
   * on a stall, after dropping the download; on success the download stays,
   * to seed once the writer commits.
   */
  private async fromSwarm(fetched: FetchedTorrent, target: RandomAccessWriter, t: Transfer, progress: PullProgress): Promise<number> {
    const dl = await this.deps.swarm.download(fetched.torrent, target)
    progress.swarm = dl
    try {
      const stream = withStallTimeout(dl.stream(), this.deps.stallTimeoutMs, () => this.deps.clock.now(), () => dl.lastActivity())
      await t.copy(stream, 'peers')
    } catch (err) {
      await this.deps.swarm.remove(dl.torrent.infoHash)
      throw err
    } finally {
      // The swarm may have fetched pieces past what was streamed: split what was streamed by its shares.
      const got = dl.received.seeder + dl.received.peers
      const streamed = t.sources.peers
      t.sources.seeder = got > 0 ? Math.round((streamed * dl.received.seeder) / got) : 0
      t.sources.peers = streamed - t.sources.seeder
      t.peerZones.same = dl.received.peers > 0 ? Math.round((t.sources.peers * dl.received.sameZone) / dl.received.peers) : 0
      t.peerZones.other = t.sources.peers - t.peerZones.same
      progress.swarm = undefined
      progress.sources.seeder += t.sources.seeder
      progress.sources.peers -= t.sources.seeder
    }
    return dl.peersSeen()
  }
}
