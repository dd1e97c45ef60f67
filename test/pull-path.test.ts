// End to end with real parts: Debian's docker-registry, skopeo pushing and
// pulling through the agents' mirror, a sidecar and two agents as real
// webtorrent peers on loopback. A counting proxy in front of the registry
// tells how often the registry really served each blob.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { freePort } from '../demo/ports.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import type { SourceBytes } from '../plugin/puller.js'
import { agentConfig, sidecarConfig, testLogger } from './helpers/configs.js'

const TOKEN = 'test-webhook-token'

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(p)) h.update(c as Buffer)
  return h.digest('hex')
}

async function stats(agent: RunningAgent): Promise<SourceBytes> {
  const res = await fetch(`${agent.url}/v1/stats`)
  return ((await res.json()) as { bytesBySource: SourceBytes }).bytesBySource
}

describe('P2P pull path', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let sidecar: RunningSidecar | undefined
  let image: OciImage
  const agents: RunningAgent[] = []

  const startAgent = async (name: string) => {
    const agent = await runAgent({
      config: agentConfig({ dataDir: path.join(root, name), sidecars: [`http://127.0.0.1:${sidecarPort}`], upstreams: [proxy.url], p2pStallTimeoutMs: 3000 }),
      logger: testLogger('test'),
      clock: systemClock,
    })
    agents.push(agent)
    return agent
  }
  let sidecarPort = 0

  const pullThrough = async (agent: RunningAgent, label: string) => {
    const dest = path.join(root, `pull-${label}`)
    const pulled = await skopeoPull({ source: `${proxy.host}/library/app:1.0`, destDir: dest, mirror: `127.0.0.1:${agent.port}`, workDir: path.join(root, `work-${label}`) })
    for (const b of image.blobs()) {
      assert.equal(await sha256File(pulled.blobPath(b.digest)), b.digest.slice(7), `${label}: ${b.digest} differs from what was pushed`)
    }
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-e2e-'))
    sidecarPort = await freePort()
    registry = await startRegistry({ dir: path.join(root, 'registry'), notifyUrl: `http://127.0.0.1:${sidecarPort}/webhooks/distribution`, notifyToken: TOKEN })
    proxy = await startCountingProxy(registry.url)
    sidecar = await runSidecar({
      config: sidecarConfig({ listen: { host: '127.0.0.1', port: sidecarPort }, origin: proxy.url, dataDir: path.join(root, 'sidecar'), webhookToken: TOKEN }),
      logger: testLogger('test'),
      clock: systemClock,
    })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [8 << 20, 6 << 20, 4 << 20, 3 << 20] })
    await skopeoPush(image, registry.host, 'library/app:1.0')
  })

  after(async () => {
    for (const a of agents) await a.close().catch(() => undefined)
    await sidecar?.close().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('pre-seeds every blob of a push before anyone pulls', async () => {
    for (const b of image.blobs()) {
      await waitFor(async () => {
        const res = await fetch(`${sidecar!.url}/v1/blobs/${b.digest}?repo=library/app`)
        const s = (await res.json()) as { state: string }
        return s.state === 'seeding'
      }, { timeoutMs: 60_000, intervalMs: 100, what: `${b.digest} seeding` })
    }
    for (const b of image.blobs()) assert.equal(proxy.blobGets(b.digest), 1, `sidecar fetched ${b.digest} once`)
  })

  it('pulls through two agents from the swarm; the registry serves each blob once', async () => {
    const a1 = await startAgent('agent1')
    const a2 = await startAgent('agent2')
    await pullThrough(a1, 'a1')
    await pullThrough(a2, 'a2')
    for (const b of image.blobs()) assert.equal(proxy.blobGets(b.digest), 1, `registry served ${b.digest} exactly once`)
    const s1 = await stats(a1)
    const s2 = await stats(a2)
    const total = image.blobs().reduce((n, b) => n + b.size, 0)
    assert.equal(s1.origin + s2.origin, 0, 'no origin fallback')
    assert.equal(s1.seeder + s1.peers, total, 'agent1 got every byte from the swarm')
    assert.equal(s2.seeder + s2.peers, total, 'agent2 got every byte from the swarm')
    assert.ok(s2.peers > 0, `agent2 got bytes from agent1 (peers=${s2.peers}, seeder=${s2.seeder})`)
  })

  it('serves a third pull on the same node from its cache, with no registry or swarm traffic', async () => {
    const a1 = agents[0]
    const before = await stats(a1)
    const registryBefore = proxy.totalBlobGets()
    await pullThrough(a1, 'a1-again')
    const after = await stats(a1)
    const total = image.blobs().reduce((n, b) => n + b.size, 0)
    assert.equal(proxy.totalBlobGets(), registryBefore)
    assert.equal(after.cache - before.cache, total)
    assert.deepEqual([after.seeder, after.peers, after.origin], [before.seeder, before.peers, before.origin])
  })

  it('completes a pull through origin fallback when the sidecar is down', async () => {
    await sidecar!.close()
    sidecar = undefined
    const a3 = await startAgent('agent3')
    await pullThrough(a3, 'a3')
    const s3 = await stats(a3)
    const total = image.blobs().reduce((n, b) => n + b.size, 0)
    assert.equal(s3.origin, total)
  })
})
