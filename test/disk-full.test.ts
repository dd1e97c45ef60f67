// A data dir on a filesystem too small for a blob: a tmpfs this test mounts
// (as root, here and in CI) and unmounts afterwards, even when a test fails.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from '../lib/core/logger.js'
import type { RunningSidecar } from '../sidecar/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type ImageBlob } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import type { AgentConfig, SidecarConfig } from '../config/index.js'
import type { SourceBytes } from '../plugin/puller.js'
import { capturingLogger } from './helpers/configs.js'
import { Parts } from './helpers/parts.js'
import { cacheStatus, fetchSha, onDisk } from './helpers/blobs.js'
import { mountTmpfs } from './helpers/tmpfs.js'

const MB = 1_000_000
const MiB = 1024 * 1024

describe('disk full', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  let layers: ImageBlob[]
  let seeder: RunningSidecar
  const parts = new Parts(() => proxy.url)
  const unmounts: Array<() => Promise<void>> = []

  const tmpfs = async (name: string, bytes: number) => {
    const dir = path.join(root, name)
    unmounts.push(await mountTmpfs(dir, bytes))
    return dir
  }
  const sidecar = (dataDir: string, over: Partial<SidecarConfig> = {}) => parts.sidecar(dataDir, over)
  const agent = (dataDir: string, over: Partial<AgentConfig>, logger: Logger) => parts.agent(dataDir, [seeder.url], over, logger)
  /** Nothing of the blob under a data dir: no blob file, nothing in tmp/. */
  const leftNothing = async (dataDir: string) => {
    const disk = await onDisk(dataDir)
    assert.deepEqual([...disk.blobs.keys()], [], 'no blob file')
    assert.deepEqual(disk.tmp, [], 'no temp file')
  }
  /** Fills the filesystem of dir up to `leave` free bytes once a write into dataDir/tmp has started. */
  const fillWhenWriting = async (dataDir: string, fsDir: string, leave: number) => {
    await waitFor(async () => (await fs.readdir(path.join(dataDir, 'tmp'))).some((n) => n.endsWith('.part')), { timeoutMs: 10_000, intervalMs: 20, what: 'a write to start' })
    const s = await fs.statfs(fsDir)
    await fs.writeFile(path.join(fsDir, 'filler'), Buffer.alloc(Math.max(0, s.bavail * s.bsize - leave)))
  }

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-diskfull-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    const image = await makeOciImage(path.join(root, 'image'), { layerSizes: [3 * MB, 3 * MB, 3 * MB] })
    layers = [...image.layers]
    await skopeoPush(image, registry.host, 'library/full:1.0')
    seeder = await sidecar(path.join(root, 'seeder'))
  })

  after(async () => {
    await parts.close()
    for (const u of unmounts) await u().catch((err: unknown) => process.stderr.write(`unmount failed: ${String(err)}\n`))
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('the sidecar refuses a blob its disk cannot hold, before reading it, with 507 INSUFFICIENT_STORAGE', async () => {
    const dataDir = path.join(await tmpfs('sidecar-small', 2 * MiB), 'data')
    const s = await sidecar(dataDir)
    const res = await fetch(`${s.url}/v1/blobs/${layers[0].digest}/torrent?repo=library/full`)
    assert.equal(res.status, 507)
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> }
    assert.equal(body.errors[0].code, 'INSUFFICIENT_STORAGE')
    assert.match(body.errors[0].message, /would leave \d+ bytes free/)
    await leftNothing(dataDir)
    const st = (await (await fetch(`${s.url}/v1/blobs/${layers[0].digest}`)).json()) as { state: string; error: string }
    assert.equal(st.state, 'failed')
  })

  it('the agent serves a blob its disk cannot hold straight from the upstream, and caches nothing', async () => {
    const dataDir = path.join(await tmpfs('agent-small', 2 * MiB), 'data')
    const log = capturingLogger()
    // Not over HTTP from the sidecar, as a blob alone in its swarm would come: the swarm path is what a full disk turns away.
    const a = await agent(dataDir, { httpAloneMaxBytes: 0 }, log.logger)
    const got = await fetchSha(`${a.url}/v2/library/full/blobs/${layers[0].digest}`)
    assert.equal(got.status, 200)
    assert.equal(got.sha, layers[0].digest.slice(7))
    const stats = ((await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource
    assert.equal(stats.origin, layers[0].size, 'from the upstream')
    assert.ok(log.has(/"code":"INSUFFICIENT_STORAGE".*not caching the blob/), 'a log line says why it was not cached')
    await leftNothing(dataDir)
    const status = await cacheStatus(a.url)
    assert.equal(status.blobs, 0)
    assert.equal(status.reservedBytes, 0)
  })

  it('the agent survives a disk that fills midway: the client still gets the verified blob, nothing half-written stays', async () => {
    const fsDir = await tmpfs('agent-mid', 4 * MiB)
    const dataDir = path.join(fsDir, 'data')
    const log = capturingLogger()
    // Over HTTP from the sidecar (no swarm scratch copy), at 1 MB/s so the disk can fill midway.
    const a = await agent(dataDir, { httpMaxBytes: 8 * MB, downloadBytesPerSec: 1 * MB }, log.logger)
    const pulling = fetchSha(`${a.url}/v2/library/full/blobs/${layers[1].digest}`)
    await fillWhenWriting(dataDir, fsDir, 100_000)
    const got = await pulling
    assert.equal(got.status, 200)
    assert.equal(got.sha, layers[1].digest.slice(7))
    assert.ok(log.has(/"code":"INSUFFICIENT_STORAGE".*disk full while caching/), 'a log line says the disk filled')
    await leftNothing(dataDir)
    assert.equal((await cacheStatus(a.url)).blobs, 0)
    assert.equal((await fetch(`${a.url}/healthz`)).status, 200, 'still serving')
  })

  it('the sidecar fails a fetch cleanly when its disk fills midway', async () => {
    const fsDir = await tmpfs('sidecar-mid', 4 * MiB)
    const dataDir = path.join(fsDir, 'data')
    const s = await sidecar(dataDir, { originBytesPerSec: 1 * MB })
    const asking = fetch(`${s.url}/v1/blobs/${layers[2].digest}/torrent?repo=library/full`)
    await fillWhenWriting(dataDir, fsDir, 100_000)
    const res = await asking
    assert.equal(res.status, 507)
    assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'INSUFFICIENT_STORAGE')
    await leftNothing(dataDir)
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200, 'still serving')
  })
})
