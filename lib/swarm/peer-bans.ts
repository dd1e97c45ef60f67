import type { Clock } from '../core/clock.js'
import { Lru } from '../core/lru.js'

/** How long a banned peer stays refused. */
export const BAN_MS = 10 * 60_000
/** Bans held at once: a flood of fresh identities evicts the oldest ban instead of growing memory. */
const MAX_BANS = 10_000

/**
 * The peers a process refuses, by `host:port` and by hex peer id, for
 * `ttlMs` after each ban. One list per Swarm (so per process), shared by all
 * its torrents: a peer caught lying about one blob is not trusted with another.
 */
export class BanList {
  private readonly until: Lru<string, number>
  /** Bans since the process started; a metrics counter. */
  total = 0

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    readonly ttlMs = BAN_MS,
    max = MAX_BANS,
  ) {
    this.until = new Lru(max)
  }

  ban(peer: { addr?: string; peerId?: string }): void {
    const until = this.clock.now() + this.ttlMs
    if (peer.addr) this.until.set(`addr:${peer.addr}`, until)
    if (peer.peerId) this.until.set(`id:${peer.peerId}`, until)
    this.total++
  }

  isBanned(peer: { addr?: string; peerId?: string }): boolean {
    return (peer.addr !== undefined && this.live(`addr:${peer.addr}`)) || (peer.peerId !== undefined && this.live(`id:${peer.peerId}`))
  }

  private live(key: string): boolean {
    const until = this.until.get(key)
    if (until === undefined) return false
    if (until > this.clock.now()) return true
    this.until.delete(key)
    return false
  }
}
