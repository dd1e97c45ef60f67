import type { TrackerInternals, TrackerPeers } from './internals.js'

// bittorrent-tracker has no API to drop a swarm's peers or to list them
// outside an announce; the sidecar needs both (forgetting a blob, counting
// the agents of one).

/** Removes every peer of the swarm of `infoHash` (hex), if there is one. */
export function forgetPeers(server: object, infoHash: string): void {
  const swarm = (server as TrackerInternals).torrents[infoHash]
  if (swarm) for (const id of [...swarm.peers.keys]) swarm.peers.remove(id)
}

/** How many peers of the swarm of `infoHash` (hex) `counts` accepts, by their hex peer id. */
export function countPeers(server: object, infoHash: string, counts: (peerId: string | undefined) => boolean): number {
  const swarm = (server as TrackerInternals).torrents[infoHash]
  if (!swarm) return 0
  let n = 0
  for (const id of swarm.peers.keys) if (counts(swarm.peers.peek(id)?.peerId)) n++
  return n
}

/** Removes the peers of the swarm of `infoHash` (hex) whose hex peer id `matches`; returns their keys (`ip:port` for HTTP peers). */
export function removePeersWhere(server: object, infoHash: string, matches: (peerId: string | undefined) => boolean): string[] {
  const swarm = (server as TrackerInternals).torrents[infoHash]
  if (!swarm) return []
  const gone = swarm.peers.keys.filter((id) => matches(swarm.peers.peek(id)?.peerId))
  for (const id of gone) swarm.peers.remove(id)
  return gone
}

/** A peer of a swarm as bittorrent-tracker keeps it, with what `orderAnswers` stored beside. */
export interface TrackedPeer {
  readonly peerId?: string
  readonly ip?: string
  readonly port?: number
  zone?: string
  rack?: string
}

/** How the tracker's answers are made: `place` reads the announcer's zone and rack, `order` picks and orders the peers it is handed. */
export interface AnswerOrder {
  place(params: Record<string, unknown>): { zone?: string; rack?: string }
  order(self: { zone?: string; rack?: string }, peers: TrackedPeer[], want: number): TrackedPeer[]
}

interface SwarmInternals {
  peers: Omit<TrackerPeers, 'peek'> & { peek(id: string): TrackedPeer | undefined }
  announce(params: Record<string, unknown>, cb: (err: Error | null, res?: { peers: TrackedPeer[] }) => void): void
}

/**
 * Makes every swarm of `server` keep each announcer's zone and rack on its
 * peer entry (so they live and go with it) and order the peers of each
 * answer with `how.order`. bittorrent-tracker picks `numwant` peers at random
 * before converting them to its compact form, so the announce asks it for all
 * of them and keeps `numwant` of its own choosing.
 */
export function orderAnswers(server: object, how: AnswerOrder): void {
  const s = server as { createSwarm(infoHash: string, cb: (err: Error | null, swarm?: SwarmInternals) => void): void }
  const create = s.createSwarm.bind(server)
  s.createSwarm = (infoHash, cb) =>
    create(infoHash, (err, swarm) => {
      if (swarm) orderSwarm(swarm, how)
      cb(err, swarm)
    })
}

function orderSwarm(swarm: SwarmInternals, how: AnswerOrder): void {
  const announce = swarm.announce.bind(swarm)
  swarm.announce = (params, cb) => {
    const want = typeof params.numwant === 'number' ? params.numwant : 0
    const self = how.place(params)
    announce({ ...params, numwant: swarm.peers.keys.length + 1 }, (err, res) => {
      const entry = typeof params.addr === 'string' ? swarm.peers.peek(params.addr) : undefined
      if (entry) {
        entry.zone = self.zone
        entry.rack = self.rack
      }
      if (!err && res) res.peers = how.order(self, res.peers, want)
      cb(err, res)
    })
  }
}
