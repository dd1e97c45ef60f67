import type { Clock } from '../lib/core/clock.js'
import type { Digest, RepoName } from '../lib/core/domain.js'

export type Source = 'cache' | 'seeder' | 'peers' | 'origin'
export type SourceBytes = Record<Source, number>

export const emptySources = (): SourceBytes => ({ cache: 0, seeder: 0, peers: 0, origin: 0 })

/** The bytes from peers (`source="peers"`) split by whether the peer was in this agent's zone; an agent without a zone counts all as other. */
export interface PeerZoneBytes {
  same: number
  other: number
}

export const emptyPeerZones = (): PeerZoneBytes => ({ same: 0, other: 0 })

/** A pull in flight as `GET /v1/pulls` shows it. */
export interface PullView {
  readonly digest: string
  readonly repo: string
  /** null until the sidecar's torrent or the upstream told it. */
  readonly size: number | null
  readonly bytes: number
  readonly bytesBySource: SourceBytes
  /** Bytes per second over the last few seconds. */
  readonly rate: number
  /** Peers that sent bytes, the sidecar's seeder included. */
  readonly peers: number
  readonly started: string
}

/** What a running swarm download tells about itself. */
export interface LiveDownload {
  readonly received: { readonly seeder: number; readonly peers: number; readonly sameZone: number }
  peersSeen(): number
}

/** The window the rate is measured over, and how often a sample is kept in it. */
const RATE_WINDOW_MS = 5_000
const SAMPLE_EVERY_MS = 250

/** One pull's bytes so far, by source, with a rate over a sliding window. */
export class PullProgress {
  size: number | undefined
  sent = 0
  readonly sources = emptySources()
  /** Set while the swarm delivers: its bytes are split between seeder and peers only by the download's own counts. */
  swarm: LiveDownload | undefined
  private readonly started: number
  private readonly samples: Array<{ at: number; bytes: number }> = []

  constructor(
    readonly digest: Digest,
    readonly repo: RepoName,
    private readonly clock: Clock,
  ) {
    this.started = clock.now()
    this.samples.push({ at: this.started, bytes: 0 })
  }

  add(source: Source, n: number): void {
    this.sent += n
    this.sources[source] += n
    this.sample(this.clock.now())
  }

  /**
   * Bytes that reached this node, by source. The swarm fetches pieces out of
   * order and the client gets them in order, so while it runs its own counts
   * say how far the pull is; delivered bytes would stand still and then jump.
   */
  private moved(): SourceBytes {
    const s = { ...this.sources }
    if (this.swarm) {
      s.seeder += this.swarm.received.seeder
      s.peers = this.swarm.received.peers
    }
    const size = this.size ?? Infinity
    const total = s.cache + s.seeder + s.peers + s.origin
    // Pieces fetched again after a bad one count twice on the wire; progress never passes the size.
    if (total > size) s.peers = Math.max(0, s.peers - (total - size))
    return s
  }

  private sample(now: number): number {
    const m = this.moved()
    const bytes = m.cache + m.seeder + m.peers + m.origin
    if (now - this.samples[this.samples.length - 1].at >= SAMPLE_EVERY_MS) this.samples.push({ at: now, bytes })
    while (this.samples.length > 2 && now - this.samples[1].at > RATE_WINDOW_MS) this.samples.shift()
    return bytes
  }

  view(): PullView {
    const now = this.clock.now()
    const bytes = this.sample(now)
    const first = this.samples.find((s) => now - s.at <= RATE_WINDOW_MS) ?? this.samples[0]
    const seconds = (now - first.at) / 1000
    return {
      digest: this.digest.toString(),
      repo: this.repo.toString(),
      size: this.size ?? null,
      bytes,
      bytesBySource: this.moved(),
      rate: seconds > 0 ? Math.max(0, Math.round((bytes - first.bytes) / seconds)) : 0,
      peers: this.swarm ? this.swarm.peersSeen() : this.sources.seeder > 0 ? 1 : 0,
      started: new Date(this.started).toISOString(),
    }
  }
}
