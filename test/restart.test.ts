// SIGKILL in the middle of downloads, with the real CLI as child processes:
// after a restart nothing partial is left, the index matches the disk, and
// the sidecar seeds what it had with no traffic to the registry.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../demo/ports.js'
import { spawnLogged, waitFor, type Spawned } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type ImageBlob } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import type { SourceBytes } from '../plugin/puller.js'
import { cacheStatus, fetchSha, onDisk } from './helpers/blobs.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const MB = 1_000_000

describe('restart after SIGKILL', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let small: ImageBlob
  let large: ImageBlob
  const procs = new Set<Spawned>()
  let sidecarPort = 0
  let agentPort = 0
  const sidecarUrl = () => `http://127.0.0.1:${sidecarPort}`
  const agentUrl = () => `http://127.0.0.1:${agentPort}`
  const dirs = { sidecar: '', agent: '' }

  const start = async (args: string[], log: string, url: string): Promise<Spawned> => {
    const p = spawnLogged(process.execPath, [BIN, ...args, '--min-free-disk', '0', '--peer-port', '0', '--log-level', 'info'], { logFile: path.join(root, log) })
    procs.add(p)
    await waitFor(async () => {
      if (p.child.exitCode !== null) throw new Error(`exited; see ${log}`)
      return (await fetch(`${url}/healthz`)).ok
    }, { timeoutMs: 20_000, intervalMs: 100, what: log })
    return p
  }
  // Both rate-limited to 4 MB/s, so an 8 MB download is reliably caught in the middle.
  const startSidecar = () => start(['sidecar', '--listen', `127.0.0.1:${sidecarPort}`, '--origin', proxy.url, '--data-dir', dirs.sidecar, '--origin-rate', '4MB/s'], 'sidecar.log', sidecarUrl())
  const startAgent = () => start(['agent', '--listen', `127.0.0.1:${agentPort}`, '--sidecar', sidecarUrl(), '--upstream', proxy.url, '--data-dir', dirs.agent, '--download-rate', '4MB/s'], 'agent.log', agentUrl())
  const kill9 = async (p: Spawned) => {
    const exited = new Promise((resolve) => p.child.once('exit', resolve))
    p.child.kill('SIGKILL')
    await exited
    procs.delete(p)
  }
  const partialIn = async (dataDir: string, atLeast: number) => {
    for (const name of await fs.readdir(path.join(dataDir, 'tmp'), { recursive: true })) {
      if (!String(name).endsWith('.part')) continue
      const st = await fs.stat(path.join(dataDir, 'tmp', String(name))).catch(() => undefined)
      if (st && st.size >= atLeast) return true
    }
    return false
  }
  const indexMatchesDisk = async (url: string, dataDir: string) => {
    const status = await cacheStatus(url)
    const disk = await onDisk(dataDir)
    assert.deepEqual(disk.tmp, [], `${dataDir}: no temp files`)
    assert.equal(status.blobs, disk.blobs.size)
    assert.equal(status.usedBytes, [...disk.blobs.values()].reduce((a, b) => a + b, 0))
    assert.equal(status.unverified, 0)
    return disk
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-restart-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    const image = await makeOciImage(path.join(root, 'image'), { layerSizes: [3 * MB, 8 * MB] })
    ;[small, large] = image.layers
    await skopeoPush(image, registry.host, 'library/restart:1.0')
    sidecarPort = await freePort()
    agentPort = await freePort()
    dirs.sidecar = path.join(root, 'sidecar')
    dirs.agent = path.join(root, 'agent')
  })

  after(async () => {
    await Promise.all([...procs].map((p) => p.stop()))
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('leaves no partial file, rebuilds the index from disk, and seeds again without the registry', async () => {
    let sidecar = await startSidecar()
    let agent = await startAgent()
    const blobUrl = (b: ImageBlob) => `${agentUrl()}/v2/library/restart/blobs/${b.digest}`
    assert.equal((await fetchSha(blobUrl(small))).sha, small.digest.slice(7))

    // The large blob: the sidecar fetches it from the registry; kill it midway.
    const cut = fetchSha(blobUrl(large)).catch((err: unknown) => err)
    await waitFor(() => partialIn(dirs.sidecar, 1.5 * MB), { timeoutMs: 20_000, intervalMs: 50, what: 'the sidecar to be midway' })
    await kill9(sidecar)
    // With the sidecar gone the agent falls back to the registry; kill it midway too.
    await waitFor(() => partialIn(dirs.agent, 1.5 * MB), { timeoutMs: 30_000, intervalMs: 50, what: 'the agent to be midway' })
    await kill9(agent)
    await cut
    assert.ok(await partialIn(dirs.sidecar, 1), 'the killed sidecar left a partial file')
    assert.ok(await partialIn(dirs.agent, 1), 'the killed agent left a partial file')

    // And a damaged file, as a bad disk would leave: it must be dropped, never seeded.
    const damaged = 'ab'.repeat(32)
    await fs.writeFile(path.join(dirs.sidecar, 'blobs', 'sha256', damaged), 'not the bytes of that digest')

    const registryGets = proxy.totalBlobGets()
    sidecar = await startSidecar()
    agent = await startAgent()
    await waitFor(async () => (await cacheStatus(sidecarUrl())).unverified === 0 && (await cacheStatus(agentUrl())).unverified === 0, { timeoutMs: 20_000, intervalMs: 100, what: 'verification after the restart' })
    const sidecarDisk = await indexMatchesDisk(sidecarUrl(), dirs.sidecar)
    const agentDisk = await indexMatchesDisk(agentUrl(), dirs.agent)
    assert.deepEqual([...sidecarDisk.blobs.keys()], [small.digest.slice(7)])
    assert.deepEqual([...agentDisk.blobs.keys()], [small.digest.slice(7)])

    const st = (await (await fetch(`${sidecarUrl()}/v1/blobs/${small.digest}`)).json()) as { state: string }
    assert.equal(st.state, 'seeding', 'the sidecar seeds what it had')
    const bad = (await (await fetch(`${sidecarUrl()}/v1/blobs/sha256:${damaged}`)).json()) as { state: string }
    assert.equal(bad.state, 'absent', 'the damaged file was dropped')
    assert.match(await fs.readFile(path.join(root, 'sidecar.log'), 'utf8'), new RegExp(`"digest":"sha256:${damaged}".*does not match its digest; dropped, never seeded`))
    // A new node gets the blob from the swarm: the restarted seeder serves it.
    const freshPort = await freePort()
    const fresh = await start(['agent', '--listen', `127.0.0.1:${freshPort}`, '--sidecar', sidecarUrl(), '--upstream', proxy.url, '--data-dir', path.join(root, 'fresh'), '--http-max-bytes', '0'], 'fresh.log', `http://127.0.0.1:${freshPort}`)
    assert.equal((await fetchSha(`http://127.0.0.1:${freshPort}/v2/library/restart/blobs/${small.digest}`)).sha, small.digest.slice(7))
    const stats = ((await (await fetch(`http://127.0.0.1:${freshPort}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
    assert.equal(stats.origin, 0)
    assert.equal(stats.seeder + stats.peers, small.size)
    assert.equal(proxy.totalBlobGets(), registryGets, 'no registry traffic since the restart')
    await fresh.stop()
    procs.delete(fresh)

    // The interrupted blob completes now, correctly.
    assert.equal((await fetchSha(blobUrl(large))).sha, large.digest.slice(7))
    // The client has its bytes once they verified; the file is synced and renamed into the cache right after.
    await waitFor(async () => (await onDisk(dirs.agent)).tmp.length === 0, { timeoutMs: 5_000, intervalMs: 20, what: 'the agent to cache the blob' })
    await indexMatchesDisk(agentUrl(), dirs.agent)
  })
})
