import fs from 'node:fs/promises'
import type { BlobStore, BlobWriter } from '../lib/blob-store.js'
import type { Clock } from '../lib/clock.js'
import type { Digest, RepoName } from '../lib/domain.js'
import type { Logger } from '../lib/logger.js'
import type { RegistryClient } from '../lib/registry-client.js'
import { withStallTimeout } from '../lib/stall.js'
import type { Download, Swarm } from '../lib/swarm.js'
import { buildTorrent } from '../lib/torrent.js'
import type { FetchedTorrent, SidecarClient } from '../sidecar/client.js'

export type Source = 'cache' | 'seeder' | 'peers' | 'origin'
export type SourceBytes = Record<Source, number>

export const emptySources = (): SourceBytes => ({ cache: 0, seeder: 0, peers: 0, origin: 0 })

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
}

export interface PullerDeps {
  readonly store: BlobStore
  readonly swarm: Swarm
  readonly sidecars: SidecarClient
  readonly logger: Logger
  readonly clock: Clock
  readonly stallTimeoutMs: number
}

export interface PullResult {
  /** Peers that sent bytes, including the sidecar's seeder. */
  readonly peers: number
  readonly size: number
  readonly sources: SourceBytes
  readonly fellBack: boolean
}

/**
 * Gets one blob: from the swarm when a sidecar has its torrent, and from the
 * origin for whatever the swarm does not deliver in time. Every byte goes to
 * the store's writer, which checks the sha256 before the blob is cached; only
 * then does the agent seed it. A failing swarm never fails the pull.
 */
export class Puller {
  constructor(private readonly deps: PullerDeps) {}

  async pull(req: PullRequest, sink: PullSink): Promise<PullResult> {
    const log = this.deps.logger.child({ digest: req.digest.toString(), repo: req.repo.toString() })
    const sources = emptySources()
    let fetched: FetchedTorrent | undefined
    try {
      fetched = await this.deps.sidecars.torrent(req.repo, req.digest, req.authorization)
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'no torrent from any sidecar; fetching from the origin')
    }

    let writer: BlobWriter | undefined
    let download: Download | undefined
    let scratch: string | undefined
    let fellBack = fetched === undefined
    let peers = 0
    try {
      let size: number
      let sent = 0
      const emit = async (chunk: Buffer) => {
        await writer!.write(chunk)
        await sink.write(chunk)
        sent += chunk.length
      }
      if (fetched) {
        size = fetched.parsed.size
        writer = await this.deps.store.begin(req.digest, size)
        await sink.start(size)
        try {
          scratch = await this.deps.store.scratchDir(`dl-${req.digest.hex}`)
          download = await this.deps.swarm.download(fetched.torrent, scratch)
          const dl = download
          for await (const chunk of withStallTimeout(dl.stream(), this.deps.stallTimeoutMs, () => this.deps.clock.now(), () => dl.lastActivity())) await emit(chunk)
        } catch (err) {
          fellBack = true
          log.warn({ err: (err as Error).message, offset: sent }, 'swarm failed or stalled; fetching the rest from the origin')
        }
        // The swarm may have fetched pieces past what was streamed; split what was streamed by its shares.
        const got = download ? download.received.seeder + download.received.peers : 0
        sources.seeder = got > 0 ? Math.round((sent * download!.received.seeder) / got) : 0
        sources.peers = sent - sources.seeder
        peers = download?.peersSeen() ?? 0
        // Drop the download (and its scratch copy) now: the same info-hash is
        // seeded from the store below, and a later remove would delete that.
        if (download) await this.deps.swarm.remove(download.torrent.infoHash, true)
        download = undefined
        if (sent < size) {
          const rest = await req.origin.openBlob(req.repo, req.digest, { offset: sent, authorization: req.authorization })
          for await (const chunk of rest.stream) {
            sources.origin += chunk.length
            await emit(chunk as Buffer)
          }
        }
      } else {
        const blob = await req.origin.openBlob(req.repo, req.digest, { authorization: req.authorization })
        size = blob.length
        writer = await this.deps.store.begin(req.digest, size)
        await sink.start(size)
        for await (const chunk of blob.stream) {
          sources.origin += chunk.length
          await emit(chunk as Buffer)
        }
      }
      const { info, hashes } = await writer.commit()
      writer = undefined
      const announce = fetched?.parsed.announce ?? this.deps.sidecars.announceUrl
      const mine = buildTorrent(req.digest, hashes, announce)
      if (fetched && mine.infoHash.hex !== fetched.parsed.infoHash.hex) {
        log.warn({ sidecar: fetched.parsed.infoHash.hex, agent: mine.infoHash.hex }, 'info-hash differs from the sidecar torrent')
      }
      await this.deps.swarm.seed(mine.torrent, this.deps.store.blobDir).catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'could not seed the pulled blob')
      })
      return { size: info.size, sources, fellBack, peers }
    } finally {
      await writer?.abort()
      if (download) await this.deps.swarm.remove(download.torrent.infoHash, true).catch(() => undefined)
      if (scratch) await fs.rm(scratch, { recursive: true, force: true })
    }
  }
}
