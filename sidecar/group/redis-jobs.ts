import type { Clock } from '../../lib/core/clock.js'
import { jobTime, type JobRecord, type SharedJobs } from '../preheat-jobs.js'
import type { GroupRedis } from './redis.js'

/** A running job's lease: renewed every 2 s by its member, so three missed renewals mean the member is gone. */
export const LEASE_MS = 6000
const RECORD_TTL_S = 7 * 24 * 3600
const NEXT = 'layerseed:job:next'
const INDEX = 'layerseed:jobs'
const recordKey = (id: number) => `layerseed:job:${id}`
const leaseKey = (id: number) => `layerseed:job-lease:${id}`
/** Ids of the jobs saved PENDING and not yet saved finished: where a sweep looks for lapsed leases. */
const RUNNING = 'layerseed:jobs:running'

/** A job is taken over this often at most: a job that kills each member running it must end. */
export const MAX_TAKEOVERS = 3
export const LAPSED = `the sidecars running this job stopped before it finished, ${MAX_TAKEOVERS + 1} times (its lease in the group lapsed each time); preheat again`

/** Preheat job records in the group's Redis: any member answers Harbor's polls. */
export class RedisJobs implements SharedJobs {
  constructor(
    private readonly redis: GroupRedis,
    private readonly memberId: string,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  async nextId(): Promise<number> {
    return this.redis.client.incr(NEXT)
  }

  async save(rec: JobRecord): Promise<void> {
    const m = this.redis.client.multi()
    m.set(recordKey(rec.id), JSON.stringify(rec), 'EX', RECORD_TTL_S)
    m.zadd(INDEX, rec.id, String(rec.id))
    m.zremrangebyrank(INDEX, 0, -1001)
    if (rec.state === 'PENDING') m.set(leaseKey(rec.id), this.memberId, 'PX', LEASE_MS).sadd(RUNNING, String(rec.id))
    else m.del(leaseKey(rec.id)).srem(RUNNING, String(rec.id))
    await m.exec()
  }

  async lapsed(): Promise<JobRecord[]> {
    const out: JobRecord[] = []
    for (const raw of await this.redis.client.smembers(RUNNING)) {
      const id = Number(raw)
      if ((await this.redis.client.exists(leaseKey(id))) === 1) continue
      const rec = parseRecord(await this.redis.client.get(recordKey(id)))
      if (rec?.state === 'PENDING') out.push(rec)
      else await this.redis.client.srem(RUNNING, raw)
    }
    return out
  }

  async claim(id: number): Promise<boolean> {
    return (await this.redis.client.set(leaseKey(id), this.memberId, 'PX', LEASE_MS, 'NX')) === 'OK'
  }

  async renew(id: number): Promise<void> {
    await this.redis.client.set(leaseKey(id), this.memberId, 'PX', LEASE_MS)
  }

  async load(id: number): Promise<JobRecord | undefined> {
    const [raw, leased] = await Promise.all([this.redis.client.get(recordKey(id)), this.redis.client.exists(leaseKey(id))])
    const rec = parseRecord(raw)
    // A lapsed job is taken over by a live member; only one past its takeovers can never finish.
    if (!rec || rec.state !== 'PENDING' || leased || (rec.takeovers ?? 0) < MAX_TAKEOVERS) return rec
    const failed: JobRecord = { ...rec, state: 'FAILURE', error: LAPSED, updated_at: jobTime(this.clock.now()) }
    await this.redis.client.multi().set(recordKey(id), JSON.stringify(failed), 'EX', RECORD_TTL_S).srem(RUNNING, String(id)).exec()
    return failed
  }

  async recent(max: number): Promise<JobRecord[]> {
    const ids = await this.redis.client.zrevrange(INDEX, 0, max - 1)
    const out = await Promise.all(ids.map((id) => this.load(Number(id))))
    return out.filter((r): r is JobRecord => r !== undefined)
  }
}

function parseRecord(raw: string | null): JobRecord | undefined {
  if (raw === null) return undefined
  try {
    const rec = JSON.parse(raw) as JobRecord
    return Number.isSafeInteger(rec.id) && ['PENDING', 'SUCCESS', 'FAILURE'].includes(rec.state) ? rec : undefined
  } catch {
    return undefined
  }
}
