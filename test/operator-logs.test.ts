// What an operator reads in the sidecar's log: refused webhook and preheat
// callers (who, and which check failed, never the token) and the warnings at
// start about settings that only work on one host.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sidecarWarnings } from '../config/index.js'
import { capturingLogger } from './helpers/configs.js'
import { Parts } from './helpers/parts.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-oplogs-'))
// Nothing here fetches from the origin; a port nothing listens on.
const parts = new Parts(() => 'http://127.0.0.1:9')
after(async () => {
  await parts.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const WEBHOOK_TOKEN = 'the-real-webhook-token-7f3a'
const PREHEAT_TOKEN = 'the-real-preheat-token-91c2'
const WRONG = 'a-near-miss-token-7f3b'

interface Refusal {
  readonly msg: string
  readonly remote?: string
  readonly path?: string
  readonly check?: string
}

function refusals(lines: string[]): Refusal[] {
  return lines.map((l) => JSON.parse(l) as Refusal & { level: number }).filter((l) => l.msg.startsWith('request refused') && l.level === 40)
}

async function post(url: string, authorization?: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: '{}' })
  await res.arrayBuffer()
  return res.status
}

describe('refused webhook and preheat callers', () => {
  it('are logged at warn with the remote address and the failed check, never a token', async () => {
    const log = capturingLogger('warn')
    const s = await parts.sidecar(path.join(tmp, 'with-tokens'), { webhookToken: WEBHOOK_TOKEN, preheatToken: PREHEAT_TOKEN }, log.logger)
    assert.equal(await post(`${s.url}/webhooks/distribution`), 401)
    assert.equal(await post(`${s.url}/webhooks/harbor`, `Bearer ${WRONG}`), 401)
    assert.equal(await post(`${s.url}/webhooks/distribution`, `Basic ${Buffer.from(`u:${WRONG}`).toString('base64')}`), 401)
    assert.equal(await post(`${s.url}/oapi/v1/jobs`, `Bearer ${WRONG}`), 401)
    const got = refusals(log.lines).map((r) => [r.path, r.check])
    assert.deepEqual(got, [
      ['/webhooks/distribution', 'no Authorization header'],
      ['/webhooks/harbor', 'wrong token'],
      ['/webhooks/distribution', 'not a Bearer token'],
      ['/oapi/v1/jobs', 'wrong token'],
    ])
    for (const r of refusals(log.lines)) assert.match(r.remote ?? '', /127\.0\.0\.1/)
    for (const secret of [WEBHOOK_TOKEN, PREHEAT_TOKEN, WRONG]) assert.ok(!log.text().includes(secret), 'no token in the log')
  })

  it('name a preheat token that is not configured, and the sidecar warns at start of webhooks without a token', async () => {
    const log = capturingLogger('warn')
    const s = await parts.sidecar(path.join(tmp, 'without-tokens'), {}, log.logger)
    assert.ok(log.has(/no --webhook-token/), 'warned at start')
    assert.equal(await post(`${s.url}/oapi/v1/jobs`, 'Bearer anything'), 401)
    assert.deepEqual(refusals(log.lines).map((r) => r.check), ['no --preheat-token configured'])
  })
})

describe('start-up warnings', () => {
  it('a wildcard listen with a loopback advertise host, and no webhook token', () => {
    const token = { webhookToken: 't' }
    assert.deepEqual(sidecarWarnings({ listen: { host: '127.0.0.1', port: 7070 }, advertiseHost: '127.0.0.1', ...token }), [])
    assert.deepEqual(sidecarWarnings({ listen: { host: '0.0.0.0', port: 7070 }, advertiseHost: '10.0.0.2', ...token }), [])
    for (const [listen, advertise] of [['0.0.0.0', '127.0.0.1'], ['::', '::1'], ['0.0.0.0', 'localhost']]) {
      const w = sidecarWarnings({ listen: { host: listen, port: 7070 }, advertiseHost: advertise, ...token })
      assert.equal(w.length, 1, `${listen} with ${advertise}`)
      assert.match(w[0], /--advertise-host/)
    }
    assert.match(sidecarWarnings({ listen: { host: '127.0.0.1', port: 7070 }, advertiseHost: '127.0.0.1' }).join(), /no --webhook-token/)
  })
})
