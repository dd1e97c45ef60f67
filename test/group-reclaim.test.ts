// Push targets a member accepted and did not finish are taken over when it
// has left the group: each by its blob's first owner, once. The dead member's
// share of the intake is written into a real redis-server the way a member
// writes it (its id in the holders' set, its targets in its hash), since a
// member cannot be stopped between accepting a push and starting on it; the
// three members are real sidecar processes, the registry Debian's, and its
// blob reads are counted by a proxy.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import { waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { Digest, RepoName, type PushTarget } from '../lib/core/domain.js'
import { targetKey, targetRecord } from '../sidecar/intake-journal.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { blobState, groupFormed, ownersOf, proc, startCli, type Proc } from './helpers/group.js'

const MB = 1_000_000
const DEAD = 'member-that-left'

describe('a group taking over what a member that left had accepted', () => {
  let root: string
  let redis: RedisServer
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  let sidecars: Proc[]

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-reclaim-'))
    redis = await startRedis(path.join(root, 'redis'))
    // No notifications: the members learn of the image only from the dead member's intake.
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [2 * MB, 1 * MB, 1 * MB] })
    await skopeoPush(image, proxy.host, 'library/reclaim:1.0')
    sidecars = await Promise.all([0, 1, 2].map((i) => proc(root, `sidecar-${i}`)))
    await Promise.all(sidecars.map((s, i) => startCli(s, ['sidecar', '--origin', proxy.url, '--data-dir', path.join(root, `sidecar-${i}`), '--redis', redis.url])))
    await groupFormed(sidecars.map((s) => s.url))
  })

  after(async () => {
    await Promise.all((sidecars ?? []).map((p) => p.proc?.stop()))
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await redis?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('seeds every blob it left on the blob\'s owner, read from the registry once, and empties its share', async () => {
    const repo = RepoName.parse('library/reclaim')
    const targets: PushTarget[] = image.layers.map((l) => ({ kind: 'blob', ref: { repo, digest: Digest.parse(l.digest) } }))
    const before = Object.fromEntries(image.layers.map((l) => [l.digest, proxy.blobGets(l.digest)]))
    const client = new Redis(redis.url)
    try {
      await client.sadd('layerseed:intake-members', DEAD)
      await client.hset(`layerseed:intake:${DEAD}`, ...targets.flatMap((t) => [targetKey(t), JSON.stringify(targetRecord(t))]))
      for (const l of image.layers) {
        const [owner] = await ownersOf(sidecars[0].url, l.digest.slice(7))
        await waitFor(async () => (await blobState(owner, l.digest)).state === 'seeding', { timeoutMs: 30_000, intervalMs: 200, what: `${l.digest} seeding on its owner ${owner}` })
      }
      await waitFor(async () => (await client.hlen(`layerseed:intake:${DEAD}`)) === 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the dead member\'s targets all claimed' })
      await new Promise((resolve) => setTimeout(resolve, 2500))
      for (const l of image.layers) assert.equal(proxy.blobGets(l.digest) - before[l.digest], 1, `${l.digest} read from the registry once`)
    } finally {
      client.disconnect()
    }
  })
})
