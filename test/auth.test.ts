// Token auth end to end with real parts: Debian's docker-registry with
// `auth: token`, a token server signing like Harbor (RS256, libtrust kid) or
// with an x5c chain (ES256), skopeo pulling through the agent with
// --src-creds, the sidecar reading the origin with a robot account, and real
// webtorrent peers admitted by swarm credentials.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createSecretKey, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import bencode from 'bencode'
import { SignJWT } from 'jose'
import { SwarmCredentials } from '../lib/auth/swarm-credential.js'
import { systemClock } from '../lib/core/clock.js'
import { parseTorrent } from '../lib/swarm/torrent.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import { skopeoPull } from '../demo/skopeo.js'
import type { SourceBytes } from '../plugin/puller.js'
import { ISSUER, PASSWORDS, REPO, SERVICE, startAuthFixture, type AuthFixture } from './helpers/auth-fixture.js'
import { capturingLogger } from './helpers/configs.js'

const WEBHOOK_TOKEN = 'webhook-secret-0b6e1d'
const PREHEAT_TOKEN = 'preheat-secret-77c2aa'

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(p)) h.update(c as Buffer)
  return h.digest('hex')
}

const pct = (b: Buffer) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')

describe('registry token auth', () => {
  let fx: AuthFixture
  let sidecar: RunningSidecar
  const agents: RunningAgent[] = []
  const logs: Array<() => string> = []
  const usedTokens: string[] = []
  const big = () => fx.image.layers[0]

  const challenge = (error?: string) =>
    `Bearer realm="${fx.tokens.realm}",service="${SERVICE}",scope="repository:${REPO}:pull"${error ? `,error="${error}"` : ''}`

  const startAgent = async (name: string) => {
    const config = fx.agentConfig(name, ['--sidecar', sidecar.url, '--upstream', fx.registry.url, '--http-max-bytes', '64KiB', ...fx.authFlags])
    const log = capturingLogger('trace', name)
    logs.push(log.text)
    const a = await runAgent({ config, logger: log.logger, clock: systemClock })
    agents.push(a)
    return a
  }

  const stats = async (a: RunningAgent): Promise<SourceBytes> => ((await (await fetch(`${a.url}/v1/stats`)).json()) as { bytesBySource: SourceBytes }).bytesBySource

  const pullWithCreds = async (a: RunningAgent, label: string) => {
    // Addressed directly (the agent mirrors one upstream), so skopeo's --src-creds go to the realm the registry's challenge names.
    const pulled = await skopeoPull({ source: `127.0.0.1:${a.port}/${REPO}:1.0`, destDir: path.join(fx.root, `pull-${label}`), workDir: path.join(fx.root, `work-${label}`), creds: `reader:${PASSWORDS.reader}` })
    for (const b of fx.image.blobs()) assert.equal(await sha256File(pulled.blobPath(b.digest)), b.digest.slice(7), `${label}: ${b.digest}`)
  }

  before(async () => {
    fx = await startAuthFixture('auth', [3 << 20, 100_000])
    const config = fx.sidecarConfig('sidecar', [
      '--origin', fx.registry.url, '--origin-username', 'robot', '--origin-password-file', await fx.writeFile('robot-password', `${PASSWORDS.robot}\n`),
      '--webhook-token-file', await fx.writeFile('webhook-token', WEBHOOK_TOKEN), '--preheat-token-file', await fx.writeFile('preheat-token', PREHEAT_TOKEN),
      ...fx.authFlags,
    ])
    assert.equal(config.originPassword, PASSWORDS.robot)
    const log = capturingLogger('trace', 'sidecar')
    logs.push(log.text)
    sidecar = await runSidecar({ config, logger: log.logger, clock: systemClock })
  })

  after(async () => {
    for (const a of agents) await a.close().catch(() => undefined)
    await sidecar?.close().catch(() => undefined)
    await fx?.close()
  })

  it('pulls with skopeo --src-creds through the agent with RS256 libtrust-kid tokens; the blob comes over the swarm', async () => {
    fx.tokens.mode = 'rs256-kid'
    const a = await startAgent('agent-rs')
    await pullWithCreds(a, 'rs')
    const s = await stats(a)
    assert.equal(s.origin, 0, 'neither the sidecar nor the swarm refused the agent')
    assert.ok(s.seeder + s.peers >= big().size, `the large layer came from the swarm: ${JSON.stringify(s)}`)
    assert.ok(fx.tokens.issued('robot') >= 1, 'the sidecar read the origin with its robot account')
    assert.ok(a.verifier && a.verifier.signatureChecks >= 1)
  })

  it('pulls with ES256 tokens that carry an x5c chain', async () => {
    fx.tokens.mode = 'es256-x5c'
    const a = await startAgent('agent-es')
    await pullWithCreds(a, 'es')
    assert.equal((await stats(a)).origin, 0)
    fx.tokens.mode = 'rs256-kid'
  })

  // The classic confusion: HS256 keyed with the RSA public key the verifiers trust.
  const hs256WithPublicKey = () =>
    new SignJWT({ iss: ISSUER, aud: SERVICE, sub: 'reader', iat: now(), nbf: now(), exp: now() + 300, access: pullAccess() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: fx.keys.rsa.kid })
      .sign(createSecretKey(Buffer.from(fx.keys.rsa.cert.publicKey.export({ type: 'spki', format: 'pem' }))))

  const refusals: Array<[string, () => Promise<string | undefined>, number, string, string | undefined]> = [
    ['an expired token', () => fx.tokens.mint({ sub: 'reader', access: pullAccess(), exp: now() - 600, nbf: now() - 900, iat: now() - 900 }), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['a future nbf beyond the leeway', () => fx.tokens.mint({ sub: 'reader', access: pullAccess(), nbf: now() + 600 }), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['the wrong issuer', () => fx.tokens.mint({ sub: 'reader', access: pullAccess(), iss: 'another-issuer' }), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['the wrong audience', () => fx.tokens.mint({ sub: 'reader', access: pullAccess(), aud: 'another-registry' }), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['a token for another repository', () => fx.readerToken([{ type: 'repository', name: 'library/secret', actions: ['pull'] }]), 403, 'DENIED', 'insufficient_scope'],
    ['a push-only token', () => fx.readerToken([{ type: 'repository', name: REPO, actions: ['push'] }]), 403, 'DENIED', 'insufficient_scope'],
    ['a token signed by an unknown key', () => fx.tokens.mint({ sub: 'reader', access: pullAccess() }, { key: 'unknown' }), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['alg none', async () => `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ iss: 'x', aud: SERVICE, exp: now() + 300, access: pullAccess() })}.`, 401, 'UNAUTHORIZED', 'invalid_token'],
    ['HS256 signed with the public key', () => hs256WithPublicKey(), 401, 'UNAUTHORIZED', 'invalid_token'],
    ['a garbage token', async () => 'this-is-not-a-jwt', 401, 'UNAUTHORIZED', 'invalid_token'],
    ['no token at all', async () => undefined, 401, 'UNAUTHORIZED', undefined],
  ]

  const assertRefused = async (res: Response, status: number, code: string, error: string | undefined, what: string) => {
    assert.equal(res.status, status, what)
    assert.equal(res.headers.get('www-authenticate'), challenge(error), what)
    const body = (await res.json()) as { errors: Array<{ code: string }> }
    assert.equal(body.errors[0].code, code, what)
  }

  it('refuses at the sidecar, each with the right status and challenge', async () => {
    const url = `${sidecar.url}/v1/blobs/${big().digest}/torrent?repo=${REPO}`
    for (const [what, token, status, code, error] of refusals) {
      const t = await token()
      await assertRefused(await fetch(url, { headers: t === undefined ? {} : { authorization: `Bearer ${t}` } }), status, code, error, what)
    }
    for (const route of ['', '/data']) {
      await assertRefused(await fetch(`${sidecar.url}/v1/blobs/${big().digest}${route}?repo=${REPO}`), 401, 'UNAUTHORIZED', undefined, `no token on ${route || 'status'}`)
    }
    const noRepo = await fetch(`${sidecar.url}/v1/blobs/${big().digest}`)
    assert.equal(noRepo.status, 400, 'with token auth the status route needs ?repo=')
  })

  it('refuses at the agent\'s cache though the blob is cached, each with the right status and challenge', async () => {
    const a = agents[0]
    const url = `${a.url}/v2/${REPO}/blobs/${big().digest}`
    const good = await fx.readerToken()
    usedTokens.push(good)
    const ok = await fetch(url, { headers: { authorization: `Bearer ${good}` } })
    assert.equal(ok.status, 200)
    assert.equal(createHash('sha256').update(Buffer.from(await ok.arrayBuffer())).digest('hex'), big().digest.slice(7))
    const before = await stats(a)
    assert.ok(before.cache >= big().size, 'served from the cache')
    for (const [what, token, status, code, error] of refusals) {
      const t = await token()
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(url, { method, headers: t === undefined ? {} : { authorization: `Bearer ${t}` } })
        if (method === 'GET') await assertRefused(res, status, code, error, what)
        else assert.equal(res.status, status, `HEAD: ${what}`)
      }
    }
    assert.deepEqual(await stats(a), before, 'nothing was served to a refused client')
  })

  it('hands out torrents whose announce URL carries a credential for their info-hash, and refuses announces without a valid one', async () => {
    const token = await fx.readerToken()
    usedTokens.push(token)
    const res = await fetch(`${sidecar.url}/v1/blobs/${big().digest}/torrent?repo=${REPO}`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200)
    const torrent = parseTorrent(Buffer.from(await res.arrayBuffer()))
    assert.equal(torrent.infoHash.hex, res.headers.get('x-layerseed-info-hash'))
    const announce = new URL(torrent.announce!)
    const cred = announce.searchParams.get('cred')!
    assert.ok(cred, 'the announce URL carries ?cred=')
    const base = `${announce.origin}${announce.pathname}`
    const ih = torrent.infoHash.hex

    const ask = async (url: string, peer: Buffer, event = 'started') => {
      const q = `info_hash=${pct(Buffer.from(ih, 'hex'))}&peer_id=${pct(peer)}&port=9&uploaded=0&downloaded=0&left=0&compact=1&event=${event}`
      const body = bencode.decode(new Uint8Array(await (await fetch(`${url}${url.includes('?') ? '&' : '?'}${q}`)).arrayBuffer())) as Record<string, unknown>
      const failure = body['failure reason']
      return failure === undefined ? 'admitted' : Buffer.from(failure as Uint8Array).toString('utf8')
    }
    const peer = Buffer.from('-XX0000-' + randomBytes(6).toString('hex'))
    const secret = await fs.readFile(path.join(fx.root, 'sidecar', 'swarm-secret'))
    const stat = await fs.stat(path.join(fx.root, 'sidecar', 'swarm-secret'))
    assert.equal(stat.mode & 0o777, 0o600)
    const expired = new SwarmCredentials(Buffer.from(secret.toString('utf8').trim()), { now: () => Date.now() - 7_200_000, sleep: systemClock.sleep }, 3_600_000).issue(ih)
    const otherTorrent = new SwarmCredentials(Buffer.from(secret.toString('utf8').trim()), systemClock, 3_600_000).issue('0'.repeat(40))
    const wrongSecret = new SwarmCredentials(randomBytes(32), systemClock, 3_600_000).issue(ih)

    assert.match(await ask(base, peer), /admits only peers with a swarm credential/)
    for (const bad of [expired, otherTorrent, wrongSecret, 'garbage']) assert.match(await ask(`${base}?cred=${bad}`, peer), /invalid, expired or for another torrent/)
    assert.equal(await ask(torrent.announce!, peer), 'admitted', 'the credential in the torrent admits, with the query string kept as webtorrent keeps it')
    assert.equal(await ask(base, peer, 'empty'), 'admitted', 'an admitted peer stays admitted when its credential is gone')
    assert.match(await ask(base, Buffer.from('-XX0000-' + randomBytes(6).toString('hex'))), /admits only/, 'another peer id is not')
    await ask(torrent.announce!, peer, 'stopped')
    const scrape = bencode.decode(new Uint8Array(await (await fetch(`${sidecar.url}/scrape`)).arrayBuffer())) as Record<string, unknown>
    assert.ok(scrape['failure reason'], 'no scrape listing every torrent')
  })

  it('verifies one token once for 200 parallel requests', async () => {
    const token = await fx.readerToken()
    usedTokens.push(token)
    const before = sidecar.verifier!.signatureChecks
    const res = await Promise.all(Array.from({ length: 200 }, () => fetch(`${sidecar.url}/v1/blobs/${big().digest}?repo=${REPO}`, { headers: { authorization: `Bearer ${token}` } })))
    for (const r of res) assert.equal(r.status, 200)
    await Promise.all(res.map((r) => r.arrayBuffer()))
    assert.equal(sidecar.verifier!.signatureChecks - before, 1)
  })

  it('never logs a secret or a token', () => {
    const text = logs.map((l) => l()).join('')
    assert.ok(text.length > 1000, 'the parts logged at trace level')
    assert.match(text, /blob served/)
    for (const secret of [PASSWORDS.robot, PASSWORDS.reader, WEBHOOK_TOKEN, PREHEAT_TOKEN, ...usedTokens]) {
      assert.ok(!text.includes(secret), `a secret is in the logs: ${secret.slice(0, 12)}…`)
    }
    // The redaction itself, for what slips in with headers or errors.
    const probe = capturingLogger('trace', 'probe')
    probe.logger.info({ headers: { authorization: `Bearer ${usedTokens[0]}` }, password: PASSWORDS.robot, err: { token: usedTokens[0] } }, 'probe')
    assert.ok(!probe.text().includes(usedTokens[0]) && !probe.text().includes(PASSWORDS.robot), probe.text())
  })
})

const now = () => Math.floor(Date.now() / 1000)
const pullAccess = () => [{ type: 'repository', name: REPO, actions: ['pull'] }]
const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
