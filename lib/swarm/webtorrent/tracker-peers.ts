import type { TrackerInternals } from './internals.js'

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
