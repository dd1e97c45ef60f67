import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Logger } from '../../lib/core/logger.js'

/**
 * The group's connection to Redis. Commands fail at once while it is down
 * (no offline queue): every caller has a local answer to fall back on, and a
 * pull must never wait for Redis. ioredis reconnects on its own, with a
 * backoff capped at 2 s; the outage and the recovery are logged once each.
 */
export class GroupRedis {
  readonly client: Redis
  private up = false
  private downLogged = false
  private readonly readyHooks: Array<() => void> = []

  constructor(url: string, logger: Logger) {
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    })
    this.client.on('ready', () => {
      this.up = true
      this.downLogged = false
      logger.info({ redis: url }, 'Redis reachable: the group shares state again')
      for (const fn of this.readyHooks) fn()
    })
    const down = (err?: Error) => {
      this.up = false
      if (this.downLogged) return
      this.downLogged = true
      logger.warn({ redis: url, err: err?.message }, 'Redis unreachable: serving from this sidecar\'s own state until it is back')
    }
    this.client.on('error', down)
    this.client.on('close', () => down())
  }

  /** Connects, waiting at most `ms`; a start with Redis down goes on alone and joins when it is back. */
  async connect(ms: number): Promise<boolean> {
    const attempt = this.client.connect().then(() => true, () => false)
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())
    return Promise.race([attempt, timeout])
  }

  /**
   * A Lua script called by its SHA-1 (`EVALSHA`), so an announce sends its
   * arguments and not the script's text; sent whole (`EVAL`, which also
   * loads it) only when Redis does not know it yet, after a restart say.
   */
  script(lua: string): (keys: readonly string[], args: ReadonlyArray<string | number>) => Promise<unknown> {
    const sha = createHash('sha1').update(lua).digest('hex')
    return async (keys, args) => {
      try {
        return await this.client.evalsha(sha, keys.length, ...keys, ...args)
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
        return this.client.eval(lua, keys.length, ...keys, ...args)
      }
    }
  }

  get isUp(): boolean {
    return this.up
  }

  /** Called each time the connection is ready again, so members register at once. */
  onReady(fn: () => void): void {
    this.readyHooks.push(fn)
  }

  async close(): Promise<void> {
    this.client.removeAllListeners('error')
    this.client.removeAllListeners('close')
    this.client.on('error', () => undefined)
    await this.client.quit().catch(() => this.client.disconnect())
  }
}
