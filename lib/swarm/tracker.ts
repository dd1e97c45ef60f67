import { isIP } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import bencode from 'bencode'
import TrackerServer from 'bittorrent-tracker/server'
import type { Clock } from '../core/clock.js'
import type { InfoHash } from '../core/domain.js'
import type { Logger } from '../core/logger.js'
import { isSeederPeerId } from './swarm.js'
import { checkInternals } from './webtorrent/check-internals.js'
import { useSwarms } from './webtorrent/tracker-swarms.js'
import { MemoryPeerStore, type PeerStore } from './peer-store.js'
import { isPlaceName, orderPeers, type Place } from './topology.js'
import { reportedIds, TrackerBans } from './tracker-bans.js'

export interface TrackerOptions {
  /** Swarm admission: why an announce for an issued info-hash is refused, or undefined to let it pass. */
  readonly admit?: (infoHash: string, params: Record<string, unknown>) => string | undefined
  /** For the delisting of reported peers. */
  readonly clock?: Pick<Clock, 'now'>
  readonly logger?: Logger
  /** Distinct reporters that delist a peer (default 2). */
  readonly reportsToDelist?: number
  /** Told of each announce, answered or refused, for metrics. */
  readonly onAnnounce?: (ok: boolean) => void
  /** Where the torrents' peers are kept (default: in this process). */
  readonly peers?: PeerStore
}

/**
 * The swarm's HTTP tracker. It answers only for info-hashes this sidecar
 * issued, so the sidecar's port is no open tracker for anything else; with
 * admission, only peers that `admit` lets in.
 *
 * An admitted peer's announce may name peers it banned (`banned=<hex peer
 * id>`, repeatable): a peer reported by enough distinct peers is dropped from
 * the torrent's list and its own announces are refused for a while
 * (`TrackerBans`). The reports ride on announces the agents make anyway, so
 * they are authenticated exactly as announces are.
 *
 * An announce may name the peer's place (`zone=`, `rack=`, as the agent's
 * `--zone` and `--rack`); the store keeps it with the peer's entry and the
 * tracker orders each answer by it (`orderPeers` in topology.ts), from a
 * sample of the store a few times larger than asked. A name that is not a
 * valid place name refuses the announce, naming the parameter.
 */
export class Tracker {
  private readonly issued = new Set<string>()
  private readonly server: TrackerServer
  private readonly bans: TrackerBans
  private readonly protectedIds = new Set<string>()
  private delistHook: ((infoHash: string, peerId: string) => void) | undefined
  private readonly peers: PeerStore

  /** Throws, before the server is built, if the installed bittorrent-tracker lacks a member `forget` or `agentPeers` relies on. */
  constructor(private readonly opts: TrackerOptions = {}) {
    checkInternals()
    this.bans = new TrackerBans(opts.clock ?? { now: Date.now }, opts.reportsToDelist)
    this.peers = opts.peers ?? new MemoryPeerStore(opts.clock)
    this.server = new TrackerServer({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      trustProxy: true,
      filter: (infoHash, params, cb) => {
        if (!this.issued.has(infoHash)) {
          this.opts.onAnnounce?.(false)
          return cb(new Error('info-hash was not issued by this sidecar'))
        }
        const refused = placeRefusal(params) ?? this.opts.admit?.(infoHash, params) ?? this.delistedRefusal(infoHash, params)
        if (refused === undefined) this.takeReports(infoHash, params)
        this.opts.onAnnounce?.(refused === undefined)
        cb(refused === undefined ? null : new Error(refused))
      },
    })
    useSwarms(this.server, (infoHash) => ({
      announce: (params, cb) => void this.announce(infoHash, params).then((r) => cb(null, r), (err: Error) => cb(err)),
      scrape: (_params, cb) => cb(null, { complete: this.peers.count(infoHash, () => true), incomplete: 0 }),
    }))
  }

