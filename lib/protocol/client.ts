import type { Readable } from 'node:stream'
import { httpGet, readBody } from '../http/get.js'
import type { Digest, RepoName } from '../core/domain.js'
import { parseTorrent, type ParsedTorrent } from '../swarm/torrent.js'
import { InlineHeaders, inlineQuery, type InlineLimits } from './inline.js'
import { ownerOrder, type Member, type MembersAnswer } from './owners.js'

/** How long a list of a group's members is used before it is read again. */
const MEMBERS_FRESH_MS = 5000
/** A sidecar that does not accept a connection within this is skipped for the next one. */
const CONNECT_TIMEOUT_MS = 1000

export interface FetchedTorrent {
  readonly torrent: Buffer
  readonly parsed: ParsedTorrent
  readonly sidecar: string
  /** The blob's bytes, when the sidecar answered with them (see `InlineLimits`). */
  readonly bytes?: Readable
}

/**
 * The typed client agents use to reach sidecars. With a group behind them, it
 * learns the members from any sidecar (`GET /v1/members`) and asks a blob's
 * owner first (the same rendezvous order the sidecars use), then the other
 * members, then the configured URLs; a sidecar that does not accept the
 * connection within a second is passed over.
 */
export class SidecarClient {
  private members: Member[] = []
  private membersAt = -Infinity
  private refreshing: Promise<void> | undefined

  constructor(
    readonly urls: readonly string[],
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The sidecars to ask for a blob, best first. */
  async order(digest: Digest): Promise<string[]> {
    await this.refreshMembers()
    const owners = ownerOrder(digest.hex, this.members).map((m) => m.url)
    return [...new Set([...owners, ...this.urls])]
  }

  /** Reads the members when the list is stale: waits only when there is none yet, else refreshes in the background. */
  private refreshMembers(): Promise<void> {
    if (this.now() - this.membersAt < MEMBERS_FRESH_MS) return Promise.resolve()
    this.refreshing ??= this.readMembers().finally(() => {
      this.refreshing = undefined
    })
    return this.members.length === 0 ? this.refreshing : Promise.resolve()
  }

  private async readMembers(): Promise<void> {
    for (const base of [...new Set([...this.members.map((m) => m.url), ...this.urls])]) {
      try {
        const res = await httpGet(`${base}/v1/members`, { timeoutMs: 2000, connectTimeoutMs: CONNECT_TIMEOUT_MS })
        if (res.statusCode !== 200) {
          res.resume()
          continue
        }
        const answer = JSON.parse((await readBody(res, 1 << 20)).toString('utf8')) as Partial<MembersAnswer>
        this.membersAt = this.now()
        // A sidecar without a group lists itself under its own view of its URL: the configured list is the better one then.
        this.members = answer.group === true && Array.isArray(answer.members) ? answer.members.filter(isMember) : []
        return
      } catch {
        // The next one may answer; with none, the configured order stands.
      }
    }
    this.membersAt = this.now()
  }

  /** The announce URL agents use for torrents they build themselves. */
  get announceUrl(): string {
    return `${this.urls[0]}/announce`
  }

  /** The blob's torrent, or with `inline`, possibly its bytes (and torrent) in one answer. */
  async torrent(repo: RepoName, digest: Digest, authorization?: string, inline?: InlineLimits): Promise<FetchedTorrent> {
    const problems: string[] = []
    const query = inline ? `&${inlineQuery(inline)}` : ''
    for (const base of await this.order(digest)) {
      try {
        const res = await httpGet(`${base}/v1/blobs/${digest}/torrent?repo=${encodeURIComponent(repo.toString())}${query}`, {
          headers: authorization ? { authorization } : {},
          timeoutMs: this.timeoutMs,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
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

function isMember(m: unknown): m is Member {
  const x = m as Partial<Member>
  return typeof x?.id === 'string' && typeof x.url === 'string' && /^https?:\/\//.test(x.url) && typeof x.seeder === 'string'
}
