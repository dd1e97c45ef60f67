// What `layerseed status` reads: the processes' own JSON endpoints, nothing else.

/** The fields of `GET /v1/cache` shown here. */
export interface CacheView {
  readonly usedBytes: number
  readonly maxBytes: number | null
  readonly blobs: number
  readonly pinned: number
  readonly freeDiskBytes: number
}

export interface PullView {
  readonly digest: string
  readonly repo: string
  readonly size: number | null
  readonly bytes: number
  readonly bytesBySource: Record<string, number>
  readonly rate: number
  readonly peers: number
  readonly started: string
}

export interface FetchView {
  readonly digest: string
  readonly size?: number
  readonly bytesFetched?: number
}

export interface SidecarSnapshot {
  readonly url: string
  readonly cache: CacheView
  readonly queued: number
  readonly blobs: { readonly counts: Record<'fetching' | 'seeding' | 'failed', number>; readonly fetching: readonly FetchView[] }
}

export interface AgentSnapshot {
  readonly url: string
  readonly cache: CacheView
  readonly bytesBySource: Record<string, number>
  /** The bytes from peers by the peers' zone (an agent older than zones has none). */
  readonly peerBytesByZone?: { readonly same: number; readonly other: number }
  readonly pulls: readonly PullView[]
}

export interface Snapshot {
  readonly at: string
  readonly sidecar?: SidecarSnapshot
  readonly agent?: AgentSnapshot
}

/** A process that does not answer, or answers with something else than its API; one line for the operator. */
export class NotAnswering extends Error {
  constructor(what: string, url: URL, reason: string) {
    super(`${what} at ${url.origin} does not answer: ${reason}`)
    this.name = 'NotAnswering'
  }
}

const TIMEOUT_MS = 3000

async function getJson<T>(what: string, base: URL, path: string): Promise<T> {
  let res: Response
  try {
    res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err)
    throw new NotAnswering(what, base, cause)
  }
  if (!res.ok) throw new NotAnswering(what, base, `GET ${path} answered ${res.status}`)
  try {
    return (await res.json()) as T
  } catch {
    throw new NotAnswering(what, base, `GET ${path} is not JSON: is this a layerseed ${what}?`)
  }
}

export async function sidecarSnapshot(base: URL): Promise<SidecarSnapshot> {
  const [cache, health, blobs] = await Promise.all([
    getJson<CacheView>('sidecar', base, '/v1/cache'),
    getJson<{ queued: number }>('sidecar', base, '/healthz'),
    getJson<SidecarSnapshot['blobs']>('sidecar', base, '/v1/blobs'),
  ])
  return { url: base.origin, cache, queued: health.queued, blobs }
}

export async function agentSnapshot(base: URL): Promise<AgentSnapshot> {
  const [cache, stats, pulls] = await Promise.all([
    getJson<CacheView>('agent', base, '/v1/cache'),
    getJson<{ bytesBySource: Record<string, number>; peerBytesByZone?: { same: number; other: number } }>('agent', base, '/v1/stats'),
    getJson<{ pulls: PullView[] }>('agent', base, '/v1/pulls'),
  ])
  return { url: base.origin, cache, bytesBySource: stats.bytesBySource, ...(stats.peerBytesByZone ? { peerBytesByZone: stats.peerBytesByZone } : {}), pulls: pulls.pulls }
}

export async function snapshot(targets: { sidecar?: URL; agent?: URL }, now: Date): Promise<Snapshot> {
  const [sidecar, agent] = await Promise.all([
    targets.sidecar ? sidecarSnapshot(targets.sidecar) : undefined,
    targets.agent ? agentSnapshot(targets.agent) : undefined,
  ])
  return { at: now.toISOString(), ...(sidecar ? { sidecar } : {}), ...(agent ? { agent } : {}) }
}
