import { Counter, Gauge, type Registry } from 'prom-client'
import { RepoLabels } from '../lib/metrics/repo-labels.js'
import type { PreheatState } from './preheat-jobs.js'

export type WebhookSource = 'distribution' | 'harbor' | 'kraken'
/** What became of a push event's targets; `refused` counts requests turned away (token, shape, a full queue). */
export type WebhookResult = 'queued' | 'duplicate' | 'ignored' | 'refused'

/** What the sidecar's parts count as bytes and events move. */
export interface SidecarMeter {
  /** Bytes read from the origin for a blob of `repo`. */
  fetched(repo: string, bytes: number): void
  /** Blob bytes sent over HTTP (`/v1/blobs/<d>/data` and inline answers). */
  servedHttp(bytes: number): void
  webhook(source: WebhookSource, result: WebhookResult, n?: number): void
  announce(ok: boolean): void
  preheat(state: PreheatState): void
}

export const noSidecarMeter: SidecarMeter = { fetched: () => undefined, servedHttp: () => undefined, webhook: () => undefined, announce: () => undefined, preheat: () => undefined }

/** The parts the gauges read when scraped, handed over once they are built. */
export interface SidecarParts {
  readonly queueDepth: () => number
  readonly blobCounts: () => Record<'fetching' | 'seeding' | 'failed', number>
  /** Bytes the seeder sent to peers. */
  readonly seederBytes: () => number
}

/** The sidecar's own metrics on `register`; docs/metrics.md lists them. */
export function sidecarMetrics(register: Registry, repoCap?: number): SidecarMeter & { watch(parts: SidecarParts): void } {
  let parts: SidecarParts | undefined
  let httpBytes = 0
  const registers = [register]
  const origin = new Counter({ name: 'layerseed_sidecar_origin_bytes_total', help: 'Blob bytes read from the origin registry', registers })
  const repoOrigin = new Counter({ name: 'layerseed_sidecar_repo_origin_bytes_total', help: 'Blob bytes read from the origin, by repository (past the cap: repo="other")', labelNames: ['repo'], registers })
  new Counter({
    name: 'layerseed_sidecar_served_bytes_total',
    help: 'Blob bytes sent to agents, by the seeder over the swarm or over HTTP',
    labelNames: ['via'],
    registers,
    collect() {
      this.reset()
      this.inc({ via: 'seeder' }, parts?.seederBytes() ?? 0)
      this.inc({ via: 'http' }, httpBytes)
    },
  })
  const webhooks = new Counter({ name: 'layerseed_sidecar_webhook_events_total', help: 'Push events by source and by what became of them', labelNames: ['source', 'result'], registers })
  new Gauge({
    name: 'layerseed_sidecar_queue_depth',
    help: 'Pre-seed targets held: queued, running or waiting for the origin',
    registers,
    collect() {
      this.set(parts?.queueDepth() ?? 0)
    },
  })
  new Gauge({
    name: 'layerseed_sidecar_blobs',
    help: 'Blobs by state',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = parts?.blobCounts() ?? { fetching: 0, seeding: 0, failed: 0 }
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
    },
  })
  const announces = new Counter({ name: 'layerseed_tracker_announces_total', help: 'Tracker announces, answered or refused', labelNames: ['result'], registers })
  const jobs = new Counter({ name: 'layerseed_preheat_jobs_total', help: 'Preheat jobs created (PENDING) and finished (SUCCESS, FAILURE)', labelNames: ['state'], registers })
  for (const result of ['ok', 'refused']) announces.inc({ result }, 0)
  for (const state of ['PENDING', 'SUCCESS', 'FAILURE']) jobs.inc({ state }, 0)
  const repos = new RepoLabels(repoCap)
  return {
    fetched(repo, bytes) {
      origin.inc(bytes)
      repoOrigin.inc({ repo: repos.of(repo) }, bytes)
    },
    servedHttp(bytes) {
      httpBytes += bytes
    },
    webhook: (source, result, n = 1) => webhooks.inc({ source, result }, n),
    announce: (ok) => announces.inc({ result: ok ? 'ok' : 'refused' }),
    preheat: (state) => jobs.inc({ state }),
    watch(p) {
      parts = p
    },
  }
}
