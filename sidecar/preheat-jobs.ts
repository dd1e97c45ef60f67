import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import type { Clock } from '../lib/core/clock.js'
import { Digest, RepoName, type Descriptor } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import type { RegistryClient } from '../lib/registry/client.js'
import { safeJoin } from '../lib/core/safe-path.js'
import type { BlobService } from './blob-service.js'
import type { PreheatTarget } from './preheat-url.js'

export { preheatTargetOf, type PreheatTarget } from './preheat-url.js'

export type PreheatState = 'PENDING' | 'SUCCESS' | 'FAILURE'

interface Task {
  url: string
  hostname: string
  ip: string
  description?: string
}

/** What is kept on disk (and in a group's Redis). The caller's Authorization is deliberately not part of it. */
export interface JobRecord {
  id: number
  state: PreheatState
  created_at: string
  updated_at: string
  repo: string
  reference: string
  error: string
  success_tasks: Task[]
  failure_tasks: Task[]
  /** The job's blobs once its manifests are read; `done` when each finished. */
  blobs?: JobBlob[]
  /** In a group: how often a live member took the job over from one that died running it. */
  takeovers?: number
}

interface JobBlob {
  digest: string
  size: number
  done?: 'seeding' | 'failed'
}

/** One blob of a job as it stands: `waiting` for a worker, `fetching` from the origin, `seeding` once done. */
export interface JobBlobView {
  digest: string
  size: number
  state: 'waiting' | 'fetching' | 'seeding' | 'failed'
  bytesDone: number
}

/** The Dragonfly manager's job shape, which Harbor's dragonfly driver parses; `repo` onward are layerseed's own. */
export interface PreheatJobView {
  id: number
  state: PreheatState
  created_at: string
  updated_at: string
  result?: { job_states: Array<{ error: string; results: Array<{ scheduler_cluster_id: number; success_tasks: Task[]; failure_tasks: Task[] }> }> }
  repo: string
  reference: string
  progress: { bytesDone: number; bytesTotal: number; blobs: JobBlobView[] }
  /** In a group, once a live member took the job over from one that died running it. */
  takeovers?: number
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
  /** Told of each job created (PENDING) and finished, for metrics. */
  readonly onState?: (state: PreheatState) => void
  /** In a group: job records every member reads, so Harbor may poll any of them. */
  readonly shared?: SharedJobs
}

/**
 * Job records a group of sidecars shares.
 *
 * Contract: `nextId` gives an id no member of the group gave before. `save`
 * stores a record; while the job runs (`state` PENDING) the saving member
 * holds its lease and renews it with `renew` well within the lease. A
 * PENDING job whose lease lapsed (its member died) is listed by `lapsed`;
 * `claim` gives its lease to this member, true for exactly one claimant, who
 * then runs the rest of it. `load` answers a record saved by any member; a
 * lapsed one past its takeovers comes back FAILURE, saying so, and is stored
 * that way, so no job stays PENDING forever. `recent` lists the newest
 * records. Each method rejects while the shared store cannot be reached;
 * callers fall back to what this member holds.
 */
export interface SharedJobs {
  nextId(): Promise<number>
  save(rec: JobRecord): Promise<void>
  renew(id: number): Promise<void>
  load(id: number): Promise<JobRecord | undefined>
  recent(max: number): Promise<JobRecord[]>
  lapsed(): Promise<JobRecord[]>
  claim(id: number): Promise<boolean>
}

/** A job record's time, as the Dragonfly manager writes it: UTC, whole seconds. */
export function jobTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** How often a running job's lease is renewed in a group. */
export const LEASE_RENEW_MS = 2000

const INTERRUPTED = 'the sidecar stopped while this job was running; preheat again'

/**
 * Preheat jobs as Harbor's Dragonfly provider drives them: created, run in the
 * background, polled by id. Records survive restarts; credentials do not.
 */
