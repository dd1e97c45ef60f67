// A node with a valid place in the swarm claims every piece and answers every
// request with random bytes. Real parts on loopback: Debian's docker-registry,
// a sidecar and agents as real webtorrent peers, and the liar as a raw
// bittorrent-protocol wire (test/helpers/liar.ts).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { waitFor } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type ImageBlob, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { agentConfig, capturingLogger, sidecarConfig, testLogger } from './helpers/configs.js'
import { listedPorts, startLiar, type Liar } from './helpers/liar.js'
import { cachedSha, sourcesOf, timedPull, torrentOf } from './helpers/swarm-pulls.js'

const REPO = 'library/hostile'
const STALL_MS = 3000

describe('a lying peer', () => {
  let root: string
  let registry: Registry
  let sidecar: RunningSidecar
  let image: OciImage
  const closers: Array<() => Promise<unknown>> = []
  /** How long a pull of each layer took with no liar around. */
  const baseline = new Map<string, number>()

  const agent = async (name: string, logger = testLogger(name)): Promise<RunningAgent> => {
    const a = await runAgent({
      config: agentConfig({ dataDir: path.join(root, name), sidecars: [sidecar.url], upstreams: [registry.url], p2pStallTimeoutMs: STALL_MS, httpAloneMaxBytes: 0 }),
      logger,
      clock: systemClock,
    })
    closers.push(() => a.close())
    return a
  }
  const liarFor = async (blob: ImageBlob): Promise<Liar> => {
    const t = await torrentOf(sidecar.url, REPO, blob)
    const liar = await startLiar({ infoHash: t.infoHash, pieces: t.pieces, announceUrl: t.announceUrl })
    closers.push(() => liar.close())
    assert.equal(await liar.announce(), undefined, 'the tracker admits the liar')
    assert.ok((await listedPorts(t.announceUrl, t.infoHash)).includes(liar.port), 'and lists it')
    return liar
  }
  const withinBound = (blob: ImageBlob, ms: number) => {
    const base = baseline.get(blob.digest)!
    assert.ok(ms <= 2 * base + STALL_MS, `the pull took ${Math.round(ms)} ms with the liar, ${Math.round(base)} ms without`)
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-hostile-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    sidecar = await runSidecar({ config: sidecarConfig({ origin: registry.url, dataDir: path.join(root, 'sidecar') }), logger: testLogger('sidecar'), clock: systemClock })
    closers.push(() => sidecar.close())
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [8 << 20, 8 << 20] })
    await skopeoPush(image, registry.host, `${REPO}:1.0`)
    const honest = await agent('baseline')
    for (const layer of image.layers) {
      await torrentOf(sidecar.url, REPO, layer)
      const r = await timedPull(honest, REPO, layer)
      assert.equal(r.sha, layer.digest)
      baseline.set(layer.digest, r.ms)
    }
    await honest.close()
  })

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('is banned by each agent it lies to, and delisted by the tracker once two reported it; the pulls complete from the swarm', async () => {
    const layer = image.layers[0]
    const liar = await liarFor(layer)
    const log = capturingLogger('warn', 'agent-a')
    const a = await agent('agent-a', log.logger)
    const r = await timedPull(a, REPO, layer)
    assert.equal(r.sha, layer.digest)
    withinBound(layer, r.ms)
    assert.ok(liar.sent.requests > 0, 'the agent did ask the liar')
    const bans = log.lines.filter((l) => l.includes('peer banned'))
    assert.equal(bans.length, 1, 'one warn line')
    assert.match(bans[0], new RegExp(`"peer":"127.0.0.1:${liar.port}".*"peerId":"${liar.peerIdHex}"`))
    assert.equal(a.peers.bannedPeers, 1)
    assert.equal(await cachedSha(path.join(root, 'agent-a'), layer), layer.digest.slice(7), 'nothing the liar sent was cached')
    assert.equal((await sourcesOf(a)).origin, 0, 'no fallback to the registry was needed')

    const b = await agent('agent-b')
    assert.equal((await timedPull(b, REPO, layer)).sha, layer.digest)
    const t = await torrentOf(sidecar.url, REPO, layer)
    await waitFor(async () => !(await listedPorts(t.announceUrl, t.infoHash)).includes(liar.port), { timeoutMs: 10_000, intervalMs: 100, what: 'the tracker to stop listing the liar' })
    assert.match((await liar.announce()) ?? '', /delisted/, 'its own announces are refused')
  })

  it('also lying to the seeder (claiming every piece) does not make the seeder stop offering pieces', async () => {
    const layer = image.layers[1]
    const liar = await liarFor(layer)
    liar.connect(`127.0.0.1:${sidecar.peerPort}`)
    await waitFor(async () => sidecar.peers.connectedPeers > 0, { timeoutMs: 5_000, intervalMs: 20, what: 'the liar to reach the seeder' })
    const c = await agent('agent-c')
    const r = await timedPull(c, REPO, layer)
    assert.equal(r.sha, layer.digest)
    withinBound(layer, r.ms)
    const s = await sourcesOf(c)
    assert.equal(s.origin, 0, 'every byte came from the swarm')
    assert.ok(s.seeder > 0, 'the seeder went on offering pieces')
    assert.equal(await cachedSha(path.join(root, 'agent-c'), layer), layer.digest.slice(7))
  })
})