  /** Records an admitted announce in the peer store and answers with its peers, as bittorrent-tracker's own swarm would. */
  private async announce(infoHash: string, params: Record<string, unknown>): Promise<object> {
    const place = placeOf(params)
    const peer = { peerId: String(params.peer_id), ip: String(params.ip), port: Number(params.port), complete: params.left === 0, ...place }
    const numwant = typeof params.numwant === 'number' ? params.numwant : 50
    const stopped = params.event === 'stopped'
    // With a place, the nearest are chosen from a larger sample: the store samples at random.
    const pool = place.zone === undefined ? numwant : Math.min(numwant * ORDER_POOL, MAX_POOL)
    const answer = await this.peers.announce(infoHash, peer, stopped, stopped ? 0 : pool)
    const peers = orderPeers(place, answer.peers, numwant)
    return { complete: answer.complete, incomplete: answer.incomplete, peers: peers.map((p) => ({ peerId: p.peerId, ip: p.ip, port: p.port, type: 'http' })) }
  }

  /** A peer id reports never delist: this sidecar's own seeder. */
  protect(peerId: string): void {
    this.protectedIds.add(peerId)
  }

  /** Told of each peer delisted, so the sidecar's seeder can drop it too. */
  onDelist(fn: (infoHash: string, peerId: string) => void): void {
    this.delistHook = fn
  }

  private delistedRefusal(infoHash: string, params: Record<string, unknown>): string | undefined {
    const peerId = typeof params.peer_id === 'string' ? params.peer_id : undefined
    const addr = typeof params.addr === 'string' ? params.addr : undefined
    return this.bans.delisted(infoHash, { peerId, addr }) ? 'this peer was reported for sending bad data and is delisted for a while' : undefined
  }

  private takeReports(infoHash: string, params: Record<string, unknown>): void {
    const reporter = params.peer_id
    if (params.banned === undefined || typeof reporter !== 'string') return
    for (const id of reportedIds(params.banned).slice(0, 16)) {
      if (this.protectedIds.has(id) || !this.bans.report(infoHash, id, reporter)) continue
      void this.peers.remove(infoHash, (p) => p === id).then((gone) => {
        for (const addr of gone) this.bans.delist(infoHash, { addr })
      })
      this.opts.logger?.warn({ infoHash, peerId: id, delistMs: this.bans.ttlMs }, 'peer delisted by the tracker: agents reported it for sending bad data')
      this.delistHook?.(infoHash, id)
    }
  }

  issue(infoHash: InfoHash): void {
    this.issued.add(infoHash.hex)
  }

  /** Forgets a torrent and every peer of it. */
  forget(infoHash: InfoHash): void {
    this.issued.delete(infoHash.hex)
    void this.peers.forget(infoHash.hex)
  }

  /** Peers in a torrent's swarm other than seeders (sidecars). */
  agentPeers(infoHash: InfoHash): number {
    return this.peers.count(infoHash.hex, (peerId) => !isSeederPeerId(peerId))
  }

  isIssued(infoHash: string): boolean {
    return this.issued.has(infoHash)
  }

  /**
   * A peer may name its own address with `ip=` (agents behind NAT or in another
   * namespace); otherwise the socket's address is used. Any X-Forwarded-For the
   * client sent is replaced, so only these two sources count.
   */
  handle(req: IncomingMessage, res: ServerResponse, action: 'announce' | 'scrape'): void {
    if (action === 'scrape' && this.opts.admit) {
      // A scrape without info-hashes lists every torrent: with admission there is none.
      res.end(Buffer.from(bencode.encode({ 'failure reason': 'scrape is off on this tracker' })))
      return
    }
    const url = new URL(req.url ?? '/', 'http://tracker')
    const claimed = url.searchParams.get('ip')
    const socketIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    req.headers['x-forwarded-for'] = claimed && isIP(claimed) ? claimed : socketIp
    this.server.onHttpRequest(req, res, { action })
  }

  close(): void {
    this.server.close()
  }
}

/** How many times `numwant` peers an announce with a place is ordered from, at most `MAX_POOL`. */
const ORDER_POOL = 4
const MAX_POOL = 200

/** Why an announce's `zone=` or `rack=` is refused, if it is. */
function placeRefusal(params: Record<string, unknown>): string | undefined {
  for (const key of ['zone', 'rack'] as const) {
    const v = params[key]
    if (v !== undefined && !isPlaceName(v)) return `${key}= must be one name of 1 to 63 characters of A-Za-z0-9._-`
  }
  return undefined
}

/** The announcer's place; the filter refused any invalid name before. */
function placeOf(params: Record<string, unknown>): Place {
  return { zone: isPlaceName(params.zone) ? params.zone : undefined, rack: isPlaceName(params.rack) ? params.rack : undefined }
}
