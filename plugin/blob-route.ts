import type { Request, Response } from 'express'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { Clock } from '../lib/core/clock.js'
import type { Digest, RepoName } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { writeChunk } from '../lib/http/middleware.js'
import type { Logger } from '../lib/core/logger.js'
import type { RegistryClient } from '../lib/registry/client.js'
import type { SidecarClient } from '../lib/protocol/client.js'
import { emptySources, type PeerZoneBytes, type Puller, type SourceBytes } from './puller.js'
import { noAgentMeter, type AgentMeter } from './metrics.js'

export interface BlobRouteDeps {
  readonly store: BlobCache
  readonly puller: Puller
  readonly sidecars: SidecarClient
  readonly logger: Logger
  readonly clock: Clock
  readonly totals: SourceBytes
  /** `totals.peers` by the peers' zone. */
  readonly peerZones: PeerZoneBytes
  /** Counts what the route serves; none in tests that do not look. */
  readonly meter?: AgentMeter
}

export interface BlobRequest {
  readonly repo: RepoName
  readonly digest: Digest
  readonly origin: RegistryClient
  /** Sent to the sidecars and the upstream: the client's, or the node's own. */
  readonly authorization?: string
}

/** The headers the registry itself sends with a blob, so a client cannot tell the mirror from it. */
function blobHeaders(res: Response, digest: Digest, length: number): void {
  res.set({
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest.toString(),
    'docker-distribution-api-version': 'registry/2.0',
    'content-length': String(length),
    'accept-ranges': 'bytes',
    etag: `"${digest}"`,
  })
}

type Range = { start: number; end: number }

/** The status and headers of a whole blob or of a satisfiable range of it. */
function answerHeaders(res: Response, digest: Digest, size: number, range: Range | undefined): void {
  blobHeaders(res, digest, range ? range.end - range.start + 1 : size)
  if (range) res.status(206).set('content-range', `bytes ${range.start}-${range.end}/${size}`)
  else res.status(200)
}

function rangeOrThrow(header: string | undefined, size: number): Range | undefined {
  const range = parseRange(header, size)
  if (range === 'invalid') throw new AppError('RANGE_INVALID', `range ${JSON.stringify(header)} is not within the blob's ${size} bytes`, undefined, { 'content-range': `bytes */${size}` })
  return range
}

/** `bytes=N-` or `bytes=N-M`, as containerd and skopeo send when resuming. */
function parseRange(h: string | undefined, size: number): Range | undefined | 'invalid' {
  if (!h) return undefined
  const m = /^bytes=(\d+)-(\d*)$/.exec(h.trim())
  if (!m) return 'invalid'
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  return start < size && start <= end ? { start, end } : 'invalid'
}

/**
 * GET and HEAD of one blob: from the cache when present, else pulled (swarm,
 * then origin). While a blob is pulled, other requests for it wait and then
 * read the cache, so the node fetches it once.
 */
export class BlobRoute {
  private readonly inflight = new Map<string, Promise<unknown>>()
  private readonly meter: AgentMeter

  constructor(private readonly deps: BlobRouteDeps) {
    this.meter = deps.meter ?? noAgentMeter
  }

  async handle(req: Request, res: Response, blob: BlobRequest): Promise<void> {
    const authorization = blob.authorization
    const started = this.deps.clock.now()
    const pending = this.inflight.get(blob.digest.hex)
    if (pending) await pending.catch(() => undefined)
    // Held while it is served, so a slow client's blob is not evicted under it.
    const cached = await this.deps.store.acquire(blob.digest)
    if (cached) {
      try {
        return await this.serveCached(req, res, blob, cached.info.size, started)
      } finally {
        cached.release()
      }
    }
    if (req.method === 'HEAD') return this.head(res, blob, authorization)

    // A Range (containerd resumes with one) gets 206 with its bytes as the pull delivers them; the pull still fills the cache.
    let range: Range | undefined
    let at = 0
    let held: Buffer | undefined
    const run = this.deps.puller.pull({ repo: blob.repo, digest: blob.digest, origin: blob.origin, authorization }, {
      start: async (size) => {
        range = rangeOrThrow(req.get('range'), size)
        answerHeaders(res, blob.digest, size, range)
        res.flushHeaders()
      },
      // The last chunk is held back until the whole blob verified: a client
      // must never receive a complete body whose digest is wrong.
      write: async (chunk) => {
        const from = at
        at += chunk.length
        const part = range ? chunk.subarray(Math.max(0, range.start - from), Math.max(0, range.end + 1 - from)) : chunk
        if (part.length === 0) return
        if (held) await writeChunk(res, held)
        held = part
      },
      end: async (sources, zones) => {
        if (held) await writeChunk(res, held)
        held = undefined
        res.end()
        this.account(blob.repo, sources, zones)
      },
    })
    this.inflight.set(blob.digest.hex, run)
    try {
      const result = await run
      this.meter.request(result.fellBack ? 'fallback' : 'miss')
      this.meter.pulled((this.deps.clock.now() - started) / 1000)
      this.deps.logger.info({ digest: blob.digest.toString(), bytes: result.size, ms: this.deps.clock.now() - started, sources: result.sources, peerZones: result.peerZones, peers: result.peers, fellBack: result.fellBack, cached: result.cached }, 'blob served')
    } catch (err) {
      this.meter.request('error')
      this.deps.logger.warn({ digest: blob.digest.toString(), err: (err as Error).message }, 'blob pull failed')
      // An UpstreamStatusError carries the registry's status and challenge; the error middleware relays it.
      throw err
    } finally {
      this.inflight.delete(blob.digest.hex)
    }
  }

  private async head(res: Response, blob: BlobRequest, authorization?: string): Promise<void> {
    let size: number | undefined
    try {
      size = (await this.deps.sidecars.torrent(blob.repo, blob.digest, authorization)).parsed.size
    } catch {
      size = await blob.origin.headBlob(blob.repo, blob.digest, { authorization }).catch(() => undefined)
    }
    if (size === undefined) throw new AppError('BLOB_UNKNOWN', `${blob.digest} is in neither a sidecar nor the upstream`)
    blobHeaders(res, blob.digest, size)
    res.status(200).end()
  }

  private async serveCached(req: Request, res: Response, blob: BlobRequest, size: number, started: number): Promise<void> {
    this.meter.request('hit')
    const range = rangeOrThrow(req.get('range'), size)
    answerHeaders(res, blob.digest, size, range)
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    const stream = this.deps.store.createReadStream(blob.digest, { start: range?.start })
    let bytes = 0
    const limit = range ? range.end - range.start + 1 : size
    for await (const chunk of stream) {
      const c = (chunk as Buffer).subarray(0, limit - bytes)
      bytes += c.length
      await writeChunk(res, c)
      if (bytes >= limit) break
    }
    stream.destroy()
    res.end()
    const sources = { ...emptySources(), cache: bytes }
    this.account(blob.repo, sources, { same: 0, other: 0 })
    this.deps.logger.info({ digest: blob.digest.toString(), bytes, ms: this.deps.clock.now() - started, sources }, 'blob served')
  }

  /** The same figures go to /v1/stats and to the metrics. */
  private account(repo: RepoName, s: SourceBytes, zones: PeerZoneBytes): void {
    for (const k of Object.keys(s) as Array<keyof SourceBytes>) this.deps.totals[k] += s[k]
    this.deps.peerZones.same += zones.same
    this.deps.peerZones.other += zones.other
    this.meter.served(repo.toString(), s, zones)
  }
}
