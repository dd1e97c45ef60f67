// Harbor's side of the integration, played by hand against a real registry:
// the payloads its webhooks and its Dragonfly and Kraken preheat providers send.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { startCountingProxy, type CountingProxy } from '../demo/counting-proxy.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPush } from '../demo/skopeo.js'
import { sidecarConfig, testLogger } from './helpers/configs.js'
import type { SidecarConfig } from '../config/index.js'

const PREHEAT_TOKEN = 'preheat-s3cr3t'
const WEBHOOK_TOKEN = 'webhook-s3cr3t'
// Stands in for the pull-scoped JWT Harbor hands over; it must never reach the disk.
const HARBOR_JWT = 'Bearer eyJhbGciOiJSUzI1NiJ9.harbor-registry-token-7f3a9c'
const REPO = 'library/busybox'

interface Job {
  id: number
  state: string
  created_at: string
  updated_at: string
  result?: { job_states: Array<{ error: string; results: Array<{ success_tasks: Array<{ url: string; hostname: string; ip: string }>; failure_tasks: Array<{ description: string }> }> }> }
}

interface JobProgress {
  bytesDone: number
  bytesTotal: number
  blobs: Array<{ digest: string; size: number; state: string; bytesDone: number }>
}

describe('Harbor integration', () => {
  let root: string
  let registry: Registry
  let proxy: CountingProxy
  const images: OciImage[] = []
  let indexDigest: string
  const closers: Array<() => Promise<unknown>> = []

  const sidecar = async (name: string, over: Partial<SidecarConfig> = {}): Promise<RunningSidecar> => {
    const config = sidecarConfig({ origin: proxy.url, dataDir: path.join(root, name), preheatToken: PREHEAT_TOKEN, webhookToken: WEBHOOK_TOKEN, ...over })
    const s = await runSidecar({ config, logger: testLogger(name), clock: systemClock })
    closers.push(() => s.close())
    return s
  }
  const allBlobs = () => [...new Set(images.flatMap((i) => i.blobs().map((b) => b.digest)))]
  const manifestUrl = (ref: string) => `${proxy.url}/v2/${REPO}/manifests/${ref}`
  const preheat = (s: RunningSidecar, url: string, token = PREHEAT_TOKEN) =>
    fetch(`${s.url}/oapi/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ type: 'preheat', args: { type: 'image', url, tag: '', filtered_query_params: '', headers: { Authorization: HARBOR_JWT }, scope: 'single_seed_peer', concurrent_count: 0, timeout: 0 }, scheduler_cluster_ids: null }),
    })
  const getJob = async (s: RunningSidecar, id: number): Promise<Job> => {
    const res = await fetch(`${s.url}/oapi/v1/jobs/${id}`, { headers: { authorization: `Bearer ${PREHEAT_TOKEN}` } })
    assert.equal(res.status, 200)
    return (await res.json()) as Job
  }
  const finished = async (s: RunningSidecar, id: number): Promise<Job> => {
    for (let i = 0; i < 200; i++) {
      const job = await getJob(s, id)
      if (job.state !== 'PENDING') return job
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.fail(`job ${id} still PENDING after 10 s`)
  }
  const assertAllSeeding = async (s: RunningSidecar) => {
    await s.queue.idle()
    for (const d of allBlobs()) {
      const st = (await (await fetch(`${s.url}/v1/blobs/${d}`)).json()) as { state: string }
      assert.equal(st.state, 'seeding', d)
    }
  }

  const eventData = () => ({
    resources: [{ digest: indexDigest, tag: 'latest', resource_url: `harbor.invalid/${REPO}:latest` }],
    repository: { date_created: 1677053165, name: 'busybox', namespace: 'library', repo_full_name: REPO, repo_type: 'private' },
  })
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-harbor-'))
    registry = await startRegistry({ dir: path.join(root, 'registry') })
    proxy = await startCountingProxy(registry.url)
    // Two single-platform images and an OCI index over them: a multi-platform push.
    const entries = []
    for (const [arch, sizes] of [['amd64', [150_000, 40_000]], ['arm64', [120_000]]] as const) {
      const image = await makeOciImage(path.join(root, `image-${arch}`), { layerSizes: sizes })
      images.push(image)
      await skopeoPush(image, registry.host, `${REPO}:${arch}`)
      const res = await fetch(`${registry.url}/v2/${REPO}/manifests/${arch}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
      const bytes = Buffer.from(await res.arrayBuffer())
      entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, platform: { architecture: arch, os: 'linux' } })
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }))
    indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`
    const put = await fetch(`${registry.url}/v2/${REPO}/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index })
    assert.equal(put.status, 201, await put.text())
  })

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('preheats every blob of every platform; a second preheat costs no origin blob GET; jobs survive a restart', async () => {
    const dataDir = path.join(root, 'preheat')
    const s = await sidecar('preheat')
    assert.equal((await fetch(`${s.url}/healthy`)).status, 200)
    const res = await preheat(s, manifestUrl('latest'))
    assert.equal(res.status, 200)
    const created = (await res.json()) as Job
    assert.ok(Number.isInteger(created.id))
    assert.equal(created.state, 'PENDING')
    for (const t of [created.created_at, created.updated_at]) assert.match(t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)

    const job = await finished(s, created.id)
    assert.equal(job.state, 'SUCCESS', JSON.stringify(job))
    const tasks = job.result!.job_states[0].results[0].success_tasks
    assert.deepEqual(tasks.map((t) => t.url.split('/blobs/')[1]).sort(), allBlobs().sort())
    assert.deepEqual(job.result!.job_states[0].results[0].failure_tasks, [])
    for (const t of tasks) assert.ok(t.hostname && t.ip)
    for (const d of allBlobs()) assert.equal(proxy.blobGets(d), 1, d)

    const gets = proxy.totalBlobGets()
    const again = await finished(s, ((await (await preheat(s, manifestUrl(indexDigest))).json()) as Job).id)
    assert.equal(again.state, 'SUCCESS')
    assert.equal(proxy.totalBlobGets(), gets, 'no second origin blob fetch')

    // A job cut off by a stop, as a crash would leave it.
    const cut = { id: 99, state: 'PENDING', created_at: created.created_at, updated_at: created.updated_at, repo: REPO, reference: 'latest', error: '', success_tasks: [], failure_tasks: [] }
    await fs.writeFile(path.join(dataDir, 'preheat-jobs', '99.json'), JSON.stringify(cut))
    await s.close()
    const s2 = await sidecar('preheat')
    const kept = await getJob(s2, created.id)
    assert.equal(kept.state, 'SUCCESS')
    assert.equal(kept.result!.job_states[0].results[0].success_tasks.length, allBlobs().length)
    const interrupted = await getJob(s2, 99)
    assert.equal(interrupted.state, 'FAILURE')
    assert.match(interrupted.result!.job_states[0].error, /stopped while this job was running/)
    const next = ((await (await preheat(s2, manifestUrl('amd64'))).json()) as Job).id
    assert.ok(next > 99, 'ids are not reused after a restart')
    await finished(s2, next)

    const secret = HARBOR_JWT.split(' ')[1]
    const files = (await fs.readdir(dataDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name))
    assert.ok(files.some((f) => f.endsWith(`${created.id}.json`)))
    for (const f of files) assert.ok(!(await fs.readFile(f)).includes(secret), `${f} holds the Authorization value`)
  })

  it('shows each blob\'s bytes while a job is PENDING, and lists jobs at GET /v1/jobs', async () => {
    // A slow origin read keeps the job PENDING long enough to watch its blobs fill.
    const s = await sidecar('progress', { originBytesPerSec: 100_000 })
    const id = ((await (await preheat(s, manifestUrl('amd64'))).json()) as Job).id
    const seen: JobProgress[] = []
    for (let i = 0; i < 400; i++) {
      const job = (await getJob(s, id)) as Job & { progress: JobProgress }
      if (job.state !== 'PENDING') break
      seen.push(job.progress)
      await new Promise((r) => setTimeout(r, 25))
    }
    const midway = seen.find((p) => p.blobs.some((b) => b.state === 'fetching' && b.bytesDone > 0 && b.bytesDone < b.size))
    assert.ok(midway, `no blob seen part-fetched in ${seen.length} polls`)
    assert.ok(midway.bytesDone > 0 && midway.bytesDone < midway.bytesTotal)
    const done = (await finished(s, id)) as Job & { progress: JobProgress }
    assert.equal(done.state, 'SUCCESS')
    assert.equal(done.result!.job_states[0].results[0].success_tasks.length, done.progress.blobs.length)
    assert.deepEqual(new Set(done.progress.blobs.map((b) => b.state)), new Set(['seeding']))
    assert.equal(done.progress.bytesDone, done.progress.bytesTotal)
    assert.equal(done.progress.bytesTotal, images[0].blobs().reduce((n, b) => n + b.size, 0))

    const list = await fetch(`${s.url}/v1/jobs`, { headers: { authorization: `Bearer ${PREHEAT_TOKEN}` } })
    assert.equal(list.status, 200)
    const jobs = ((await list.json()) as { jobs: Array<Job & { progress: JobProgress }> }).jobs
    assert.deepEqual(jobs.map((j) => j.id), [id])
    assert.equal(jobs[0].progress.bytesDone, done.progress.bytesTotal)
    assert.equal((await fetch(`${s.url}/v1/jobs`)).status, 401)
  })

  it('reads manifests with the Authorization Harbor handed over, for that job only', async () => {
    // An origin that, like Harbor, wants the registry token for manifests.
    const target = new URL(proxy.url)
    const manifestAuth: Array<string | undefined> = []
    const gate = http.createServer((req, res) => {
      if ((req.url ?? '').includes('/manifests/')) {
        manifestAuth.push(req.headers.authorization)
        if (req.headers.authorization !== HARBOR_JWT) {
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end()
          return
        }
      }
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        upRes.pipe(res)
      })
      up.on('error', () => res.writeHead(502).end())
      req.pipe(up)
    })
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => { gate.close(resolve); gate.closeAllConnections() }))
    const origin = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`
    const config = sidecarConfig({ origin, dataDir: path.join(root, 'gated'), preheatToken: PREHEAT_TOKEN })
    const s = await runSidecar({ config, logger: testLogger('gated'), clock: systemClock })
    closers.push(() => s.close())
    const job = await finished(s, ((await (await preheat(s, `${origin}/v2/${REPO}/manifests/latest`)).json()) as Job).id)
    assert.equal(job.state, 'SUCCESS', JSON.stringify(job))
    assert.equal(manifestAuth.length, 3, 'the index and both platform manifests')
    for (const a of manifestAuth) assert.equal(a, HARBOR_JWT)

    // A webhook carries no token, so the same origin refuses its manifest read.
    const hook = await fetch(`${s.url}/webhooks/harbor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'PUSH_ARTIFACT', event_data: eventData() }) })
    assert.equal(hook.status, 202)
    await s.queue.idle()
    assert.equal(manifestAuth.at(-1), undefined, 'the job\'s token was not kept for later requests')
  })

  it('fails a job for a missing tag, with the reason', async () => {
    const s = await sidecar('missing')
    const job = await finished(s, ((await (await preheat(s, manifestUrl('no-such-tag'))).json()) as Job).id)
    assert.equal(job.state, 'FAILURE')
    assert.match(job.result!.job_states[0].error, /no-such-tag.*HTTP 404/)
  })

  it('refuses a URL on a foreign host without fetching it, and unknown ids', async () => {
    const seen: string[] = []
    const foreign = http.createServer((req, res) => {
      seen.push(req.url ?? '')
      res.writeHead(500).end()
    })
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve))
    closers.push(() => new Promise((resolve) => foreign.close(resolve)))
    const s = await sidecar('foreign')
    const gets = proxy.totalBlobGets()
    const res = await preheat(s, `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/v2/${REPO}/manifests/latest`)
    assert.equal(res.status, 400)
    assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'PREHEAT_URL_INVALID')
    for (const url of [`${registry.url}/v2/${REPO}/manifests/latest`, `${proxy.url}/v2/${REPO}/blobs/${indexDigest}`, 'not a url']) {
      assert.equal((await preheat(s, url)).status, 400, url)
    }
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(seen, [])
    assert.equal(proxy.totalBlobGets(), gets)
    const unknown = await fetch(`${s.url}/oapi/v1/jobs/12345`, { headers: { authorization: `Bearer ${PREHEAT_TOKEN}` } })
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'PREHEAT_JOB_UNKNOWN')
  })

  it('answers 401 to a wrong or missing provider token', async () => {
    const s = await sidecar('auth')
    assert.equal((await preheat(s, manifestUrl('latest'), 'wrong')).status, 401)
    assert.equal((await fetch(`${s.url}/oapi/v1/jobs`, { method: 'POST', body: '{}' })).status, 401)
    assert.equal((await fetch(`${s.url}/oapi/v1/jobs/1`)).status, 401)
    assert.equal((await fetch(`${s.url}/registry/notifications`, { method: 'POST', body: '{"Events":[]}' })).status, 401)
    assert.equal((await fetch(`${s.url}/webhooks/harbor`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PREHEAT_TOKEN}` }, body: '{}' })).status, 401)
  })

  const webhook = (s: RunningSidecar, type: string, body: unknown) =>
    fetch(`${s.url}/webhooks/harbor`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: JSON.stringify(body) })

  it('pre-seeds every layer of every platform on a Default webhook', async () => {
    const s = await sidecar('default')
    const res = await webhook(s, 'application/json', { type: 'PUSH_ARTIFACT', occur_at: 1678082303, operator: 'admin', event_data: eventData() })
    assert.equal(res.status, 202)
    await assertAllSeeding(s)
    const gets = proxy.totalBlobGets()
    assert.equal((await webhook(s, 'application/json', { type: 'PUSH_ARTIFACT', occur_at: 1678082304, operator: 'admin', event_data: eventData() })).status, 202)
    await s.queue.idle()
    assert.equal(proxy.totalBlobGets(), gets, 'the same push twice costs no second origin blob fetch')
    assert.equal((await webhook(s, 'application/json', { type: 'PULL_ARTIFACT', event_data: eventData() })).status, 202)
    assert.equal((await webhook(s, 'application/json', { type: 'PUSH_ARTIFACT' })).status, 400)
    const bad = await fetch(`${s.url}/webhooks/harbor`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: '{nope' })
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { errors: Array<{ code: string }> }).errors[0].code, 'BAD_JSON')
  })

  it('pre-seeds every layer of every platform on a CloudEvents webhook', async () => {
    const s = await sidecar('cloudevents')
    const res = await webhook(s, 'application/cloudevents+json', {
      specversion: '1.0', requestid: '2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84', id: '4b2f89a6-548d-4c12-9993-a1f5790b97d2',
      source: '/projects/1/webhook/policies/3', type: 'harbor.artifact.pushed', datacontenttype: 'application/json',
      time: '2023-03-06T06:08:43Z', data: eventData(), operator: 'admin',
    })
    assert.equal(res.status, 202)
    await assertAllSeeding(s)
  })

  it('pre-seeds every layer of every platform on a Kraken-style notification', async () => {
    const s = await sidecar('kraken')
    assert.equal((await fetch(`${s.url}/health`)).status, 200)
    const res = await fetch(`${s.url}/registry/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PREHEAT_TOKEN}` },
      body: JSON.stringify({ Events: [{ Id: 'x', TimeStamp: '2025-01-01T00:00:00.123456789Z', Action: 'push',
        Target: { MediaType: 'application/vnd.docker.distribution.manifest.v2+json', Digest: indexDigest, Repository: REPO, Url: 'https://harbor.invalid/v2/x/manifests/latest', Tag: 'latest' },
        Request: null, Actor: null }] }),
    })
    assert.equal(res.status, 200)
    await assertAllSeeding(s)
  })
})
