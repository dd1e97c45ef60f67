// Zones on loopback: one sidecar in zone a, four agents in zones a and b,
// real webtorrent peers. What the agents of zone b get from peers of their
// own zone is read from their /v1/stats and /metrics, and `layerseed status`.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import type { RunningAgent } from '../plugin/run.js'
import type { RunningSidecar } from '../sidecar/run.js'
import type { SourceBytes } from '../plugin/puller.js'
import { Parts } from './helpers/parts.js'
import { timedPull } from './helpers/swarm-pulls.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const MB = 1 << 20
const REPO = 'library/zones'

interface Stats {
  bytesBySource: SourceBytes
  peerBytesByZone: { same: number; other: number }
}

const stats = async (a: RunningAgent): Promise<Stats> => (await (await fetch(`${a.url}/v1/stats`)).json()) as Stats

/** `layerseed_agent_blob_bytes_total{source="peers",zone=…}` as the agent's /metrics shows it. */
async function peerMetric(a: RunningAgent, zone: 'same' | 'other'): Promise<number> {
  const text = await (await fetch(`${a.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('layerseed_agent_blob_bytes_total{') && l.includes('source="peers"') && l.includes(`zone="${zone}"`))
  assert.ok(line, `no peers/${zone} series in /metrics`)
  return Number(line.split(' ').pop())
}

describe('zones', () => {
  let root: string
  let registry: Registry | undefined
  let image: OciImage
  let sidecar: RunningSidecar
  const agents: Record<string, RunningAgent> = {}
  const parts = new Parts(() => registry!.url)

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-zones-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [24 * MB, 24 * MB] })
    await skopeoPush(image, registry.host, `${REPO}:1.0`)
    // Paced uploads, so a pull on loopback takes long enough for every peer to connect and take part.
    sidecar = await parts.sidecar(path.join(root, 'sidecar'), { zone: 'a', uploadBytesPerSec: 16 * MB })
    for (const [name, zone] of [['a1', 'a'], ['a2', 'a'], ['b1', 'b'], ['b2', 'b']] as const) {
      agents[name] = await parts.agent(path.join(root, name), [sidecar.url], { zone, httpAloneMaxBytes: 0, uploadBytesPerSec: 16 * MB, p2pStallTimeoutMs: 20_000 })
    }
  })

  after(async () => {
    await parts.close()
    await registry?.stop().catch(() => undefined)
    if (root) await fs.rm(root, { recursive: true, force: true })
  })

  it('agents of zone b take a layer from zone b peers once one of them holds it', async () => {
    const layer = image.layers[0]
    const { a1, b1, b2 } = agents
    assert.equal((await timedPull(a1, REPO, layer)).sha, layer.digest)
    assert.equal((await timedPull(b1, REPO, layer)).sha, layer.digest)
    const first = await stats(b1)
    // Nobody of zone b held it: every byte came across from zone a (the seeder or a1).
    assert.equal(first.peerBytesByZone.same, 0)
    assert.equal(first.bytesBySource.seeder + first.peerBytesByZone.other + first.bytesBySource.origin, layer.size)
    assert.equal(first.bytesBySource.origin, 0, 'the swarm delivered the layer')

    assert.equal((await timedPull(b2, REPO, layer)).sha, layer.digest)
    const second = await stats(b2)
    const fromB = second.peerBytesByZone.same
    const across = second.peerBytesByZone.other + second.bytesBySource.seeder
    console.log(`b2 took ${fromB} bytes from zone b, ${across} from zone a, of ${layer.size}`)
    assert.equal(fromB + across + second.bytesBySource.origin, layer.size)
    // a1 and the seeder are as near to the tracker and as fast as b1: only the preference makes b1 the source.
    assert.ok(fromB >= 0.8 * layer.size, `b2 took ${fromB} of ${layer.size} bytes from zone b`)
    assert.equal(await peerMetric(b2, 'same'), fromB)
    assert.equal(await peerMetric(b2, 'other'), second.peerBytesByZone.other)

    const text = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, 'status', '--agent', b2.url], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    )
    assert.match(text, /^ {2}peers +[\d.]+ [KMG]?i?B from this zone, [\d.]+ [KMG]?i?B from other zones$/m)
  })

  it('a layer two agents of zone b pull at once crosses into zone b about once', async () => {
    const layer = image.layers[1]
    const { a1, b1, b2 } = agents
    const before = { b1: await stats(b1), b2: await stats(b2) }
    assert.equal((await timedPull(a1, REPO, layer)).sha, layer.digest)
    const [r1, r2] = await Promise.all([timedPull(b1, REPO, layer), timedPull(b2, REPO, layer)])
    assert.equal(r1.sha, layer.digest)
    assert.equal(r2.sha, layer.digest)
    let across = 0
    for (const name of ['b1', 'b2'] as const) {
      const now = await stats(agents[name])
      const was = before[name]
      across += now.bytesBySource.seeder - was.bytesBySource.seeder + (now.peerBytesByZone.other - was.peerBytesByZone.other) + (now.bytesBySource.origin - was.bytesBySource.origin)
    }
    console.log(`zone b took ${across} bytes from outside for a layer of ${layer.size} (${(across / layer.size).toFixed(2)}x)`)
    assert.ok(across <= 1.15 * layer.size, `${across} bytes crossed into zone b for ${layer.size}`)
  })
})
