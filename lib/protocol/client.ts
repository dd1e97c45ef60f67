import type { Readable } from 'node:stream'
import { httpGet, readBody } from '../http/get.js'
import type { Digest, RepoName } from '../core/domain.js'
import { parseTorrent, type ParsedTorrent } from '../swarm/torrent.js'
import { InlineHeaders, inlineQuery, type InlineLimits } from './inline.js'

export interface FetchedTorrent {
  readonly torrent: Buffer
  readonly parsed: ParsedTorrent
  readonly sidecar: string
  /** The blob's bytes, when the sidecar answered with them (see `InlineLimits`). */
  readonly bytes?: Readable
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

  /** The blob's torrent, or with `inline`, possibly its bytes (and torrent) in one answer. */
  async torrent(repo: RepoName, digest: Digest, authorization?: string, inline?: InlineLimits): Promise<FetchedTorrent> {
    const problems: string[] = []
    const query = inline ? `&${inlineQuery(inline)}` : ''
    for (const base of this.urls) {
      try {
        const res = await httpGet(`${base}/v1/blobs/${digest}/torrent?repo=${encodeURIComponent(repo.toString())}${query}`, {
          headers: authorization ? { authorization } : {},
          timeoutMs: this.timeoutMs,
        })
        if (res.statusCode !== 200) {
          problems.push(`${base}: HTTP ${res.statusCode} ${(await readBody(res, 4096).catch(() => Buffer.alloc(0))).toString('utf8').slice(0, 300)}`)
          continue
        }
        const inlined = res.headers['content-type'] === 'application/octet-stream'
        const header = res.headers[InlineHeaders.torrent]
        const torrent = inlined ? Buffer.from(typeof header === 'string' ? header : '', 'base64') : await readBody(res)
        const parsed = parseTorrent(torrent)
        if (parsed.name !== digest.hex) {
          res.destroy()
          problems.push(`${base}: torrent names ${parsed.name}, not ${digest.hex}`)
          continue
        }
        return { torrent, parsed, sidecar: base, ...(inlined ? { bytes: res } : {}) }
      } catch (err) {
        problems.push(`${base}: ${(err as Error).message}`)
      }
    }
    throw new Error(`no sidecar had a torrent for ${digest}: ${problems.join('; ')}`)
  }
}
