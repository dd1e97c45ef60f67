// Preheat job records of a group in a real redis-server (Debian's, on a free
// port): a lapsed lease is listed, claimed by exactly one member, given to the
// first live member in the job's rendezvous order, and a job taken over too
// often ends FAILURE. A lease lapsing is caused by deleting its key, which is
// what its 6 s expiry does; the sweep itself runs on its own 2 s timer.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { GroupRedis } from '../sidecar/group/redis.js'
import { LAPSED, MAX_TAKEOVERS, RedisJobs } from '../sidecar/group/redis-jobs.js'
import { JobTakeover, TAKEOVER_MS } from '../sidecar/group/job-takeover.js'
import type { JobRecord } from '../sidecar/preheat-jobs.js'
import { ownerOrder } from '../lib/protocol/owners.js'
import { systemClock } from '../lib/core/clock.js'
import { waitFor } from '../demo/process.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { testLogger } from './helpers/configs.js'

const record = (id: number, over: Partial<JobRecord> = {}): JobRecord => ({
  id,
  state: 'PENDING',
  created_at: '2026-12-02T10:00:00Z',
  updated_at: '2026-12-02T10:00:00Z',
  repo: 'library/app',
  reference: '1.0',
  error: '',
  success_tasks: [],
  failure_tasks: [],
  ...over,
})

describe('preheat jobs in Redis', () => {
  let root: string
  let redis: RedisServer
  const conns: GroupRedis[] = []
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-redis-jobs-'))
    redis = await startRedis(path.join(root, 'redis'))
  })
  after(async () => {
    for (const c of conns) c.client.disconnect()
    await redis.stop()
    await fs.rm(root, { recursive: true, force: true })
  })
  const connect = async () => {
    const r = new GroupRedis(redis.url, testLogger('redis'))
    conns.push(r)
    assert.ok(await r.connect(5000), 'connected to redis-server')
    return r
  }
  const lapse = async (r: GroupRedis, id: number) => assert.equal(await r.client.del(`layerseed:job-lease:${id}`), 1, 'the lease was held')

  it('lists a job whose lease lapsed, and gives its lease to exactly one claimant', async () => {
    const r = await connect()
    const [a, b, c] = ['member-a', 'member-b', 'member-c'].map((m) => new RedisJobs(r, m, systemClock))
    const id = await a.nextId()
    await a.save(record(id))
    assert.deepEqual((await b.lapsed()).map((j) => j.id), [], 'a held lease is not lapsed')
    await lapse(r, id)
    assert.deepEqual((await b.lapsed()).map((j) => j.id), [id])
    assert.equal((await b.load(id))?.state, 'PENDING', 'a lapsed job is still to be taken over, not failed')
    const wins = await Promise.all([b.claim(id), c.claim(id), b.claim(id)])
    assert.equal(wins.filter(Boolean).length, 1, `one claim wins: ${JSON.stringify(wins)}`)
    assert.deepEqual((await a.lapsed()).map((j) => j.id), [], 'claimed: held again')
    await b.save(record(id, { state: 'SUCCESS' }))
    assert.deepEqual((await a.lapsed()).map((j) => j.id), [], 'a finished job is never lapsed')
  })

  it(`ends a job FAILURE once it lapsed after ${MAX_TAKEOVERS} takeovers`, async () => {
    const r = await connect()
    const a = new RedisJobs(r, 'member-a', systemClock)
    const id = await a.nextId()
    await a.save(record(id, { takeovers: MAX_TAKEOVERS }))
    await lapse(r, id)
    const rec = await a.load(id)
    assert.equal(rec?.state, 'FAILURE')
    assert.equal(rec?.error, LAPSED)
    assert.equal((await new RedisJobs(r, 'member-b', systemClock).load(id))?.state, 'FAILURE', 'stored so for every member')
    assert.deepEqual((await a.lapsed()).map((j) => j.id), [])
  })

  it("hands a lapsed job to the first live member in its order, and to no other", async () => {
    const r = await connect()
    const members = ['member-a', 'member-b', 'member-c'].map((id) => ({ id, url: `http://${id}`, seeder: `${id}:1` }))
    const jobs = new RedisJobs(r, 'member-x', systemClock)
    const id = await jobs.nextId()
    await jobs.save(record(id))
    await lapse(r, id)
    const adopted: Array<{ member: string; id: number }> = []
    const sweeps = members.map((m) => new JobTakeover({
      redis: r,
      jobs: new RedisJobs(r, m.id, systemClock),
      selfId: m.id,
      members: () => members,
      adopt: async (rec) => void adopted.push({ member: m.id, id: rec.id }),
      clock: systemClock,
      logger: testLogger('takeover'),
    }))
    for (const s of sweeps) s.start()
    try {
      await waitFor(async () => adopted.length > 0, { timeoutMs: 4 * TAKEOVER_MS, intervalMs: 100, what: 'a takeover' })
      // Two more sweeps of every member: none takes it a second time.
      await new Promise((resolve) => setTimeout(resolve, 2 * TAKEOVER_MS + 200))
    } finally {
      for (const s of sweeps) await s.close()
    }
    assert.deepEqual(adopted, [{ member: ownerOrder(`job:${id}`, members)[0].id, id }])
  })
})
