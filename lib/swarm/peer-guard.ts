import type { Torrent, Wire } from 'webtorrent'
import type { Logger } from '../core/logger.js'
import type { BanList } from './peer-bans.js'
import type { PieceJudge } from './webtorrent/piece-picker.js'
import { onViolation } from './webtorrent/wire-parser.js'

/** Failed pieces after which a peer is banned: one could be a flipped bit in transit, two is a pattern. */
export const MAX_FAILED_PIECES = 2

export interface BanEvent {
  readonly infoHash: string
  readonly peerId: string
  readonly addr: string | undefined
  readonly reason: string
}

export const addrOf = (w: Wire): string | undefined => (w.remoteAddress && w.remotePort ? `${w.remoteAddress}:${w.remotePort}` : undefined)

/**
 * Keeps one torrent's peers honest: a peer banned by this process is dropped
 * as soon as it connects, a peer that breaks the protocol is banned at once,
 * and (for a download) one whose pieces failed their hash twice is banned.
 * A banned peer is never asked again for this torrent, even once its ban
 * expired, and is logged once.
 */
export class PeerGuard implements PieceJudge {
  private readonly strikes = new Map<string, number>()
  /** Peer ids banned from this torrent, for its lifetime. */
  readonly banned = new Set<string>()

  constructor(
    private readonly t: Torrent,
    private readonly bans: BanList,
    private readonly log: Logger,
    private readonly onBan?: (e: BanEvent) => void,
  ) {
    // Registered before the piece picker's and the super-seeder's listeners, so those see a refused wire destroyed.
    t.on('wire', (wire: Wire) => {
      if (this.banned.has(wire.peerId) || bans.isBanned({ addr: addrOf(wire), peerId: wire.peerId })) return wire.destroy()
      onViolation(wire, (reason) => this.ban(wire, reason))
    })
  }

  failed(index: number, senders: readonly Wire[]): void {
    for (const w of senders) {
      const n = (this.strikes.get(w.peerId) ?? 0) + 1
      this.strikes.set(w.peerId, n)
      if (n >= MAX_FAILED_PIECES) this.ban(w, `${n} pieces failed their hash, the last piece ${index}`)
    }
  }

  usable(wire: Wire): boolean {
    return !this.banned.has(wire.peerId)
  }

  private ban(wire: Wire, reason: string): void {
    if (this.banned.has(wire.peerId)) return
    this.banned.add(wire.peerId)
    const addr = addrOf(wire)
    this.bans.ban({ addr, peerId: wire.peerId })
    this.log.warn({ peer: addr, peerId: wire.peerId, infoHash: this.t.infoHash, reason, banMs: this.bans.ttlMs }, 'peer banned: it sent bad data or broke the protocol')
    this.onBan?.({ infoHash: this.t.infoHash, peerId: wire.peerId, addr, reason })
    wire.destroy()
  }
}
