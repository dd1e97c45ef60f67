import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import type { Clock } from '../lib/core/clock.js'
import { Digest, RepoName } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import type { RegistryClient } from '../lib/registry/client.js'
import { safeJoin } from '../lib/core/safe-path.js'
import type { BlobService } from './blob-service.js'

export type PreheatState = 'PENDING' | 'SUCCESS' | 'FAILURE'

export interface PreheatTarget {
  readonly repo: RepoName
  /** A tag or a digest, as Harbor's URL gave it. */
  readonly reference: string
}

interface Task {
  url: string
  hostname: string
  ip: string
  description?: string
}

/** What is kept on disk. The caller's Authorization is deliberately not part of it. */
interface JobRecord {
  id: number
  state: PreheatState
  created_at: string
  updated_at: string
  repo: string
  reference: string
  error: string
  success_tasks: Task[]
  failure_tasks: Task[]
}

/** The Dragonfly manager's job shape, which Harbor's dragonfly driver parses. */
export interface PreheatJobView {
  id: number
  state: PreheatState
  created_at: string
  updated_at: string
  result?: { job_states: Array<{ error: string; results: Array<{ scheduler_cluster_id: number; success_tasks: Task[]; failure_tasks: Task[] }> }> }
}

export interface PreheatJobsDeps {
  readonly dataDir: string
  readonly origin: RegistryClient
  readonly blobs: BlobService
  readonly clock: Clock
  readonly logger: Logger
  /** Reported as the task's hostname and ip: where the blob now seeds. */
  readonly hostname: string
  readonly ip: string
  /** Blobs of one job fetched at once. */
  readonly concurrency: number
}

const INTERRUPTED = 'the sidecar stopped while this job was running; preheat again'

/**
 * Preheat jobs as Harbor's Dragonfly provider drives them: created, run in the
 * background, polled by id. Records survive restarts; credentials do not.
 */
export class PreheatJobs {
  private readonly jobs = new Map<number, JobRecord>()
  private nextId = 1
  private closed = false
  private readonly dir: string

  constructor(private readonly deps: PreheatJobsDeps) {
    this.dir = safeJoin(deps.dataDir, 'preheat-jobs')
  }

