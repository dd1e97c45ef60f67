import path from 'node:path'
import type { Digest, InfoHash } from '../lib/core/domain.js'
import type { BlobHashes } from '../lib/store/blob-hasher.js'
import type { BlobInfo } from '../lib/store/blob-store.js'
import type { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent, type BlobTorrent } from '../lib/swarm/torrent.js'
import type { Tracker } from '../lib/swarm/tracker.js'

export interface SeedingDeps {
  readonly swarm: Swarm
  readonly tracker: Tracker
  /** The announce URL of a torrent: a credential names its info-hash. */
  readonly announceUrl: (infoHash: InfoHash) => string
}

/**
 * The blobs the sidecar seeds: each verified blob gets its torrent, the
 * tracker answers for it and the seeder shares it. Built before the cache,
 * whose verified and evicted blobs it takes and lets go.
 */
export class Seeding {
  private readonly torrents = new Map<string, BlobTorrent>()

  constructor(private readonly deps: SeedingDeps) {}

  /** Blobs seeding now. */
  get count(): number {
    return this.torrents.size
  }

  torrentOf(digest: Digest): BlobTorrent | undefined {
    return this.torrents.get(digest.hex)
  }

  /** Seeds a stored, verified blob; seeding one twice costs nothing. */
  async seed(info: BlobInfo, hashes: BlobHashes): Promise<BlobTorrent> {
    const known = this.torrents.get(info.digest.hex)
    if (known) return known
    const torrent = buildTorrent(info.digest, hashes, (ih) => this.deps.announceUrl(ih))
    this.deps.tracker.issue(torrent.infoHash)
    if (!(await this.deps.swarm.has(torrent.infoHash.hex))) await this.deps.swarm.seed(torrent.torrent, path.dirname(info.path))
    this.torrents.set(info.digest.hex, torrent)
    return torrent
  }

  /** Stops seeding an evicted blob: the tracker drops its peers, and a later request fetches it again. */
  async unseed(digest: Digest): Promise<void> {
    const t = this.torrents.get(digest.hex)
    this.torrents.delete(digest.hex)
    if (!t) return
    this.deps.tracker.forget(t.infoHash)
    await this.deps.swarm.remove(t.infoHash.hex)
  }
}
