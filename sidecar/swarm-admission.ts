import type { SwarmCredentials } from '../lib/auth/swarm-credential.js'
import type { Clock } from '../lib/core/clock.js'
import type { InfoHash } from '../lib/core/domain.js'
import { Lru } from '../lib/core/lru.js'

/**
 * How long an admitted peer stays admitted without announcing: twice the
 * tracker's 10-minute announce interval, as long as the tracker itself keeps
 * a silent peer (bittorrent-tracker's 20-minute peer TTL).
 */
export const PEER_HOLD_MS = 20 * 60_000

/**
 * Who may find peers. A torrent handed out after a token check carries a
 * credential for its info-hash in its announce URL. An announce passes with a
 * valid credential for that info-hash, or when the same peer id was admitted
 * for it before and has announced within PEER_HOLD_MS: so a long-running
 * seeder stays in after its credential expires, while a peer that never held
 * one never gets in.
 */
export class SwarmAdmission {
  private readonly admitted: Lru<string, number>

  constructor(
    private readonly creds: SwarmCredentials,
    private readonly clock: Clock,
    maxPeers = 100_000,
  ) {
    this.admitted = new Lru(maxPeers)
  }

  /** The tracker's announce URL with a fresh credential for one info-hash. */
  announceUrl(base: string, infoHash: InfoHash): string {
    return `${base}?cred=${this.creds.issue(infoHash.hex)}`
  }

  /** Undefined when this announce may pass; else the reason it may not. */
  refusal(infoHash: string, params: Record<string, unknown>): string | undefined {
    const peer = typeof params.peer_id === 'string' ? `${infoHash}:${params.peer_id}` : undefined
    const now = this.clock.now()
    const seen = peer !== undefined ? this.admitted.get(peer) : undefined
    if (this.creds.valid(params.cred, infoHash) || (seen !== undefined && now - seen < PEER_HOLD_MS)) {
      if (peer !== undefined) this.admitted.set(peer, now)
      return undefined
    }
    return params.cred === undefined
      ? 'this tracker admits only peers with a swarm credential (the cred= of the announce URL in the sidecar\'s torrent)'
      : 'the swarm credential is invalid, expired or for another torrent'
  }
}
