import { isIP } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import bencode from 'bencode'
import TrackerServer from 'bittorrent-tracker/server'
import type { InfoHash } from '../core/domain.js'
import { isSeederPeerId } from './swarm.js'
import { checkInternals } from './webtorrent/check-internals.js'
import { countPeers, forgetPeers } from './webtorrent/tracker-peers.js'

export interface TrackerOptions {
  /** Swarm admission: why an announce for an issued info-hash is refused, or undefined to let it pass. */
  readonly admit?: (infoHash: string, params: Record<string, unknown>) => string | undefined
}

/**
 * The swarm's HTTP tracker. It answers only for info-hashes this sidecar
 * issued, so the sidecar's port is no open tracker for anything else; with
 * admission, only peers that `admit` lets in.
 */
export class Tracker {
  private readonly issued = new Set<string>()
  private readonly server: TrackerServer

  /** Throws, before the server is built, if the installed bittorrent-tracker lacks a member `forget` or `agentPeers` relies on. */
  constructor(private readonly opts: TrackerOptions = {}) {
    checkInternals()
    this.server = new TrackerServer({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      trustProxy: true,
      filter: (infoHash, params, cb) => {
        if (!this.issued.has(infoHash)) return cb(new Error('info-hash was not issued by this sidecar'))
        const refused = this.opts.admit?.(infoHash, params)
        cb(refused === undefined ? null : new Error(refused))
      },
    })
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
