import { isIP } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import TrackerServer from 'bittorrent-tracker/server'
import type { InfoHash } from '../lib/domain.js'
import { isSeederPeerId } from '../lib/swarm.js'

/**
 * The swarm's HTTP tracker. It answers only for info-hashes this sidecar
 * issued, so the sidecar's port is no open tracker for anything else.
 */
export class Tracker {
  private readonly issued = new Set<string>()
  private readonly server: TrackerServer

  constructor() {
    this.server = new TrackerServer({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      trustProxy: true,
      filter: (infoHash, _params, cb) =>
        cb(this.issued.has(infoHash) ? null : new Error('info-hash was not issued by this sidecar')),
    })
  }

  issue(infoHash: InfoHash): void {
    this.issued.add(infoHash.hex)
  }

  /** Forgets a torrent and every peer of it. */
  forget(infoHash: InfoHash): void {
    this.issued.delete(infoHash.hex)
    const swarm = this.server.torrents[infoHash.hex]
    if (swarm) for (const id of [...swarm.peers.keys]) swarm.peers.remove(id)
  }

  /** Peers in a torrent's swarm other than seeders (sidecars). */
  agentPeers(infoHash: InfoHash): number {
    const swarm = this.server.torrents[infoHash.hex]
    if (!swarm) return 0
    let n = 0
    for (const id of swarm.peers.keys) if (!isSeederPeerId(swarm.peers.peek(id)?.peerId)) n++
    return n
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
