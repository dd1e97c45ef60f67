import type { PushTarget } from '../../lib/core/domain.js'
import type { Logger } from '../../lib/core/logger.js'
import type { Member } from '../../lib/protocol/owners.js'
import { parseTarget, targetKey, targetRecord, type IntakeJournal } from '../intake-journal.js'
import type { BlobPlacement } from '../placement.js'
import type { GroupRedis } from './redis.js'
import { Sweep } from './sweep.js'

const HOLDERS = 'layerseed:intake-members'
const intakeKey = (memberId: string) => `layerseed:intake:${memberId}`
/** How often a member looks for targets a dead member left. */
export const RECLAIM_MS = 2000

// Exactly one member takes a target: the one whose HDEL removed it.
const CLAIM = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then return 1 end
return 0
`

/**
 * The intake in a group: every accepted target is in this member's own
 * journal (the file one: it survives a restart of this member) and in Redis
 * under this member's id, so that when the member dies the next owner of
 * each of its unfinished targets claims it. Redis being down never refuses a
 * push: the local journal alone holds the target then.
 */
export class RedisIntakeJournal implements IntakeJournal {
  constructor(
    private readonly local: IntakeJournal,
    private readonly redis: GroupRedis,
    private readonly memberId: string,
    private readonly logger: Logger,
  ) {}

  async add(targets: readonly PushTarget[]): Promise<void> {
    await this.local.add(targets)
    if (targets.length === 0 || !this.redis.isUp) return
    const fields = targets.flatMap((t) => [targetKey(t), JSON.stringify(targetRecord(t))])
    await this.redis.client.multi().sadd(HOLDERS, this.memberId).hset(intakeKey(this.memberId), ...fields).exec()
      .catch((err: unknown) => this.logger.debug({ err: (err as Error).message }, 'intake not shared; kept by this member'))
  }

  async done(target: PushTarget): Promise<void> {
    await this.local.done(target)
    if (this.redis.isUp) await this.redis.client.hdel(intakeKey(this.memberId), targetKey(target)).catch(() => undefined)
  }

  pending(): Promise<PushTarget[]> {
    return this.local.pending()
  }
}

/**
 * Takes over what members that left the group had accepted and not
 * finished: each target goes to the member that is now its first owner
 * (every live member runs this; the claim script gives each target to one).
 */
export class IntakeReclaim {
  private readonly sweeper = new Sweep(RECLAIM_MS, () => this.sweep())

  constructor(
    private readonly deps: {
      readonly redis: GroupRedis
      readonly members: () => readonly Member[]
      readonly placement: BlobPlacement
      readonly offer: (targets: PushTarget[]) => Promise<unknown>
      readonly logger: Logger
    },
  ) {}

  start(): void {
    this.sweeper.start()
  }

  private async sweep(): Promise<void> {
    const { redis, placement } = this.deps
    if (!redis.isUp) return
    try {
      const live = new Set(this.deps.members().map((m) => m.id))
      for (const holder of await redis.client.smembers(HOLDERS)) {
        if (live.has(holder)) continue
        const left = await redis.client.hgetall(intakeKey(holder))
        const entries = Object.entries(left)
        if (entries.length === 0) {
          await redis.client.srem(HOLDERS, holder)
          continue
        }
        const claimed: PushTarget[] = []
        for (const [field, raw] of entries) {
          let t: PushTarget
          try {
            t = parseTarget(JSON.parse(raw))
          } catch {
            await redis.client.hdel(intakeKey(holder), field)
            continue
          }
          // The first owner claims it; a manifest goes to the owner of its digest, like a blob.
          if (placement.sources(t.ref.digest).length > 0 || !placement.holds(t.ref.digest)) continue
          if ((await redis.client.eval(CLAIM, 1, intakeKey(holder), field)) === 1) claimed.push(t)
        }
        if (claimed.length) {
          await this.deps.offer(claimed)
          this.deps.logger.info({ from: holder, targets: claimed.length }, 'took over pre-seed targets a member left unfinished')
        }
      }
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'could not look for targets left by members gone')
    }
  }

  close(): Promise<void> {
    return this.sweeper.close()
  }
}
