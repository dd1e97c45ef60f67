// Pulls whose swarm cannot finish them: only a liar holds the blob, or the
// sidecar (the only holder) goes away mid-pull. Either way the agent takes
// the rest from the registry, without waiting out more than it must.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { Digest } from '../lib/core/domain.js'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { Tracker } from '../lib/swarm/tracker.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type ImageBlob, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { agentConfig, sidecarConfig, testLogger } from './helpers/configs.js'
import { startLiar } from './helpers/liar.js'
import { cachedSha, describeTorrent, sourcesOf, timedPull, torrentOf } from './helpers/swarm-pulls.js'

const REPO = 'library/deserted'

describe('a swarm that cannot finish a pull', () => {
  let root: string
  let registry: Registry
  let image: OciImage
  const closers: Array<() => Promise<unknown>> = []

  const agent = async (name: string, sidecarUrl: string, stallMs: number): Promise<RunningAgent> => {
    const a = await runAgent({
      config: agentConfig({ dataDir: path.join(root, name), sidecars: [sidecarUrl], upstreams: [registry.url], p2pStallTimeoutMs: stallMs, httpAloneMaxBytes: 0 }),
      logger: testLogger(name),
      clock: systemClock,
    })
    closers.push(() => a.close())
    return a
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-deserted-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [6 << 20, 16 << 20] })
    await skopeoPush(image, registry.host, `${REPO}:1.0`)
  })

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  /**
   * A sidecar with no seeder: it hands out the blob's torrent and runs the
   * tracker (layerseed's own), and nothing else, so the only peer is whoever announces.
   */
  const seederless = async (blob: ImageBlob) => {
    const data = await fs.readFile(blob.path)
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const tracker = new Tracker()
    let torrent: Buffer = Buffer.alloc(0)
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/announce')) return tracker.handle(req, res, 'announce')
      if (req.url?.startsWith(`/v1/blobs/${blob.digest}/torrent`)) {
        res.setHeader('content-type', 'application/x-bittorrent')
        return res.end(torrent)
      }
      res.statusCode = 404
      res.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const built = buildTorrent(Digest.parse(blob.digest), hasher.finish(), `${url}/announce`)
    torrent = built.torrent
    tracker.issue(built.infoHash)
    closers.push(async () => {
      tracker.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    return { url, ...describeTorrent(torrent) }
  }

  it('falls back to the registry within the stall timeout when only a liar holds the blob', async () => {
    const layer = image.layers[0]
    const fake = await seederless(layer)
    const liar = await startLiar({ infoHash: fake.infoHash, pieces: fake.pieces, announceUrl: fake.announceUrl })
    closers.push(() => liar.close())
    assert.equal(await liar.announce(), undefined)
    const stallMs = 5_000
    const a = await agent('garbage', fake.url, stallMs)
    const r = await timedPull(a, REPO, layer)
    assert.equal(r.sha, layer.digest)
    assert.ok(r.ms < stallMs + 2_000, `the pull took ${Math.round(r.ms)} ms, the stall timeout is ${stallMs} ms`)
    assert.ok(liar.sent.bytes > 0, 'the liar was asked')
    assert.equal((await sourcesOf(a)).origin, layer.size, 'every byte came from the registry')
    assert.equal(await cachedSha(path.join(root, 'garbage'), layer), layer.digest.slice(7))
  })

  it('falls back at once, not after the stall timeout, when the sidecar goes away mid-pull and nobody else has the blob', async () => {
    const layer = image.layers[1]
    // Slow enough that the pull is still running when the sidecar goes.
    const sidecar: RunningSidecar = await runSidecar({
      config: sidecarConfig({ origin: registry.url, dataDir: path.join(root, 'sidecar'), uploadBytesPerSec: 4_000_000 }),
      logger: testLogger('sidecar'),
      clock: systemClock,
    })
    closers.push(() => sidecar.close())
    await torrentOf(sidecar.url, REPO, layer)
    const stallMs = 20_000
    const a = await agent('orphan', sidecar.url, stallMs)
    const pulling = timedPull(a, REPO, layer)
    await new Promise((r) => setTimeout(r, 1_500))
    const gone = performance.now()
    await sidecar.close()
    const r = await pulling
    const after = performance.now() - gone
    assert.equal(r.sha, layer.digest)
    assert.ok(after < 10_000, `the pull ended ${Math.round(after)} ms after the sidecar went; the stall timeout is ${stallMs} ms`)
    assert.ok((await sourcesOf(a)).origin > 0, 'the registry sent the rest')
    assert.equal(await cachedSha(path.join(root, 'orphan'), layer), layer.digest.slice(7))
  })
})
