// The tracker's peers in a real redis-server (Debian's, on a free port): two
// members' stores share one swarm, each peer's zone and rack travel with it,
// and a tracker over the Redis store orders its answer by them.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { GroupRedis } from '../sidecar/group/redis.js'
import { RedisPeerStore } from '../sidecar/group/redis-peer-store.js'
import { orderPeers } from '../lib/swarm/topology.js'
import { systemClock } from '../lib/core/clock.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { testLogger } from './helpers/configs.js'

const id = (n: number) => n.toString(16).padStart(40, '0')
const IH = 'cd'.repeat(20)

describe('the Redis peer store', () => {
  let root: string
  let redis: RedisServer
  const conns: GroupRedis[] = []
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-redis-peers-'))
    redis = await startRedis(path.join(root, 'redis'))
  })
  after(async () => {
    for (const c of conns) c.client.disconnect()
    await redis.stop()
    await fs.rm(root, { recursive: true, force: true })
  })
  const member = async () => {
    const r = new GroupRedis(redis.url, testLogger('redis'))
    conns.push(r)
    assert.ok(await r.connect(5000), 'connected to redis-server')
    return new RedisPeerStore(r, systemClock, testLogger('peers'))
  }

  it("shares peers between members with their zone and rack, and the nearest come first", async () => {
    const [m1, m2] = [await member(), await member()]
    const places = [{ zone: 'a', rack: 'r1' }, { zone: 'b' }, {}, { zone: 'a', rack: 'r2' }]
    for (const [i, p] of places.entries()) await (i % 2 ? m2 : m1).announce(IH, { peerId: id(i + 1), ip: `10.0.0.${i + 1}`, port: 6000 + i, complete: false, ...p }, false, 0)
    const self = { zone: 'a', rack: 'r1' }
    const answer = await m2.announce(IH, { peerId: id(99), ip: '10.0.0.99', port: 6099, complete: false, ...self }, false, 50)
    const byId = new Map(answer.peers.map((p) => [p.peerId, p]))
    assert.equal(byId.size, 4, 'every other peer of the swarm, whichever member it announced to')
    assert.deepEqual({ zone: byId.get(id(1))?.zone, rack: byId.get(id(1))?.rack }, { zone: 'a', rack: 'r1' })
    assert.deepEqual({ zone: byId.get(id(2))?.zone, rack: byId.get(id(2))?.rack }, { zone: 'b', rack: undefined })
    assert.deepEqual({ zone: byId.get(id(3))?.zone, rack: byId.get(id(3))?.rack }, { zone: undefined, rack: undefined })
    const ordered = orderPeers(self, answer.peers, 50).map((p) => p.peerId)
    assert.deepEqual(ordered.slice(0, 2), [id(1), id(4)], 'same rack, then same zone')
  })
})
