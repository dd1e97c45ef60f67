// A 202 is a promise: a manifest webhook that arrives while the registry is
// down is kept and tried again until the registry is back, also across a
// sidecar restart. Real docker-registry, stopped and started again on the
// same port and storage; real sidecars.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { Digest } from '../lib/core/domain.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { FileIntakeJournal } from '../sidecar/file-intake-journal.js'
import { targetKey } from '../sidecar/intake-journal.js'
import { freePort } from '../demo/ports.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import { sidecarConfig, testLogger } from './helpers/configs.js'

const TOKEN = 'intake-token'
const OUTAGE_MS = 20_000

/** The envelope distribution sends for a manifest push (see test/fixtures). */
const manifestPush = (repo: string, digest: string) => JSON.stringify({
  events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, repository: repo, url: 'http://never.invalid/' } }],
})

describe('durable intake', () => {
  let root: string
  let image: OciImage
  const sidecars: RunningSidecar[] = []
  const registries: Registry[] = []

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-intake-'))
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [400_000, 200_000] })
  })
  after(async () => {
    for (const s of sidecars) await s.close().catch(() => undefined)
    for (const r of registries) await r.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  /** A registry holding the image, then stopped: its port and storage are kept for the restart. */
  const downRegistry = async (name: string) => {
    const addr = { host: '127.0.0.1', port: await freePort() }
    const dir = path.join(root, name)
    const first = await startRegistry({ dir, addr })
    await skopeoPush(image, first.host, 'library/app:1.0')
    await first.stop()
    return { url: first.url, back: async () => registries.push(await startRegistry({ dir, addr })) }
  }

  const sidecar = async (origin: string, dataDir: string) => {
    const s = await runSidecar({ config: sidecarConfig({ origin, dataDir, webhookToken: TOKEN, intakeRetryForMs: 300_000 }), logger: testLogger('sidecar'), clock: systemClock })
    sidecars.push(s)
    return s
  }

  const notify = async (s: RunningSidecar) => {
    const res = await fetch(`${s.url}/webhooks/distribution`, { method: 'POST', body: manifestPush('library/app', image.manifestDigest), headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.status, 202)
    assert.deepEqual(await res.json(), { queued: 1, duplicates: 0, ignored: 0 })
  }

  const allSeeding = (s: RunningSidecar) =>
    waitFor(async () => {
      const states = await Promise.all(image.blobs().map(async (b) => ((await (await fetch(`${s.url}/v1/blobs/${b.digest}`)).json()) as { state: string }).state))
      return states.every((x) => x === 'seeding')
    }, { timeoutMs: 90_000, intervalMs: 250, what: 'every blob of the image to be seeding' })

  it('keeps a webhook that came while the registry was down, and seeds every layer once it is back', async () => {
    const reg = await downRegistry('registry-a')
    const s = await sidecar(reg.url, path.join(root, 'sidecar-a'))
    await notify(s)
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    for (const b of image.blobs()) assert.notEqual(s.blobs.status(Digest.parse(b.digest)).state, 'seeding', 'nothing can seed while the registry is down')
    await reg.back()
    await allSeeding(s)
  })

  it('resumes it after a sidecar restart during the outage', async () => {
    const reg = await downRegistry('registry-b')
    const dataDir = path.join(root, 'sidecar-b')
    const first = await sidecar(reg.url, dataDir)
    await notify(first)
    await new Promise((r) => setTimeout(r, 1_000))
    await first.close()
    assert.deepEqual(await journalOf(dataDir), [`manifest-${image.manifestDigest.slice(7)}`], 'the accepted target is on disk when the sidecar stops')
    const second = await sidecar(reg.url, dataDir)
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    await reg.back()
    await allSeeding(second)
    await waitFor(async () => (await journalOf(dataDir)).length === 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the intake journal to be empty once every target is done' })
  })
})

/** The targets a data dir's intake journal holds, read as the next start would. */
async function journalOf(dataDir: string): Promise<string[]> {
  const j = new FileIntakeJournal(dataDir, testLogger('journal'))
  await j.init()
  const keys = (await j.pending()).map(targetKey)
  await j.close()
  return keys
}