  /** Loads earlier jobs; one still PENDING was cut off by a stop and can never finish. */
  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true })
    for (const name of await fs.readdir(this.dir)) {
      if (!/^\d+\.json$/.test(name)) continue
      let rec: JobRecord
      try {
        rec = JSON.parse(await fs.readFile(safeJoin(this.dir, name), 'utf8')) as JobRecord
      } catch (err) {
        this.deps.logger.warn({ file: name, err: (err as Error).message }, 'unreadable preheat job record; skipped')
        continue
      }
      if (!Number.isSafeInteger(rec.id)) continue
      if (rec.state === 'PENDING') {
        rec.state = 'FAILURE'
        rec.error = INTERRUPTED
        rec.updated_at = this.now()
        await this.persist(rec)
      }
      this.jobs.set(rec.id, rec)
      this.nextId = Math.max(this.nextId, rec.id + 1)
    }
  }

  /** Starts a job. `authorization` reaches the origin for this job's manifests and goes nowhere else. */
  async create(target: PreheatTarget, authorization: string | undefined): Promise<PreheatJobView> {
    const now = this.now()
    const rec: JobRecord = {
      id: this.nextId++,
      state: 'PENDING',
      created_at: now,
      updated_at: now,
      repo: target.repo.toString(),
      reference: target.reference,
      error: '',
      success_tasks: [],
      failure_tasks: [],
    }
    this.jobs.set(rec.id, rec)
    await this.persist(rec)
    void this.run(rec, target, authorization)
    return view(rec)
  }

  get(id: number): PreheatJobView | undefined {
    const rec = this.jobs.get(id)
    return rec ? view(rec) : undefined
  }

  /** Jobs still running are left PENDING on disk, which the next start reports as interrupted. */
  close(): void {
    this.closed = true
  }

  private async run(rec: JobRecord, target: PreheatTarget, authorization: string | undefined): Promise<void> {
    const log = this.deps.logger.child({ job: rec.id, repo: rec.repo, reference: rec.reference })
    try {
      const digests = await this.blobsOf(target.repo, target.reference, authorization)
      const queue = [...digests]
      const worker = async () => {
        for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
          const url = `${this.deps.origin.baseUrl}/v2/${rec.repo}/blobs/${d}`
          try {
            await this.deps.blobs.ensure({ repo: target.repo, digest: d })
            rec.success_tasks.push({ url, hostname: this.deps.hostname, ip: this.deps.ip })
          } catch (err) {
            rec.failure_tasks.push({ url, hostname: this.deps.hostname, ip: this.deps.ip, description: (err as Error).message })
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(this.deps.concurrency, Math.max(queue.length, 1)) }, worker))
      rec.state = rec.failure_tasks.length === 0 ? 'SUCCESS' : 'FAILURE'
      if (rec.failure_tasks.length) rec.error = `${rec.failure_tasks.length} of ${digests.length} blobs failed to pre-seed`
    } catch (err) {
      rec.state = 'FAILURE'
      rec.error = (err as Error).message
    }
    rec.updated_at = this.now()
    log.info({ state: rec.state, blobs: rec.success_tasks.length, failed: rec.failure_tasks.length, error: rec.error || undefined }, 'preheat job finished')
    if (this.closed) return
    await this.persist(rec).catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not store the preheat job'))
  }

  /** Every blob of the manifest, or of every platform of the index, without duplicates. */
  private async blobsOf(repo: RepoName, reference: string, authorization: string | undefined): Promise<Digest[]> {
    const { manifest } = await this.deps.origin.getManifestByReference(repo, reference, { authorization })
    const manifests = manifest.kind === 'index'
      ? await Promise.all(manifest.manifests.map(async (c) => (await this.deps.origin.getManifestByReference(repo, c.digest.toString(), { authorization })).manifest))
      : [manifest]
    const seen = new Map<string, Digest>()
    for (const m of manifests) {
      // An index inside an index is legal but nothing pushes one; refusing beats guessing.
      if (m.kind !== 'manifest') throw new Error(`${repo}:${reference} nests an index in an index`)
      for (const b of m.blobs) seen.set(b.digest.hex, b.digest)
    }
    return [...seen.values()]
  }

  private async persist(rec: JobRecord): Promise<void> {
    const file = safeJoin(this.dir, `${rec.id}.json`)
    const tmp = safeJoin(this.dir, `.${rec.id}.${randomBytes(4).toString('hex')}.tmp`)
    await fs.writeFile(tmp, JSON.stringify(rec))
    await fs.rename(tmp, file)
  }

  private now(): string {
    return new Date(this.deps.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  }
}

function view(rec: JobRecord): PreheatJobView {
  const v: PreheatJobView = { id: rec.id, state: rec.state, created_at: rec.created_at, updated_at: rec.updated_at }
  if (rec.state !== 'PENDING') {
    v.result = { job_states: [{ error: rec.error, results: [{ scheduler_cluster_id: 1, success_tasks: rec.success_tasks, failure_tasks: rec.failure_tasks }] }] }
  }
  return v
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/**
 * Reads `<origin>/v2/<name>/manifests/<reference>` from a preheat request.
 * Undefined when it is not on the configured origin or not a manifest URL:
 * the sidecar fetches from its origin only, whatever a payload names.
 */
export function preheatTargetOf(rawUrl: string, originBase: string): PreheatTarget | undefined {
  let u: URL
  try {
    u = new URL(rawUrl)
  } catch {
    return undefined
  }
  const origin = new URL(originBase)
  if (u.protocol !== origin.protocol || u.host !== origin.host || u.username || u.password) return undefined
  const prefix = `${origin.pathname.replace(/\/+$/, '')}/v2/`
  if (!u.pathname.startsWith(prefix)) return undefined
  const m = /^(.+)\/manifests\/([^/]+)$/.exec(u.pathname.slice(prefix.length))
  if (!m) return undefined
  let repo: RepoName
  try {
    repo = RepoName.parse(m[1])
    if (m[2].includes(':')) Digest.parse(m[2])
    else if (!TAG.test(m[2])) return undefined
  } catch {
    return undefined
  }
  return { repo, reference: m[2] }
}
