import type { Clock } from '../../lib/core/clock.js'
import type { Logger } from '../../lib/core/logger.js'
import { MemoryPeerStore, PEER_TTL_MS, type AnnounceAnswer, type PeerStore, type StoredPeer } from '../../lib/swarm/peer-store.js'
import type { GroupRedis } from './redis.js'

const peersKey = (infoHash: string) => `layerseed:peers:${infoHash}`

// After uber/kraken's Redis peer store: one hash per info-hash, a field per
// peer whose value carries its own expiry (Redis 7.0 has no per-field TTL),
// the key's TTL renewed by every announce. One script per announce: write or
// drop the announcing peer, then HRANDFIELD a sample, dropping the expired
// fields it meets. The sample is one more than asked, as the announcer may be
// in it. Returns the hash's length and the sample as field, value pairs.
const ANNOUNCE = `
local key, id, value, stopped = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local max, now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if stopped == '1' then redis.call('HDEL', key, id) else
  redis.call('HSET', key, id, value)
  redis.call('PEXPIRE', key, ttl)
end
local out = {}
if max > 0 then
  local got = redis.call('HRANDFIELD', key, max + 1, 'WITHVALUES')
  for i = 1, #got, 2 do
    local expires = tonumber(string.match(got[i + 1], '|(%d+)$'))
    if expires == nil or expires < now then redis.call('HDEL', key, got[i])
    elseif got[i] ~= id then table.insert(out, got[i]); table.insert(out, got[i + 1]) end
  end
end
return { redis.call('HLEN', key), out }
`

/**
 * The tracker's peers in the group's Redis, so any member answers any
 * announce with the whole swarm. Each announce costs one script call. Every
 * peer this member saw (announcing, or in an answer) is also kept in memory:
 * `count` answers from there, and while Redis is down announces are answered
 * from there too, so the swarm this member knows keeps working.
 */
export class RedisPeerStore implements PeerStore {
  private readonly local: MemoryPeerStore
  private readonly announceScript: ReturnType<GroupRedis['script']>

  constructor(
    private readonly redis: GroupRedis,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly logger: Logger,
    private readonly ttlMs = PEER_TTL_MS,
  ) {
    this.local = new MemoryPeerStore(clock, ttlMs)
    this.announceScript = redis.script(ANNOUNCE)
  }

  async announce(infoHash: string, peer: StoredPeer, stopped: boolean, max: number): Promise<AnnounceAnswer> {
    const mine = await this.local.announce(infoHash, peer, stopped, max)
    if (!this.redis.isUp) return mine
    const now = this.clock.now()
    const value = `${peer.ip}|${peer.port}|${peer.complete ? 1 : 0}|${peer.zone ?? ''}|${peer.rack ?? ''}|${now + this.ttlMs}`
    try {
      const [length, flat] = (await this.announceScript([peersKey(infoHash)], [peer.peerId, value, stopped ? '1' : '0', max, now, this.ttlMs])) as [number, string[]]
      const peers: StoredPeer[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const p = parsePeer(flat[i], flat[i + 1])
        if (!p) continue
        peers.push(p)
        void this.local.announce(infoHash, p, false, 0)
      }
      const complete = peers.filter((p) => p.complete).length + (peer.complete && !stopped ? 1 : 0)
      return { peers: peers.slice(0, max), complete, incomplete: Math.max(0, length - complete) }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'shared peer store unreachable; answered from this member')
      return mine
    }
  }

  async remove(infoHash: string, matches: (peerId: string) => boolean): Promise<string[]> {
    const gone = new Set(await this.local.remove(infoHash, matches))
    if (this.redis.isUp) {
      try {
        const all = await this.redis.client.hgetall(peersKey(infoHash))
        const ids = Object.keys(all).filter(matches)
        if (ids.length) await this.redis.client.hdel(peersKey(infoHash), ...ids)
        for (const id of ids) {
          const p = parsePeer(id, all[id])
          if (p) gone.add(`${p.ip}:${p.port}`)
        }
      } catch (err) {
        this.logger.debug({ err: (err as Error).message }, 'could not remove peers from the shared store')
      }
    }
    return [...gone]
  }

  /**
   * Forgets the torrent here only: a member that evicted a blob says nothing
   * about the other members' seeders and agents, whose entries expire on
   * their own once they stop announcing.
   */
  forget(infoHash: string): Promise<void> {
    return this.local.forget(infoHash)
  }

  count(infoHash: string, counts: (peerId: string) => boolean): number {
    return this.local.count(infoHash, counts)
  }
}

function parsePeer(peerId: string, value: string | undefined): StoredPeer | undefined {
  // ip|port|complete|zone|rack|expires; zone and rack may be empty (and are absent in a member of an older version).
  const m = /^([^|]+)\|(\d+)\|([01])(?:\|([A-Za-z0-9._-]{0,63})\|([A-Za-z0-9._-]{0,63}))?\|\d+$/.exec(value ?? '')
  if (!m || !/^[0-9a-f]{40}$/.test(peerId)) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  return { peerId, ip: m[1], port, complete: m[3] === '1', ...(m[4] ? { zone: m[4] } : {}), ...(m[5] ? { rack: m[5] } : {}) }
}
