// Bad input and faults, with real parts: a registry whose stored blob is
// corrupted on disk (it serves it without checking), real webhook requests,
// and a listener that proves a payload's `url` is never fetched.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { waitFor } from '../demo/process.js'
import { agentConfig, sidecarConfig, testLogger } from './helpers/configs.js'

const TOKEN = 'bad-input-token'
const EVENTS_V1 = 'application/vnd.docker.distribution.events.v1+json'

interface ErrorBody {
  errors: Array<{ code: string; message: string }>
}

describe('bad input', () => {
  let root: string
  let registry: Registry
  let sidecar: RunningSidecar
  let agent: RunningAgent
  let image: OciImage
  let trap: http.Server
  let trapHits = 0
  let trapUrl: string

  const hook = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${sidecar.url}/webhooks/distribution`, {
      method: 'POST',
      body,
      headers: { 'content-type': EVENTS_V1, authorization: `Bearer ${TOKEN}`, ...headers },
    })

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-bad-'))
    // No notifications: the corrupted blob must not be fetched before the test corrupts it.
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [600_000, 300_000] })
    await skopeoPush(image, registry.host, 'library/bad:1.0')
    sidecar = await runSidecar({
      config: sidecarConfig({ origin: registry.url, dataDir: path.join(root, 'sidecar'), webhookToken: TOKEN }),
      logger: testLogger('sidecar'),
      clock: systemClock,
    })
    agent = await runAgent({
      config: agentConfig({ dataDir: path.join(root, 'agent'), sidecars: [sidecar.url], upstreams: [registry.url], p2pStallTimeoutMs: 2000 }),
      logger: testLogger('agent'),
      clock: systemClock,
    })
    trap = http.createServer((_req, res) => {
      trapHits++
      res.end()
    })
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve))
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`
  })

  after(async () => {
    await agent?.close().catch(() => undefined)
    await sidecar?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    trap?.close()
    await fs.rm(root, { recursive: true, force: true })
  })

  it('answers malformed webhook JSON with 400 BAD_JSON', async () => {
    const res = await hook('{"events": [')
    assert.equal(res.status, 400)
    assert.equal(((await res.json()) as ErrorBody).errors[0].code, 'BAD_JSON')
  })

  it('answers a wrong envelope shape with 400 naming the field', async () => {
    const res = await hook(JSON.stringify({ events: [{ action: 'push', target: { repository: 'library/x', digest: 'sha256:../x', mediaType: 'application/octet-stream' } }] }))
    assert.equal(res.status, 400)
    const body = (await res.json()) as ErrorBody
    assert.equal(body.errors[0].code, 'BAD_SHAPE')
    assert.match(body.errors[0].message, /events\[0\]\.target\.digest/)
  })

  it('answers a missing or wrong webhook token with 401', async () => {
    const missing = await fetch(`${sidecar.url}/webhooks/distribution`, { method: 'POST', body: '{"events":[]}', headers: { 'content-type': EVENTS_V1 } })
    assert.equal(missing.status, 401)
    const wrong = await hook('{"events":[]}', { authorization: 'Bearer nope' })
    assert.equal(wrong.status, 401)
    assert.equal(((await wrong.json()) as ErrorBody).errors[0].code, 'WEBHOOK_UNAUTHORIZED')
  })

  it('answers a Content-Type that is not an envelope with 415', async () => {
    const res = await hook('{"events":[]}', { 'content-type': 'text/plain' })
    assert.equal(res.status, 415)
  })

  it('ignores unknown actions and media types with 202', async () => {
    const digest = `sha256:${'a'.repeat(64)}`
    const res = await hook(JSON.stringify({ events: [
      { action: 'delete', target: { repository: 'library/x', digest } },
      { action: 'push', target: { repository: 'library/x', digest, mediaType: 'application/vnd.example.thing' } },
    ] }))
    assert.equal(res.status, 202)
    assert.deepEqual(await res.json(), { queued: 0, duplicates: 0, ignored: 2 })
  })

  it('never fetches the url a payload names', async () => {
    const digest = `sha256:${'b'.repeat(64)}`
    const res = await hook(JSON.stringify({ events: [{ action: 'push', target: {
      repository: 'library/bad', digest, mediaType: 'application/octet-stream', url: `${trapUrl}/v2/library/bad/blobs/${digest}`,
    } }] }))
    assert.equal(res.status, 202)
    await waitFor(async () => {
      const s = (await (await fetch(`${sidecar.url}/v1/blobs/${digest}`)).json()) as { state: string }
      return s.state === 'failed'
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'the unknown blob to fail at the origin' })
    assert.equal(trapHits, 0)
  })

  it('rejects bad digests on the status endpoint with 400', async () => {
    for (const bad of ['sha256:../x', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `md5:${'a'.repeat(32)}`]) {
      const res = await fetch(`${sidecar.url}/v1/blobs/${encodeURIComponent(bad)}`)
      assert.equal(res.status, 400, bad)
      assert.equal(((await res.json()) as ErrorBody).errors[0].code, 'DIGEST_INVALID')
    }
  })

  it('refuses a ?ns= or path host that is not a configured upstream', async () => {
    const ns = await fetch(`${agent.url}/v2/library/bad/manifests/1.0?ns=evil.example.com`)
    assert.equal(ns.status, 403)
    assert.equal(((await ns.json()) as ErrorBody).errors[0].code, 'UPSTREAM_NOT_ALLOWED')
    const prefixed = await fetch(`${agent.url}/v2/evil.example.com:5000/library/bad/manifests/1.0`)
    assert.equal(prefixed.status, 403)
  })

  it('does not cache or complete a blob whose bytes do not match its digest', async () => {
    const layer = image.layers[0]
    const hex = layer.digest.slice(7)
    const stored = registry.blobDataPath(hex)
    const fh = await fs.open(stored, 'r+')
    await fh.write(Buffer.from('corrupt'), 0, 7, 1000)
    await fh.close()

    const res = await fetch(`${agent.url}/v2/library/bad/blobs/${layer.digest}`)
    const body = res.status === 200 ? await res.arrayBuffer().then((b) => b.byteLength, () => -1) : res.status
    assert.notEqual(body, layer.size, 'the client must not receive a complete body')
    const status = (await (await fetch(`${sidecar.url}/v1/blobs/${layer.digest}`)).json()) as { state: string; error?: string }
    assert.equal(status.state, 'failed')
    assert.match(status.error ?? '', /hashed to/)
    await assert.rejects(fs.stat(path.join(root, 'agent', 'blobs', 'sha256', hex)), { code: 'ENOENT' })
    await assert.rejects(fs.stat(path.join(root, 'sidecar', 'blobs', 'sha256', hex)), { code: 'ENOENT' })
    assert.deepEqual(await fs.readdir(path.join(root, 'agent', 'tmp')), [])
  })
})
