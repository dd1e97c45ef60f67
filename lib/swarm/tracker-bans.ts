import type { Clock } from '../core/clock.js'
import { Lru } from '../core/lru.js'
import { BAN_MS } from './peer-bans.js'

/** Distinct reporters needed to delist a peer; see docs/operations.md for why two. */
export const REPORTS_TO_DELIST = 2
const MAX_ENTRIES = 10_000
const PEER_ID_RE = /^[0-9a-f]{40}$/

/** The peer ids an announce's `banned=` names, if they are peer ids (40 hex); anything else is ignored. */
export function reportedIds(param: unknown): string[] {
  const values = Array.isArray(param) ? param : [param]
  return values.filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase()).filter((v) => PEER_ID_RE.test(v))
}

/**
 * Which peers the tracker keeps out of its lists, per torrent: a peer that
 * `threshold` distinct admitted peers reported banning is delisted for
 * `ttlMs`, by peer id and by the addresses it announced from. Bounded: the
 * oldest entries go first.
 */
export class TrackerBans {
  private readonly reports = new Lru<string, { at: number; by: Set<string> }>(MAX_ENTRIES)
  private readonly until = new Lru<string, number>(MAX_ENTRIES)

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly threshold = REPORTS_TO_DELIST,
    readonly ttlMs = BAN_MS,
  ) {}

  /** Records that `reporter` banned `peerId`; true when this report delists it. */
  report(infoHash: string, peerId: string, reporter: string): boolean {
    if (peerId === reporter || this.delisted(infoHash, { peerId })) return false
    const now = this.clock.now()
    const key = `${infoHash}:${peerId}`
    let r = this.reports.get(key)
    if (!r || now - r.at > this.ttlMs) r = { at: now, by: new Set() }
    r.by.add(reporter)
    this.reports.set(key, r)
    if (r.by.size < this.threshold) return false
    this.reports.delete(key)
    this.delist(infoHash, { peerId })
    return true
  }

  delist(infoHash: string, peer: { peerId?: string; addr?: string }): void {
    const until = this.clock.now() + this.ttlMs
    if (peer.peerId) this.until.set(`${infoHash}:id:${peer.peerId}`, until)
    if (peer.addr) this.until.set(`${infoHash}:addr:${peer.addr}`, until)
  }

  delisted(infoHash: string, peer: { peerId?: string; addr?: string }): boolean {
    const live = (key: string) => {
      const u = this.until.get(key)
      if (u === undefined) return false
      if (u > this.clock.now()) return true
      this.until.delete(key)
      return false
    }
    return (peer.peerId !== undefined && live(`${infoHash}:id:${peer.peerId}`)) || (peer.addr !== undefined && live(`${infoHash}:addr:${peer.addr}`))
  }
}
