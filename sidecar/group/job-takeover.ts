import type { Clock } from '../../lib/core/clock.js'
import type { Logger } from '../../lib/core/logger.js'
import { ownerOrder, type Member } from '../../lib/protocol/owners.js'
import { jobTime, type JobRecord, type SharedJobs } from '../preheat-jobs.js'
import type { GroupRedis } from './redis.js'
import { LAPSED, MAX_TAKEOVERS } from './redis-jobs.js'
import { Sweep } from './sweep.js'

/** How often a member looks for preheat jobs whose member died. */
export const TAKEOVER_MS = 2000

/**
 * Preheat jobs a dead member left PENDING go on: the first of the live
 * members in the job's rendezvous order claims its lease and runs the rest
 * (the claim is exclusive, so two members with different views of the group
 * never both run it). A job taken over too often ends FAILURE instead.
 */
export class JobTakeover {
  private readonly sweeper = new Sweep(TAKEOVER_MS, () => this.sweep())

  constructor(
    private readonly deps: {
      readonly redis: GroupRedis
      readonly jobs: SharedJobs
      readonly selfId: string
      readonly members: () => readonly Member[]
      readonly adopt: (rec: JobRecord) => Promise<void>
      readonly clock: Pick<Clock, 'now'>
      readonly logger: Logger
    },
  ) {}

  start(): void {
    this.sweeper.start()
  }

  private async sweep(): Promise<void> {
    const { redis, jobs, selfId } = this.deps
    if (!redis.isUp) return
    try {
      for (const rec of await jobs.lapsed()) {
        const first = ownerOrder(`job:${rec.id}`, this.deps.members())[0]
        if (first?.id !== selfId || !(await jobs.claim(rec.id))) continue
        if ((rec.takeovers ?? 0) >= MAX_TAKEOVERS) {
          await jobs.save({ ...rec, state: 'FAILURE', error: LAPSED, updated_at: jobTime(this.deps.clock.now()) })
          continue
        }
        await this.deps.adopt(rec)
      }
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'could not look for preheat jobs left by members gone')
    }
  }

  close(): Promise<void> {
    return this.sweeper.close()
  }
}
