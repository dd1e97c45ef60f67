import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { Digest, RepoName } from '../lib/domain.js'
import { parseTorrent, type ParsedTorrent } from '../lib/torrent.js'
import type { BlobStatus } from './blob-service.js'

export interface FetchedTorrent {
  readonly torrent: Buffer
  readonly parsed: ParsedTorrent
  readonly sidecar: string
}

/** The typed client agents use to reach sidecars; it tries each configured sidecar in order. */
export class SidecarClient {
  constructor(
    readonly urls: readonly string[],
    private readonly timeoutMs: number,
  ) {}

  /** The announce URL agents use for torrents they build themselves. */
  get announceUrl(): string {
    return `${this.urls[0]}/announce`
  }

  async torrent(repo: RepoName, digest: Digest, authorization?: string, signal?: AbortSignal): Promise<FetchedTorrent> {
    const problems: string[] = []
    for (const base of this.urls) {
      try {
        const res = await this.get(`${base}/v1/blobs/${digest}/torrent?repo=${encodeURIComponent(repo.toString())}`, authorization, signal)
        if (!res.ok) {
          problems.push(`${base}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`)
          continue
        }
        const torrent = Buffer.from(await res.arrayBuffer())
        const parsed = parseTorrent(torrent)
        if (parsed.name !== digest.hex) {
          problems.push(`${base}: torrent names ${parsed.name}, not ${digest.hex}`)
          continue
        }
        return { torrent, parsed, sidecar: base }
      } catch (err) {
        problems.push(`${base}: ${(err as Error).message}`)
      }
    }
    throw new Error(`no sidecar had a torrent for ${digest}: ${problems.join('; ')}`)
  }

  /** Streams a blob from one sidecar's cache; it fetches the blob from its origin first if needed. */
  async openBlob(base: string, repo: RepoName, digest: Digest, authorization?: string): Promise<Readable> {
    const res = await this.get(`${base}/v1/blobs/${digest}/data?repo=${encodeURIComponent(repo.toString())}`, authorization)
    if (!res.ok || !res.body) {
      await res.body?.cancel()
      throw new Error(`${base}: blob data: HTTP ${res.status}`)
    }
    return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)
  }

  async status(digest: Digest): Promise<BlobStatus> {
    const res = await this.get(`${this.urls[0]}/v1/blobs/${digest}`)
    if (!res.ok) throw new Error(`status of ${digest}: HTTP ${res.status}`)
    return (await res.json()) as BlobStatus
  }

  private get(url: string, authorization?: string, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    return fetch(url, {
      headers: authorization ? { authorization } : {},
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
  }
}
