// The reaper with real parts: a registry, a sidecar and agents as real
// webtorrent peers, their caches bounded, reaping on a real cron schedule.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { RunningSidecar } from '../sidecar/run.js'
import type { RunningAgent } from '../plugin/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type ImageBlob, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import type { AgentConfig, SidecarConfig } from '../config/index.js'
import { Digest } from '../lib/core/domain.js'
import { Parts } from './helpers/parts.js'
import { cacheStatus, fetchSha, onDisk, slowClient } from './helpers/blobs.js'

const EVERY_SECOND = '* * * * * *'
const MB = 1_000_000

describe('cache reaper', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  let seeder: RunningSidecar
  const parts = new Parts(() => proxy.url)
  // Layers: one of 16 MB (larger than any socket buffer, so a paused reader holds it), four of 3 MB.
  let big: ImageBlob
  let small: ImageBlob[]

  const sidecar = (name: string, over: Partial<SidecarConfig> = {}) => parts.sidecar(path.join(root, name), over)
  const agent = (name: string, over: Partial<AgentConfig>) => parts.agent(path.join(root, name), [seeder.url], over)
  const blobUrl = (a: RunningAgent, b: ImageBlob) => `${a.url}/v2/library/gov/blobs/${b.digest}`
  const pull = async (a: RunningAgent, b: ImageBlob) => {
    const got = await fetchSha(blobUrl(a, b))
    assert.equal(got.status, 200)
    assert.equal(got.sha, b.digest.slice(7), `${b.digest} arrived intact`)
  }
  const cached = (a: RunningAgent, bs: ImageBlob[]) => bs.map((b) => a.cache.has(Digest.parse(b.digest)))

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-reaper-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [16 * MB, 3 * MB, 3 * MB, 3 * MB, 3 * MB] })
    ;[big, ...small] = image.layers
    await skopeoPush(image, registry.host, 'library/gov:1.0')
    seeder = await sidecar('seeder')
  })

  after(async () => {
    await parts.close()
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('evicts the least recently used blobs down to the low watermark; an evicted blob is pulled again', async () => {
    // 13 MB: high watermark 11.05 MB, low 9.1 MB. Four 3 MB blobs are 12 MB.
    const a = await agent('agent-lru', { cacheMaxBytes: 13 * MB, reapSchedule: EVERY_SECOND })
    for (const b of small.slice(0, 3)) await pull(a, b)
    // Read the first one again: it is now more recent than the other two.
    await pull(a, small[0])
    assert.deepEqual((await cacheStatus(a.url)).lastReap.evicted, 0)
    await pull(a, small[3])
    // Read in the same poll that saw it: a reap every second replaces lastReap.
    let status = await cacheStatus(a.url)
    await waitFor(async () => (status = await cacheStatus(a.url)).lastReap.evicted > 0, { timeoutMs: 10_000, intervalMs: 50, what: 'a scheduled reap' })
    assert.equal(status.lastReap.evicted, 1)
    assert.equal(status.lastReap.freedBytes, small[1].size)
    assert.ok(status.usedBytes <= 9.1 * MB, `${status.usedBytes} bytes are under the low watermark`)
    assert.equal(status.maxBytes, 13 * MB)
    assert.equal(status.blobs, 3)
    assert.deepEqual(cached(a, small), [true, false, true, true], 'the least recently used blob went')
    const disk = await onDisk(path.join(root, 'agent-lru'))
    assert.deepEqual([...disk.blobs.keys()].sort(), [small[0], small[2], small[3]].map((b) => b.digest.slice(7)).sort())

    const originBefore = proxy.totalBlobGets()
    await pull(a, small[1])
    // The client has its bytes once they verified; the cache takes the blob right after.
    await waitFor(async () => cached(a, [small[1]])[0], { timeoutMs: 5_000, intervalMs: 20, what: 'cached again' })
    assert.equal(proxy.totalBlobGets(), originBefore, 'pulled again from the swarm, not the registry')
  })

  it('never evicts a blob that a slow client is still reading', async () => {
    // 40 MB: high 45 % is 18 MB, low 10 % is 4 MB, so a reap wants every blob out.
    const a = await agent('agent-pin', { cacheMaxBytes: 40 * MB, cacheHighWatermark: { percent: 45 }, cacheLowWatermark: { percent: 10 }, reapSchedule: EVERY_SECOND })
    await pull(a, big)
    const reader = slowClient(blobUrl(a, big), 256 * 1024)
    try {
      await reader.started
      assert.equal((await cacheStatus(a.url)).pinned, 1, 'the slow read holds its blob')
      // 19 MB now: over the high watermark until the reaper has taken what it may.
      await pull(a, small[0])
      // The client has its bytes once they verified; the cache takes the blob right after.
      await waitFor(async () => cached(a, [small[0]])[0], { timeoutMs: 5_000, intervalMs: 20, what: 'the blob cached' })
      await waitFor(async () => !cached(a, [small[0]])[0], { timeoutMs: 10_000, intervalMs: 100, what: 'a scheduled reap' })
      const status = await cacheStatus(a.url)
      assert.equal(status.usedBytes, big.size, 'only the blob being read is left')
      assert.ok((await onDisk(path.join(root, 'agent-pin'))).blobs.has(big.digest.slice(7)))
      const done = await reader.finish()
      assert.equal(done.status, 200)
      assert.equal(done.sha, big.digest.slice(7), 'the slow client got the whole blob')
    } finally {
      reader.abort()
    }
    await waitFor(async () => (await cacheStatus(a.url)).pinned === 0, { timeoutMs: 5000, intervalMs: 50, what: 'the read to release its pin' })
  })

  it('the sidecar stops seeding an evicted blob, its tracker forgets it, and a later request fetches it again', async () => {
    // 8 MB: the third 3 MB blob passes the max, which reaps at once down to 70 % (5.6 MB).
    const s = await sidecar('sidecar-bounded', { cacheMaxBytes: 8 * MB, reapSchedule: '0 0 1 1 *' })
    const torrentOf = async (b: ImageBlob) => {
      const res = await fetch(`${s.url}/v1/blobs/${b.digest}/torrent?repo=library/gov`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
      return res.headers.get('x-layerseed-info-hash')!
    }
    const first = await torrentOf(small[0])
    await torrentOf(small[1])
    const gets = proxy.blobGets(small[0].digest)
    await torrentOf(small[2])
    const status = await cacheStatus(s.url)
    assert.equal(status.lastReap.evicted, 2, 'the write that passed the max reaped at once')
    assert.equal(status.blobs, 1)
    const st = (await (await fetch(`${s.url}/v1/blobs/${small[0].digest}`)).json()) as { state: string }
    assert.equal(st.state, 'absent')

    const pct = (hex: string) => hex.replace(/../g, '%$&')
    const announce = await fetch(`${s.url}/announce?info_hash=${pct(first)}&peer_id=${pct(Buffer.from('-XX0000-000000000000').toString('hex'))}&port=6881&uploaded=0&downloaded=0&left=0&event=started`)
    assert.match(Buffer.from(await announce.arrayBuffer()).toString('latin1'), /not issued/, 'the tracker forgot it')

    assert.equal(await torrentOf(small[0]), first, 'the same torrent again')
    assert.equal(proxy.blobGets(small[0].digest), gets + 1, 'fetched from the origin once more')
  })
})
