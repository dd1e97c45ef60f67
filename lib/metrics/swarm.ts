import { Counter, Gauge, type Registry } from 'prom-client'

/** What the swarm counts itself; read when scraped. */
export interface SwarmCounts {
  readonly uploadedBytes: number
  readonly connectedPeers: number
  readonly bannedPeers: number
}

/** The swarm's metrics, the same on both processes. */
export function swarmMetrics(register: Registry, swarm: SwarmCounts): void {
  new Counter({
    name: 'layerseed_swarm_upload_bytes_total',
    help: 'Bytes sent to peers over the swarm',
    registers: [register],
    collect() {
      this.reset()
      this.inc(swarm.uploadedBytes)
    },
  })
  new Gauge({
    name: 'layerseed_swarm_peers',
    help: 'Distinct peers connected now, over all torrents',
    registers: [register],
    collect() {
      this.set(swarm.connectedPeers)
    },
  })
  new Counter({
    name: 'layerseed_swarm_banned_peers_total',
    help: 'Peers banned since the process started (bad pieces, protocol violations, delisted by the tracker)',
    registers: [register],
    collect() {
      this.reset()
      this.inc(swarm.bannedPeers)
    },
  })
}
