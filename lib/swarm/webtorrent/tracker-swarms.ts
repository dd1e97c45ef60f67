import type { TrackerInternals, TrackerSwarmLike } from './internals.js'

// bittorrent-tracker keeps each torrent's peers in its own Swarm objects and
// documents getSwarm/createSwarm as the place to put another store; the
// tracker's peers live in a PeerStore instead (peer-store.ts).

/** Makes `server` answer every torrent's announces and scrapes through `swarmOf`. */
export function useSwarms(server: object, swarmOf: (infoHash: string) => TrackerSwarmLike): void {
  const s = server as TrackerInternals
  const give = (infoHash: string | Uint8Array, cb: (err: Error | null, swarm: TrackerSwarmLike) => void) => {
    const hex = typeof infoHash === 'string' ? infoHash : Buffer.from(infoHash).toString('hex')
    process.nextTick(() => cb(null, swarmOf(hex)))
  }
  s.getSwarm = give
  s.createSwarm = give
}
