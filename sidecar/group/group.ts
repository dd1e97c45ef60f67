import { randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import type { Clock } from '../../lib/core/clock.js'
import { StartError } from '../../lib/core/errors.js'
import type { Logger } from '../../lib/core/logger.js'
import { safeJoin } from '../../lib/core/safe-path.js'
import type { Member, MembersAnswer } from '../../lib/protocol/owners.js'
import { GroupPlacement } from './group-placement.js'
import { Membership } from './membership.js'
import { GroupRedis } from './redis.js'
import { RedisPeerStore } from './redis-peer-store.js'
import { RedisJobs } from './redis-jobs.js'

/** How long a start waits for Redis before going on alone (it joins the group once Redis answers). */
const CONNECT_WAIT_MS = 3000
const SECRET_KEY = 'layerseed:swarm-secret'

/**
 * A sidecar's part in a group sharing one Redis: the connection, this
 * member's id (kept in the data dir, so a restart keeps its blobs' owners),
 * and the shared tracker peers. Membership starts once the seeder's port is
 * known (`join`).
 */
export class Group {
  readonly peers: RedisPeerStore
  private membership: Membership | undefined

  private constructor(
    readonly redis: GroupRedis,
    readonly id: string,
    private readonly replicas: number,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly logger: Logger,
  ) {
    this.peers = new RedisPeerStore(redis, clock, logger.child({ part: 'peer-store' }))
  }

  static async open(opts: { url: string; dataDir: string; replicas: number; clock: Pick<Clock, 'now'>; logger: Logger }): Promise<Group> {
    const id = await memberId(opts.dataDir)
    const redis = new GroupRedis(opts.url, opts.logger)
    if (!(await redis.connect(CONNECT_WAIT_MS))) opts.logger.warn({ redis: opts.url }, 'Redis did not answer at start: this sidecar serves alone and joins the group when Redis is back')
    return new Group(redis, id, opts.replicas, opts.clock, opts.logger)
  }

  /** The swarm secret every member signs credentials with: created once in Redis by the first member that needs it. */
  async sharedSecret(): Promise<Buffer> {
    try {
      await this.redis.client.set(SECRET_KEY, randomBytes(32).toString('hex'), 'NX')
      const secret = await this.redis.client.get(SECRET_KEY)
      if (secret) return Buffer.from(secret, 'utf8')
    } catch {
      // Said below, once.
    }
    throw new StartError('--redis: token auth needs the group\'s swarm secret and Redis did not answer; give every member the same --swarm-secret-file, or start when Redis is up')
  }

  /** Registers this member and keeps it registered. */
  async join(url: string, seeder: string): Promise<void> {
    this.membership = new Membership({ id: this.id, url, seeder }, this.redis, this.logger.child({ part: 'membership' }))
    await this.membership.start()
  }

  get members(): Member[] {
    return this.membership?.members ?? []
  }

  answer(): MembersAnswer {
    return { group: true, self: this.id, members: this.members }
  }

  jobs(): RedisJobs {
    return new RedisJobs(this.redis, this.id, this.clock)
  }

  placement(): GroupPlacement {
    return new GroupPlacement(this.id, () => this.members, this.replicas)
  }

  async close(): Promise<void> {
    await this.membership?.close()
    await this.redis.close()
  }
}

async function memberId(dataDir: string): Promise<string> {
  const file = safeJoin(dataDir, 'member-id')
  try {
    await fs.writeFile(file, `${randomUUID()}\n`, { flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const id = (await fs.readFile(file, 'utf8')).trim()
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new StartError(`${file} does not hold a member id; remove it and start again`)
  return id
}
