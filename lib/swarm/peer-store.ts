import type { Clock } from '../core/clock.js'

/** A peer as the tracker hands it out. */
export interface StoredPeer {
  /** Hex peer id. */
  readonly peerId: string
  readonly ip: string
  readonly port: number
  /** It holds the whole blob (announced `left=0`). */
  readonly complete: boolean
  /** Where it is, as it announced (`zone=`, `rack=`). */
  readonly zone?: string
  readonly rack?: string
}

export interface AnnounceAnswer {
  /** Up to the number asked for, the announcing peer never among them, in no particular order. */
  readonly peers: StoredPeer[]
  readonly complete: number
  readonly incomplete: number
}

/**
 * Where the tracker keeps the peers of each torrent (info-hash as hex).
 *
 * Contract:
 * - `announce` records the peer (a stopped one is removed) and answers with
 *   other live peers of the same torrent, a random sample when there are more
 *   than `max`. A peer that does not announce again within the store's TTL is
 *   gone: never handed out after that.
 * - `remove` drops the peers whose id `matches` and returns their addresses
 *   (`ip:port`), for the tracker's delisting.
 * - `forget` drops every peer of a torrent.
 * - `count` is synchronous, for decisions on the request path: a shared store
 *   answers from what it saw last and may lag by one announce.
 * - No method throws for a store that cannot be reached: a shared store
 *   answers from what this process knows, so an announce never fails because
 *   of it.
 */
export interface PeerStore {
  announce(infoHash: string, peer: StoredPeer, stopped: boolean, max: number): Promise<AnnounceAnswer>
  remove(infoHash: string, matches: (peerId: string) => boolean): Promise<string[]>
  forget(infoHash: string): Promise<void>
  count(infoHash: string, counts: (peerId: string) => boolean): number
}

/** bittorrent-tracker's own default: a peer is kept 20 minutes after its last announce (agents announce every 10). */
export const PEER_TTL_MS = 20 * 60_000

interface Held extends StoredPeer {
  seenAt: number
}

/** One torrent's peers: an array for sampling in O(max), an index by id, and the complete ones counted as they change. */
class Torrent {
  readonly list: Held[] = []
  readonly index = new Map<string, number>()
  complete = 0

  put(p: Held): void {
    const at = this.index.get(p.peerId)
    if (at === undefined) {
      this.index.set(p.peerId, this.list.length)
      this.list.push(p)
    } else {
      if (this.list[at].complete) this.complete--
      this.list[at] = p
    }
    if (p.complete) this.complete++
  }

  drop(peerId: string): Held | undefined {
    const at = this.index.get(peerId)
    if (at === undefined) return undefined
    const gone = this.list[at]
    const last = this.list.pop()!
    if (at < this.list.length) {
      this.list[at] = last
      this.index.set(last.peerId, at)
    }
    this.index.delete(peerId)
    if (gone.complete) this.complete--
    return gone
  }
}

/** A random sample of up to `n` of `items` (a partial Fisher–Yates shuffle on a copy). */
export function sample<T>(items: readonly T[], n: number): T[] {
  const a = [...items]
  const k = Math.min(n, a.length)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i))
    const t = a[i]
    a[i] = a[j]
    a[j] = t
  }
  return a.slice(0, k)
}

/**
 * The peers of one process's tracker, in memory: what a sidecar without a
 * group uses. An announce costs O(max), whatever the swarm's size: expired
 * peers are dropped when a sample meets them, as the Redis store does.
 */
export class MemoryPeerStore implements PeerStore {
  private readonly torrents = new Map<string, Torrent>()

  constructor(
    private readonly clock: Pick<Clock, 'now'> = { now: Date.now },
    private readonly ttlMs = PEER_TTL_MS,
  ) {}

  announce(infoHash: string, peer: StoredPeer, stopped: boolean, max: number): Promise<AnnounceAnswer> {
    const now = this.clock.now()
    let t = this.torrents.get(infoHash)
    if (!t) this.torrents.set(infoHash, (t = new Torrent()))
    if (stopped) t.drop(peer.peerId)
    else t.put({ ...strip(peer), seenAt: now })
    const peers = this.pick(t, peer.peerId, max, now)
    const answer = { peers, complete: t.complete, incomplete: t.list.length - t.complete }
    if (t.list.length === 0) this.torrents.delete(infoHash)
    return Promise.resolve(answer)
  }

  /** Up to `max` live peers other than `self`, at random: all of them when there are few, else distinct random picks. */
  private pick(t: Torrent, self: string, max: number, now: number): StoredPeer[] {
    const out: StoredPeer[] = []
    const live = (p: Held) => {
      if (now - p.seenAt <= this.ttlMs) return true
      t.drop(p.peerId)
      return false
    }
    if (max <= 0) return out
    if (t.list.length <= max + 1) {
      for (const p of [...t.list]) if (p.peerId !== self && live(p)) out.push(strip(p))
      return sample(out, max)
    }
    const seen = new Set<number>()
    for (let tries = 0; out.length < max && tries < max * 3 && t.list.length > 0; tries++) {
      const i = Math.floor(Math.random() * t.list.length)
      if (seen.has(i)) continue
      seen.add(i)
      const p = t.list[i]
      if (p.peerId === self) continue
      if (live(p)) out.push(strip(p))
      // A drop moved the last peer into slot i: it may be picked as a fresh one.
      else seen.delete(i)
    }
    return out
  }

  remove(infoHash: string, matches: (peerId: string) => boolean): Promise<string[]> {
    const t = this.torrents.get(infoHash)
    const gone: string[] = []
    if (t) {
      for (const p of t.list.filter((x) => matches(x.peerId))) {
        t.drop(p.peerId)
        gone.push(`${p.ip}:${p.port}`)
      }
    }
    return Promise.resolve(gone)
  }

  forget(infoHash: string): Promise<void> {
    this.torrents.delete(infoHash)
    return Promise.resolve()
  }

  count(infoHash: string, counts: (peerId: string) => boolean): number {
    const t = this.torrents.get(infoHash)
    if (!t) return 0
    const now = this.clock.now()
    let n = 0
    for (const p of t.list) if (now - p.seenAt <= this.ttlMs && counts(p.peerId)) n++
    return n
  }
}

const strip = (p: StoredPeer): StoredPeer => ({ peerId: p.peerId, ip: p.ip, port: p.port, complete: p.complete, ...(p.zone === undefined ? {} : { zone: p.zone }), ...(p.rack === undefined ? {} : { rack: p.rack }) })
