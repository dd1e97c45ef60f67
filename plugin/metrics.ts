import { Counter, Histogram, type Registry } from 'prom-client'
import { RepoLabels } from '../lib/metrics/repo-labels.js'
import type { PeerZoneBytes, SourceBytes } from './pull-progress.js'

/** How a blob request ended: from the cache, pulled (swarm or sidecar), pulled with the upstream's help, or failed. */
export type BlobResult = 'hit' | 'miss' | 'fallback' | 'error'

/** What the agent's blob route counts. */
export interface AgentMeter {
  /** Bytes delivered to a client, by where they came from; those from peers also by the peers' zone. */
  served(repo: string, sources: SourceBytes, peerZones: PeerZoneBytes): void
  request(result: BlobResult): void
  /** A pull's duration, from the request to the last byte sent. */
  pulled(seconds: number): void
}

export const noAgentMeter: AgentMeter = { served: () => undefined, request: () => undefined, pulled: () => undefined }

/** The agent's own metrics on `register`; docs/metrics.md lists them. */
export function agentMetrics(register: Registry, repoCap?: number): AgentMeter {
  const bytes = new Counter({ name: 'layerseed_agent_blob_bytes_total', help: 'Blob bytes delivered to clients, by where they came from (from peers: by zone, same or other than the agent\'s)', labelNames: ['source', 'zone'], registers: [register] })
  const repoBytes = new Counter({ name: 'layerseed_agent_repo_bytes_total', help: 'Blob bytes delivered to clients, by repository (past the cap: repo="other")', labelNames: ['repo'], registers: [register] })
  const requests = new Counter({ name: 'layerseed_agent_blob_requests_total', help: 'Blob requests, by how they ended', labelNames: ['result'], registers: [register] })
  const pulls = new Histogram({
    name: 'layerseed_agent_pull_duration_seconds',
    help: 'Blob pulls (not served from the cache), from the request to the last byte',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [register],
  })
  for (const source of ['cache', 'seeder', 'origin']) bytes.inc({ source }, 0)
  for (const zone of ['same', 'other']) bytes.inc({ source: 'peers', zone }, 0)
  for (const result of ['hit', 'miss', 'fallback', 'error']) requests.inc({ result }, 0)
  const repos = new RepoLabels(repoCap)
  return {
    served(repo, sources, peerZones) {
      let total = 0
      for (const [source, n] of Object.entries(sources)) {
        if (n > 0 && source !== 'peers') bytes.inc({ source }, n)
        total += n
      }
      // The split is rounded from the download's counts: `other` takes the rest, so the two sum to `peers`.
      const same = Math.min(sources.peers, peerZones.same)
      if (same > 0) bytes.inc({ source: 'peers', zone: 'same' }, same)
      if (sources.peers - same > 0) bytes.inc({ source: 'peers', zone: 'other' }, sources.peers - same)
      if (total > 0) repoBytes.inc({ repo: repos.of(repo) }, total)
    },
    request: (result) => requests.inc({ result }),
    pulled: (seconds) => pulls.observe(seconds),
  }
}