export class PreheatJobs {
  private readonly jobs = new Map<number, JobRecord>()
  /** Jobs this process runs now: for these its own record is the freshest. */
  private readonly running = new Set<number>()
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
      id: await this.newId(),
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
    await this.share(rec)
    this.deps.onState?.('PENDING')
    void this.run(rec, target, authorization)
    return this.view(rec)
  }

  /**
   * A job as it stands now. In a group the shared record wins over this
   * member's copy, which is stale once another member took the job over,
   * except while this member runs it.
   */
  async get(id: number): Promise<PreheatJobView | undefined> {
    const shared = this.running.has(id) ? undefined : await this.deps.shared?.load(id).catch(() => undefined)
    const rec = shared ?? this.jobs.get(id)
    return rec ? this.view(rec) : undefined
  }

  /** Every job this sidecar knows (in a group, also the newest of the others), newest first. */
  async list(): Promise<PreheatJobView[]> {
    const all = new Map<number, JobRecord>(this.jobs)
    for (const r of await this.deps.shared?.recent(100).catch(() => []) ?? []) if (!this.running.has(r.id)) all.set(r.id, r)
    return [...all.values()].sort((a, b) => b.id - a.id).map((rec) => this.view(rec))
  }

  /**
   * Runs the rest of a job a member of the group died running, once this
   * member claimed its lease. Its caller's Authorization died with that
   * member: blobs still to fetch (and the manifests, if they were not read
   * yet) are read with this sidecar's own origin credentials.
   */
  async adopt(rec: JobRecord): Promise<void> {
    const target = { repo: RepoName.parse(rec.repo), reference: rec.reference }
    rec.takeovers = (rec.takeovers ?? 0) + 1
    rec.updated_at = this.now()
    this.jobs.set(rec.id, rec)
    await this.persist(rec)
    await this.share(rec)
    const left = (rec.blobs ?? []).filter((b) => b.done === undefined).length
    this.deps.logger.info({ job: rec.id, repo: rec.repo, reference: rec.reference, takeovers: rec.takeovers, blobsLeft: rec.blobs ? left : undefined }, 'took over a preheat job a member left unfinished')
    void this.run(rec, target, undefined)
  }

  /** A group's next id; alone, or with Redis down, this sidecar's own (past any id the group could give soon). */
  private async newId(): Promise<number> {
    if (this.deps.shared) {
      try {
        return await this.deps.shared.nextId()
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, 'shared job ids unreachable; this job is known to this sidecar only')
        return Math.max(this.nextId++, this.deps.clock.now())
      }
    }
    return this.nextId++
  }

  private async share(rec: JobRecord): Promise<void> {
    await this.deps.shared?.save(rec).catch((err: unknown) => this.deps.logger.warn({ job: rec.id, err: (err as Error).message }, 'could not share the preheat job record'))
  }

  /** Jobs still running are left PENDING on disk, which the next start reports as interrupted. */
  close(): void {
    this.closed = true
  }

  private async run(rec: JobRecord, target: PreheatTarget, authorization: string | undefined): Promise<void> {
    const log = this.deps.logger.child({ job: rec.id, repo: rec.repo, reference: rec.reference })
    this.running.add(rec.id)
    // The lease tells the other members this job is alive; a job whose member died is taken over by one of them.
    const lease = this.deps.shared ? setInterval(() => void this.deps.shared?.renew(rec.id).catch(() => undefined), LEASE_RENEW_MS) : undefined
    lease?.unref()
    try {
      if (!rec.blobs) {
        const descriptors = await this.blobsOf(target.repo, target.reference, authorization)
        rec.blobs = descriptors.map((b) => ({ digest: b.digest.toString(), size: b.size }))
        await this.share(rec)
      }
      // A job taken over keeps what its first member finished.
      const queue = rec.blobs.filter((b) => b.done === undefined).map((blob) => ({ d: Digest.parse(blob.digest), blob }))
      const worker = async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const { d, blob } = next
          const url = `${this.deps.origin.baseUrl}/v2/${rec.repo}/blobs/${d}`
          try {
            await this.deps.blobs.ensure({ repo: target.repo, digest: d })
            rec.success_tasks.push({ url, hostname: this.deps.hostname, ip: this.deps.ip })
            blob.done = 'seeding'
          } catch (err) {
            rec.failure_tasks.push({ url, hostname: this.deps.hostname, ip: this.deps.ip, description: (err as Error).message })
            blob.done = 'failed'
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(this.deps.concurrency, Math.max(queue.length, 1)) }, worker))
      rec.state = rec.failure_tasks.length === 0 ? 'SUCCESS' : 'FAILURE'
      if (rec.failure_tasks.length) rec.error = `${rec.failure_tasks.length} of ${rec.blobs.length} blobs failed to pre-seed`
    } catch (err) {
      rec.state = 'FAILURE'
      rec.error = (err as Error).message
    } finally {
      clearInterval(lease)
    }
    rec.updated_at = this.now()
    this.deps.onState?.(rec.state)
    log.info({ state: rec.state, blobs: rec.success_tasks.length, failed: rec.failure_tasks.length, error: rec.error || undefined }, 'preheat job finished')
    // Stopping: the record stays PENDING in the group, and its lease lapses for another member to take it over.
    if (this.closed) return
    await this.share(rec)
    this.running.delete(rec.id)
    await this.persist(rec).catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not store the preheat job'))
  }

  /** Every blob of the manifest, or of every platform of the index, without duplicates. */
  private async blobsOf(repo: RepoName, reference: string, authorization: string | undefined): Promise<Descriptor[]> {
    const { manifest } = await this.deps.origin.getManifestByReference(repo, reference, { authorization })
    const manifests = manifest.kind === 'index'
      ? await Promise.all(manifest.manifests.map(async (c) => (await this.deps.origin.getManifestByReference(repo, c.digest.toString(), { authorization })).manifest))
      : [manifest]
    const seen = new Map<string, Descriptor>()
    for (const m of manifests) {
      // An index inside an index is legal but nothing pushes one; refusing beats guessing.
      if (m.kind !== 'manifest') throw new Error(`${repo}:${reference} nests an index in an index`)
      for (const b of m.blobs) seen.set(b.digest.hex, b)
    }
    return [...seen.values()]
  }

  private async persist(rec: JobRecord): Promise<void> {
    const file = safeJoin(this.dir, `${rec.id}.json`)
    const tmp = safeJoin(this.dir, `.${rec.id}.${randomBytes(4).toString('hex')}.tmp`)
    await fs.writeFile(tmp, JSON.stringify(rec))
    await fs.rename(tmp, file)
  }

  private view(rec: JobRecord): PreheatJobView {
    const blobs = (rec.blobs ?? []).map((b) => this.blobView(b))
    const progress = { bytesDone: blobs.reduce((n, b) => n + b.bytesDone, 0), bytesTotal: blobs.reduce((n, b) => n + b.size, 0), blobs }
    // Harbor reads the Dragonfly fields by name and ignores the rest.
    return {
      id: rec.id,
      state: rec.state,
      created_at: rec.created_at,
      updated_at: rec.updated_at,
      ...(rec.state !== 'PENDING' ? { result: { job_states: [{ error: rec.error, results: [{ scheduler_cluster_id: 1, success_tasks: rec.success_tasks, failure_tasks: rec.failure_tasks }] }] } } : {}),
      repo: rec.repo,
      reference: rec.reference,
      progress,
      ...(rec.takeovers ? { takeovers: rec.takeovers } : {}),
    }
  }

  /** A finished blob as it ended; one still running as the blob service sees it now. */
  private blobView(b: JobBlob): JobBlobView {
    if (b.done === 'seeding') return { digest: b.digest, size: b.size, state: 'seeding', bytesDone: b.size }
    if (b.done === 'failed') return { digest: b.digest, size: b.size, state: 'failed', bytesDone: 0 }
    const s = this.deps.blobs.status(Digest.parse(b.digest))
    if (s.state === 'seeding') return { digest: b.digest, size: b.size, state: 'seeding', bytesDone: b.size }
    if (s.state === 'fetching') return { digest: b.digest, size: b.size, state: 'fetching', bytesDone: s.bytesFetched ?? 0 }
    return { digest: b.digest, size: b.size, state: 'waiting', bytesDone: 0 }
  }

  private now(): string {
    return jobTime(this.deps.clock.now())
  }
}
