// A group behind one address where only one member hears the registry (as
// behind a load balancer): the member that got the push hands each blob to
// its owner, so every blob seeds on its owners and the registry serves each
// once. Three real sidecar processes, Debian's redis-server and
// docker-registry, skopeo; the registry's blob reads are counted by a proxy.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { blobState, groupFormed, ownersOf, proc, startCli, type Proc } from './helpers/group.js'

const MB = 1_000_000
const WEBHOOK_TOKEN = 'forward-webhook-token'

describe('a group where one member hears the registry', () => {
  let root: string
  let redis: RedisServer
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  let sidecars: Proc[]

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-forward-'))
    redis = await startRedis(path.join(root, 'redis'))
    sidecars = await Promise.all([0, 1, 2].map((i) => proc(root, `sidecar-${i}`)))
    registry = await startRegistry({ dir: path.join(root, 'registry'), notifyUrl: `${sidecars[0].url}/webhooks/distribution`, notifyToken: WEBHOOK_TOKEN })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [3 * MB, 2 * MB, 1 * MB, 2 * MB, 1 * MB, 1 * MB, 1 * MB] })
    await Promise.all(sidecars.map((s, i) => startCli(s, ['sidecar', '--origin', proxy.url, '--data-dir', path.join(root, `sidecar-${i}`), '--redis', redis.url, '--webhook-token', WEBHOOK_TOKEN])))
    await groupFormed(sidecars.map((s) => s.url))
  })

  after(async () => {
    await Promise.all((sidecars ?? []).map((p) => p.proc?.stop()))
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await redis?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('hands each blob of a push to its owner: every blob seeds there, read from the registry once', async () => {
    await skopeoPush(image, proxy.host, 'library/forward:1.0')
    const owners = new Set<string>()
    for (const b of image.blobs()) {
      const [owner] = await ownersOf(sidecars[0].url, b.digest.slice(7))
      owners.add(owner)
      await waitFor(async () => (await blobState(owner, b.digest)).state === 'seeding', { timeoutMs: 60_000, intervalMs: 200, what: `${b.digest} seeding on its owner ${owner}` })
    }
    // Eight blobs over three members: all owned by the notified one has odds of 1 in 6,561.
    assert.ok([...owners].some((o) => o !== sidecars[0].url), `some blob is owned by a member the registry does not notify (owners: ${[...owners].join(' ')})`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    for (const b of image.blobs()) assert.equal(proxy.blobGets(b.digest), 1, `${b.digest} read from the registry once`)
  })
})
