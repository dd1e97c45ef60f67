// What the OCI distribution spec's pull conformance expects of a registry,
// asked of the agent as a mirror, against a real docker-registry: the blob
// headers, a Range on a blob the agent does not hold yet, and pushes refused
// with a clear answer.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import type { RunningAgent } from '../plugin/run.js'
import { Parts } from './helpers/parts.js'

describe('the agent as a registry mirror', () => {
  let root: string
  let registry: Registry
  let image: OciImage
  let agent: RunningAgent
  let parts: Parts
  const blobUrl = (digest: string) => `${agent.url}/v2/library/app/blobs/${digest}`

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-mirror-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [3_000_000, 2_000_000, 1_000_000] })
    await skopeoPush(image, registry.host, 'library/app:1.0')
    parts = new Parts(() => registry.url)
    const sidecar = await parts.sidecar(path.join(root, 'sidecar'))
    agent = await parts.agent(path.join(root, 'agent'), [sidecar.url], { httpMaxBytes: 0, httpAloneMaxBytes: 0 })
  })
  after(async () => {
    await parts.close()
    await registry.stop()
    await fs.rm(root, { recursive: true, force: true })
  })

  it('HEAD sends the headers the registry sends, before and after the blob is cached', async () => {
    const [layer] = image.layers
    const direct = await fetch(`${registry.url}/v2/library/app/blobs/${layer.digest}`, { method: 'HEAD' })
    for (const cached of [false, true]) {
      const res = await fetch(blobUrl(layer.digest), { method: 'HEAD' })
      assert.equal(res.status, 200)
      for (const h of ['docker-distribution-api-version', 'accept-ranges', 'etag', 'docker-content-digest', 'content-length']) {
        assert.equal(res.headers.get(h), direct.headers.get(h), `${h} (cached: ${cached})`)
      }
      if (!cached) await (await fetch(blobUrl(layer.digest))).arrayBuffer()
    }
  })

  it('answers a Range on a blob it does not hold yet with 206 and those bytes, and caches the whole blob', async () => {
    const layer = image.layers[1]
    const bytes = await fs.readFile(layer.path)
    const res = await fetch(blobUrl(layer.digest), { headers: { range: 'bytes=1000000-' } })
    assert.equal(res.status, 206)
    assert.equal(res.headers.get('content-range'), `bytes 1000000-${bytes.length - 1}/${bytes.length}`)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(1_000_000))
    const again = await fetch(blobUrl(layer.digest), { headers: { range: 'bytes=10-99' } })
    assert.equal(again.status, 206)
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), bytes.subarray(10, 100))
    assert.equal((await (await fetch(`${agent.url}/v1/stats`)).json() as { bytesBySource: { cache: number } }).bytesBySource.cache, 90, 'the second range came from the cache')
  })

  it('answers a middle range of an uncached blob, and refuses one outside it with 416', async () => {
    const layer = image.layers[2]
    const bytes = await fs.readFile(layer.path)
    const bad = await fetch(blobUrl(layer.digest), { headers: { range: `bytes=${bytes.length + 5}-` } })
    assert.equal(bad.status, 416)
    assert.equal(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'RANGE_INVALID')
    const res = await fetch(blobUrl(layer.digest), { headers: { range: 'bytes=200000-299999' } })
    assert.equal(res.status, 206)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(200_000, 300_000))
  })

  it('refuses pushes with 405 and a body that says where to push', async () => {
    for (const [method, p] of [['POST', '/v2/library/app/blobs/uploads/'], ['PUT', '/v2/library/app/manifests/2.0'], ['PATCH', '/v2/library/app/blobs/uploads/x'], ['DELETE', `/v2/library/app/blobs/${image.layers[0].digest}`]]) {
      const res = await fetch(`${agent.url}${p}`, { method })
      assert.equal(res.status, 405, `${method} ${p}`)
      assert.equal(res.headers.get('allow'), 'GET, HEAD')
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> }
      assert.equal(body.errors[0].code, 'UNSUPPORTED')
      assert.ok(body.errors[0].message.includes(registry.url), body.errors[0].message)
    }
  })
})
