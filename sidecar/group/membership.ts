import type { Logger } from '../../lib/core/logger.js'
import type { Member } from '../../lib/protocol/owners.js'
import type { GroupRedis } from './redis.js'

/** A member's record lives this long after its last heartbeat. */
export const MEMBER_TTL_MS = 5000
export const HEARTBEAT_MS = 1000

const MEMBERS_KEY = 'layerseed:members'
const memberKey = (id: string) => `layerseed:member:${id}`

// One round trip per heartbeat: write this member's record with its TTL, then
// list the records still alive, dropping ids whose record expired.
const HEARTBEAT = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local rec = redis.call('GET', ARGV[4] .. id)
  if rec then table.insert(out, rec) else redis.call('SREM', KEYS[2], id) end
end
return out
`

const LEAVE = `
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`

/**
 * This sidecar's membership of the group: a record with a TTL, renewed every
 * second, and the live members as the last heartbeat saw them. While Redis is
 * down the last list stands (the group's owners stay where they were), and
 * the first heartbeat after it is back registers this member again.
 */
export class Membership {
  private live: Member[]
  private timer: NodeJS.Timeout | undefined
  private beating: Promise<void> | undefined
  private readonly heartbeatScript: ReturnType<GroupRedis['script']>

  constructor(
    readonly self: Member,
    private readonly redis: GroupRedis,
    private readonly logger: Logger,
  ) {
    this.live = [self]
    this.heartbeatScript = redis.script(HEARTBEAT)
    redis.onReady(() => void this.beat())
  }

  /** Registers now and keeps the record alive. */
  async start(): Promise<void> {
    await this.beat()
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS)
    this.timer.unref()
  }

  /** The live members, this one always among them, sorted by id. */
  get members(): Member[] {
    return this.live
  }

  private beat(): Promise<void> {
    this.beating ??= this.heartbeat().finally(() => {
      this.beating = undefined
    })
    return this.beating
  }

  private async heartbeat(): Promise<void> {
    if (!this.redis.isUp) return
    try {
      const records = (await this.heartbeatScript([memberKey(this.self.id), MEMBERS_KEY], [this.self.id, JSON.stringify(this.self), MEMBER_TTL_MS, memberKey('')])) as string[]
      const members = records.flatMap((r) => parseMember(r)).filter((m) => m.id !== this.self.id)
      const next = [this.self, ...members].sort((a, b) => (a.id < b.id ? -1 : 1))
      if (next.map((m) => m.id).join() !== this.live.map((m) => m.id).join()) this.logger.info({ members: next.map((m) => m.url) }, 'group members changed')
      this.live = next
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'heartbeat failed')
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.beating
    if (this.redis.isUp) await this.redis.client.eval(LEAVE, 2, memberKey(this.self.id), MEMBERS_KEY, this.self.id).catch(() => undefined)
  }
}

function parseMember(raw: string): Member[] {
  try {
    const m = JSON.parse(raw) as Partial<Member>
    if (typeof m.id === 'string' && typeof m.url === 'string' && typeof m.seeder === 'string') return [{ id: m.id, url: m.url, seeder: m.seeder }]
  } catch {
    // A record this version cannot read is no member of its group.
  }
  return []
}
