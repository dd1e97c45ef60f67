import { isIP } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import bencode from 'bencode'
import TrackerServer from 'bittorrent-tracker/server'
import type { Clock } from '../core/clock.js'
import type { InfoHash } from '../core/domain.js'
import type { Logger } from '../core/logger.js'
import { isSeederPeerId } from './swarm.js'
import { checkInternals } from './webtorrent/check-internals.js'
import { countPeers, forgetPeers, orderAnswers, removePeersWhere } from './webtorrent/tracker-peers.js'
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
 * `--zone` and `--rack`); the tracker keeps it with the peer's entry and
 * orders each answer by it (`orderPeers` in topology.ts). A name that is not
 * a valid place name refuses the announce, naming the parameter.
 */
export class Tracker {
  private readonly issued = new Set<string>()
  private readonly server: TrackerServer
  private readonly bans: TrackerBans
  private readonly protectedIds = new Set<string>()
  private delistHook: ((infoHash: string, peerId: string) => void) | undefined

  /** Throws, before the server is built, if the installed bittorrent-tracker lacks a member `forget` or `agentPeers` relies on. */
  constructor(private readonly opts: TrackerOptions = {}) {
    checkInternals()
    this.bans = new TrackerBans(opts.clock ?? { now: Date.now }, opts.reportsToDelist)
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
    // Each answer lists the nearest peers first: same rack, same zone, then a few of other zones at least.
    orderAnswers(this.server, { place: placeOf, order: orderPeers })
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
      for (const addr of removePeersWhere(this.server, infoHash, (p) => p === id)) this.bans.delist(infoHash, { addr })
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
    forgetPeers(this.server, infoHash.hex)
  }

  /** Peers in a torrent's swarm other than seeders (sidecars). */
  agentPeers(infoHash: InfoHash): number {
    return countPeers(this.server, infoHash.hex, (peerId) => !isSeederPeerId(peerId))
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
