import type { Clock } from '../core/clock.js'

/** A peer as the tracker hands it out. */
export interface StoredPeer {
  /** Hex peer id. */
  readonly peerId: string
  readonly ip: string
  readonly port: number
  /** It holds the whole blob (announced `left=0`). */
  readonly complete: boolean
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

/** A random sample of up to `n` of `items` (a partial Fisher–Yates shuffle on a copy). */
export function sample<T>(items: readonly T[], n: number): T[] {
  const a = [...items]
  const k = Math.min(n, a.length)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a.slice(0, k)
}

/** The peers of one process's tracker, in memory: what a sidecar without a group uses. */
export class MemoryPeerStore implements PeerStore {
  private readonly torrents = new Map<string, Map<string, Held>>()

  constructor(
    private readonly clock: Pick<Clock, 'now'> = { now: Date.now },
    private readonly ttlMs = PEER_TTL_MS,
  ) {}

  announce(infoHash: string, peer: StoredPeer, stopped: boolean, max: number): Promise<AnnounceAnswer> {
    const now = this.clock.now()
    let peers = this.torrents.get(infoHash)
    if (!peers) this.torrents.set(infoHash, (peers = new Map()))
    if (stopped) peers.delete(peer.peerId)
    else peers.set(peer.peerId, { ...peer, seenAt: now })
    const live: StoredPeer[] = []
    let complete = 0
    for (const [id, p] of peers) {
      if (now - p.seenAt > this.ttlMs) {
        peers.delete(id)
        continue
      }
      if (p.complete) complete++
      if (id !== peer.peerId) live.push({ peerId: p.peerId, ip: p.ip, port: p.port, complete: p.complete })
    }
    if (peers.size === 0) this.torrents.delete(infoHash)
    return Promise.resolve({ peers: sample(live, max), complete, incomplete: (peers.size) - complete })
  }

  remove(infoHash: string, matches: (peerId: string) => boolean): Promise<string[]> {
    const peers = this.torrents.get(infoHash)
    const gone: string[] = []
    if (peers) {
      for (const [id, p] of peers) {
        if (!matches(id)) continue
        peers.delete(id)
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
    const peers = this.torrents.get(infoHash)
    if (!peers) return 0
    const now = this.clock.now()
    let n = 0
    for (const [id, p] of peers) if (now - p.seenAt <= this.ttlMs && counts(id)) n++
    return n
  }
}
