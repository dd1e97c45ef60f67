import type { Clock } from '../../lib/core/clock.js'
import type { JobRecord, SharedJobs } from '../preheat-jobs.js'
import type { GroupRedis } from './redis.js'

/** A running job's lease: renewed every 2 s by its member, so three missed renewals mean the member is gone. */
export const LEASE_MS = 6000
const RECORD_TTL_S = 7 * 24 * 3600
const NEXT = 'layerseed:job:next'
const INDEX = 'layerseed:jobs'
const recordKey = (id: number) => `layerseed:job:${id}`
const leaseKey = (id: number) => `layerseed:job-lease:${id}`

export const LAPSED = 'the sidecar running this job stopped before it finished (its lease in the group lapsed); preheat again'

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
    if (rec.state === 'PENDING') m.set(leaseKey(rec.id), this.memberId, 'PX', LEASE_MS)
    else m.del(leaseKey(rec.id))
    await m.exec()
  }

  async renew(id: number): Promise<void> {
    await this.redis.client.set(leaseKey(id), this.memberId, 'PX', LEASE_MS)
  }

  async load(id: number): Promise<JobRecord | undefined> {
    const [raw, leased] = await Promise.all([this.redis.client.get(recordKey(id)), this.redis.client.exists(leaseKey(id))])
    const rec = parseRecord(raw)
    if (!rec || rec.state !== 'PENDING' || leased) return rec
    // Its member died with it: it can never finish, so it ends here, for every member alike.
    const failed: JobRecord = { ...rec, state: 'FAILURE', error: LAPSED, updated_at: new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') }
    await this.redis.client.set(recordKey(id), JSON.stringify(failed), 'EX', RECORD_TTL_S)
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
