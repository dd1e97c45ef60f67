// The control plane under pressure, on a real sidecar: a body over the limit
// is 413 before it is parsed, a wrong token is 401 before the body is read,
// and a flood gets 202 or 503 for every envelope while /healthz answers.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../lib/core/clock.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { freePort } from '../demo/ports.js'
import { sidecarConfig, testLogger } from './helpers/configs.js'

const TOKEN = 'limits-token'
const EVENTS = 'application/vnd.docker.distribution.events.v1+json'

/** A POST whose body is announced but only partly sent: the answer must come without the rest. */
function postAnnounced(url: string, headers: Record<string, string>, announced: number, send: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(announced) } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    // The server may close the connection once it answered; writing into it then is expected.
    req.on('error', (err) => (err.message.includes('EPIPE') || err.message.includes('ECONNRESET') ? undefined : reject(err)))
    req.flushHeaders()
    if (send > 0) req.write(Buffer.alloc(send, 0x20))
    req.setTimeout(10_000, () => reject(new Error('no answer within 10 s: the body was waited for')))
  })
}

const blobPush = () => ({ action: 'push', target: { mediaType: 'application/octet-stream', digest: `sha256:${randomBytes(32).toString('hex')}`, repository: 'library/flood' } })

describe('webhook limits', () => {
  let root: string
  let sidecar: RunningSidecar
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-limits-'))
    // An origin nobody listens on: every accepted target waits for it, so the queue only grows.
    const origin = `http://127.0.0.1:${await freePort()}`
    sidecar = await runSidecar({ config: sidecarConfig({ origin, dataDir: path.join(root, 'sidecar'), webhookToken: TOKEN, webhookConcurrency: 8, queueMax: 2000 }), logger: testLogger('sidecar'), clock: systemClock })
  })
  after(async () => {
    await sidecar.close()
    await fs.rm(root, { recursive: true, force: true })
  })

  it('answers a 64 MB body with 413 naming the limit, before reading it', async () => {
    const r = await postAnnounced(`${sidecar.url}/webhooks/distribution`, { 'content-type': EVENTS, authorization: `Bearer ${TOKEN}` }, 64 << 20, 64 << 10)
    assert.equal(r.status, 413)
    const e = JSON.parse(r.body) as { errors: Array<{ code: string; message: string }> }
    assert.equal(e.errors[0].code, 'BODY_TOO_LARGE')
    assert.match(e.errors[0].message, /5242880-byte limit/)
  })

  it('answers a wrong token with 401 without waiting for the body', async () => {
    const r = await postAnnounced(`${sidecar.url}/webhooks/distribution`, { 'content-type': EVENTS, authorization: 'Bearer wrong' }, 64 << 20, 0)
    assert.equal(r.status, 401)
    assert.equal((JSON.parse(r.body) as { errors: Array<{ code: string }> }).errors[0].code, 'WEBHOOK_UNAUTHORIZED')
  })

  it('a flood of 3000 envelopes at concurrency 50: each gets 202 or 503, every 202 is held, /healthz answers', async (t) => {
    const statuses = new Map<number, number>()
    let queued = 0
    let next = 0
    const healthMs: number[] = []
    let flooding = true
    const probe = (async () => {
      // Bounded by the flood: it stops when the senders are done.
      while (flooding) {
        const s = performance.now()
        assert.equal((await fetch(`${sidecar.url}/healthz`)).status, 200)
        healthMs.push(performance.now() - s)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const sender = async () => {
      while (next < 3000) {
        next++
        const res = await fetch(`${sidecar.url}/webhooks/distribution`, { method: 'POST', body: JSON.stringify({ events: [blobPush(), blobPush()] }), headers: { 'content-type': EVENTS, authorization: `Bearer ${TOKEN}` } })
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        const body = (await res.json()) as { queued?: number; errors?: Array<{ code: string }> }
        if (res.status === 202) queued += body.queued ?? 0
        else assert.ok(res.status === 503 && ['BUSY', 'QUEUE_FULL'].includes(body.errors?.[0].code ?? ''), `status ${res.status}`)
        if (res.status === 503) assert.ok(res.headers.get('retry-after'), 'a 503 says when to come back')
      }
    }
    await Promise.all(Array.from({ length: 50 }, sender))
    flooding = false
    await probe
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), 3000, 'every envelope was answered')
    assert.ok((statuses.get(202) ?? 0) > 0, 'some were accepted')
    assert.equal(sidecar.queue.size, queued, 'every accepted target is held')
    const journal = (await fs.readFile(path.join(root, 'sidecar', 'intake.journal'), 'utf8')).split('\n').filter((l) => l.startsWith('+ '))
    assert.equal(journal.length, queued, 'and is in the journal')
    healthMs.sort((a, b) => a - b)
    const p99 = healthMs[Math.min(healthMs.length - 1, Math.floor(healthMs.length * 0.99))]
    t.diagnostic(`statuses ${JSON.stringify(Object.fromEntries(statuses))}, /healthz p99 ${p99.toFixed(1)} ms over ${healthMs.length} probes`)
  })
})
