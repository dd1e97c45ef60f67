// Sidecar and agent behaviours around a real registry (no notifications, so
// every fetch here is one the test asks for), counted by a proxy in front of it.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { Digest } from '../lib/core/domain.js'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { freePort } from '../demo/ports.js'
import { waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { agentConfig, sidecarConfig, testLogger } from './helpers/configs.js'

describe('sidecar and agent', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let image: OciImage
  const closers: Array<() => Promise<unknown>> = []

  const sidecar = async (dataDir = path.join(root, 'sidecar'), origin = proxy.url): Promise<RunningSidecar> => {
    const s = await runSidecar({ config: sidecarConfig({ origin, dataDir }), logger: testLogger('sidecar'), clock: systemClock })
    closers.push(() => s.close())
    return s
  }
  const agent = async (name: string, sidecars: string[], stallMs = 3000, httpMaxBytes = 1 << 20, httpAloneMaxBytes = 0): Promise<RunningAgent> => {
    const a = await runAgent({
      config: agentConfig({ dataDir: path.join(root, name), sidecars, upstreams: [proxy.url], p2pStallTimeoutMs: stallMs, httpMaxBytes, httpAloneMaxBytes }),
      logger: testLogger(name),
      clock: systemClock,
    })
    closers.push(() => a.close())
    return a
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-parts-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [3 << 20, 1 << 20, 200_000] })
    await skopeoPush(image, registry.host, 'library/parts:1.0')
  })

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('answers /healthz while the origin is unreachable', async () => {
    const s = await sidecar(path.join(root, 'lonely'), `http://127.0.0.1:${await freePort()}`)
    const res = await fetch(`${s.url}/healthz`)
    assert.equal(res.status, 200)
    await s.close()
  })

  it('makes one origin fetch for any number of concurrent torrent requests', async () => {
    const s = await sidecar()
    const layer = image.layers[0]
    const responses = await Promise.all(Array.from({ length: 25 }, () => fetch(`${s.url}/v1/blobs/${layer.digest}/torrent?repo=library/parts`)))
    const bodies = await Promise.all(responses.map(async (r) => (r.status === 200 ? Buffer.from(await r.arrayBuffer()) : r.status)))
    for (const b of bodies) assert.deepEqual(b, bodies[0])
    assert.equal(responses[0].headers.get('content-type'), 'application/x-bittorrent')
    assert.equal(proxy.blobGets(layer.digest), 1)
    const status = (await (await fetch(`${s.url}/v1/blobs/${layer.digest}`)).json()) as Record<string, unknown>
    assert.equal(status.state, 'seeding')
    assert.equal(status.size, layer.size)
    assert.equal(status.infoHash, responses[0].headers.get('x-layerseed-info-hash'))
    await s.close()
  })

  it('seeds stored blobs again after a restart without touching the origin', async () => {
    const before = proxy.totalBlobGets()
    const s = await sidecar()
    assert.equal(await s.restored, 1)
    const layer = image.layers[0]
    const res = await fetch(`${s.url}/v1/blobs/${layer.digest}/torrent?repo=library/parts`)
    assert.equal(res.status, 200)
    assert.equal(proxy.totalBlobGets(), before)
    await s.close()
  })

  it('refuses announces for info-hashes it did not issue', async () => {
    const s = await sidecar(path.join(root, 'tracker-only'))
    const pct = (b: Buffer) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')
    const query = `info_hash=${pct(Buffer.alloc(20, 7))}&peer_id=${pct(Buffer.from('-XX0000-000000000000'))}&port=6881&uploaded=0&downloaded=0&left=0&event=started`
    const res = await fetch(`${s.url}/announce?${query}`)
    const text = Buffer.from(await res.arrayBuffer()).toString('latin1')
    assert.match(text, /failure reason/)
    assert.match(text, /not issued/)
    await s.close()
  })

  it('answers HEAD from the torrent without downloading, and Range from the cache', async () => {
    const s = await sidecar()
    const a = await agent('agent-head', [s.url])
    const layer = image.layers[1]
    const gets = proxy.blobGets(layer.digest)
    const head = await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(layer.size))
    assert.equal(head.headers.get('docker-content-digest'), layer.digest)
    await assert.rejects(fs.stat(path.join(root, 'agent-head', 'blobs', 'sha256', layer.digest.slice(7))))

    const full = Buffer.from(await (await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`)).arrayBuffer())
    assert.equal(createHash('sha256').update(full).digest('hex'), layer.digest.slice(7))
    assert.equal(proxy.blobGets(layer.digest), gets + 1, 'only the sidecar fetched it')
    const ranged = await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`, { headers: { range: 'bytes=1000-' } })
    assert.equal(ranged.status, 206)
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-${layer.size - 1}/${layer.size}`)
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), full.subarray(1000))
  })

  it('takes a blob under --http-max-bytes over HTTP from the sidecar, fetched once from the origin', async () => {
    const s = await sidecar(path.join(root, 'small'))
    const a = await agent('agent-small', [s.url])
    const layer = image.layers[2]
    const gets = proxy.blobGets(layer.digest)
    const body = Buffer.from(await (await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`)).arrayBuffer())
    assert.equal(createHash('sha256').update(body).digest('hex'), layer.digest.slice(7))
    assert.equal(proxy.blobGets(layer.digest), gets + 1, 'the sidecar fetched it once; the agent did not go to the origin')
    const stats = (await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: Record<string, number> }
    assert.equal(stats.bytesBySource.seeder, layer.size)
    assert.equal(stats.bytesBySource.origin, 0)
  })

  it('fetches the rest from the upstream when the swarm stalls', async () => {
    // A fault we cannot cause with the real sidecar: a torrent whose tracker
    // knows no peers. This stand-in serves a correct torrent for the blob and
    // announces to a closed port, so the swarm delivers nothing.
    const layer = image.layers[2]
    const data = await fs.readFile(layer.path)
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const deadTracker = `http://127.0.0.1:${await freePort()}/announce`
    const torrent = buildTorrent(Digest.parse(layer.digest), hasher.finish(), deadTracker)
    const fake = http.createServer((req, res) => {
      if (/^\/v1\/blobs\/[^/]+\/torrent/.test(req.url ?? '')) res.writeHead(200, { 'content-type': 'application/x-bittorrent' }).end(torrent.torrent)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => fake.close(resolve)))
    // httpMaxBytes 0: even this small blob goes through the swarm, which is what stalls.
    const a = await agent('agent-stall', [`http://127.0.0.1:${(fake.address() as AddressInfo).port}`], 800, 0)
    const gets = proxy.blobGets(layer.digest)
    const res = await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`)
    const body = Buffer.from(await res.arrayBuffer())
    assert.equal(createHash('sha256').update(body).digest('hex'), layer.digest.slice(7))
    assert.equal(proxy.blobGets(layer.digest), gets + 1)
    const stats = (await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: Record<string, number> }
    assert.equal(stats.bytesBySource.origin, layer.size)
  })

  it('answers a torrent request with the bytes when asked to and the blob is small enough, or nobody else fetches or shares it', async () => {
    const s = await sidecar(path.join(root, 'inline'))
    const layer = image.layers[2]
    const url = (q: string) => `${s.url}/v1/blobs/${layer.digest}/torrent?repo=library/parts${q}`
    const kind = async (q: string) => {
      const res = await fetch(url(q))
      const body = Buffer.from(await res.arrayBuffer())
      return { type: res.headers.get('content-type'), body, torrent: res.headers.get('x-layerseed-torrent') }
    }
    assert.equal((await kind('')).type, 'application/x-bittorrent')
    assert.equal((await kind('&inline-max=1000')).type, 'application/x-bittorrent', 'bigger than inline-max')
    const bad = await fetch(url('&inline-alone-max=lots'))
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'QUERY_INVALID')

    const alone = await kind(`&inline-max=0&inline-alone-max=${layer.size}`)
    assert.equal(alone.type, 'application/octet-stream', 'no agent in the swarm yet')
    assert.equal(createHash('sha256').update(alone.body).digest('hex'), layer.digest.slice(7))
    assert.ok(alone.torrent && (await kind('')).body.equals(Buffer.from(alone.torrent, 'base64')), 'the torrent comes along in a header')

    // An agent that pulled the blob seeds it and joins the swarm; from then on, a torrent is worth it.
    const a = await agent('agent-inline', [s.url], 3000, 0, 1 << 20)
    const pulled = Buffer.from(await (await fetch(`${a.url}/v2/library/parts/blobs/${layer.digest}`)).arrayBuffer())
    assert.equal(createHash('sha256').update(pulled).digest('hex'), layer.digest.slice(7))
    await waitFor(async () => (await kind(`&inline-max=0&inline-alone-max=${layer.size}`)).type === 'application/x-bittorrent', { timeoutMs: 10_000, intervalMs: 100, what: 'the agent in the swarm' })
    assert.equal((await kind(`&inline-max=${layer.size}`)).type, 'application/octet-stream', 'up to inline-max, always the bytes')
  })
})
