// Host-wide rate limits with real parts. These are bounds on behaviour with
// generous margins (a limited transfer cannot be faster than its limit
// allows), not speed goals.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { RateLimit } from '../lib/swarm/rate-limit.js'
import type { RunningSidecar } from '../sidecar/run.js'
import type { RunningAgent } from '../plugin/run.js'
import { freePort } from '../demo/ports.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type ImageBlob, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import type { AgentConfig, SidecarConfig } from '../config/index.js'
import type { SourceBytes } from '../plugin/puller.js'
import { Parts } from './helpers/parts.js'
import { fetchSha } from './helpers/blobs.js'

const MB = 1_000_000

describe('rate limit', () => {
  it('paces a stream to its rate and adds no stage without one', async () => {
    const limit = new RateLimit()
    const source = (async function* () {
      yield Buffer.alloc(100)
    })()
    assert.equal(limit.limit(source), source, 'no limit: the stream itself')
    limit.set(2 * MB)
    assert.equal(limit.bytesPerSec, 2 * MB)
    const started = performance.now()
    let n = 0
    for await (const c of limit.limit((async function* () {
      for (let i = 0; i < 16; i++) yield Buffer.alloc(64 * 1024)
    })())) n += c.length
    const s = (performance.now() - started) / 1000
    assert.equal(n, 16 * 64 * 1024)
    // 1 MiB at 2 MB/s is 0.52 s, less the bucket's 0.1 s burst.
    assert.ok(s >= 0.35, `took ${s.toFixed(2)} s`)
    limit.set(undefined)
    assert.equal(limit.bytesPerSec, undefined)
  })
})

describe('host-wide rate limits', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  let layers: ImageBlob[]
  const parts = new Parts(() => proxy.url)

  const sidecar = (name: string, over: Partial<SidecarConfig> = {}) => parts.sidecar(path.join(root, name), over)
  const agent = (name: string, sidecars: string[], over: Partial<AgentConfig> = {}) => parts.agent(path.join(root, name), sidecars, { p2pStallTimeoutMs: 20_000, ...over })
  const seed = async (s: RunningSidecar, b: ImageBlob) => {
    const res = await fetch(`${s.url}/v1/blobs/${b.digest}/torrent?repo=library/rates`)
    assert.equal(res.status, 200)
    await res.arrayBuffer()
  }
  const timedPulls = async (a: RunningAgent, bs: ImageBlob[]) => {
    const started = performance.now()
    const got = await Promise.all(bs.map((b) => fetchSha(`${a.url}/v2/library/rates/blobs/${b.digest}`)))
    const seconds = (performance.now() - started) / 1000
    for (const [i, g] of got.entries()) assert.equal(g.sha, bs[i].digest.slice(7))
    const stats = ((await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
    return { seconds, stats }
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-rates-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [10 * MB, 10 * MB, 10 * MB, 10 * MB] })
    layers = [...image.layers]
    await skopeoPush(image, registry.host, 'library/rates:1.0')
  })

  after(async () => {
    await parts.close()
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('--download-rate 5MB/s: two torrents of 10 MB share it, 20 MB take at least 3.5 s', async () => {
    const s = await sidecar('seeder')
    for (const b of layers.slice(0, 2)) await seed(s, b)
    const a = await agent('agent-down', [s.url], { downloadBytesPerSec: 5 * MB })
    const { seconds, stats } = await timedPulls(a, layers.slice(0, 2))
    assert.equal(stats.origin, 0, 'every byte came over the swarm')
    assert.equal(stats.seeder + stats.peers, layers[0].size + layers[1].size)
    assert.ok(seconds >= 3.5, `20 MB under 5 MB/s took ${seconds.toFixed(2)} s`)
  })

  it('--download-rate also paces the upstream fallback', async () => {
    const a = await agent('agent-fallback', [`http://127.0.0.1:${await freePort()}`], { downloadBytesPerSec: 5 * MB })
    const { seconds, stats } = await timedPulls(a, [layers[2]])
    assert.equal(stats.origin, layers[2].size)
    assert.ok(seconds >= 1.5, `10 MB from the upstream under 5 MB/s took ${seconds.toFixed(2)} s`)
  })

  it('the sidecar\'s --upload-rate bounds what its seeder sends', async () => {
    const s = await sidecar('seeder-slow-up', { uploadBytesPerSec: 5 * MB })
    await seed(s, layers[0])
    const a = await agent('agent-up', [s.url])
    const { seconds, stats } = await timedPulls(a, [layers[0]])
    assert.equal(stats.origin, 0)
    assert.equal(stats.seeder, layers[0].size, 'the seeder was the only peer')
    assert.ok(seconds >= 1.5, `10 MB from a seeder under 5 MB/s took ${seconds.toFixed(2)} s`)
  })

  it('the sidecar\'s --origin-rate bounds its origin fetches', async () => {
    const s = await sidecar('seeder-slow-origin', { originBytesPerSec: 5 * MB })
    const started = performance.now()
    await seed(s, layers[3])
    const seconds = (performance.now() - started) / 1000
    assert.ok(seconds >= 1.5, `10 MB from the origin under 5 MB/s took ${seconds.toFixed(2)} s`)
  })
})
